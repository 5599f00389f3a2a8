package integration

import (
	"context"
	"path"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/providers/sim"
	simv1 "github.com/tailor-sh/tailor/providers/sim/api/v1"
)

// TestSpotInterruptionMovesPodsBeforeTheDeadline: when the cloud announces
// that a spot instance goes in two minutes, its pods run on another node
// well before then, and the replacement is not launched into the
// interrupted offering.
func TestSpotInterruptionMovesPodsBeforeTheDeadline(t *testing.T) {
	e := newEnv(t)
	e.startOperator(testOptions)
	pool := e.nodePool("interrupted", simv1.SimNodeClassSpec{}, func(np *v1.NodePool) {
		consolidating(v1.CapacityTypeSpot, v1.CapacityTypeOnDemand)(np)
		np.Spec.Disruption.ConsolidationPolicy = v1.ConsolidationPolicyWhenEmpty
	})
	e.deployment("interrupted", 2, podSpec(pool.Name, "700m", "1Gi"))
	e.waitRunning("interrupted", 2, time.Minute)
	old := e.waitClaimsReady(pool.Name, time.Minute)[0]
	if got := old.Labels[v1.LabelCapacityType]; got != v1.CapacityTypeSpot {
		t.Fatalf("the first node is %s, want spot, the cheapest", got)
	}

	// The notice, as the simulated cloud gives it at its interruption rate.
	ctx := context.Background()
	instance := &simv1.SimInstance{}
	if err := e.client.Get(ctx, client.ObjectKey{Name: path.Base(old.Status.ProviderID)}, instance); err != nil {
		t.Fatal(err)
	}
	announced := time.Now()
	at := metav1.NewTime(announced.Add(sim.InterruptionWarning))
	instance.Status.InterruptionTime = &at
	if err := e.client.Status().Update(ctx, instance); err != nil {
		t.Fatal(err)
	}

	e.waitEvent("Interrupted", "SpotInterruption", &old.ObjectMeta)
	e.eventually(time.Minute, "the pods run on another node", func() bool {
		pods, err := e.pods(ctx, "interrupted")
		if err != nil || len(pods) != 2 {
			return false
		}
		for _, p := range pods {
			if p.Status.Phase != "Running" || p.Spec.NodeName == "" || p.Spec.NodeName == old.Status.NodeName || p.DeletionTimestamp != nil {
				return false
			}
		}
		return true
	})
	if took := time.Since(announced); took > sim.InterruptionWarning {
		t.Errorf("the pods moved %s after the notice, later than the %s warning", took, sim.InterruptionWarning)
	}
	for _, nc := range e.liveClaims(pool.Name) {
		if nc.Name != old.Name && nc.Labels[v1.LabelCapacityType] == v1.CapacityTypeSpot {
			t.Errorf("replacement %s launched into the interrupted offering (spot m5.large in us-west-2a)", nc.Name)
		}
	}
}
