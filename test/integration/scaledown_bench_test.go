package integration

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/core/instancetype"
	"github.com/tailor-sh/tailor/core/scheduling"
	simv1 "github.com/tailor-sh/tailor/providers/sim/api/v1"
)

// scaleDownWorkload is the 200-pod mixed workload of the scale-down goal.
var scaleDownWorkload = []struct {
	name        string
	replicas    int32
	cpu, memory string
}{
	{"web", 80, "250m", "512Mi"},
	{"api", 50, "1", "2Gi"},
	{"cache", 30, "500m", "6Gi"},
	{"batch", 40, "2", "3Gi"},
}

// BenchmarkScaleDownToBound measures consolidation: 200 pods of four shapes
// run, each Deployment guarded by a PodDisruptionBudget of
// maxUnavailable 1; then half of the pods, chosen at random, are removed.
// It reports the time until the cluster's price is within 15% of the core's
// lower bound for the pods left, the evictions that took (churn), and
// checks that every PodDisruptionBudget held and no pod was lost.
//
//	go test ./test/integration -run '^$' -bench ScaleDownToBound -benchtime 1x -count 3
func BenchmarkScaleDownToBound(b *testing.B) {
	for i := range b.N {
		e := newEnv(b)
		r := e.startOperator(testOptions)
		pool := e.nodePool(fmt.Sprintf("scaledown-%d", i), simv1.SimNodeClassSpec{}, func(np *v1.NodePool) {
			np.Spec.Disruption.ConsolidationPolicy = v1.ConsolidationPolicyWhenEmptyOrUnderutilized
			np.Spec.Disruption.ConsolidateAfter = v1.NewNillableDuration(5 * time.Second)
		})
		ctx := context.Background()
		total := int32(0)
		for _, w := range scaleDownWorkload {
			e.deployment(w.name, w.replicas, podSpec(pool.Name, w.cpu, w.memory))
			pdb := &policyv1.PodDisruptionBudget{
				ObjectMeta: metav1.ObjectMeta{Name: w.name, Namespace: e.namespace},
				Spec: policyv1.PodDisruptionBudgetSpec{
					MaxUnavailable: ptrIntOrString(1),
					Selector:       &metav1.LabelSelector{MatchLabels: map[string]string{"app": w.name}},
				},
			}
			if err := e.client.Create(ctx, pdb); err != nil {
				b.Fatal(err)
			}
			total += w.replicas
		}
		for _, w := range scaleDownWorkload {
			e.waitRunning(w.name, int(w.replicas), 3*time.Minute)
		}
		e.waitClaimsReady(pool.Name, time.Minute)
		its, err := r.op.CloudProvider.GetInstanceTypes(ctx, pool)
		if err != nil {
			b.Fatal(err)
		}
		price := func() (float64, int) {
			sum, n := 0.0, 0
			for _, nc := range e.liveClaims(pool.Name) {
				sum += instancetype.Price(&nc, its)
				n++
			}
			return sum, n
		}
		before, nodesBefore := price()

		// Remove half of the pods at random: the ReplicaSets delete the
		// pods with the lowest deletion cost first.
		all := &corev1.PodList{}
		if err := e.client.List(ctx, all, client.InNamespace(e.namespace)); err != nil {
			b.Fatal(err)
		}
		// A new random half each run; TAILOR_BENCH_SEED repeats one.
		seed := uint64(time.Now().UnixNano())
		if env, err := strconv.ParseUint(os.Getenv("TAILOR_BENCH_SEED"), 10, 64); err == nil {
			seed = env
		}
		rng := rand.New(rand.NewPCG(seed, 42))
		rng.Shuffle(len(all.Items), func(a, c int) { all.Items[a], all.Items[c] = all.Items[c], all.Items[a] })
		removed := map[string]int32{}
		for j := range all.Items[:len(all.Items)/2] {
			p := &all.Items[j]
			patch := client.MergeFrom(p.DeepCopy())
			metav1.SetMetaDataAnnotation(&p.ObjectMeta, "controller.kubernetes.io/pod-deletion-cost", "-1000")
			if err := e.client.Patch(ctx, p, patch); err != nil {
				b.Fatal(err)
			}
			removed[p.Labels["app"]]++
		}
		want := map[string]int32{}
		var left []*corev1.Pod
		for _, w := range scaleDownWorkload {
			want[w.name] = w.replicas - removed[w.name]
			e.scale(w.name, want[w.name])
			for range want[w.name] {
				pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: w.name, Namespace: e.namespace, Labels: map[string]string{"app": w.name}},
					Spec: podSpec(pool.Name, w.cpu, w.memory)}
				left = append(left, pod)
			}
		}
		began := time.Now()
		bound := scheduling.Solve(scheduling.Input{Pods: left, NodePools: []*scheduling.NodePool{{NodePool: pool, InstanceTypes: its}}, LowerBound: true}).LowerBound
		if bound <= 0 {
			b.Fatal("no lower bound for the pods left")
		}

		// Watch until the price is within 15% of the bound, checking the
		// budgets and that no pod is lost on the way.
		deadline := began.Add(10 * time.Minute)
		var now float64
		var nodes int
		violations := 0
		for {
			now, nodes = price()
			if now <= 1.15*bound {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("after 10 minutes the price is $%.4f/h, %.2f× the bound of $%.4f/h: %s", now, now/bound, bound, e.describe(nil))
			}
			violations += e.pdbViolations()
			if testing.Verbose() && time.Since(began)%(5*time.Second) < 250*time.Millisecond {
				b.Logf("%5.1fs $%.4f/h on %d nodes, %.2f× the bound", time.Since(began).Seconds(), now, nodes, now/bound)
			}
			time.Sleep(250 * time.Millisecond)
		}
		took := time.Since(began)
		within, evictionsWithin := now, e.createdAfter(began)
		// Then let consolidation finish: until the nodes have not changed
		// for 30 s.
		last, stable := nodes, time.Now()
		for time.Since(stable) < 30*time.Second && time.Since(began) < 5*time.Minute {
			time.Sleep(time.Second)
			violations += e.pdbViolations()
			if now, nodes = price(); nodes != last {
				last, stable = nodes, time.Now()
			}
		}
		settled := stable.Sub(began)
		for _, w := range scaleDownWorkload {
			e.waitRunning(w.name, int(want[w.name]), time.Minute)
		}
		evictions := e.createdAfter(began)
		b.Logf("run %d (seed %d): %d → %d nodes, $%.4f → $%.4f/h; bound $%.4f/h; within 15%% after %.1f s and %d evictions (%.3f×); settled after %.1f s and %d evictions at %.3f×",
			i, seed, nodesBefore, nodes, before, now, bound, took.Seconds(), evictionsWithin, within/bound, settled.Seconds(), evictions, now/bound)
		if violations > 0 {
			b.Errorf("PodDisruptionBudgets were violated %d times", violations)
		}
		b.ReportMetric(took.Seconds(), "s/within-15%")
		b.ReportMetric(float64(evictionsWithin), "evictions-within-15%")
		b.ReportMetric(within/bound, "ratio-within-15%")
		b.ReportMetric(settled.Seconds(), "s/settled")
		b.ReportMetric(float64(evictions), "evictions-settled")
		b.ReportMetric(now/bound, "ratio-settled")
		b.ReportMetric(before, "$/h-before")
		b.ReportMetric(now, "$/h-settled")
		b.ReportMetric(bound, "$/h-bound")
		b.ReportMetric(float64(nodesBefore), "nodes-before")
		b.ReportMetric(float64(nodes), "nodes-settled")
	}
}

// pdbViolations counts the test namespace's PodDisruptionBudgets with fewer
// healthy pods than they require. Evictions cannot cause that; a pod deleted
// outside the Eviction API can.
func (e *env) pdbViolations() int {
	pdbs := &policyv1.PodDisruptionBudgetList{}
	if err := e.client.List(context.Background(), pdbs, client.InNamespace(e.namespace)); err != nil {
		return 0
	}
	n := 0
	for _, pdb := range pdbs.Items {
		if pdb.Status.CurrentHealthy < pdb.Status.DesiredHealthy {
			n++
			e.t.Logf("PodDisruptionBudget %s: %d healthy, %d desired", pdb.Name, pdb.Status.CurrentHealthy, pdb.Status.DesiredHealthy)
		}
	}
	return n
}

// createdAfter counts the test namespace's pods created after t: with the
// Deployments' sizes fixed, each replaced an evicted pod.
func (e *env) createdAfter(t time.Time) int {
	e.t.Helper()
	pods := &corev1.PodList{}
	if err := e.client.List(context.Background(), pods, client.InNamespace(e.namespace)); err != nil {
		e.t.Fatal(err)
	}
	n := 0
	for _, p := range pods.Items {
		// Creation times are whole seconds.
		if !p.CreationTimestamp.Before(&metav1.Time{Time: t.Truncate(time.Second)}) {
			n++
		}
	}
	return n
}
