package scheduling

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	wl "github.com/tailor-sh/tailor/core/scheduling/workload"
)

// workload makes n bare pods in Deployments of 50 to 499 replicas, each
// Deployment with requests only or (constrained) one of: nothing, arm64-only,
// on-demand only, one zone, one per host, or tolerating the dedicated pool's
// taint (workload.Mixed). The same seed gives the same pods.
func workload(n int, seed uint64, constrained bool) []*corev1.Pod {
	kind := wl.Resources
	if constrained {
		kind = wl.Mixed
	}
	return wl.Deployments(wl.Options{Kind: kind, Pods: n, Seed: seed, MaxReplicas: 499, Toleration: "dedicated", Bare: true})
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
	b.ReportMetric(r.PricePerHour, "$/h")
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

// topologyWorkload is workload.Topology with its existing nodes as the
// core's nodes.
func topologyWorkload(n int, seed uint64) ([]*corev1.Pod, []*Node) {
	pods, existing := wl.Topology(n, seed)
	var nodes []*Node
	for _, e := range existing {
		nodes = append(nodes, &Node{Name: e.Name, Labels: e.Labels, Allocatable: e.Allocatable, Pods: e.Pods})
	}
	return pods, nodes
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
	b.ReportMetric(r.PricePerHour, "$/h")
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
