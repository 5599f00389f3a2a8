package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/workqueue"

	"github.com/tailor-sh/tailor/providers/sim"
	simv1 "github.com/tailor-sh/tailor/providers/sim/api/v1"
)

// benchShapes are the pods of the benchmarks: five common requests.
var benchShapes = []struct{ cpu, memory string }{
	{"250m", "512Mi"}, {"500m", "1Gi"}, {"1", "2Gi"}, {"2", "4Gi"}, {"500m", "4Gi"},
}

// BenchmarkPendingToNodeClaims measures the provisioner on 1,000 pending
// pods: the time from the end of the batch window to the last NodeClaim
// created (snapshot, solve and creates). The goal is under 100 ms beyond
// the batch window.
//
//	go test ./test/integration -run '^$' -bench PendingToNodeClaims -benchtime 1x
func BenchmarkPendingToNodeClaims(b *testing.B) {
	for range b.N {
		// kube-scheduler takes several seconds to mark 1,000 pods
		// unschedulable; a long max window gathers them into one batch.
		_, r, _ := benchPods(b, 1000, time.Minute)
		deadline := time.Now().Add(time.Minute)
		for r.op.Provisioner.LastReport().PendingPods < 1000 {
			if time.Now().After(deadline) {
				b.Fatalf("no batch held all 1000 pods within a minute (the last held %d)", r.op.Provisioner.LastReport().PendingPods)
			}
			time.Sleep(50 * time.Millisecond)
		}
		report := r.op.Provisioner.LastReport()
		b.ReportMetric(float64(report.DecisionDuration.Microseconds())/1000, "ms/decision")
		b.ReportMetric(float64(report.Duration.Microseconds())/1000, "ms/all-created")
		b.ReportMetric(float64(report.SolveDuration.Microseconds())/1000, "ms/solve")
		b.ReportMetric(float64(len(report.NodeClaims)), "nodeclaims")
	}
}

// BenchmarkScaleUpToRunning measures 500 pending pods to all Running with
// the playground's settings (one-second simulated cloud tick, no boot
// time). The goal is under 30 s.
//
//	go test ./test/integration -run '^$' -bench ScaleUpToRunning -benchtime 1x
func BenchmarkScaleUpToRunning(b *testing.B) {
	for range b.N {
		e, _, began := benchPods(b, 500, 0)
		deadline := time.Now().Add(3 * time.Minute)
		for {
			pods, err := e.pods(context.Background(), "bench")
			running, bound := 0, 0
			for _, p := range pods {
				if err == nil && p.Status.Phase == corev1.PodRunning {
					running++
				}
				if p.Spec.NodeName != "" {
					bound++
				}
			}
			if running == 500 {
				break
			}
			if testing.Verbose() && time.Since(began)%time.Second < 100*time.Millisecond {
				b.Logf("%5.1fs %d bound, %d running", time.Since(began).Seconds(), bound, running)
			}
			if time.Now().After(deadline) {
				b.Fatalf("%d of 500 pods Running after 3 minutes", running)
			}
			time.Sleep(100 * time.Millisecond)
		}
		b.ReportMetric(time.Since(began).Seconds(), "s/all-running")
		b.ReportMetric(float64(len(e.claims(e.namespace))), "nodes")
	}
}

// benchPods starts the controllers with the playground's settings (and the
// given max batch window, if not zero) and creates n pending pods of mixed
// shapes for a fresh pool.
func benchPods(b *testing.B, n int, batchMax time.Duration) (*env, *running, time.Time) {
	e := newEnv(b)
	opts := testOptions
	opts.ProviderSettings = &sim.Settings{Tick: time.Second} // the playground's tick
	opts.BatchMax = batchMax
	r := e.startOperator(opts)
	pool := e.nodePool(e.namespace, simv1.SimNodeClassSpec{}, nil)
	ctx := context.Background()
	began := time.Now()
	workqueue.ParallelizeUntil(ctx, 32, n, func(i int) {
		shape := benchShapes[i%len(benchShapes)]
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p-%d", i), Namespace: e.namespace, Labels: map[string]string{"app": "bench"}},
			Spec:       podSpec(pool.Name, shape.cpu, shape.memory),
		}
		if err := e.client.Create(ctx, pod); err != nil {
			b.Error(err)
		}
	})
	b.ReportMetric(time.Since(began).Seconds(), "s/create-pods")
	return e, r, began
}
