package disruption

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/core/catalog"
	"github.com/tailor-sh/tailor/core/instancetype"
	"github.com/tailor-sh/tailor/core/scheduling"
)

func catalogTypes(t *testing.T) map[string]*instancetype.InstanceType {
	t.Helper()
	c, err := catalog.Builtin("aws-us-west-2")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*instancetype.InstanceType{}
	for _, it := range c.InstanceTypes {
		out[it.Name] = it
	}
	return out
}

func testPod(name, cpu, memory string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name)},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(memory),
		}}}}},
	}
}

// testNode is a node of the pool "default" running pods, and the candidate
// that stands for it.
func testNode(t *testing.T, its map[string]*instancetype.InstanceType, name, instanceType, capacityType string, pods ...*corev1.Pod) (*scheduling.Node, *Candidate) {
	t.Helper()
	it := its[instanceType]
	if it == nil {
		t.Fatalf("no instance type %s", instanceType)
	}
	labels := it.Requirements.Labels()
	labels[corev1.LabelHostname] = name
	labels[corev1.LabelTopologyZone] = "us-west-2a"
	labels[v1.LabelCapacityType] = capacityType
	labels[v1.LabelNodePool] = "default"
	price := -1.0
	for _, o := range it.Offerings {
		if o.Zone == "us-west-2a" && o.CapacityType == capacityType {
			price = o.Price
		}
	}
	if price < 0 {
		t.Fatalf("%s has no %s offering in us-west-2a", instanceType, capacityType)
	}
	node := &scheduling.Node{Name: name, Labels: labels, Allocatable: it.Allocatable(), Pods: pods}
	return node, &Candidate{Name: name, NodePool: "default", InstanceType: instanceType, Zone: "us-west-2a", CapacityType: capacityType, Price: price, Pods: pods}
}

func testInput(t *testing.T, its map[string]*instancetype.InstanceType, capacityTypes []string, nodes ...*scheduling.Node) scheduling.Input {
	pool := &v1.NodePool{ObjectMeta: metav1.ObjectMeta{Name: "default"}}
	pool.Spec.Template.Spec.Requirements = []v1.NodeSelectorRequirementWithMinValues{
		{Key: v1.LabelCapacityType, Operator: corev1.NodeSelectorOpIn, Values: capacityTypes},
		{Key: corev1.LabelTopologyZone, Operator: corev1.NodeSelectorOpIn, Values: []string{"us-west-2a"}},
	}
	var types []*instancetype.InstanceType
	for _, it := range its {
		types = append(types, it)
	}
	return scheduling.Input{Nodes: nodes, NodePools: []*scheduling.NodePool{{NodePool: pool, InstanceTypes: types}}}
}

func TestConsolidate(t *testing.T) {
	its := catalogTypes(t)
	onDemand := []string{v1.CapacityTypeOnDemand}
	both := []string{v1.CapacityTypeOnDemand, v1.CapacityTypeSpot}

	t.Run("a node whose pods fit elsewhere is deleted", func(t *testing.T) {
		a, ca := testNode(t, its, "a", "m5.xlarge", v1.CapacityTypeOnDemand, testPod("p1", "1", "1Gi"))
		b, _ := testNode(t, its, "b", "m5.xlarge", v1.CapacityTypeOnDemand, testPod("p2", "1", "1Gi"))
		d := Consolidate(testInput(t, its, onDemand, a, b), []*Candidate{ca}, 0.1)
		if d.Action != ActionDelete || d.Savings() != ca.Price || len(d.Moved) != 1 {
			t.Fatalf("got %s", d.Describe())
		}
	})
	t.Run("two half-empty nodes are replaced by cheaper ones", func(t *testing.T) {
		a, ca := testNode(t, its, "a", "m5.large", v1.CapacityTypeOnDemand, testPod("p1", "600m", "1Gi"))
		b, cb := testNode(t, its, "b", "m5.large", v1.CapacityTypeOnDemand, testPod("p2", "600m", "1Gi"))
		d := Consolidate(testInput(t, its, onDemand, a, b), []*Candidate{ca, cb}, 0.1)
		if d.Action != ActionReplace || len(d.Replacements) > 2 || d.NewPricePerHour > 0.9*d.PricePerHour {
			t.Fatalf("got %s", d.Describe())
		}
		if len(d.Moved) != 2 {
			t.Errorf("moved %d pods, want 2", len(d.Moved))
		}
	})
	t.Run("on-demand is replaced by spot when the pool allows it", func(t *testing.T) {
		a, ca := testNode(t, its, "a", "m5.large", v1.CapacityTypeOnDemand, testPod("p1", "1500m", "2Gi"))
		d := Consolidate(testInput(t, its, both, a), []*Candidate{ca}, 0.1)
		if d.Action != ActionReplace {
			t.Fatalf("got %s", d.Describe())
		}
		r := d.Replacements[0]
		for _, c := range r.Candidates {
			if c.Offering.CapacityType != v1.CapacityTypeSpot || c.Offering.Price > 0.9*ca.Price {
				t.Errorf("candidate %s %s at $%.4f does not save 10%% of $%.4f", c.InstanceType.Name, c.Offering.CapacityType, c.Offering.Price, ca.Price)
			}
		}
		if ct := r.Requirements.Get(v1.LabelCapacityType); ct == nil || ct.Allows(v1.CapacityTypeOnDemand) {
			t.Errorf("the replacement may fall back to on-demand: %v", r.Requirements)
		}
	})
	t.Run("the cheapest node is left alone", func(t *testing.T) {
		// 1.5 cpu on an on-demand-only pool: nothing is cheaper than what holds it now, if that is the cheapest.
		in := testInput(t, its, onDemand)
		in.Pods = []*corev1.Pod{testPod("p1", "1500m", "2Gi")}
		r := scheduling.Solve(in)
		cheapest := r.NodeClaims[0].Candidates[0].InstanceType.Name
		a, ca := testNode(t, its, "a", cheapest, v1.CapacityTypeOnDemand, testPod("p1", "1500m", "2Gi"))
		d := Consolidate(testInput(t, its, onDemand, a), []*Candidate{ca}, 0)
		if d.Action != ActionNone || !strings.Contains(d.Why, "no offering but its own") {
			t.Fatalf("got %s", d.Describe())
		}
	})
	t.Run("a saving below the threshold is not worth a move", func(t *testing.T) {
		a, ca := testNode(t, its, "a", "m5.large", v1.CapacityTypeOnDemand, testPod("p1", "1500m", "2Gi"))
		d := Consolidate(testInput(t, its, onDemand, a), []*Candidate{ca}, 0.99)
		if d.Action != ActionNone || !strings.Contains(d.Why, "minSavingsPercent") {
			t.Fatalf("got %s", d.Describe())
		}
	})
	t.Run("a pod that fits nowhere else keeps its node", func(t *testing.T) {
		a, ca := testNode(t, its, "a", "m5.large", v1.CapacityTypeOnDemand, testPod("p1", "1500m", "2Gi"))
		in := testInput(t, its, onDemand, a)
		in.NodePools = nil
		for _, decide := range []func() Decision{
			func() Decision { return Consolidate(in, []*Candidate{ca}, 0.1) },
			func() Decision { return Replace(in, []*Candidate{ca}) },
		} {
			if d := decide(); d.Action != ActionNone || !strings.Contains(d.Why, "default/p1") {
				t.Fatalf("got %s", d.Describe())
			}
		}
	})
	t.Run("a drifted node is replaced even at the same price", func(t *testing.T) {
		a, ca := testNode(t, its, "a", "m5.large", v1.CapacityTypeOnDemand, testPod("p1", "1500m", "2Gi"))
		d := Replace(testInput(t, its, onDemand, a), []*Candidate{ca})
		if d.Action != ActionReplace || len(d.Replacements) != 1 {
			t.Fatalf("got %s", d.Describe())
		}
	})
	t.Run("many small nodes", func(t *testing.T) {
		var nodes []*scheduling.Node
		var cands []*Candidate
		for i := range 6 {
			n, c := testNode(t, its, fmt.Sprintf("n%d", i), "m5.2xlarge", v1.CapacityTypeOnDemand, testPod(fmt.Sprintf("p%d", i), "1", "1Gi"))
			nodes, cands = append(nodes, n), append(cands, c)
		}
		d := Consolidate(testInput(t, its, onDemand, nodes...), cands[1:], 0.1)
		if d.Action != ActionDelete {
			t.Fatalf("got %s", d.Describe())
		}
	})
}
