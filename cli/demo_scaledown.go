package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/sets"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/core/instancetype"
	"github.com/tailor-sh/tailor/core/scheduling"
	"github.com/tailor-sh/tailor/operator"
)

// The demo's disruption settings, shorter than the defaults so that
// consolidation shows within a minute.
const (
	demoConsolidateAfter = 10 * time.Second
	demoValidationDelay  = 5 * time.Second
	// demoSettled is how long the nodes must stay the same for the demo to
	// call consolidation done.
	demoSettled = 20 * time.Second
)

// demoScaleDown halves every Deployment of the demo and narrates the
// decisions consolidation takes, until the nodes stop changing; then it
// prints what the cluster saved and how far it is from the core's lower
// bound for the pods left.
func demoScaleDown(ctx context.Context, out io.Writer, c client.Client, op *operator.Operator) error {
	pool := &v1.NodePool{}
	if err := c.Get(ctx, client.ObjectKey{Name: "default"}, pool); err != nil {
		return fmt.Errorf("get NodePool default: %w", err)
	}
	its, err := op.CloudProvider.GetInstanceTypes(ctx, pool)
	if err != nil {
		return err
	}
	configured := pool.Spec.Disruption.ConsolidateAfter
	patch := client.MergeFrom(pool.DeepCopy())
	pool.Spec.Disruption.ConsolidateAfter = v1.NewNillableDuration(demoConsolidateAfter)
	if err := c.Patch(ctx, pool, patch); err != nil {
		return fmt.Errorf("set the demo's consolidateAfter: %w", err)
	}
	defer func() {
		// A playground kept with --dir keeps the user's setting.
		restore := client.MergeFrom(pool.DeepCopy())
		pool.Spec.Disruption.ConsolidateAfter = configured
		_ = c.Patch(context.WithoutCancel(ctx), pool, restore)
	}()
	claimsBefore, priceBefore, err := demoCluster(ctx, c, its)
	if err != nil {
		return err
	}
	want := int32(0)
	for _, w := range demoWorkloads {
		want += w.replicas / 2
	}
	fmt.Fprintf(out, "\nDemo, part 2: halving every Deployment, to %d pods. Tailor removes and replaces the nodes\nno longer needed (for the demo, consolidateAfter is %s and decisions are validated after %s).\n\n",
		want, demoConsolidateAfter, demoValidationDelay)
	began := time.Now()
	stamp := func() string { return fmt.Sprintf("%6.1fs", time.Since(began).Seconds()) }
	for _, w := range demoWorkloads {
		d := &appsv1.Deployment{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: demoNamespace, Name: w.name}, d); err != nil {
			return err
		}
		patch := client.MergeFrom(d.DeepCopy())
		d.Spec.Replicas = ptr.To(w.replicas / 2)
		if err := c.Patch(ctx, d, patch); err != nil {
			return fmt.Errorf("scale Deployment %s: %w", w.name, err)
		}
	}
	told := sets.New[string]()
	lastCount, changed := len(claimsBefore), time.Now()
	ticker := time.NewTicker(500 * time.Millisecond)
	defer ticker.Stop()
	for {
		events := &corev1.EventList{}
		if err := c.List(ctx, events, client.InNamespace(corev1.NamespaceDefault)); err != nil {
			return err
		}
		slices.SortFunc(events.Items, func(a, b corev1.Event) int { return a.CreationTimestamp.Compare(b.CreationTimestamp.Time) })
		for _, ev := range events.Items {
			if ev.InvolvedObject.Kind != "NodePool" || ev.InvolvedObject.Name != pool.Name || told.Has(ev.Name) || ev.CreationTimestamp.Time.Before(began.Truncate(time.Second)) {
				continue
			}
			if ev.Reason == "Disrupted" || ev.Reason == "DisruptionAborted" {
				told.Insert(ev.Name)
				decision, _, _ := strings.Cut(ev.Message, "; pods: ")
				fmt.Fprintf(out, "%s  %s\n", stamp(), decision)
			}
		}
		claims, _, err := demoCluster(ctx, c, its)
		if err != nil {
			return err
		}
		busy := false
		for _, nc := range claims {
			busy = busy || nc.DeletionTimestamp != nil
		}
		if len(claims) != lastCount || busy {
			lastCount, changed = len(claims), time.Now()
		}
		if time.Since(changed) >= demoSettled {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("consolidation had not settled when the demo's time ran out")
		case <-ticker.C:
		}
	}

	pods := &corev1.PodList{}
	if err := c.List(ctx, pods, client.InNamespace(demoNamespace)); err != nil {
		return err
	}
	var left []*corev1.Pod
	running, evictions := 0, 0
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.Status.Phase == corev1.PodRunning {
			running++
		}
		if p.CreationTimestamp.After(began) {
			evictions++ // the Deployments only shrank; every new pod replaced an evicted one
		}
		pending := p.DeepCopy()
		pending.Spec.NodeName = ""
		left = append(left, pending)
	}
	claimsAfter, priceAfter, err := demoCluster(ctx, c, its)
	if err != nil {
		return err
	}
	bound := scheduling.Solve(scheduling.Input{Pods: left, NodePools: []*scheduling.NodePool{{NodePool: pool, InstanceTypes: its}}, LowerBound: true}).LowerBound
	fmt.Fprintf(out, `
Summary after consolidation
  pods      %d of %d Running
  nodes     %d → %d
  price     $%.4f → $%.4f per hour (the core's lower bound for these pods: $%.4f, %.2f×)
  churn     %d pods evicted and started elsewhere
  time      %.1f s from halving the Deployments to the last change
`, running, want, len(claimsBefore), len(claimsAfter), priceBefore, priceAfter, bound, priceAfter/max(bound, 1e-9), evictions, changed.Sub(began).Seconds())
	if running != int(want) {
		return fmt.Errorf("the demo failed: %d of %d pods are Running after consolidation", running, want)
	}
	return nil
}

// demoCluster returns the NodeClaims and their total price per hour.
func demoCluster(ctx context.Context, c client.Client, its []*instancetype.InstanceType) ([]v1.NodeClaim, float64, error) {
	claims := &v1.NodeClaimList{}
	if err := c.List(ctx, claims); err != nil {
		return nil, 0, err
	}
	price := 0.0
	for i := range claims.Items {
		price += instancetype.Price(&claims.Items[i], its)
	}
	return claims.Items, price, nil
}
