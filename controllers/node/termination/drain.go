// Package termination drains a node that Tailor is taking away: it taints
// the node tailor.sh/disrupted:NoSchedule so that nothing new lands there,
// then evicts its pods through the Eviction API, so that PodDisruptionBudgets
// hold, in tiers (ordinary pods, then DaemonSet pods, then critical pods of
// each kind), and never evicts a pod annotated tailor.sh/do-not-disrupt. When
// the NodeClaim's terminationGracePeriod runs out, the pods still there are
// deleted instead.
package termination

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/controllers/events"
	"github.com/tailor-sh/tailor/controllers/state"
)

// DisruptedTaint keeps new pods off a node being drained.
var DisruptedTaint = corev1.Taint{Key: v1.TaintKeyDisrupted, Effect: corev1.TaintEffectNoSchedule}

// Drainer drains nodes.
type Drainer struct {
	Client   client.Client
	Recorder *events.Recorder
}

// Drain taints the node and evicts the first tier of its pods that is not
// empty. It reports true once no pod is left that must go first. After
// deadline (if not zero), pods are deleted rather than evicted, PDBs and
// do-not-disrupt notwithstanding.
func (d *Drainer) Drain(ctx context.Context, node *corev1.Node, deadline time.Time) (bool, error) {
	if err := d.taint(ctx, node); err != nil {
		return false, err
	}
	pods := &corev1.PodList{}
	if err := d.Client.List(ctx, pods, client.MatchingFields{state.FieldPodNodeName: node.Name}); err != nil {
		return false, fmt.Errorf("list the pods of Node %s: %w", node.Name, err)
	}
	list := make([]*corev1.Pod, len(pods.Items))
	for i := range pods.Items {
		list[i] = &pods.Items[i]
	}
	plan := Plan(list, time.Now())
	if plan.Empty() {
		return true, nil
	}
	if !deadline.IsZero() && time.Now().After(deadline) {
		for _, pod := range plan.All() {
			if pod.DeletionTimestamp == nil {
				d.Recorder.Warning(pod, events.Evicted, "Drain", "Deleted: the terminationGracePeriod of Node %s has run out", node.Name)
				if err := d.Client.Delete(ctx, pod); client.IgnoreNotFound(err) != nil {
					return false, fmt.Errorf("delete pod %s/%s: %w", pod.Namespace, pod.Name, err)
				}
			}
		}
		return false, nil
	}
	for _, pod := range plan.Next() {
		if pod.DeletionTimestamp != nil {
			continue
		}
		eviction := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace}}
		err := d.Client.SubResource("eviction").Create(ctx, pod, eviction)
		switch {
		case err == nil:
			d.Recorder.Normal(pod, events.Evicted, "Drain", "Evicted: Node %s is being removed", node.Name)
		case apierrors.IsTooManyRequests(err):
			d.Recorder.Warning(pod, events.DrainBlocked, "Drain", "Cannot evict yet, Node %s waits: %v", node.Name, err)
		case apierrors.IsNotFound(err):
		default:
			return false, fmt.Errorf("evict pod %s/%s: %w", pod.Namespace, pod.Name, err)
		}
	}
	for _, pod := range plan.Blocked {
		d.Recorder.Warning(pod, events.DrainBlocked, "Drain", "Not evicted: the pod is annotated %s; Node %s waits for it or for its terminationGracePeriod", v1.AnnotationDoNotDisrupt, node.Name)
	}
	return false, nil
}

func (d *Drainer) taint(ctx context.Context, node *corev1.Node) error {
	if slices.ContainsFunc(node.Spec.Taints, func(t corev1.Taint) bool { return t.MatchTaint(&DisruptedTaint) }) {
		return nil
	}
	patch := client.MergeFromWithOptions(node.DeepCopy(), client.MergeFromWithOptimisticLock{})
	node.Spec.Taints = append(node.Spec.Taints, DisruptedTaint)
	if err := d.Client.Patch(ctx, node, patch); err != nil {
		return fmt.Errorf("taint Node %s %s: %w", node.Name, DisruptedTaint.ToString(), err)
	}
	return nil
}

// DrainPlan sorts a node's pods for draining.
type DrainPlan struct {
	// Tiers are evicted in order: ordinary pods, DaemonSet pods, critical
	// pods, critical DaemonSet pods.
	Tiers [4][]*corev1.Pod
	// Blocked are pods annotated do-not-disrupt: never evicted, they hold
	// the drain until the deadline.
	Blocked []*corev1.Pod
}

// Plan sorts pods for draining. Pods that are done, static (mirror) pods,
// pods that tolerate the disrupted taint (they would only come back) and
// pods stuck terminating for over a minute are left out.
func Plan(pods []*corev1.Pod, now time.Time) DrainPlan {
	var plan DrainPlan
	for _, pod := range pods {
		if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			continue
		}
		if _, mirror := pod.Annotations[corev1.MirrorPodAnnotationKey]; mirror {
			continue
		}
		if tolerates(pod, DisruptedTaint) {
			continue
		}
		if pod.DeletionTimestamp != nil && now.Sub(pod.DeletionTimestamp.Time) > time.Minute {
			continue
		}
		if pod.Annotations[v1.AnnotationDoNotDisrupt] == "true" {
			plan.Blocked = append(plan.Blocked, pod)
			continue
		}
		tier := 0
		if daemon(pod) {
			tier = 1
		}
		if critical(pod) {
			tier += 2
		}
		plan.Tiers[tier] = append(plan.Tiers[tier], pod)
	}
	return plan
}

// Empty reports whether nothing is left to evict or wait for.
func (p DrainPlan) Empty() bool { return len(p.All()) == 0 }

// All returns every pod of the plan.
func (p DrainPlan) All() []*corev1.Pod {
	out := slices.Clone(p.Blocked)
	for _, tier := range p.Tiers {
		out = append(out, tier...)
	}
	return out
}

// Next returns the first tier that is not empty.
func (p DrainPlan) Next() []*corev1.Pod {
	for _, tier := range p.Tiers {
		if len(tier) > 0 {
			return tier
		}
	}
	return nil
}

func tolerates(pod *corev1.Pod, taint corev1.Taint) bool {
	return slices.ContainsFunc(pod.Spec.Tolerations, func(t corev1.Toleration) bool { return t.ToleratesTaint(logr.Discard(), &taint, false) })
}

func daemon(pod *corev1.Pod) bool {
	for _, ref := range pod.OwnerReferences {
		if ref.Kind == "DaemonSet" && ref.Controller != nil && *ref.Controller {
			return true
		}
	}
	return false
}

func critical(pod *corev1.Pod) bool {
	return pod.Spec.PriorityClassName == "system-cluster-critical" || pod.Spec.PriorityClassName == "system-node-critical"
}
