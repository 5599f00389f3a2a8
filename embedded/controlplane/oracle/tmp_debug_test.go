package oracle

import (
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	"github.com/tailor-sh/tailor/cloudprovider"
	"github.com/tailor-sh/tailor/cloudprovider/catalog"
	"github.com/tailor-sh/tailor/core/scheduling"
)

func TestDebugDecision(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("DECISION"))
	cat, _ := catalog.Builtin("aws-us-west-2")
	var smaller []*cloudprovider.InstanceType
	for _, it := range cat.InstanceTypes {
		if it.Capacity.Cpu().Value() <= 16 {
			smaller = append(smaller, it)
		}
	}
	g := gen{rand.New(rand.NewPCG(3, 4))}
	var sc *scenario
	for range n + 1 {
		sc = g.cluster(smaller)
	}
	r := scheduling.Solve(sc.input)
	for _, p := range sc.input.Pods {
		t.Logf("pod %s/%s labels %v affinity %+v spread %+v selector %v", p.Namespace, p.Name, p.Labels, p.Spec.Affinity, p.Spec.TopologySpreadConstraints, p.Spec.NodeSelector)
	}
	for _, e := range r.Existing {
		t.Logf("existing %s -> %s", e.Pod.Name, e.Node)
	}
	for _, nc := range r.NodeClaims {
		for _, p := range nc.Pods {
			t.Logf("new %s -> %s %s", p.Name, nc.NodePool, nc.Requirements.Get("topology.kubernetes.io/zone"))
		}
	}
	for _, u := range r.Unschedulable {
		t.Logf("unschedulable %s: %s", u.Pod.Name, u.Reason)
	}
	t.Logf("warnings %v", r.Warnings)
}
