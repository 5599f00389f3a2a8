// Package drain decides how a node that Tailor takes away is emptied: which
// of its pods are evicted, in which order (ordinary pods, then DaemonSet pods,
// then critical pods of each kind), which hold the drain (pods annotated
// tailor.sh/do-not-disrupt), and which are left alone. It is pure: the
// controllers that drain and the disruption controller that judges whether a
// node is empty share it.
package drain

import (
	"slices"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"

	v1 "github.com/tailor-sh/tailor/api/v1"
)

// DisruptedTaint keeps new pods off a node being drained.
var DisruptedTaint = corev1.Taint{Key: v1.TaintKeyDisrupted, Effect: corev1.TaintEffectNoSchedule}

// Plan sorts a node's pods for draining.
type Plan struct {
	// Tiers are evicted in order: ordinary pods, DaemonSet pods, critical
	// pods, critical DaemonSet pods.
	Tiers [4][]*corev1.Pod
	// Blocked are pods annotated do-not-disrupt: never evicted, they hold
	// the drain until the deadline.
	Blocked []*corev1.Pod
}

// NewPlan sorts pods for draining. Pods that are done, static (mirror) pods,
// DaemonSet pods that tolerate the disrupted taint (their controller would
// only put them back) and pods stuck terminating for over a minute are left
// out. Any other pod that tolerates the taint, an agent with
// `tolerations: [{operator: Exists}]` for example, is evicted like the rest:
// leaving it out would count its node as empty, delete the node under it
// and skip its PodDisruptionBudget and do-not-disrupt annotation.
func NewPlan(pods []*corev1.Pod, now time.Time) Plan {
	var plan Plan
	for _, pod := range pods {
		if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			continue
		}
		if _, mirror := pod.Annotations[corev1.MirrorPodAnnotationKey]; mirror {
			continue
		}
		if daemon(pod) && tolerates(pod, DisruptedTaint) {
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
func (p Plan) Empty() bool { return len(p.All()) == 0 }

// All returns every pod of the plan.
func (p Plan) All() []*corev1.Pod {
	out := slices.Clone(p.Blocked)
	for _, tier := range p.Tiers {
		out = append(out, tier...)
	}
	return out
}

// Next returns the first tier that is not empty.
func (p Plan) Next() []*corev1.Pod {
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
