package main

import (
	"runtime"
	"runtime/metrics"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/core/scheduling"
)

// runTailor solves with Tailor's core. With bound it asks for the lower
// bound too (a linear program); that run is kept separate so that the
// decision's time and memory do not include it.
func runTailor(pods []*corev1.Pod, bound bool) result {
	setup := time.Now()
	its := loadCatalog()
	// No requirements, no limits, no taints: every type, zone and capacity
	// type is allowed.
	np := &v1.NodePool{ObjectMeta: metav1.ObjectMeta{Name: "default"}}
	in := scheduling.Input{
		Pods:       pods,
		NodePools:  []*scheduling.NodePool{{NodePool: np, InstanceTypes: its}},
		LowerBound: bound,
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
