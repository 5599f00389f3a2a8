package integration

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/core/instancetype"
	simv1 "github.com/tailor-sh/tailor/providers/sim/api/v1"
)

// TestDeploymentScaleUp: a Deployment whose pods fit nowhere gets nodes, and
// every pod runs on one of them.
func TestDeploymentScaleUp(t *testing.T) {
	e := newEnv(t)
	opts := testOptions
	opts.MetricsBindAddress, opts.HealthProbeBindAddress = freeAddress(t), freeAddress(t)
	r := e.startOperator(opts)
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
		actual += instancetype.Price(&nc, its)
	}
	t.Logf("%d nodes at $%.4f/h; tailor plan predicted $%.4f/h", len(claims), actual, planned)
	if actual > planned*1.10 || actual < planned*0.90 {
		t.Errorf("the launched nodes cost $%.4f/h, more than 10%% away from the $%.4f/h tailor plan predicted", actual, planned)
	}

	// What an operator of the cluster sees: the pool's status and the
	// controller's metrics and probes.
	ctx := context.Background()
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		current := &v1.NodePool{}
		if err := e.client.Get(ctx, client.ObjectKeyFromObject(pool), current); err != nil {
			return false, nil
		}
		return current.Status.Nodes == int64(len(claims)) && apimeta.IsStatusConditionTrue(current.Status.Conditions, v1.ConditionReady), nil
	}); err != nil {
		t.Errorf("NodePool status does not count %d Ready nodes", len(claims))
	}
	if body := httpGet(t, "http://"+opts.HealthProbeBindAddress+"/readyz"); !strings.Contains(body, "ok") {
		t.Errorf("/readyz: %q", body)
	}
	metricsText := httpGet(t, "http://"+opts.MetricsBindAddress+"/metrics")
	for _, want := range []string{
		`tailor_nodeclaims_created_total{nodepool="scale-up"}`,
		`tailor_provisioner_solve_duration_seconds_count`,
		`tailor_provisioner_batch_size_count`,
		`tailor_cloudprovider_call_duration_seconds_count{method="Create",provider="sim"}`,
		`tailor_nodeclaims_phase_seconds_count{nodepool="scale-up",phase="Initialized"}`,
		`tailor_nodepool_cost_per_hour{nodepool="scale-up"}`,
		`tailor_nodeclaims_current{nodepool="scale-up",phase="Ready"}`,
	} {
		if !strings.Contains(metricsText, want) {
			t.Errorf("/metrics has no %s", want)
		}
	}
}

// freeAddress returns a loopback address with a port nobody listens on.
func freeAddress(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s: %s\n%s", url, resp.Status, body)
	}
	return string(body)
}
