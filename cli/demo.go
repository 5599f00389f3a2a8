package cli

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/sets"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/core/instancetype"
	"github.com/tailor-sh/tailor/operator"
)

// demoNamespace holds the demo's workloads.
const demoNamespace = "tailor-demo"

// demoWorkload is one Deployment of the demo.
type demoWorkload struct {
	name        string
	replicas    int32
	cpu, memory string
	spread      bool
}

// demoWorkloads are 56 pods of four shapes: small web pods, API pods spread
// over zones, memory-heavy caches and cpu-heavy batch workers.
var demoWorkloads = []demoWorkload{
	{name: "web", replicas: 24, cpu: "250m", memory: "512Mi"},
	{name: "api", replicas: 12, cpu: "1", memory: "2Gi", spread: true},
	{name: "cache", replicas: 8, cpu: "500m", memory: "6Gi"},
	{name: "batch", replicas: 12, cpu: "2", memory: "3Gi"},
}

// runDemo creates the demo's workloads in the running playground, narrates
// what Tailor does, and prints a summary. It fails unless every pod ends up
// Running on a node Tailor launched.
func runDemo(ctx context.Context, out io.Writer, c client.Client, op *operator.Operator, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: demoNamespace}}
	if err := c.Create(ctx, ns); client.IgnoreAlreadyExists(err) != nil {
		return fmt.Errorf("create namespace %s: %w", demoNamespace, err)
	}
	total := int32(0)
	fmt.Fprintln(out, "\nDemo: creating Deployments whose pods fit on no node (the cluster has none):")
	began := time.Now()
	for _, w := range demoWorkloads {
		if err := c.Create(ctx, w.deployment()); client.IgnoreAlreadyExists(err) != nil {
			return fmt.Errorf("create Deployment %s: %w", w.name, err)
		}
		total += w.replicas
		spread := ""
		if w.spread {
			spread = ", spread over zones"
		}
		fmt.Fprintf(out, "  %-6s %3d pods × %s cpu, %s memory%s\n", w.name, w.replicas, w.cpu, w.memory, spread)
	}
	fmt.Fprintln(out)

	stamp := func() string { return fmt.Sprintf("%6.1fs", time.Since(began).Seconds()) }
	seen := map[string]string{} // NodeClaim → last phase printed
	lastRunning := -1
	ticker := time.NewTicker(250 * time.Millisecond)
	defer ticker.Stop()
	for {
		claims := &v1.NodeClaimList{}
		pods := &corev1.PodList{}
		if err := c.List(ctx, claims); err != nil {
			return err
		}
		if err := c.List(ctx, pods, client.InNamespace(demoNamespace)); err != nil {
			return err
		}
		slices.SortFunc(claims.Items, func(a, b v1.NodeClaim) int { return strings.Compare(a.Name, b.Name) })
		for i := range claims.Items {
			nc := &claims.Items[i]
			phase := nc.Phase()
			if seen[nc.Name] == phase {
				continue
			}
			switch phase {
			case "Pending":
				fmt.Fprintf(out, "%s  NodeClaim %s created for pods needing %s\n", stamp(), nc.Name, describeRequests(nc.Spec.Resources.Requests))
			case "Launched":
				fmt.Fprintf(out, "%s  NodeClaim %s launched %s %s in %s\n", stamp(), nc.Name,
					nc.Labels[v1.LabelCapacityType], nc.Labels[corev1.LabelInstanceTypeStable], nc.Labels[corev1.LabelTopologyZone])
			case "Ready":
				fmt.Fprintf(out, "%s  Node %s is ready\n", stamp(), nc.Status.NodeName)
			}
			seen[nc.Name] = phase
		}
		running := 0
		for _, p := range pods.Items {
			if p.Status.Phase == corev1.PodRunning {
				running++
			}
		}
		if running != lastRunning {
			fmt.Fprintf(out, "%s  %d of %d pods Running\n", stamp(), running, total)
			lastRunning = running
		}
		if running == int(total) && len(pods.Items) == int(total) {
			took := time.Since(began)
			// Nodes launched for pods that kube-scheduler then placed
			// elsewhere may still be joining; let them, so that the
			// summary counts what the cluster holds.
			settled := time.Now().Add(15 * time.Second)
			for !allReady(claims.Items) && time.Now().Before(settled) {
				time.Sleep(250 * time.Millisecond)
				if err := c.List(ctx, claims); err != nil {
					return err
				}
			}
			if err := demoSummary(ctx, out, c, op, pods.Items, claims.Items, took); err != nil {
				return err
			}
			return demoScaleDown(ctx, out, c, op)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("only %d of %d pods were Running after %s; see kubectl get nodeclaims and kubectl -n %s describe pods", running, total, timeout, demoNamespace)
		case <-ticker.C:
		}
	}
}

func (w demoWorkload) deployment() *appsv1.Deployment {
	labels := map[string]string{"app": w.name}
	spec := corev1.PodSpec{
		Containers: []corev1.Container{{Name: w.name, Image: w.name, Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse(w.cpu), corev1.ResourceMemory: resource.MustParse(w.memory),
		}}}},
		TerminationGracePeriodSeconds: ptr.To[int64](0),
	}
	if w.spread {
		spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{
			MaxSkew: 1, TopologyKey: corev1.LabelTopologyZone, WhenUnsatisfiable: corev1.DoNotSchedule,
			LabelSelector: &metav1.LabelSelector{MatchLabels: labels},
		}}
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: w.name, Namespace: demoNamespace},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(w.replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: spec},
		},
	}
}

func describeRequests(list corev1.ResourceList) string {
	return fmt.Sprintf("%s cpu, %s memory", list.Cpu(), list.Memory())
}

// allReady reports whether every NodeClaim is Ready.
func allReady(claims []v1.NodeClaim) bool {
	for i := range claims {
		if !apimeta.IsStatusConditionTrue(claims[i].Status.Conditions, v1.ConditionReady) {
			return false
		}
	}
	return true
}

// demoSummary checks that every pod runs on a node Tailor launched and
// prints what the cluster holds and costs.
func demoSummary(ctx context.Context, out io.Writer, c client.Client, op *operator.Operator, pods []corev1.Pod, claims []v1.NodeClaim, took time.Duration) error {
	byNode := map[string]*v1.NodeClaim{}
	for i := range claims {
		byNode[claims[i].Status.NodeName] = &claims[i]
	}
	var strays []string
	for _, p := range pods {
		node := &corev1.Node{}
		if err := c.Get(ctx, client.ObjectKey{Name: p.Spec.NodeName}, node); err != nil || node.Labels[v1.LabelNodePool] == "" || byNode[node.Name] == nil {
			strays = append(strays, p.Name+" on "+p.Spec.NodeName)
		}
	}
	pools := map[string]*v1.NodePool{}
	price := 0.0
	types := map[string]int{}
	for i := range claims {
		nc := &claims[i]
		name := nc.Labels[v1.LabelNodePool]
		if pools[name] == nil {
			pools[name] = &v1.NodePool{}
			if err := c.Get(ctx, client.ObjectKey{Name: name}, pools[name]); err != nil {
				return fmt.Errorf("get NodePool %s: %w", name, err)
			}
		}
		its, err := op.CloudProvider.GetInstanceTypes(ctx, pools[name])
		if err != nil {
			return err
		}
		price += instancetype.Price(nc, its)
		types[nc.Labels[v1.LabelCapacityType]+" "+nc.Labels[corev1.LabelInstanceTypeStable]]++
	}
	used := sets.New[string]()
	for _, p := range pods {
		used.Insert(p.Spec.NodeName)
	}
	empty := 0
	for i := range claims {
		if !used.Has(claims[i].Status.NodeName) {
			empty++
		}
	}
	sort.Strings(strays)
	if len(strays) > 0 {
		return fmt.Errorf("the demo failed: pods run on nodes Tailor did not launch: %s", strings.Join(strays, "; "))
	}
	var mix []string
	for _, t := range slices.Sorted(maps.Keys(types)) {
		mix = append(mix, fmt.Sprintf("%d × %s", types[t], t))
	}
	fmt.Fprintf(out, `
Summary
  pods      %d Running, every one on a node Tailor launched
  nodes     %d: %s
  price     $%.4f per hour
  time      %.1f s from creating the Deployments to every pod Running
`, len(pods), len(claims), strings.Join(mix, ", "), price, took.Seconds())
	if empty > 0 {
		fmt.Fprintf(out, `  note      %d of the nodes run none of these pods: kube-scheduler placed the pods they were
            launched for elsewhere. Consolidation removes them once they have been empty for
            the NodePool's consolidateAfter.
`, empty)
	}
	return nil
}
