package integration

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/tailor-sh/tailor/api/v1"
	simv1 "github.com/tailor-sh/tailor/providers/sim/api/v1"
)

// TestEmptyNodeIsRemovedAfterConsolidateAfter: a node whose pods are gone is
// removed once it has been empty for consolidateAfter, not before; a budget
// of zero keeps it.
func TestEmptyNodeIsRemovedAfterConsolidateAfter(t *testing.T) {
	e := newEnv(t)
	e.startOperator(testOptions)
	for _, tc := range []struct {
		name    string
		budgets []v1.Budget
		removed bool
	}{
		{"empty", nil, true},
		{"budget-zero", []v1.Budget{{Nodes: "0"}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			pool := e.nodePool(tc.name, simv1.SimNodeClassSpec{}, func(np *v1.NodePool) {
				np.Spec.Disruption.ConsolidationPolicy = v1.ConsolidationPolicyWhenEmpty
				np.Spec.Disruption.ConsolidateAfter = v1.NewNillableDuration(6 * time.Second)
				np.Spec.Disruption.Budgets = tc.budgets
			})
			d := e.deployment(tc.name, 1, podSpec(pool.Name, "500m", "512Mi"))
			e.waitRunning(tc.name, 1, time.Minute)
			claims := e.waitClaimsReady(pool.Name, time.Minute)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			patch := client.MergeFrom(d.DeepCopy())
			d.Spec.Replicas = ptr.To[int32](0)
			if err := e.client.Patch(ctx, d, patch); err != nil {
				t.Fatal(err)
			}
			emptied := time.Now()
			err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 15*time.Second, true, func(ctx context.Context) (bool, error) {
				nc := &v1.NodeClaim{}
				err := e.client.Get(ctx, client.ObjectKey{Name: claims[0].Name}, nc)
				return apierrors.IsNotFound(err) || (err == nil && nc.DeletionTimestamp != nil), nil
			})
			took := time.Since(emptied)
			switch {
			case tc.removed && err != nil:
				t.Fatalf("the empty node was not removed within 15 s: %s", e.describe(nil))
			case tc.removed && took < 5*time.Second:
				t.Errorf("the empty node was removed after %s, before its consolidateAfter of 6 s", took)
			case !tc.removed && err == nil:
				t.Errorf("a budget of 0 did not keep the empty node")
			}
		})
	}
}

// TestAPodThatToleratesEverythingKeepsItsNode: a node whose only pod
// tolerates every taint (Tailor's disrupted taint included), behind a
// PodDisruptionBudget that allows nothing, is neither empty nor
// consolidated: disruption looks at it, says why it stays, and leaves it.
func TestAPodThatToleratesEverythingKeepsItsNode(t *testing.T) {
	e := newEnv(t)
	e.startOperator(testOptions)
	pool := e.nodePool("tolerant", simv1.SimNodeClassSpec{}, consolidating(v1.CapacityTypeOnDemand))
	spec := podSpec(pool.Name, "200m", "256Mi")
	spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}}
	e.deployment("agent", 1, spec)
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: e.namespace},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable: ptr.To(intstr.FromInt32(0)),
			Selector:       &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
		},
	}
	if err := e.client.Create(context.Background(), pdb); err != nil {
		t.Fatal(err)
	}
	e.waitRunning("agent", 1, time.Minute)
	claim := e.waitClaimsReady(pool.Name, time.Minute)[0]
	// The event comes from a disruption pass that judged the settled node
	// and its pod; it proves the node was looked at, not just not yet.
	e.waitEvent("DisruptionBlocked", "PodDisruptionBudget", &claim.ObjectMeta)
	nc := &v1.NodeClaim{}
	if err := e.client.Get(context.Background(), client.ObjectKey{Name: claim.Name}, nc); err != nil || nc.DeletionTimestamp != nil {
		t.Fatalf("the node of a pod behind a PodDisruptionBudget that allows nothing is going (err %v): %s", err, e.describe(nil))
	}
	if claims := e.claims(pool.Name); len(claims) != 1 {
		t.Errorf("%d NodeClaims, want the one node, no replacement", len(claims))
	}
}
