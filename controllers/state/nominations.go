package state

import (
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/tailor-sh/tailor/api/v1"
)

// NominationGrace is how long after its node is initialized a NodeClaim
// still holds the pods nominated to it. kube-scheduler retries
// unschedulable pods with a backoff of up to ten seconds, so pods stay
// pending for a while after their node is ready; re-packing them onto the
// new nodes meanwhile would launch nodes nobody needs. A pod still pending
// after the grace was refused by kube-scheduler and is decided afresh.
const NominationGrace = 10 * time.Second

// NominationLimit is how long after its creation a NodeClaim that has not
// become ready holds its nominations. A node that joins but never gets ready
// (a broken CNI, a kubelet that died) must not keep its pods waiting for
// ever; they are decided afresh and get another node.
const NominationLimit = 5 * time.Minute

// HoldsNominations reports whether the pods nominated to a NodeClaim still
// wait for it at now, rather than being decided afresh.
func HoldsNominations(nc *v1.NodeClaim, now time.Time) bool {
	initialized := apimeta.FindStatusCondition(nc.Status.Conditions, v1.ConditionInitialized)
	if initialized != nil && initialized.Status == metav1.ConditionTrue {
		return now.Sub(initialized.LastTransitionTime.Time) < NominationGrace
	}
	return nc.CreationTimestamp.IsZero() || now.Sub(nc.CreationTimestamp.Time) < NominationLimit
}
