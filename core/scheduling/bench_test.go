package scheduling

import (
	"fmt"
	"math/rand/v2"
	"testing"

	corev1 "k8s.io/api/core/v1"

	v1 "github.com/tailor-sh/tailor/api/v1"
)

// workload makes n pods in Deployments of 50 to 500 replicas with a mix of
// shapes and constraints: plain, arm64-only, on-demand only, one zone, one
// per host, and tolerating a dedicated pool's taint. The same seed gives the
// same pods.
func workload(n int, seed uint64, constrained bool) []*corev1.Pod {
	rng := rand.New(rand.NewPCG(seed, seed))
	cpus := []string{"100m", "250m", "500m", "1", "1500m", "2", "4"}
	mems := []string{"128Mi", "512Mi", "1Gi", "2Gi", "4Gi", "8Gi"}
	var out []*corev1.Pod
	for d := 0; len(out) < n; d++ {
		replicas := min(50+rng.IntN(450), n-len(out))
		cpu, mem := cpus[rng.IntN(len(cpus))], mems[rng.IntN(len(mems))]
		var mutate func(*corev1.Pod)
		if constrained {
			switch rng.IntN(6) {
			case 1:
				mutate = func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{corev1.LabelArchStable: "arm64"} }
			case 2:
				mutate = func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{v1.LabelCapacityType: "on-demand"} }
			case 3:
				mutate = func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{corev1.LabelTopologyZone: "us-west-2b"} }
			case 4:
				replicas = min(replicas, 20)
				app := fmt.Sprintf("deploy-%d", d)
				mutate = func(p *corev1.Pod) {
					p.Labels["app"] = app
					p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
						TopologyKey: corev1.LabelHostname, LabelSelector: metaSelector("app", app),
					}}}}
				}
			case 5:
				mutate = func(p *corev1.Pod) {
					p.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpExists}}
				}
			}
		}
		for _, p := range pods(replicas, fmt.Sprintf("deploy-%d", d), cpu, mem) {
			if mutate != nil {
				mutate(p)
			}
			out = append(out, p)
		}
	}
	return out
}

func benchInput(b *testing.B, n int, constrained bool) Input {
	return Input{
		Pods: workload(n, 7, constrained),
		NodePools: []*NodePool{
			nodePool(b, "default"),
			nodePool(b, "dedicated", withTaint("dedicated"), withWeight(10)),
		},
	}
}

func benchmarkSolve(b *testing.B, n int, constrained, bound bool) {
	in := benchInput(b, n, constrained)
	in.LowerBound = bound
	b.ReportAllocs()
	b.ResetTimer()
	var r *Result
	for b.Loop() {
		r = Solve(in)
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "pods/s")
	if r.LowerBound > 0 {
		b.ReportMetric(r.PricePerHour/r.LowerBound, "cost/bound")
	}
	b.ReportMetric(float64(len(r.NodeClaims)), "nodes")
}

func BenchmarkSolveMixed1k(b *testing.B)  { benchmarkSolve(b, 1000, true, false) }
func BenchmarkSolveMixed5k(b *testing.B)  { benchmarkSolve(b, 5000, true, false) }
func BenchmarkSolveMixed10k(b *testing.B) { benchmarkSolve(b, 10000, true, false) }
func BenchmarkSolveMixed50k(b *testing.B) { benchmarkSolve(b, 50000, true, false) }

func BenchmarkSolveResourcesOnly1k(b *testing.B)  { benchmarkSolve(b, 1000, false, false) }
func BenchmarkSolveResourcesOnly10k(b *testing.B) { benchmarkSolve(b, 10000, false, false) }

// The lower bound's linear program, on top of the decision; these also
// report the decision's cost relative to the bound.
func BenchmarkBoundResourcesOnly1k(b *testing.B)  { benchmarkSolve(b, 1000, false, true) }
func BenchmarkBoundResourcesOnly10k(b *testing.B) { benchmarkSolve(b, 10000, false, true) }
func BenchmarkBoundMixed1k(b *testing.B)          { benchmarkSolve(b, 1000, true, true) }
