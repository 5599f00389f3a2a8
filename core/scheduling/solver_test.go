package scheduling

import (
	"fmt"
	"math"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/core/catalog"
	"github.com/tailor-sh/tailor/core/instancetype"
	"github.com/tailor-sh/tailor/core/requirements"
)

func awsTypes(t testing.TB) []*instancetype.InstanceType {
	t.Helper()
	c, err := catalog.Builtin("aws-us-west-2")
	if err != nil {
		t.Fatal(err)
	}
	return c.InstanceTypes
}

type poolOption func(*v1.NodePool)

func withRequirement(key string, op corev1.NodeSelectorOperator, values ...string) poolOption {
	return func(np *v1.NodePool) {
		np.Spec.Template.Spec.Requirements = append(np.Spec.Template.Spec.Requirements,
			v1.NodeSelectorRequirementWithMinValues{Key: key, Operator: op, Values: values})
	}
}

func withTaint(key string) poolOption {
	return func(np *v1.NodePool) {
		np.Spec.Template.Spec.Taints = append(np.Spec.Template.Spec.Taints, corev1.Taint{Key: key, Value: "true", Effect: corev1.TaintEffectNoSchedule})
	}
}

func withLabel(key, value string) poolOption {
	return func(np *v1.NodePool) {
		if np.Spec.Template.ObjectMeta.Labels == nil {
			np.Spec.Template.ObjectMeta.Labels = map[string]string{}
		}
		np.Spec.Template.ObjectMeta.Labels[key] = value
	}
}

func withWeight(w int32) poolOption { return func(np *v1.NodePool) { np.Spec.Weight = ptr.To(w) } }

func nodePool(t testing.TB, name string, opts ...poolOption) *NodePool {
	np := &v1.NodePool{ObjectMeta: metav1.ObjectMeta{Name: name}}
	for _, o := range opts {
		o(np)
	}
	return &NodePool{NodePool: np, InstanceTypes: awsTypes(t)}
}

func pod(name, cpu, memory string, mutate ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": strings.TrimRight(name, "-0123456789")}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(memory),
		}}}}},
	}
	for _, m := range mutate {
		m(p)
	}
	return p
}

func pods(n int, prefix, cpu, memory string, mutate ...func(*corev1.Pod)) []*corev1.Pod {
	out := make([]*corev1.Pod, n)
	for i := range out {
		out[i] = pod(fmt.Sprintf("%s-%d", prefix, i), cpu, memory, mutate...)
	}
	return out
}

func TestUniformDeploymentIsCheapAndValid(t *testing.T) {
	in := Input{Pods: pods(100, "web", "1", "2Gi"), NodePools: []*NodePool{nodePool(t, "default")}}
	in.LowerBound = true
	r := Solve(in)
	checkValid(t, in, r)
	if len(r.Unschedulable) > 0 {
		t.Fatalf("unschedulable: %v", r.Unschedulable[0].Reason)
	}
	if r.LowerBound <= 0 || r.PricePerHour > 1.05*r.LowerBound {
		t.Fatalf("price %.4f, bound %.4f (%s): want within 5%%", r.PricePerHour, r.LowerBound, r.LowerBoundError)
	}
}

func TestMixedShapesStayNearTheBound(t *testing.T) {
	var all []*corev1.Pod
	all = append(all, pods(400, "cpu-heavy", "2", "1Gi")...)
	all = append(all, pods(300, "mem-heavy", "500m", "6Gi")...)
	all = append(all, pods(300, "small", "250m", "512Mi")...)
	in := Input{Pods: all, NodePools: []*NodePool{nodePool(t, "default")}}
	in.LowerBound = true
	r := Solve(in)
	checkValid(t, in, r)
	t.Logf("%d nodes, $%.4f/h, bound $%.4f/h, ratio %.3f", len(r.NodeClaims), r.PricePerHour, r.LowerBound, r.PricePerHour/r.LowerBound)
	if r.LowerBound <= 0 || r.PricePerHour > 1.05*r.LowerBound {
		t.Fatalf("price %.4f, bound %.4f (%s)", r.PricePerHour, r.LowerBound, r.LowerBoundError)
	}
}

func TestExistingNodesAreFilledFirst(t *testing.T) {
	existing := &Node{Name: "node-a", Labels: map[string]string{"kubernetes.io/arch": "amd64"},
		Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("16Gi"), corev1.ResourcePods: resource.MustParse("110")},
		Pods:        pods(1, "already", "1", "1Gi")}
	in := Input{Pods: pods(5, "web", "1", "1Gi"), Nodes: []*Node{existing}, NodePools: []*NodePool{nodePool(t, "default")}}
	in.LowerBound = true
	r := Solve(in)
	checkValid(t, in, r)
	onNew := 0
	for _, nc := range r.NodeClaims {
		onNew += len(nc.Pods)
	}
	if len(r.Existing) != 3 || onNew != 2 {
		t.Fatalf("%d pods on node-a and %d on new nodes; want 3 (all its room) and 2", len(r.Existing), onNew)
	}
	for _, p := range r.Existing {
		if p.Node != "node-a" {
			t.Fatalf("placed on %s", p.Node)
		}
	}
}

func TestUnschedulableReasons(t *testing.T) {
	general := func(t *testing.T) *NodePool {
		return nodePool(t, "default", withRequirement(v1.LabelInstanceCategory, corev1.NodeSelectorOpIn, "c", "m", "r"))
	}
	for _, tc := range []struct {
		name  string
		pod   *corev1.Pod
		pools func(t *testing.T) []*NodePool
		want  string
	}{
		{"too much cpu", pod("huge", "200", "1Gi"), func(t *testing.T) []*NodePool { return []*NodePool{general(t)} },
			"no instance type allowed by NodePool default has 200 cpu; the largest has 191"},
		{"untolerated taint", pod("plain", "1", "1Gi"), func(t *testing.T) []*NodePool { return []*NodePool{nodePool(t, "gpu", withTaint("nvidia.com/gpu"))} },
			"NodePool gpu has taint nvidia.com/gpu=true:NoSchedule that the pod does not tolerate"},
		{"label the pool does not set", pod("picky", "1", "1Gi", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"team": "data"} }),
			func(t *testing.T) []*NodePool { return []*NodePool{general(t)} }, "NodePool default: label team is required (team In [data]) but not defined"},
		{"zone the pool excludes", pod("zoned", "1", "1Gi", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{corev1.LabelTopologyZone: "us-west-2a"} }),
			func(t *testing.T) []*NodePool {
				return []*NodePool{nodePool(t, "default", withRequirement(corev1.LabelTopologyZone, corev1.NodeSelectorOpIn, "us-west-2b"))}
			}, "conflicts with topology.kubernetes.io/zone In [us-west-2b]"},
		{"no pools", pod("lonely", "1", "1Gi"), func(t *testing.T) []*NodePool { return nil }, "there is no NodePool"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := Input{Pods: []*corev1.Pod{tc.pod}, NodePools: tc.pools(t)}
			in.LowerBound = true
			r := Solve(in)
			checkValid(t, in, r)
			if len(r.Unschedulable) != 1 || !strings.Contains(r.Unschedulable[0].Reason, tc.want) {
				t.Fatalf("unschedulable = %+v, want a reason containing %q", r.Unschedulable, tc.want)
			}
		})
	}
}

func TestConstraintsChooseTheRightNodes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		pod   func(*corev1.Pod)
		check func(labels map[string]string, it *instancetype.InstanceType) bool
	}{
		{"arm64", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{corev1.LabelArchStable: "arm64"} },
			func(l map[string]string, _ *instancetype.InstanceType) bool {
				return l[corev1.LabelArchStable] == "arm64"
			}},
		{"gpu", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests["nvidia.com/gpu"] = resource.MustParse("1")
		}, func(_ map[string]string, it *instancetype.InstanceType) bool {
			q := it.Capacity[corev1.ResourceName("nvidia.com/gpu")]
			return q.Value() >= 1
		}},
		{"on-demand by node affinity", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: v1.LabelCapacityType, Operator: corev1.NodeSelectorOpIn, Values: []string{"on-demand"}}}}},
			}}}
		}, func(l map[string]string, _ *instancetype.InstanceType) bool {
			return l[v1.LabelCapacityType] == "on-demand"
		}},
		{"zone a or c", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{
					{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelTopologyZone, Operator: corev1.NodeSelectorOpIn, Values: []string{"us-west-2a"}}}},
					{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelTopologyZone, Operator: corev1.NodeSelectorOpIn, Values: []string{"us-west-2c"}}}},
				},
			}}}
		}, func(l map[string]string, _ *instancetype.InstanceType) bool {
			return l[corev1.LabelTopologyZone] == "us-west-2a" || l[corev1.LabelTopologyZone] == "us-west-2c"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := Input{Pods: pods(3, "p", "1", "2Gi", tc.pod), NodePools: []*NodePool{nodePool(t, "default")}}
			in.LowerBound = true
			r := Solve(in)
			checkValid(t, in, r)
			if len(r.NodeClaims) == 0 || len(r.Unschedulable) > 0 {
				t.Fatalf("no node launched: %+v", r.Unschedulable)
			}
			for _, nc := range r.NodeClaims {
				c := nc.Candidates[0]
				labels := c.InstanceType.Requirements.Labels()
				labels[corev1.LabelTopologyZone], labels[v1.LabelCapacityType] = c.Offering.Zone, c.Offering.CapacityType
				if !tc.check(labels, c.InstanceType) {
					t.Fatalf("launched %s in %s (%s)", c.InstanceType.Name, c.Offering.Zone, c.Offering.CapacityType)
				}
			}
		})
	}
}

func TestHostnameAntiAffinityPutsOnePodPerNode(t *testing.T) {
	spread := func(p *corev1.Pod) {
		p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
			TopologyKey: corev1.LabelHostname, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
		}}}}
	}
	in := Input{Pods: pods(4, "db", "500m", "1Gi", spread), NodePools: []*NodePool{nodePool(t, "default")}}
	in.LowerBound = true
	r := Solve(in)
	checkValid(t, in, r)
	if len(r.NodeClaims) != 4 {
		t.Fatalf("%d nodes for 4 pods that repel each other", len(r.NodeClaims))
	}
	if r.LowerBound <= 0 || r.PricePerHour > 1.0001*r.LowerBound {
		t.Fatalf("price %.5f, bound %.5f (%s)", r.PricePerHour, r.LowerBound, r.LowerBoundError)
	}
}

func TestLimitsAreNeverExceeded(t *testing.T) {
	np := nodePool(t, "limited")
	np.Remaining = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("16")}
	in := Input{Pods: pods(40, "web", "1", "1Gi"), NodePools: []*NodePool{np}}
	in.LowerBound = true
	r := Solve(in)
	checkValid(t, in, r)
	var cpu int64
	for _, nc := range r.NodeClaims {
		q := nc.Candidates[0].InstanceType.Capacity[corev1.ResourceCPU]
		cpu += q.Value()
	}
	if cpu > 16 || len(r.Unschedulable) == 0 || !strings.Contains(r.Unschedulable[0].Reason, "NodePool limited has reached its limits") {
		t.Fatalf("launched %d cpu with a limit of 16; unschedulable %d", cpu, len(r.Unschedulable))
	}
	nodesLimit := nodePool(t, "few")
	nodesLimit.Remaining = corev1.ResourceList{"nodes": resource.MustParse("1")}
	r = Solve(Input{Pods: pods(2, "big", "30", "1Gi"), NodePools: []*NodePool{nodesLimit}})
	if len(r.NodeClaims) != 1 || len(r.Unschedulable) != 1 || !strings.Contains(r.Unschedulable[0].Reason, "limit on nodes") {
		t.Fatalf("nodes limit 1: %d nodes, unschedulable %+v", len(r.NodeClaims), r.Unschedulable)
	}
}

func TestDaemonSetsTakeTheirShare(t *testing.T) {
	ds := &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{Template: corev1.PodTemplateSpec{Spec: pod("agent", "1", "1Gi").Spec}}}
	in := Input{Pods: pods(1, "web", "1", "1Gi"), NodePools: []*NodePool{nodePool(t, "default")}, DaemonSets: []*appsv1.DaemonSet{ds}}
	in.LowerBound = true
	r := Solve(in)
	checkValid(t, in, r)
	if got := r.NodeClaims[0].Requests[corev1.ResourceCPU]; got.Value() != 2 {
		t.Fatalf("node requests %v cpu, want the pod's and the DaemonSet's: 2", got.String())
	}
}

func TestWeightsOrderPools(t *testing.T) {
	cheapFirst := nodePool(t, "spot", withWeight(10), withRequirement(v1.LabelCapacityType, corev1.NodeSelectorOpIn, "spot"))
	fallback := nodePool(t, "on-demand", withWeight(1), withRequirement(v1.LabelCapacityType, corev1.NodeSelectorOpIn, "on-demand"))
	r := Solve(Input{Pods: pods(3, "web", "1", "1Gi"), NodePools: []*NodePool{fallback, cheapFirst}})
	if len(r.NodeClaims) == 0 || r.NodeClaims[0].NodePool != "spot" {
		t.Fatalf("the heavier pool was not used: %+v", r.NodeClaims)
	}
	want := requirements.MustNew(v1.LabelCapacityType, requirements.OpIn, "spot")
	if got := r.NodeClaims[0].Requirements.Get(v1.LabelCapacityType); got == nil || got.String() != want.String() {
		t.Fatalf("node requirements %s", r.NodeClaims[0].Requirements)
	}
}

func metaSelector(key, value string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: map[string]string{key: value}}
}

// TestLowerBoundNeverExceedsThePlan checks the bound against the decision on
// random workloads with constraints, DaemonSets and both catalogs: a bound
// above a feasible plan would be wrong.
func TestLowerBoundNeverExceedsThePlan(t *testing.T) {
	gce, err := catalog.Builtin("gce-us-central1")
	if err != nil {
		t.Fatal(err)
	}
	ds := &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{Template: corev1.PodTemplateSpec{Spec: pod("agent", "100m", "128Mi").Spec}}}
	for seed := uint64(1); seed <= 12; seed++ {
		pools := []*NodePool{nodePool(t, "default"), nodePool(t, "dedicated", withTaint("dedicated"), withWeight(10))}
		if seed%2 == 0 {
			for _, p := range pools {
				p.InstanceTypes = gce.InstanceTypes
			}
		}
		in := Input{Pods: workload(150+int(seed)*40, seed, true), NodePools: pools, LowerBound: true}
		if seed%3 == 0 {
			in.DaemonSets = []*appsv1.DaemonSet{ds}
		}
		r := Solve(in)
		checkValid(t, in, r)
		if r.LowerBoundError != "" || (r.LowerBound <= 0 && len(r.NodeClaims) > 0) {
			t.Fatalf("seed %d: no bound: %q (%d nodes, %d unschedulable)", seed, r.LowerBoundError, len(r.NodeClaims), len(r.Unschedulable))
		}
		if r.LowerBound > r.PricePerHour*(1+1e-6) {
			t.Fatalf("seed %d: bound %.5f above the plan's price %.5f", seed, r.LowerBound, r.PricePerHour)
		}
		t.Logf("seed %d: %d pods, %d nodes, ratio %.3f", seed, len(in.Pods), len(r.NodeClaims), r.PricePerHour/r.LowerBound)
	}
}

func TestZoneSpreadBalancesZonesAndHostConstraintsCapNodes(t *testing.T) {
	zoneSpread := func(p *corev1.Pod) {
		p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{
			MaxSkew: 1, TopologyKey: corev1.LabelTopologyZone, WhenUnsatisfiable: corev1.DoNotSchedule,
			LabelSelector: metaSelector("app", "api"),
		}}
	}
	pool := nodePool(t, "default", withRequirement(corev1.LabelTopologyZone, corev1.NodeSelectorOpIn, "us-west-2a", "us-west-2b", "us-west-2c"))
	in := Input{Pods: pods(10, "api", "1", "2Gi", zoneSpread), NodePools: []*NodePool{pool}, LowerBound: true}
	r := Solve(in)
	checkValid(t, in, r)
	perZone := map[string]int{}
	for _, nc := range r.NodeClaims {
		zone := nc.Requirements.Get(corev1.LabelTopologyZone)
		if zone == nil || zone.Len() != 1 {
			t.Fatalf("a node of a zone-spread class is not pinned to a zone: %s", nc.Requirements)
		}
		perZone[zone.Values()[0]] += len(nc.Pods)
	}
	if len(perZone) != 3 || perZone["us-west-2a"] < 3 || perZone["us-west-2a"] > 4 || perZone["us-west-2b"] < 3 || perZone["us-west-2c"] < 3 {
		t.Fatalf("pods per zone %v, want 3 or 4 in each of the pool's 3 zones", perZone)
	}
	if r.LowerBound <= 0 || r.LowerBound > r.PricePerHour {
		t.Fatalf("bound %v, price %v", r.LowerBound, r.PricePerHour)
	}

	// Zone a already holds three of the spread's pods on a full node: the
	// next three go to b and c, or kube-scheduler would refuse them.
	full := &Node{Name: "full", Labels: map[string]string{corev1.LabelTopologyZone: "us-west-2a"},
		Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3"), corev1.ResourceMemory: resource.MustParse("8Gi")},
		Pods:        pods(3, "api-old", "1", "2Gi", zoneSpread, func(p *corev1.Pod) { p.Labels["app"] = "api" })}
	in = Input{Pods: pods(3, "api", "1", "2Gi", zoneSpread), Nodes: []*Node{full}, NodePools: []*NodePool{pool}}
	r = Solve(in)
	checkValid(t, in, r)
	perZone = map[string]int{}
	for _, nc := range r.NodeClaims {
		perZone[nc.Requirements.Get(corev1.LabelTopologyZone).Values()[0]] += len(nc.Pods)
	}
	if perZone["us-west-2a"] != 0 || perZone["us-west-2b"]+perZone["us-west-2c"] != 3 || perZone["us-west-2b"] < 1 || perZone["us-west-2c"] < 1 {
		t.Fatalf("with 3 pods already in us-west-2a, new pods per zone %v; want none there and the rest split", perZone)
	}

	hostSpread := func(p *corev1.Pod) {
		p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{
			MaxSkew: 2, TopologyKey: corev1.LabelHostname, WhenUnsatisfiable: corev1.DoNotSchedule, LabelSelector: metaSelector("app", "edge"),
		}}
	}
	hostPort := func(p *corev1.Pod) {
		p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: 80}}
	}
	for name, tc := range map[string]struct {
		mutate func(*corev1.Pod)
		max    int
	}{"hostname spread with maxSkew 2": {hostSpread, 2}, "host port": {hostPort, 1}} {
		in := Input{Pods: pods(6, "edge", "100m", "128Mi", tc.mutate), NodePools: []*NodePool{nodePool(t, "default")}}
		r := Solve(in)
		checkValid(t, in, r)
		for _, nc := range r.NodeClaims {
			if len(nc.Pods) > tc.max {
				t.Fatalf("%s: %d pods on one node, want at most %d", name, len(nc.Pods), tc.max)
			}
		}
	}
}

func TestPreferredNodeAffinityIsHonouredWhenPossible(t *testing.T) {
	prefer := func(zone string) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{
				{Weight: 10, Preference: corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelTopologyZone, Operator: corev1.NodeSelectorOpIn, Values: []string{"nowhere-1a"}}}}},
				{Weight: 5, Preference: corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelTopologyZone, Operator: corev1.NodeSelectorOpIn, Values: []string{zone}}}}},
			}}}
		}
	}
	in := Input{Pods: pods(3, "p", "1", "1Gi", prefer("us-west-2d")), NodePools: []*NodePool{nodePool(t, "default")}}
	r := Solve(in)
	checkValid(t, in, r)
	for _, nc := range r.NodeClaims {
		if nc.Candidates[0].Offering.Zone != "us-west-2d" {
			t.Fatalf("launched in %s; the second preference, us-west-2d, can be met", nc.Candidates[0].Offering.Zone)
		}
	}
	in = Input{Pods: pods(3, "q", "1", "1Gi", prefer("elsewhere-1b")), NodePools: []*NodePool{nodePool(t, "default")}}
	r = Solve(in)
	checkValid(t, in, r)
	if len(r.Unschedulable) > 0 || len(r.NodeClaims) == 0 {
		t.Fatalf("preferences that cannot be met must be dropped, not fail the pod: %+v", r.Unschedulable)
	}
}

func TestMinValuesKeepsEnoughKindsOfInstanceType(t *testing.T) {
	diverse := nodePool(t, "diverse", func(np *v1.NodePool) {
		np.Spec.Template.Spec.Requirements = append(np.Spec.Template.Spec.Requirements, v1.NodeSelectorRequirementWithMinValues{
			Key: v1.LabelInstanceFamily, Operator: corev1.NodeSelectorOpExists, MinValues: ptr.To(30),
		})
	})
	in := Input{Pods: pods(200, "web", "1", "2Gi"), NodePools: []*NodePool{diverse}}
	r := Solve(in)
	checkValid(t, in, r)
	if len(r.Unschedulable) > 0 {
		t.Fatalf("unschedulable: %s", r.Unschedulable[0].Reason)
	}
	for _, nc := range r.NodeClaims {
		families := map[string]bool{}
		for _, c := range nc.Candidates {
			families[c.InstanceType.Requirements.Labels()[v1.LabelInstanceFamily]] = true
		}
		if len(families) < 30 {
			t.Fatalf("a node lists %d instance families, want at least 30", len(families))
		}
	}

	impossible := nodePool(t, "impossible", func(np *v1.NodePool) {
		np.Spec.Template.Spec.Requirements = append(np.Spec.Template.Spec.Requirements,
			v1.NodeSelectorRequirementWithMinValues{Key: v1.LabelInstanceFamily, Operator: corev1.NodeSelectorOpIn, Values: []string{"m6i", "c6i"}, MinValues: ptr.To(2)},
			v1.NodeSelectorRequirementWithMinValues{Key: corev1.LabelInstanceTypeStable, Operator: corev1.NodeSelectorOpIn, Values: []string{"m6i.32xlarge", "c6i.large"}})
	})
	in = Input{Pods: pods(1, "big", "16", "16Gi"), NodePools: []*NodePool{impossible}}
	r = Solve(in)
	checkValid(t, in, r)
	if len(r.Unschedulable) != 1 || !strings.Contains(r.Unschedulable[0].Reason, "requires 2 distinct values of tailor.sh/instance-family") {
		t.Fatalf("unschedulable = %+v", r.Unschedulable)
	}
}

func TestVolumesPinPodsToTheirTopology(t *testing.T) {
	wait := storagev1.VolumeBindingWaitForFirstConsumer
	immediate := storagev1.VolumeBindingImmediate
	zonal := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "zonal", Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}},
		VolumeBindingMode: &wait, AllowedTopologies: []corev1.TopologySelectorTerm{{MatchLabelExpressions: []corev1.TopologySelectorLabelRequirement{{Key: corev1.LabelTopologyZone, Values: []string{"us-west-2b"}}}}}}
	eager := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "eager"}, VolumeBindingMode: &immediate}
	pv := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv-c"}, Spec: corev1.PersistentVolumeSpec{NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{
		NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelTopologyZone, Operator: corev1.NodeSelectorOpIn, Values: []string{"us-west-2c"}}}}},
	}}}}
	claim := func(name, volume string, class *string) *corev1.PersistentVolumeClaim {
		return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}, Spec: corev1.PersistentVolumeClaimSpec{VolumeName: volume, StorageClassName: class}}
	}
	withClaim := func(name string) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: name}}}}
		}
	}
	base := Input{
		NodePools:              []*NodePool{nodePool(t, "default")},
		PersistentVolumeClaims: []*corev1.PersistentVolumeClaim{claim("bound", "pv-c", nil), claim("waiting", "", nil), claim("eager", "", ptr.To("eager"))},
		PersistentVolumes:      []*corev1.PersistentVolume{pv},
		StorageClasses:         []*storagev1.StorageClass{zonal, eager},
	}
	for _, tc := range []struct {
		claim, zone, reason string
	}{
		{claim: "bound", zone: "us-west-2c"},
		{claim: "waiting", zone: "us-west-2b"},
		{claim: "eager", reason: "StorageClass eager binds immediately"},
		{claim: "missing", reason: "PersistentVolumeClaim default/missing does not exist"},
	} {
		t.Run(tc.claim, func(t *testing.T) {
			in := base
			in.Pods = pods(2, "db-"+tc.claim, "1", "2Gi", withClaim(tc.claim))
			r := Solve(in)
			checkValid(t, in, r)
			if tc.reason != "" {
				if len(r.Unschedulable) != 2 || !strings.Contains(r.Unschedulable[0].Reason, tc.reason) {
					t.Fatalf("unschedulable = %+v, want the reason %q", r.Unschedulable, tc.reason)
				}
				return
			}
			if len(r.NodeClaims) == 0 {
				t.Fatalf("no node: %+v", r.Unschedulable)
			}
			for _, nc := range r.NodeClaims {
				if z := nc.Candidates[0].Offering.Zone; z != tc.zone {
					t.Fatalf("launched in %s, want %s", z, tc.zone)
				}
			}
		})
	}
}

func TestPreferNoScheduleTaintsAreAvoidedAmongEqualPools(t *testing.T) {
	preferAvoid := nodePool(t, "a-soft-tainted", func(np *v1.NodePool) {
		np.Spec.Template.Spec.Taints = []corev1.Taint{{Key: "batch", Value: "true", Effect: corev1.TaintEffectPreferNoSchedule}}
	})
	plain := nodePool(t, "b-plain")
	in := Input{Pods: pods(2, "web", "1", "1Gi"), NodePools: []*NodePool{preferAvoid, plain}}
	r := Solve(in)
	checkValid(t, in, r)
	if len(r.NodeClaims) == 0 || r.NodeClaims[0].NodePool != "b-plain" {
		t.Fatalf("pods went to %v; the pool without the PreferNoSchedule taint should be preferred", r.NodeClaims)
	}
	in = Input{Pods: pods(2, "batch", "1", "1Gi", func(p *corev1.Pod) {
		p.Spec.Tolerations = []corev1.Toleration{{Key: "batch", Operator: corev1.TolerationOpExists}}
	}), NodePools: []*NodePool{preferAvoid, plain}}
	r = Solve(in)
	if len(r.NodeClaims) == 0 || r.NodeClaims[0].NodePool != "a-soft-tainted" {
		t.Fatalf("tolerating pods should keep the name order, got %v", r.NodeClaims[0].NodePool)
	}
	only := Input{Pods: pods(1, "lone", "1", "1Gi"), NodePools: []*NodePool{nodePool(t, "soft", func(np *v1.NodePool) {
		np.Spec.Template.Spec.Taints = []corev1.Taint{{Key: "batch", Effect: corev1.TaintEffectPreferNoSchedule}}
	})}}
	if r := Solve(only); len(r.NodeClaims) != 1 {
		t.Fatalf("a PreferNoSchedule taint must never block: %+v", r.Unschedulable)
	}
}

func TestZoneSpreadOptions(t *testing.T) {
	spread := func(mutate func(*corev1.TopologySpreadConstraint)) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			c := corev1.TopologySpreadConstraint{MaxSkew: 1, TopologyKey: corev1.LabelTopologyZone, WhenUnsatisfiable: corev1.DoNotSchedule, LabelSelector: metaSelector("app", "api")}
			if mutate != nil {
				mutate(&c)
			}
			p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{c}
		}
	}
	twoZones := nodePool(t, "default", withRequirement(corev1.LabelTopologyZone, corev1.NodeSelectorOpIn, "us-west-2a", "us-west-2b"))
	perZone := func(r *Result) map[string]int {
		out := map[string]int{}
		for _, nc := range r.NodeClaims {
			out[nc.Requirements.Get(corev1.LabelTopologyZone).Values()[0]] += len(nc.Pods)
		}
		return out
	}

	t.Run("minDomains above the zones caps each zone at maxSkew", func(t *testing.T) {
		in := Input{Pods: pods(5, "api", "1", "2Gi", spread(func(c *corev1.TopologySpreadConstraint) { c.MinDomains = ptr.To[int32](3) })), NodePools: []*NodePool{twoZones}}
		r := Solve(in)
		checkValid(t, in, r)
		if got := perZone(r); got["us-west-2a"] != 1 || got["us-west-2b"] != 1 {
			t.Errorf("pods per zone %v, want 1 and 1", got)
		}
		if len(r.Unschedulable) != 3 || !strings.Contains(r.Unschedulable[0].Reason, "minDomains 3") {
			t.Errorf("unschedulable %v, want 3 naming minDomains", r.Unschedulable)
		}
	})
	t.Run("minDomains within the zones changes nothing", func(t *testing.T) {
		in := Input{Pods: pods(5, "api", "1", "2Gi", spread(func(c *corev1.TopologySpreadConstraint) { c.MinDomains = ptr.To[int32](2) })), NodePools: []*NodePool{twoZones}}
		r := Solve(in)
		checkValid(t, in, r)
		if len(r.Unschedulable) != 0 || len(r.Warnings) != 0 {
			t.Errorf("unschedulable %v, warnings %v", r.Unschedulable, r.Warnings)
		}
	})

	// Two pods of an older version sit in zone a.
	old := func(p *corev1.Pod) { p.Labels["pod-template-hash"] = "v1" }
	existing := &Node{Name: "old", Labels: map[string]string{corev1.LabelTopologyZone: "us-west-2a", "team": "other"},
		Taints:      []corev1.Taint{{Key: "dedicated", Value: "x", Effect: corev1.TaintEffectNoSchedule}},
		Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("4Gi")},
		Pods:        pods(2, "api-v1", "1", "2Gi", old, func(p *corev1.Pod) { p.Labels["app"] = "api" })}
	for name, tc := range map[string]struct {
		mutate func(*corev1.TopologySpreadConstraint)
		pod    func(*corev1.Pod)
		wantA  int // new pods in zone a, of 4
	}{
		"old pods count by default": {nil, nil, 1},
		"matchLabelKeys leaves other versions out": {func(c *corev1.TopologySpreadConstraint) { c.MatchLabelKeys = []string{"pod-template-hash"} },
			func(p *corev1.Pod) { p.Labels["pod-template-hash"] = "v2" }, 2},
		"nodeTaintsPolicy Honor leaves tainted nodes out": {func(c *corev1.TopologySpreadConstraint) {
			c.NodeTaintsPolicy = ptr.To(corev1.NodeInclusionPolicyHonor)
		}, nil, 2},
		"nodeAffinityPolicy Honor leaves nodes the pod may not use out": {nil, func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"team": "api"} }, 2},
	} {
		t.Run(name, func(t *testing.T) {
			mutate := []func(*corev1.Pod){spread(tc.mutate)}
			if tc.pod != nil {
				mutate = append(mutate, tc.pod)
			}
			pool := twoZones
			if tc.pod != nil && name == "nodeAffinityPolicy Honor leaves nodes the pod may not use out" {
				pool = nodePool(t, "default", withRequirement(corev1.LabelTopologyZone, corev1.NodeSelectorOpIn, "us-west-2a", "us-west-2b"), withLabel("team", "api"))
			}
			in := Input{Pods: pods(4, "api", "1", "2Gi", mutate...), Nodes: []*Node{existing}, NodePools: []*NodePool{pool}}
			r := Solve(in)
			checkValid(t, in, r)
			if got := perZone(r); got["us-west-2a"] != tc.wantA || got["us-west-2b"] != 4-tc.wantA {
				t.Errorf("new pods per zone %v, want %d in us-west-2a", got, tc.wantA)
			}
		})
	}
}

func TestZoneAntiAffinityAllowsOnePodPerZone(t *testing.T) {
	antiAffinity := func(p *corev1.Pod) {
		p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
			LabelSelector: metaSelector("app", "db"), TopologyKey: corev1.LabelTopologyZone,
		}}}}
	}
	pool := nodePool(t, "default", withRequirement(corev1.LabelTopologyZone, corev1.NodeSelectorOpIn, "us-west-2a", "us-west-2b", "us-west-2c"))
	existing := &Node{Name: "old", Labels: map[string]string{corev1.LabelTopologyZone: "us-west-2a"},
		Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("2Gi")},
		Pods:        pods(1, "db-old", "1", "2Gi", antiAffinity, func(p *corev1.Pod) { p.Labels["app"] = "db" })}
	for _, tc := range []struct {
		name    string
		nodes   []*Node
		placed  int
		inZoneA bool
	}{
		{"three zones, three pods", nil, 3, true},
		{"zone a taken already", []*Node{existing}, 2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := Input{Pods: pods(5, "db", "1", "2Gi", antiAffinity), Nodes: tc.nodes, NodePools: []*NodePool{pool}}
			r := Solve(in)
			checkValid(t, in, r)
			zones := map[string]int{}
			for _, nc := range r.NodeClaims {
				zone := nc.Requirements.Get(corev1.LabelTopologyZone)
				if zone == nil || zone.Len() != 1 || len(nc.Pods) != 1 {
					t.Fatalf("node %s with %d pods is not one pod in one zone", nc.Requirements, len(nc.Pods))
				}
				zones[zone.Values()[0]]++
			}
			if len(r.NodeClaims) != tc.placed || len(zones) != tc.placed || (zones["us-west-2a"] > 0) != tc.inZoneA {
				t.Errorf("new pods per zone %v, want %d zones with one each", zones, tc.placed)
			}
			if len(r.Unschedulable) != 5-tc.placed || !strings.Contains(r.Unschedulable[0].Reason, "one of its pods per zone") {
				t.Errorf("unschedulable %v", r.Unschedulable)
			}
			if len(r.Warnings) != 0 {
				t.Errorf("warnings %v", r.Warnings)
			}
		})
	}
}

func TestRequiredPodAffinity(t *testing.T) {
	affinity := func(key string, app string) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				LabelSelector: metaSelector("app", app), TopologyKey: key,
			}}}}
		}
	}
	pool := nodePool(t, "default", withRequirement(corev1.LabelTopologyZone, corev1.NodeSelectorOpIn, "us-west-2a", "us-west-2b", "us-west-2c"))
	cacheNode := func() *Node {
		return &Node{Name: "cache", Labels: map[string]string{corev1.LabelTopologyZone: "us-west-2b", corev1.LabelHostname: "cache"},
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("2Gi")},
			Pods:        pods(1, "cache", "1", "2Gi")}
	}
	t.Run("zone affinity follows the pods it needs", func(t *testing.T) {
		in := Input{Pods: pods(4, "web", "1", "2Gi", affinity(corev1.LabelTopologyZone, "cache")), Nodes: []*Node{cacheNode()}, NodePools: []*NodePool{pool}}
		r := Solve(in)
		checkValid(t, in, r)
		if len(r.NodeClaims) == 0 || len(r.Unschedulable) != 0 || len(r.Warnings) != 0 {
			t.Fatalf("claims %d, unschedulable %v, warnings %v", len(r.NodeClaims), r.Unschedulable, r.Warnings)
		}
		for _, nc := range r.NodeClaims {
			if zone := nc.Requirements.Get(corev1.LabelTopologyZone); zone == nil || zone.Len() != 1 || zone.Values()[0] != "us-west-2b" {
				t.Errorf("a new node for pods that need the cache's zone may be in %v", zone)
			}
		}
	})
	for name, tc := range map[string]struct {
		key   string
		nodes []*Node
		pods  []*corev1.Pod
		want  string
	}{
		"hostname affinity cannot be met by a new node": {corev1.LabelHostname, []*Node{cacheNode()}, nil, "a new node would run none"},
		"nothing to be near":                            {corev1.LabelTopologyZone, nil, nil, "none runs"},
	} {
		t.Run(name, func(t *testing.T) {
			in := Input{Pods: append(tc.pods, pods(2, "web", "1", "2Gi", affinity(tc.key, "cache"))...), Nodes: tc.nodes, NodePools: []*NodePool{pool}}
			r := Solve(in)
			checkValid(t, in, r)
			if len(r.Unschedulable) != 2 || !strings.Contains(r.Unschedulable[0].Reason, tc.want) {
				t.Errorf("unschedulable %v, want the 2 web pods, saying %q", r.Unschedulable, tc.want)
			}
		})
	}
	// Pending together, or among its own pods when none runs: one zone,
	// the cheapest for the pods it needs.
	for name, in := range map[string]Input{
		"with the pods it needs": {Pods: append(pods(1, "cache", "1", "2Gi"), pods(3, "web", "1", "2Gi", affinity(corev1.LabelTopologyZone, "cache"))...), NodePools: []*NodePool{pool}},
		"among its own pods":     {Pods: pods(3, "web", "1", "2Gi", affinity(corev1.LabelTopologyZone, "web")), NodePools: []*NodePool{pool}},
	} {
		t.Run("pending together "+name, func(t *testing.T) {
			r := Solve(in)
			checkValid(t, in, r)
			if len(r.Unschedulable) != 0 || len(r.Warnings) != 0 {
				t.Fatalf("unschedulable %v, warnings %v", r.Unschedulable, r.Warnings)
			}
			zones := map[string]bool{}
			for _, nc := range r.NodeClaims {
				zone := nc.Requirements.Get(corev1.LabelTopologyZone)
				if zone == nil || zone.Len() != 1 {
					t.Fatalf("a node may be in zones %v", zone)
				}
				zones[zone.Values()[0]] = true
			}
			if len(zones) != 1 {
				t.Errorf("the pods go to zones %v, want one", zones)
			}
		})
	}
}

func TestAntiAffinityAcrossClassesKeepsThemOnSeparateNodes(t *testing.T) {
	repel := func(app string) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				LabelSelector: metaSelector("app", app), TopologyKey: corev1.LabelHostname,
			}}}}
		}
	}
	pool := nodePool(t, "default")
	for name, in := range map[string]Input{
		"web repels db": {Pods: append(pods(4, "web", "250m", "512Mi", repel("db")), pods(4, "db", "250m", "512Mi")...), NodePools: []*NodePool{pool}},
		"db repels web": {Pods: append(pods(4, "web", "250m", "512Mi"), pods(4, "db", "250m", "512Mi", repel("web"))...), NodePools: []*NodePool{pool}},
	} {
		t.Run(name, func(t *testing.T) {
			r := Solve(in)
			checkValid(t, in, r)
			if len(r.Warnings) != 0 || len(r.Unschedulable) != 0 {
				t.Fatalf("warnings %v, unschedulable %v", r.Warnings, r.Unschedulable)
			}
			for _, nc := range r.NodeClaims {
				apps := map[string]bool{}
				for _, p := range nc.Pods {
					apps[p.Labels["app"]] = true
				}
				if apps["web"] && apps["db"] {
					t.Errorf("a new node holds both web and db pods, which repel each other")
				}
			}
		})
	}
	// The repulsion costs at most one node more than packing without it.
	free := Solve(Input{Pods: append(pods(4, "web", "250m", "512Mi"), pods(4, "db", "250m", "512Mi")...), NodePools: []*NodePool{pool}})
	apart := Solve(Input{Pods: append(pods(4, "web", "250m", "512Mi", repel("db")), pods(4, "db", "250m", "512Mi")...), NodePools: []*NodePool{pool}})
	if len(apart.NodeClaims) > len(free.NodeClaims)+1 {
		t.Errorf("%d nodes apart, %d together", len(apart.NodeClaims), len(free.NodeClaims))
	}
}

func TestZoneSpreadAcrossClassesStaysEven(t *testing.T) {
	spread := func(p *corev1.Pod) {
		p.Labels["tier"] = "api"
		p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{
			MaxSkew: 1, TopologyKey: corev1.LabelTopologyZone, WhenUnsatisfiable: corev1.DoNotSchedule, LabelSelector: metaSelector("tier", "api"),
		}}
	}
	pool := nodePool(t, "default", withRequirement(corev1.LabelTopologyZone, corev1.NodeSelectorOpIn, "us-west-2a", "us-west-2b", "us-west-2c"))
	in := Input{Pods: append(pods(4, "small", "500m", "1Gi", spread), pods(2, "big", "2", "4Gi", spread)...), NodePools: []*NodePool{pool}}
	r := Solve(in)
	checkValid(t, in, r)
	perZone := map[string]int{}
	for _, nc := range r.NodeClaims {
		perZone[nc.Requirements.Get(corev1.LabelTopologyZone).Values()[0]] += len(nc.Pods)
	}
	skew := skewOf(perZone)
	if skew > 1 {
		t.Errorf("the spread's pods per zone %v: skew %d, want at most 1", perZone, skew)
	}
}

func TestZoneSpreadCountsZonesItCannotLaunchIn(t *testing.T) {
	spread := func(p *corev1.Pod) {
		p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{
			MaxSkew: 1, TopologyKey: corev1.LabelTopologyZone, WhenUnsatisfiable: corev1.DoNotSchedule, LabelSelector: metaSelector("app", "api"),
		}}
	}
	// A full node in zone d, where the pool cannot launch, holds none of
	// the spread's pods: kube-scheduler measures the skew against it.
	full := &Node{Name: "d", Labels: map[string]string{corev1.LabelTopologyZone: "us-west-2d"},
		Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("2Gi")},
		Pods:        pods(1, "other", "1", "2Gi")}
	for _, zones := range [][]string{{"us-west-2a", "us-west-2b"}, {"us-west-2a"}} {
		pool := nodePool(t, "default", withRequirement(corev1.LabelTopologyZone, corev1.NodeSelectorOpIn, zones...))
		in := Input{Pods: pods(4, "api", "1", "2Gi", spread), Nodes: []*Node{full}, NodePools: []*NodePool{pool}}
		r := Solve(in)
		checkValid(t, in, r)
		placed := 0
		for _, nc := range r.NodeClaims {
			placed += len(nc.Pods)
		}
		if placed != len(zones) || len(r.Unschedulable) != 4-len(zones) || !strings.Contains(r.Unschedulable[0].Reason, "us-west-2d") {
			t.Errorf("zones %v: %d placed, unschedulable %v; want one per zone and the rest refused naming us-west-2d", zones, placed, r.Unschedulable)
		}
	}
}

func zoneOf(t *testing.T, nc *NewNodeClaim) string {
	t.Helper()
	zone := nc.Requirements.Get(corev1.LabelTopologyZone)
	if zone == nil || zone.Len() != 1 {
		t.Fatalf("a new node may be in zones %v, want one", zone)
	}
	return zone.Values()[0]
}

func podTerm(key, app string) corev1.PodAffinityTerm {
	return corev1.PodAffinityTerm{LabelSelector: metaSelector("app", app), TopologyKey: key}
}

func withAntiAffinity(terms ...corev1.PodAffinityTerm) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		if p.Spec.Affinity == nil {
			p.Spec.Affinity = &corev1.Affinity{}
		}
		p.Spec.Affinity.PodAntiAffinity = &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: terms}
	}
}

func withAffinity(terms ...corev1.PodAffinityTerm) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		if p.Spec.Affinity == nil {
			p.Spec.Affinity = &corev1.Affinity{}
		}
		p.Spec.Affinity.PodAffinity = &corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: terms}
	}
}

func zonalNode(name, zone string, running ...*corev1.Pod) *Node {
	return &Node{Name: name, Labels: map[string]string{corev1.LabelTopologyZone: zone, corev1.LabelHostname: name},
		Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("2Gi")},
		Pods:        running}
}

func threeZonePool(t *testing.T, zones ...string) *NodePool {
	if len(zones) == 0 {
		zones = []string{"us-west-2a", "us-west-2b", "us-west-2c"}
	}
	return nodePool(t, "default", withRequirement(corev1.LabelTopologyZone, corev1.NodeSelectorOpIn, zones...))
}

func TestNamespaceSelectorChoosesTheNamespaces(t *testing.T) {
	cache := pod("cache-0", "1", "2Gi", func(p *corev1.Pod) { p.Namespace = "data" })
	dataNamespace := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "data", Labels: map[string]string{"team": "data"}}}
	inNamespaces := func(selector *metav1.LabelSelector) corev1.PodAffinityTerm {
		term := podTerm(corev1.LabelTopologyZone, "cache")
		term.NamespaceSelector = selector
		return term
	}
	for name, tc := range map[string]struct {
		mutate     func(*corev1.Pod)
		namespaces []*corev1.Namespace
		wantZone   string // every new node's zone, or "" for unschedulable pods
		notZone    string
	}{
		"affinity to a labelled namespace":         {withAffinity(inNamespaces(metaSelector("team", "data"))), []*corev1.Namespace{dataNamespace}, "us-west-2b", ""},
		"affinity to an unlisted namespace's name": {withAffinity(inNamespaces(metaSelector(corev1.LabelMetadataName, "data"))), nil, "us-west-2b", ""},
		"affinity to a namespace without the pod":  {withAffinity(inNamespaces(metaSelector("team", "web"))), []*corev1.Namespace{dataNamespace}, "", ""},
		"affinity without a selector stays home":   {withAffinity(podTerm(corev1.LabelTopologyZone, "cache")), nil, "", ""},
		"anti-affinity to every namespace":         {withAntiAffinity(inNamespaces(&metav1.LabelSelector{})), nil, "", "us-west-2b"},
	} {
		t.Run(name, func(t *testing.T) {
			in := Input{Pods: pods(3, "web", "1", "2Gi", tc.mutate), Nodes: []*Node{zonalNode("cache", "us-west-2b", cache)},
				NodePools: []*NodePool{threeZonePool(t)}, Namespaces: tc.namespaces}
			r := Solve(in)
			checkValid(t, in, r)
			if len(r.Warnings) != 0 {
				t.Fatalf("warnings %v", r.Warnings)
			}
			if tc.wantZone == "" && tc.notZone == "" {
				if len(r.Unschedulable) != 3 || !strings.Contains(r.Unschedulable[0].Reason, "none runs") {
					t.Errorf("unschedulable %v, want all three saying none runs", r.Unschedulable)
				}
				return
			}
			if len(r.Unschedulable) != 0 || len(r.NodeClaims) == 0 {
				t.Fatalf("unschedulable %v, %d new nodes", r.Unschedulable, len(r.NodeClaims))
			}
			for _, nc := range r.NodeClaims {
				zone := nc.Requirements.Get(corev1.LabelTopologyZone)
				if tc.wantZone != "" && (zone.Len() != 1 || !zone.Allows(tc.wantZone)) || tc.notZone != "" && zone.Allows(tc.notZone) {
					t.Errorf("a new node may be in zones %v", zone)
				}
			}
		})
	}
}

func TestRunningPodsAntiAffinityKeepsNewNodesOutOfTheirZones(t *testing.T) {
	db := func(mutate ...func(*corev1.Pod)) *corev1.Pod { return pod("db-0", "1", "2Gi", mutate...) }
	for name, tc := range map[string]struct {
		running *corev1.Pod
		web     []func(*corev1.Pod)
		zones   []string
	}{
		"a running pod repels the new ones":   {db(withAntiAffinity(podTerm(corev1.LabelTopologyZone, "web"))), nil, nil},
		"the new pods repel a running one":    {db(), []func(*corev1.Pod){withAntiAffinity(podTerm(corev1.LabelTopologyZone, "db"))}, nil},
		"on a custom key of the pool's nodes": {db(withAntiAffinity(podTerm("rack", "web"))), nil, nil},
		"nowhere else to go":                  {db(withAntiAffinity(podTerm(corev1.LabelTopologyZone, "web"))), nil, []string{"us-west-2a"}},
	} {
		t.Run(name, func(t *testing.T) {
			node := zonalNode("db", "us-west-2a", tc.running)
			pool := threeZonePool(t, tc.zones...)
			if name == "on a custom key of the pool's nodes" {
				node.Labels["rack"] = "r1"
				pool = nodePool(t, "default", withRequirement("rack", corev1.NodeSelectorOpIn, "r1", "r2"))
			}
			in := Input{Pods: pods(3, "web", "1", "2Gi", tc.web...), Nodes: []*Node{node}, NodePools: []*NodePool{pool}}
			r := Solve(in)
			checkValid(t, in, r)
			if len(r.Warnings) != 0 {
				t.Fatalf("warnings %v", r.Warnings)
			}
			if tc.zones != nil {
				if len(r.Unschedulable) != 3 || !strings.Contains(r.Unschedulable[0].Reason, "anti-affinity keeps its new nodes out of topology.kubernetes.io/zone us-west-2a") {
					t.Errorf("unschedulable %v", r.Unschedulable)
				}
				return
			}
			if len(r.Unschedulable) != 0 || len(r.NodeClaims) == 0 {
				t.Fatalf("unschedulable %v, %d new nodes", r.Unschedulable, len(r.NodeClaims))
			}
			for _, nc := range r.NodeClaims {
				if zone := nc.Requirements.Get(corev1.LabelTopologyZone); zone != nil && zone.Allows("us-west-2a") && name != "on a custom key of the pool's nodes" {
					t.Errorf("a new node for web may be in the db's zone: %v", nc.Requirements)
				}
				if rack := nc.Requirements.Get("rack"); rack != nil && rack.Allows("r1") {
					t.Errorf("a new node for web may be on the db's rack: %v", nc.Requirements)
				}
			}
		})
	}
}

func TestZoneAntiAffinityAcrossPendingClasses(t *testing.T) {
	t.Run("two deployments", func(t *testing.T) {
		for name, in := range map[string]Input{
			"web repels db": {Pods: append(pods(4, "web", "1", "2Gi", withAntiAffinity(podTerm(corev1.LabelTopologyZone, "db"))), pods(4, "db", "1", "2Gi")...)},
			"db repels web": {Pods: append(pods(4, "web", "1", "2Gi"), pods(4, "db", "1", "2Gi", withAntiAffinity(podTerm(corev1.LabelTopologyZone, "web")))...)},
		} {
			t.Run(name, func(t *testing.T) {
				in.NodePools = []*NodePool{threeZonePool(t)}
				r := Solve(in)
				checkValid(t, in, r)
				if len(r.Warnings) != 0 || len(r.Unschedulable) != 0 {
					t.Fatalf("warnings %v, unschedulable %v", r.Warnings, r.Unschedulable)
				}
				zones := map[string]map[string]bool{"web": {}, "db": {}}
				for _, nc := range r.NodeClaims {
					for _, p := range nc.Pods {
						for _, zone := range nc.Requirements.Get(corev1.LabelTopologyZone).Values() {
							zones[p.Labels["app"]][zone] = true
						}
					}
				}
				for zone := range zones["web"] {
					if zones["db"][zone] {
						t.Errorf("web and db may share zone %s: %v", zone, zones)
					}
				}
			})
		}
	})
	t.Run("a statefulset's pods, each its own class", func(t *testing.T) {
		in := Input{Pods: pods(5, "db", "1", "2Gi", withAntiAffinity(podTerm(corev1.LabelTopologyZone, "db")), func(p *corev1.Pod) {
			p.Labels["statefulset.kubernetes.io/pod-name"] = p.Name
		}), NodePools: []*NodePool{threeZonePool(t)}}
		r := Solve(in)
		checkValid(t, in, r)
		seen := map[string]bool{}
		for _, nc := range r.NodeClaims {
			zone := zoneOf(t, nc)
			if seen[zone] {
				t.Errorf("two db pods in zone %s", zone)
			}
			seen[zone] = true
		}
		if len(seen) != 3 || len(r.Unschedulable) != 2 || !strings.Contains(r.Unschedulable[0].Reason, "anti-affinity") {
			t.Errorf("zones %v, unschedulable %v; want three zones and two pods refused for anti-affinity", seen, r.Unschedulable)
		}
	})
}

func TestHostnameSpreadAcrossClasses(t *testing.T) {
	spread := func(p *corev1.Pod) {
		p.Labels["tier"] = "api"
		p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{
			MaxSkew: 1, TopologyKey: corev1.LabelHostname, WhenUnsatisfiable: corev1.DoNotSchedule, LabelSelector: metaSelector("tier", "api"),
		}}
	}
	in := Input{Pods: append(append(pods(4, "small", "500m", "1Gi", spread), pods(2, "big", "2", "4Gi", spread)...),
		pods(6, "other", "500m", "1Gi", func(p *corev1.Pod) { p.Labels["tier"] = "api" })...), NodePools: []*NodePool{nodePool(t, "default")}}
	r := Solve(in)
	checkValid(t, in, r)
	if len(r.Warnings) != 0 || len(r.Unschedulable) != 0 {
		t.Fatalf("warnings %v, unschedulable %v", r.Warnings, r.Unschedulable)
	}
	for _, nc := range r.NodeClaims {
		spreading, api := 0, 0
		for _, p := range nc.Pods {
			if p.Labels["tier"] == "api" {
				api++
			}
			if len(p.Spec.TopologySpreadConstraints) > 0 {
				spreading++
			}
		}
		if spreading > 0 && api > 1 {
			t.Errorf("a new node holds %d pods of the spread, %d of them spreading; want one", api, spreading)
		}
	}
}

func TestMinValuesOnZoneAndCapacityType(t *testing.T) {
	pool := nodePool(t, "default", func(np *v1.NodePool) {
		np.Spec.Template.Spec.Requirements = append(np.Spec.Template.Spec.Requirements,
			v1.NodeSelectorRequirementWithMinValues{Key: corev1.LabelTopologyZone, Operator: corev1.NodeSelectorOpIn, Values: []string{"us-west-2a", "us-west-2b", "us-west-2c"}, MinValues: ptr.To(2)},
			v1.NodeSelectorRequirementWithMinValues{Key: v1.LabelCapacityType, Operator: corev1.NodeSelectorOpExists, MinValues: ptr.To(2)})
	})
	for name, tc := range map[string]struct {
		nodeSelector map[string]string
		want         string
	}{
		"flexible pods":            {nil, ""},
		"pods pinned to one zone":  {map[string]string{corev1.LabelTopologyZone: "us-west-2a"}, "requires 2 distinct values of topology.kubernetes.io/zone, but the instance types and offerings that can hold the pods have only 1 (us-west-2a)"},
		"pods that only take spot": {map[string]string{v1.LabelCapacityType: "spot"}, "requires 2 distinct values of " + v1.LabelCapacityType + ", but the instance types and offerings that can hold the pods have only 1 (spot)"},
	} {
		t.Run(name, func(t *testing.T) {
			in := Input{Pods: pods(4, "web", "1", "2Gi", func(p *corev1.Pod) { p.Spec.NodeSelector = tc.nodeSelector }), NodePools: []*NodePool{pool}}
			r := Solve(in)
			checkValid(t, in, r)
			if tc.want != "" {
				if len(r.Unschedulable) != 4 || !strings.Contains(r.Unschedulable[0].Reason, tc.want) {
					t.Fatalf("%d unschedulable (%s), want all 4 saying %q", len(r.Unschedulable), reasons(r), tc.want)
				}
				return
			}
			if len(r.Unschedulable) != 0 || len(r.NodeClaims) == 0 {
				t.Fatalf("unschedulable %v", r.Unschedulable)
			}
			for _, nc := range r.NodeClaims {
				zones, capacityTypes := map[string]bool{}, map[string]bool{}
				for _, c := range nc.Candidates {
					for _, o := range c.InstanceType.Offerings.Compatible(nc.Requirements) {
						zones[o.Zone], capacityTypes[o.CapacityType] = true, true
					}
				}
				if len(zones) < 2 || len(capacityTypes) < 2 {
					t.Errorf("a new node may launch in zones %v and capacity types %v, want two of each", zones, capacityTypes)
				}
			}
		})
	}
}

func reasons(r *Result) string {
	var out []string
	for _, u := range r.Unschedulable {
		out = append(out, u.Pod.Name+": "+u.Reason)
	}
	return strings.Join(out, "; ")
}

func TestHostPortsAcrossClassesKeepThemApart(t *testing.T) {
	port := func(p *corev1.Pod) {
		p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 8080, HostPort: 8080}}
	}
	in := Input{Pods: append(pods(3, "web", "250m", "512Mi", port), pods(3, "api", "500m", "512Mi", port)...), NodePools: []*NodePool{nodePool(t, "default")}}
	r := Solve(in)
	checkValid(t, in, r)
	if len(r.Unschedulable) != 0 || len(r.NodeClaims) != 6 {
		t.Fatalf("%d new nodes, unschedulable %v; want one per pod", len(r.NodeClaims), r.Unschedulable)
	}
}

func TestHostnameAffinityAmongItsOwnPodsSharesOneNode(t *testing.T) {
	together := withAffinity(podTerm(corev1.LabelHostname, "cache"))
	for name, tc := range map[string]struct {
		pods      int
		cpu       string
		placed    int
		wantNodes int
	}{
		"all fit one node":      {4, "1", 4, 1},
		"more than the largest": {3, "400", 2, 1},
	} {
		t.Run(name, func(t *testing.T) {
			in := Input{Pods: pods(tc.pods, "cache", tc.cpu, "1Gi", together), NodePools: []*NodePool{nodePool(t, "default")}}
			r := Solve(in)
			checkValid(t, in, r)
			if len(r.NodeClaims) != tc.wantNodes || len(r.NodeClaims[0].Pods) != tc.placed || len(r.Warnings) != 0 {
				t.Fatalf("%d nodes (first with %d pods), warnings %v; want %d with %d", len(r.NodeClaims), len(r.NodeClaims[0].Pods), r.Warnings, tc.wantNodes, tc.placed)
			}
			if len(r.Unschedulable) != tc.pods-tc.placed || tc.placed < tc.pods && !strings.Contains(r.Unschedulable[0].Reason, "share the first one's node") {
				t.Errorf("unschedulable %s", reasons(r))
			}
		})
	}
}

func TestPreferredZoneSpreadSpreadsWithoutRefusingPods(t *testing.T) {
	anyway := func(p *corev1.Pod) {
		p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{
			MaxSkew: 1, TopologyKey: corev1.LabelTopologyZone, WhenUnsatisfiable: corev1.ScheduleAnyway, LabelSelector: metaSelector("app", "web"),
		}}
	}
	for _, zones := range [][]string{{"us-west-2a", "us-west-2b", "us-west-2c"}, {"us-west-2a"}} {
		in := Input{Pods: pods(6, "web", "1", "2Gi", anyway), NodePools: []*NodePool{threeZonePool(t, zones...)}}
		r := Solve(in)
		checkValid(t, in, r)
		if len(r.Unschedulable) != 0 {
			t.Fatalf("zones %v: unschedulable %s", zones, reasons(r))
		}
		perZone := map[string]int{}
		for _, nc := range r.NodeClaims {
			for _, zone := range nc.Requirements.Get(corev1.LabelTopologyZone).Values() {
				perZone[zone] += len(nc.Pods)
			}
		}
		for _, zone := range zones {
			if perZone[zone] != 6/len(zones) {
				t.Errorf("zones %v: pods per zone %v, want them even", zones, perZone)
			}
		}
	}
}

func TestZoneSpreadUsesAnotherPoolForZonesTheFirstLacks(t *testing.T) {
	spread := func(p *corev1.Pod) {
		p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{
			MaxSkew: 1, TopologyKey: corev1.LabelTopologyZone, WhenUnsatisfiable: corev1.DoNotSchedule, LabelSelector: metaSelector("app", "web"), MinDomains: ptr.To(int32(3)),
		}}
	}
	spot := nodePool(t, "spot", withWeight(10), withRequirement(corev1.LabelTopologyZone, corev1.NodeSelectorOpIn, "us-west-2a", "us-west-2b"),
		withRequirement(v1.LabelCapacityType, corev1.NodeSelectorOpIn, v1.CapacityTypeSpot))
	onDemand := threeZonePool(t)
	in := Input{Pods: pods(6, "web", "1", "2Gi", spread), NodePools: []*NodePool{spot, onDemand}}
	r := Solve(in)
	checkValid(t, in, r)
	if len(r.Unschedulable) != 0 {
		t.Fatalf("unschedulable %s", reasons(r))
	}
	perZone, pools := map[string]int{}, map[string]string{}
	for _, nc := range r.NodeClaims {
		zone := zoneOf(t, nc)
		perZone[zone] += len(nc.Pods)
		pools[zone] = nc.NodePool
	}
	if perZone["us-west-2a"] != 2 || perZone["us-west-2b"] != 2 || perZone["us-west-2c"] != 2 || pools["us-west-2a"] != "spot" || pools["us-west-2c"] != "default" {
		t.Errorf("pods per zone %v from pools %v; want two per zone, zone c from the on-demand pool", perZone, pools)
	}
}

func TestPodsCountedInAnotherDeploymentsSpreadSpreadToo(t *testing.T) {
	spread := func(p *corev1.Pod) {
		p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{
			MaxSkew: 1, TopologyKey: corev1.LabelTopologyZone, WhenUnsatisfiable: corev1.DoNotSchedule, LabelSelector: metaSelector("tier", "web"),
		}}
	}
	web := func(p *corev1.Pod) { p.Labels["tier"] = "web" }
	// The old ReplicaSet's pods have no spread, but the new one's counts them.
	in := Input{Pods: append(pods(5, "old", "1", "2Gi", web), pods(4, "new", "500m", "1Gi", web, spread)...), NodePools: []*NodePool{threeZonePool(t)}}
	r := Solve(in)
	checkValid(t, in, r)
	perZone := map[string]int{}
	for _, nc := range r.NodeClaims {
		perZone[zoneOf(t, nc)] += len(nc.Pods)
	}
	skew := skewOf(perZone)
	if len(r.Unschedulable) != 0 || skew > 1 {
		t.Errorf("tier=web pods per zone %v, unschedulable %s; want skew at most 1", perZone, reasons(r))
	}
}

func TestCircularPodAffinityWaits(t *testing.T) {
	in := Input{Pods: append(pods(2, "web", "1", "2Gi", withAffinity(podTerm(corev1.LabelTopologyZone, "db"))),
		pods(2, "db", "1", "2Gi", withAffinity(podTerm(corev1.LabelTopologyZone, "web")))...), NodePools: []*NodePool{threeZonePool(t)}}
	r := Solve(in)
	checkValid(t, in, r)
	if len(r.NodeClaims) != 0 || len(r.Unschedulable) != 4 || !strings.Contains(r.Unschedulable[0].Reason, "cannot run before it does") {
		t.Errorf("%d new nodes, unschedulable %s; want all four waiting", len(r.NodeClaims), reasons(r))
	}
}

func TestPodsAlikeButForHostPortsOrSelectedLabelsAreNotOneClass(t *testing.T) {
	port := func(p *corev1.Pod) {
		p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 9100, HostPort: 9100}}
	}
	in := Input{Pods: append(pods(3, "web", "250m", "512Mi"), pods(3, "agent", "250m", "512Mi", port)...), NodePools: []*NodePool{nodePool(t, "default")}}
	r := Solve(in)
	checkValid(t, in, r)
	for _, nc := range r.NodeClaims {
		agents := 0
		for _, p := range nc.Pods {
			if p.Labels["app"] == "agent" {
				agents++
			}
		}
		if agents > 1 {
			t.Errorf("a new node holds %d pods with host port 9100", agents)
		}
	}
	// A spread on app=web must count the web pods, not the plain x pods
	// that share their shape.
	spread := func(p *corev1.Pod) {
		p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{
			MaxSkew: 1, TopologyKey: corev1.LabelTopologyZone, WhenUnsatisfiable: corev1.DoNotSchedule, LabelSelector: metaSelector("app", "web"),
		}}
	}
	in = Input{Pods: append(append(pods(6, "x", "1", "2Gi"), pods(6, "web", "1", "2Gi")...), pods(3, "web", "500m", "1Gi", spread)...),
		NodePools: []*NodePool{threeZonePool(t)}}
	r = Solve(in)
	checkValid(t, in, r)
	perZone := map[string]int{}
	for _, nc := range r.NodeClaims {
		for _, p := range nc.Pods {
			if p.Labels["app"] == "web" {
				perZone[zoneOf(t, nc)]++
			}
		}
	}
	skew := skewOf(perZone)
	if len(r.Unschedulable) != 0 || skew > 1 {
		t.Errorf("app=web pods per zone %v, unschedulable %s; want skew at most 1", perZone, reasons(r))
	}
}

func TestHostnameAffinityToPendingPodsSharesTheirNodes(t *testing.T) {
	sidecar := withAffinity(podTerm(corev1.LabelHostname, "cache"))
	for name, tc := range map[string]struct {
		caches, sidecars int
		cpu              string
		unschedulable    int
	}{
		"room next to each":          {3, 6, "1", 0},
		"one cache, too many to fit": {1, 3, "300", 2},
	} {
		t.Run(name, func(t *testing.T) {
			in := Input{Pods: append(pods(tc.caches, "cache", "1", "2Gi"), pods(tc.sidecars, "sidecar", tc.cpu, "1Gi", sidecar)...), NodePools: []*NodePool{nodePool(t, "default")}}
			r := Solve(in)
			checkValid(t, in, r)
			for _, nc := range r.NodeClaims {
				apps := map[string]int{}
				for _, p := range nc.Pods {
					apps[p.Labels["app"]]++
				}
				if apps["sidecar"] > 0 && apps["cache"] == 0 {
					t.Errorf("a new node holds %d sidecars and no cache pod", apps["sidecar"])
				}
			}
			if len(r.Unschedulable) != tc.unschedulable || tc.unschedulable > 0 && !strings.Contains(r.Unschedulable[0].Reason, "no room left") {
				t.Errorf("unschedulable %s, want %d", reasons(r), tc.unschedulable)
			}
		})
	}
}

// skewOf is the difference between the fullest and the emptiest of the
// three zones.
func skewOf(perZone map[string]int) int {
	least, most := math.MaxInt, 0
	for _, zone := range []string{"us-west-2a", "us-west-2b", "us-west-2c"} {
		least, most = min(least, perZone[zone]), max(most, perZone[zone])
	}
	return most - least
}

func TestHostnameAffinityEdgeCases(t *testing.T) {
	sidecar := withAffinity(podTerm(corev1.LabelHostname, "cache"))
	t.Run("targets that keep together are not joined", func(t *testing.T) {
		in := Input{Pods: append(pods(3, "cache", "500m", "1Gi", withAffinity(podTerm(corev1.LabelHostname, "cache"))), pods(10, "web", "250m", "512Mi", sidecar)...),
			NodePools: []*NodePool{nodePool(t, "default")}}
		r := Solve(in)
		checkValid(t, in, r)
		if len(r.NodeClaims) != 1 || len(r.NodeClaims[0].Pods) != 3 || len(r.Unschedulable) != 10 {
			t.Errorf("%d new nodes, unschedulable %s; want the caches on one node and the web pods waiting", len(r.NodeClaims), reasons(r))
		}
	})
	t.Run("minValues that make a node hold less never hang", func(t *testing.T) {
		diverse := nodePool(t, "diverse", func(np *v1.NodePool) {
			np.Spec.Template.Spec.Requirements = append(np.Spec.Template.Spec.Requirements, v1.NodeSelectorRequirementWithMinValues{
				Key: v1.LabelInstanceFamily, Operator: corev1.NodeSelectorOpExists, MinValues: ptr.To(40),
			})
		})
		in := Input{Pods: append(pods(2, "cache", "30", "60Gi"), pods(20, "sidecar", "2", "4Gi", sidecar)...), NodePools: []*NodePool{diverse}}
		r := Solve(in)
		checkValid(t, in, r)
		for _, nc := range r.NodeClaims {
			apps := map[string]int{}
			for _, p := range nc.Pods {
				apps[p.Labels["app"]]++
			}
			if apps["sidecar"] > 0 && apps["cache"] == 0 {
				t.Errorf("a new node holds sidecars without a cache pod")
			}
		}
	})
}

func TestSettlingKeepsSpreadsEvenUnderLimits(t *testing.T) {
	spread := func(p *corev1.Pod) {
		p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{
			MaxSkew: 1, TopologyKey: corev1.LabelTopologyZone, WhenUnsatisfiable: corev1.DoNotSchedule, LabelSelector: metaSelector("app", "web"),
		}}
	}
	// Zone c has a node (full, none of the spread's pods), and the pool may
	// launch two more nodes: the pods planned for zone c find no node, so
	// no zone may hold more than one.
	full := zonalNode("full", "us-west-2c", pods(1, "other", "1", "2Gi")...)
	pool := threeZonePool(t)
	pool.Remaining = corev1.ResourceList{"nodes": resource.MustParse("2")}
	in := Input{Pods: pods(9, "web", "250m", "512Mi", spread), Nodes: []*Node{full}, NodePools: []*NodePool{pool}}
	r := Solve(in)
	checkValid(t, in, r)
	perZone := map[string]int{}
	for _, nc := range r.NodeClaims {
		perZone[zoneOf(t, nc)] += len(nc.Pods)
		// A node that lost pods is sized for those it kept.
		if cpu := nc.Requests[corev1.ResourceCPU]; cpu.Cmp(resource.MustParse(fmt.Sprintf("%dm", 250*len(nc.Pods)))) != 0 {
			t.Errorf("a node with %d pods requests %s cpu", len(nc.Pods), cpu.String())
		}
	}
	placed := 0
	for zone, n := range perZone {
		placed += n
		if n > 1 {
			t.Errorf("zone %s holds %d of the spread's pods, zone c none", zone, n)
		}
	}
	if placed == 0 || len(r.Unschedulable) != 9-placed {
		t.Errorf("pods per zone %v, unschedulable %s", perZone, reasons(r))
	}
}
