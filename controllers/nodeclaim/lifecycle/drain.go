package lifecycle

// Draining a node that Tailor is taking away: taint it
// tailor.sh/disrupted:NoSchedule so that nothing new lands there, then evict
// its pods through the Eviction API, so that PodDisruptionBudgets hold, in the
// order core/drain decides, never evicting a pod annotated
// tailor.sh/do-not-disrupt. When the NodeClaim's terminationGracePeriod runs
// out, the pods still there are deleted instead.

import (
	"context"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/controllers/events"
	"github.com/tailor-sh/tailor/controllers/state"
	"github.com/tailor-sh/tailor/core/drain"
)

// Drainer drains nodes.
type Drainer struct {
	Client   client.Client
	Recorder *events.Recorder
	// Clock tells how long pods have been terminating and whether the
	// deadline has passed; nil means the real one.
	Clock clock.PassiveClock
}

func (d *Drainer) now() time.Time {
	if d.Clock == nil {
		return time.Now()
	}
	return d.Clock.Now()
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
	now := d.now()
	plan := drain.NewPlan(list, now)
	if plan.Empty() {
		return true, nil
	}
	if !deadline.IsZero() && now.After(deadline) {
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
	if slices.ContainsFunc(node.Spec.Taints, func(t corev1.Taint) bool { return t.MatchTaint(&drain.DisruptedTaint) }) {
		return nil
	}
	patch := client.MergeFromWithOptions(node.DeepCopy(), client.MergeFromWithOptimisticLock{})
	node.Spec.Taints = append(node.Spec.Taints, drain.DisruptedTaint)
	if err := d.Client.Patch(ctx, node, patch); err != nil {
		return fmt.Errorf("taint Node %s %s: %w", node.Name, drain.DisruptedTaint.ToString(), err)
	}
	return nil
}
