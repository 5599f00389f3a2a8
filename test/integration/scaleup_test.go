package integration

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	simv1 "github.com/tailor-sh/tailor/api/sim/v1"
	v1 "github.com/tailor-sh/tailor/api/v1"
	nodepoolstatus "github.com/tailor-sh/tailor/controllers/nodepool/status"
)

// TestDeploymentScaleUp: a Deployment whose pods fit nowhere gets nodes, and
// every pod runs on one of them.
func TestDeploymentScaleUp(t *testing.T) {
	e := newEnv(t)
	r := e.startOperator(testOptions)
	pool := e.nodePool("scale-up", simv1.SimNodeClassSpec{}, nil)
	deployment := e.deployment("web", 100, podSpec(pool.Name, "500m", "1Gi"))
	pods := e.waitRunning("web", 100, 2*time.Minute)
	claims := e.waitClaimsReady(pool.Name, time.Minute)

	used := map[string]int{}
	for _, p := range pods {
		used[p.Spec.NodeName]++
	}
	for _, nc := range claims {
		if used[nc.Status.NodeName] == 0 {
			t.Errorf("NodeClaim %s (%s) runs none of the pods", nc.Name, nc.Labels[corev1.LabelInstanceTypeStable])
		}
		if e.node(nc.Status.NodeName).Labels[v1.LabelNodeInitialized] != "true" {
			t.Errorf("Node %s is not labelled initialized", nc.Status.NodeName)
		}
	}

	// The same input, planned offline by tailor plan.
	planned := e.plan(pool, deployment)
	its, err := r.op.CloudProvider.GetInstanceTypes(context.Background(), pool)
	if err != nil {
		t.Fatal(err)
	}
	actual := 0.0
	for _, nc := range claims {
		actual += nodepoolstatus.Price(&nc, its)
	}
	t.Logf("%d nodes at $%.4f/h; tailor plan predicted $%.4f/h", len(claims), actual, planned)
	if actual > planned*1.10 || actual < planned*0.90 {
		t.Errorf("the launched nodes cost $%.4f/h, more than 10%% away from the $%.4f/h tailor plan predicted", actual, planned)
	}
}
