package integration

import (
	"context"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
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
