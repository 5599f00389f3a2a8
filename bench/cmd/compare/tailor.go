package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/core/scheduling"
	"github.com/tailor-sh/tailor/core/scheduling/workload"
)

// runTailor solves with Tailor's core. With bound it asks for the lower
// bound too (a linear program); that run is kept separate so that the
// decision's time and memory do not include it.
func runTailor(pods []*corev1.Pod, bound bool) result {
	setup := time.Now()
	its := loadCatalog()
	// No limits, no taints. With -nodepool open, no requirements either:
	// every type, zone and capacity type is allowed.
	np := &v1.NodePool{ObjectMeta: metav1.ObjectMeta{Name: "default"}}
	if nodePoolKind == "getting-started" {
		// Karpenter's getting-started requirements in Tailor's labels.
		np.Spec.Template.Spec.Requirements = []v1.NodeSelectorRequirementWithMinValues{
			{Key: v1.LabelInstanceCategory, Operator: corev1.NodeSelectorOpIn, Values: []string{"c", "m", "r"}},
			{Key: v1.LabelInstanceGeneration, Operator: corev1.NodeSelectorOpGt, Values: []string{"2"}},
		}
	}
	in := scheduling.Input{
		Pods:       pods,
		NodePools:  []*scheduling.NodePool{{NodePool: np, InstanceTypes: its}},
		LowerBound: bound,
	}
	if withDaemonSets {
		in.DaemonSets = workload.DaemonSets()
	}
	setupSeconds := time.Since(setup).Seconds()
	runtime.GC()
	base := vmRSS()
	a0 := allocBytes()
	start := time.Now()
	res := scheduling.Solve(in)
	elapsed := time.Since(start).Seconds()
	r := result{
		Nodes: len(res.NodeClaims), PricePerHour: res.PricePerHour, Unschedulable: len(res.Unschedulable),
		LowerBound: res.LowerBound, BoundError: res.LowerBoundError,
		SolveSeconds: elapsed, SetupSeconds: setupSeconds, BaseRSSMB: base,
		AllocMB: float64(allocBytes()-a0) / (1 << 20),
	}
	for _, nc := range res.NodeClaims {
		r.Scheduled += len(nc.Pods)
		if os.Getenv("COMPARE_DEBUG") != "" && len(nc.Candidates) > 0 {
			c := nc.Candidates[0]
			fmt.Fprintf(os.Stderr, "tailor claim: %d pods, cpu %s mem %s, %d candidates, cheapest %s/%s $%.3f\n", len(nc.Pods),
				nc.Requests.Cpu(), nc.Requests.Memory(), len(nc.Candidates), c.InstanceType.Name, c.Offering.CapacityType, c.Offering.Price)
		}
	}
	if len(res.Warnings) > 0 {
		r.Note = "warnings: " + res.Warnings[0]
	}
	return r
}

func allocBytes() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}
