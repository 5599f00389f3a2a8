package scheduling

import (
	"fmt"
	"math/rand/v2"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

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

// topologyWorkload makes n pods in Deployments of 50 to 500 replicas whose
// pods constrain each other: zone spreads (some over a selector two
// Deployments share, some ScheduleAnyway), hostname spreads, zone
// anti-affinity against the previous Deployment and zone affinity to it,
// next to 30 existing nodes over three zones that run pods of the same apps.
func topologyWorkload(n int, seed uint64) ([]*corev1.Pod, []*Node) {
	rng := rand.New(rand.NewPCG(seed, seed))
	cpus := []string{"100m", "250m", "500m", "1", "2"}
	mems := []string{"128Mi", "512Mi", "1Gi", "2Gi", "4Gi"}
	zones := []string{"us-west-2a", "us-west-2b", "us-west-2c"}
	spread := func(key, selectorKey, value string, skew int32, when corev1.UnsatisfiableConstraintAction) corev1.TopologySpreadConstraint {
		return corev1.TopologySpreadConstraint{MaxSkew: skew, TopologyKey: key, WhenUnsatisfiable: when, LabelSelector: metaSelector(selectorKey, value)}
	}
	var out []*corev1.Pod
	for d := 0; len(out) < n; d++ {
		replicas := min(50+rng.IntN(450), n-len(out))
		app, previous := fmt.Sprintf("deploy-%d", d), fmt.Sprintf("deploy-%d", max(d-1, 0))
		tier := fmt.Sprintf("tier-%d", d/2)
		var mutate func(*corev1.Pod)
		switch rng.IntN(6) {
		case 0:
			mutate = func(p *corev1.Pod) {
				p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{spread(corev1.LabelTopologyZone, "app", app, 1, corev1.DoNotSchedule)}
			}
		case 1:
			mutate = func(p *corev1.Pod) {
				p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{spread(corev1.LabelTopologyZone, "tier", tier, 1, corev1.DoNotSchedule)}
			}
		case 2:
			mutate = func(p *corev1.Pod) {
				p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{spread(corev1.LabelTopologyZone, "app", app, 1, corev1.ScheduleAnyway)}
			}
		case 3:
			mutate = func(p *corev1.Pod) {
				p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{spread(corev1.LabelHostname, "app", app, 2, corev1.DoNotSchedule)}
			}
		case 4:
			mutate = func(p *corev1.Pod) {
				p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
					TopologyKey: corev1.LabelTopologyZone, LabelSelector: metaSelector("app", previous),
				}}}}
			}
		case 5:
			mutate = func(p *corev1.Pod) {
				p.Spec.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
					TopologyKey: corev1.LabelTopologyZone, LabelSelector: metaSelector("app", previous),
				}}}}
			}
		}
		cpu, mem := cpus[rng.IntN(len(cpus))], mems[rng.IntN(len(mems))]
		for _, p := range pods(replicas, app, cpu, mem) {
			p.Labels["app"], p.Labels["tier"] = app, tier
			mutate(p)
			out = append(out, p)
		}
	}
	var nodes []*Node
	for i := range 30 {
		name := fmt.Sprintf("existing-%d", i)
		running := pods(4, fmt.Sprintf("deploy-%d", rng.IntN(20)), "500m", "1Gi")
		nodes = append(nodes, &Node{Name: name, Labels: map[string]string{corev1.LabelTopologyZone: zones[i%3], corev1.LabelHostname: name},
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi"), corev1.ResourcePods: resource.MustParse("30")},
			Pods:        running})
	}
	return out, nodes
}

func benchmarkTopology(b *testing.B, n int) {
	pods, nodes := topologyWorkload(n, 11)
	in := Input{Pods: pods, Nodes: nodes, NodePools: []*NodePool{nodePool(b, "default", withRequirement(corev1.LabelTopologyZone, corev1.NodeSelectorOpIn, "us-west-2a", "us-west-2b", "us-west-2c"))}}
	b.ReportAllocs()
	b.ResetTimer()
	var r *Result
	for b.Loop() {
		r = Solve(in)
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "pods/s")
	b.ReportMetric(float64(len(r.NodeClaims)), "nodes")
	b.ReportMetric(float64(len(r.Unschedulable)), "unschedulable")
}

// Pods that constrain each other, next to existing nodes.
func BenchmarkSolveTopology1k(b *testing.B)  { benchmarkTopology(b, 1000) }
func BenchmarkSolveTopology10k(b *testing.B) { benchmarkTopology(b, 10000) }

// BenchmarkSolveOnBusyNodes places 2,000 pending pods on 500 existing nodes
// that run 10,000 pods, each with required anti-affinity per host: every
// placement is checked against the pods of the node's domains.
func BenchmarkSolveOnBusyNodes(b *testing.B) {
	var nodes []*Node
	for i := range 500 {
		name := fmt.Sprintf("node-%d", i)
		app := fmt.Sprintf("app-%d", i%50)
		running := pods(20, app, "100m", "128Mi", withAntiAffinity(podTerm(corev1.LabelHostname, app)))
		nodes = append(nodes, &Node{Name: name, Labels: map[string]string{corev1.LabelHostname: name, corev1.LabelTopologyZone: "us-west-2a"},
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("8"), corev1.ResourceMemory: resource.MustParse("32Gi"), corev1.ResourcePods: resource.MustParse("110")},
			Pods:        running})
	}
	in := Input{Pods: pods(2000, "web", "100m", "128Mi"), Nodes: nodes, NodePools: []*NodePool{nodePool(b, "default")}}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		Solve(in)
	}
	b.ReportMetric(2000*float64(b.N)/b.Elapsed().Seconds(), "pods/s")
}
