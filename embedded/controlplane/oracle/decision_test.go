package oracle

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/backend/cache"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/interpodaffinity"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/podtopologyspread"
	"k8s.io/utils/ptr"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/core/catalog"
	"github.com/tailor-sh/tailor/core/instancetype"
	"github.com/tailor-sh/tailor/core/scheduling"
)

const (
	// decisions is how many random clusters with pending pods are decided.
	decisions = 5000
	// minNewPlacements is how many pods Tailor must place on new nodes
	// over all decisions for the test to mean anything.
	minNewPlacements = 10000
	// maxExcusedRejections is how many rejections, over all decisions,
	// Tailor's warnings may excuse: about what the core strands today
	// (see the test's log), so that a warned-about gap that grows fails.
	maxExcusedRejections = 5
)

var oracleZones = []string{"us-west-2a", "us-west-2b", "us-west-2c"}

// TestDecisionsAgreeWithKubeScheduler checks whole decisions: random
// clusters (existing nodes with running pods, one or two NodePools) and
// pending Deployments with random constraints between their pods (spread
// over zones and hostnames, pod affinity and anti-affinity with namespaces
// and namespace selectors, host ports, node selectors, taints). Tailor
// decides; its new nodes are then built as the cloud would launch them (the
// cheapest candidate, in the zone of its offering, with the labels and
// taints a node of the NodePool gets), and every pod Tailor placed, on an
// existing node or a new one, is judged by kube-scheduler's Filter plugins
// against the cluster as it will be once every other pod is bound. A pod
// the plugins reject there is a pod that would stay pending next to a node
// launched for it. A rejection is excused only by a warning of Tailor's
// about the constraint that plugin judges (warningKinds), and only so many
// times (maxExcusedRejections).
//
// Conversely, every pod Tailor refuses is judged by the plugins against
// every node Tailor could have put it on (see judgeRefusals): a pod they
// accept somewhere fails the test unless refusalAllowances lists why.
func TestDecisionsAgreeWithKubeScheduler(t *testing.T) {
	if testing.Short() {
		t.Skip("runs thousands of scheduling cycles")
	}
	ctx := klog.NewContext(t.Context(), logr.Discard())
	lister := &snapshotLister{SharedLister: cache.NewEmptySnapshot()}
	plugins := filterPlugins(ctx, t, lister)
	cat, err := catalog.Builtin("aws-us-west-2")
	if err != nil {
		t.Fatal(err)
	}
	var smaller []*instancetype.InstanceType
	for _, it := range cat.InstanceTypes {
		// Small and mid-sized types keep decisions varied and quick.
		if it.Capacity.Cpu().Value() <= 16 {
			smaller = append(smaller, it)
		}
	}

	g := gen{rand.New(rand.NewPCG(20261128, 41))}
	var onNew, onExisting, refused, reported int
	disagreements := map[string]int{}
	excusedBy := map[string]int{} // plugin to rejections a warning excused
	var refusals refusalCounts
	for i := range decisions {
		sc := g.cluster(smaller)
		result := scheduling.Solve(sc.input)
		nodes, placed := sc.after(t, result)
		onExisting += len(result.Existing)
		refused += len(result.Unschedulable)
		onNew += len(placed) - len(result.Existing)
		// Pods placed on existing nodes bind first, before any new node
		// joins; then the others, with every new node up.
		bound := slices.Clone(sc.running)
		for _, phase := range []struct {
			nodes []*corev1.Node
			pods  []*corev1.Pod
		}{{sc.nodes, placed[:len(result.Existing)]}, {nodes, placed[len(result.Existing):]}} {
			var rejected map[*corev1.Pod]*fwk.Status
			bound, rejected = bindAll(ctx, plugins, lister, phase.nodes, bound, phase.pods)
			for pod, status := range rejected {
				if excused(pod, status.Plugin(), result.Warnings) {
					excusedBy[status.Plugin()]++
					continue
				}
				disagreements[status.Plugin()]++
				if reported < maxReports {
					reported++
					t.Errorf("decision %d: Tailor puts pod %s on node %s but %s says %v: %s\n%s",
						i, pod.Name, pod.Spec.NodeName, status.Plugin(), status.Code(), status.Message(), describeDecision(t, pod, phase.nodes, bound, result))
				}
			}
		}
		for _, d := range sc.judgeRefusals(ctx, t, plugins, lister, nodes, bound, result, &refusals) {
			if reported < maxReports {
				reported++
				t.Errorf("decision %d: %s", i, d)
			}
		}
	}
	excusedRejections := 0
	for _, n := range excusedBy {
		excusedRejections += n
	}
	t.Logf("%d decisions: %d pods placed on new nodes, %d on existing nodes, %d refused", decisions, onNew, onExisting, refused)
	t.Logf("%d rejections excused (by plugin %v): pods of Deployments whose constraints Tailor reported as not taken into account, each by the plugin that judges the constraint the warning names", excusedRejections, excusedBy)
	refusals.log(t)
	if len(disagreements) > 0 {
		t.Errorf("plugins rejected pods that Tailor placed: %v", disagreements)
	}
	if excusedRejections > maxExcusedRejections {
		t.Errorf("%d rejections excused by Tailor's warnings, want at most %d: a constraint the core does not take into account strands more pods than it did", excusedRejections, maxExcusedRejections)
	}
	refusals.check(t)
	if onNew < minNewPlacements {
		t.Errorf("Tailor placed only %d pods on new nodes, want at least %d for the test to mean anything", onNew, minNewPlacements)
	}
}

// warningKinds tie each kind of warning the core gives to the Filter plugin
// that judges the constraint it names. A warning reads "ns/pod (and N like
// it): WHAT is not yet taken into account" (see Solve and the ignored
// constraints of podClass); it excuses a rejection of its Deployment's pods
// by its kind's plugin only. Warnings of no kind listed here (a NodePool
// left out) excuse nothing.
var warningKinds = []struct {
	// what is how WHAT begins.
	what   string
	plugin string
}{
	{"required pod anti-affinity ", interpodaffinity.Name},
	{"required pod affinity ", interpodaffinity.Name},
	{"topology spread ", podtopologyspread.Name},
	{"a topology spread ", podtopologyspread.Name},
	{"a second topology spread ", podtopologyspread.Name},
}

// excused reports whether Tailor warned that it did not take into account
// one of the pod's Deployment's constraints that plugin judges: a warning
// names the Deployment's first pod of the class, "namespace/deployN-app-i".
func excused(pod *corev1.Pod, plugin string, warnings []string) bool {
	deployment := pod.Namespace + "/" + pod.Name[:strings.LastIndex(pod.Name, "-")+1]
	for _, w := range warnings {
		who, what, ok := strings.Cut(w, ": ")
		if !ok || !strings.HasPrefix(who, deployment) || !strings.HasSuffix(what, " is not yet taken into account") {
			continue
		}
		for _, k := range warningKinds {
			if k.plugin == plugin && strings.HasPrefix(what, k.what) {
				return true
			}
		}
	}
	return false
}

// bindAll binds pods to the nodes Tailor chose for them as kube-scheduler
// would: in the order of its queue, each only if the Filter plugins accept
// it next to the pods bound so far. A pod they reject waits, and is tried
// again, before the rest of the queue, each time another pod binds (the
// cluster changed, so kube-scheduler moves it back to its active queue).
// It returns the pods bound in the end, and the pods never accepted with
// the last rejection of each.
func bindAll(ctx context.Context, plugins []fwk.FilterPlugin, lister *snapshotLister, nodes []*corev1.Node, bound, pods []*corev1.Pod) ([]*corev1.Pod, map[*corev1.Pod]*fwk.Status) {
	rejected := map[*corev1.Pod]*fwk.Status{}
	var waiting []*corev1.Pod
	for _, pod := range pods {
		if status := admit(ctx, plugins, lister, nodes, bound, pod); status != nil {
			rejected[pod] = status
			waiting = append(waiting, pod)
			continue
		}
		bound = append(bound, pod)
		for retried := true; retried; {
			retried = false
			for i, w := range waiting {
				if status := admit(ctx, plugins, lister, nodes, bound, w); status != nil {
					rejected[w] = status
					continue
				}
				bound = append(bound, w)
				delete(rejected, w)
				waiting = slices.Delete(waiting, i, i+1)
				retried = true
				break
			}
		}
	}
	return bound, rejected
}

// admit runs the Filter plugins for a pod on its node, with the pods bound
// so far, and returns the first rejection, or nil.
func admit(ctx context.Context, plugins []fwk.FilterPlugin, lister *snapshotLister, nodes []*corev1.Node, bound []*corev1.Pod, pod *corev1.Pod) *fwk.Status {
	snapshot := cache.NewSnapshot(bound, nodes)
	lister.SharedLister = snapshot
	nodeInfos, err := snapshot.NodeInfos().List()
	if err != nil {
		return fwk.AsStatus(err)
	}
	target, err := snapshot.NodeInfos().Get(pod.Spec.NodeName)
	if err != nil {
		return fwk.AsStatus(err)
	}
	state := framework.NewCycleState()
	for _, p := range plugins {
		if status := filter(ctx, p, state, pod, nodeInfos, target); !status.IsSuccess() {
			return status.WithPlugin(p.Name())
		}
	}
	return nil
}

// scenario is a random cluster with pending pods.
type scenario struct {
	input scheduling.Input
	nodes []*corev1.Node
	// running are the pods bound to the existing nodes.
	running []*corev1.Pod
}

// after is the cluster once the decision is carried out: the existing
// nodes and a node per new NodeClaim, and the pods Tailor placed, each
// bound to its node (those on existing nodes first, in the order Tailor
// placed them, then those on new nodes in the order they were created).
func (sc *scenario) after(t *testing.T, r *scheduling.Result) (nodes []*corev1.Node, placed []*corev1.Pod) {
	t.Helper()
	nodes = slices.Clone(sc.nodes)
	bind := func(pod *corev1.Pod, node string) {
		pod = pod.DeepCopy()
		pod.Spec.NodeName = node
		placed = append(placed, pod)
	}
	for _, e := range r.Existing {
		bind(e.Pod, e.Node)
	}
	pools := map[string]*v1.NodePool{}
	for _, p := range sc.input.NodePools {
		pools[p.NodePool.Name] = p.NodePool
	}
	for i, nc := range r.NodeClaims {
		cheapest := nc.Candidates[0]
		name := fmt.Sprintf("new-%d", i)
		labels := map[string]string{}
		for k, v := range nc.Requirements.Labels() {
			labels[k] = v
		}
		for k, v := range cheapest.InstanceType.Requirements.Labels() {
			labels[k] = v
		}
		for k, v := range pools[nc.NodePool].Spec.Template.ObjectMeta.Labels {
			labels[k] = v
		}
		labels[corev1.LabelTopologyZone] = cheapest.Offering.Zone
		labels[v1.LabelCapacityType] = cheapest.Offering.CapacityType
		labels[v1.LabelNodePool] = nc.NodePool
		labels[corev1.LabelHostname] = name
		if !nc.Requirements.Matches(labels) {
			t.Fatalf("new node %s has labels %v that its own requirements %s do not allow", name, labels, nc.Requirements)
		}
		allocatable := cheapest.InstanceType.Allocatable()
		nodes = append(nodes, &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
			Spec:       corev1.NodeSpec{Taints: nc.Taints},
			Status:     corev1.NodeStatus{Capacity: cheapest.InstanceType.Capacity, Allocatable: allocatable},
		})
		for _, pod := range nc.Pods {
			bind(pod, name)
		}
	}
	created := map[types.UID]int{}
	for i, pod := range sc.input.Pods {
		created[pod.UID] = i
	}
	onNew := placed[len(r.Existing):]
	slices.SortStableFunc(onNew, func(a, b *corev1.Pod) int { return created[a.UID] - created[b.UID] })
	return nodes, placed
}

// cluster makes a random cluster: zero to three existing nodes with
// running pods, one or two NodePools over three zones, and one to four
// pending Deployments whose pods constrain each other.
func (g gen) cluster(instanceTypes []*instancetype.InstanceType) *scenario {
	sc := &scenario{}
	zones := some(g, oracleZones, 3)
	if g.chance(0.6) {
		zones = oracleZones
	}
	slices.Sort(zones)
	pool := &v1.NodePool{ObjectMeta: metav1.ObjectMeta{Name: "default"}}
	pool.Spec.Template.Spec.Requirements = []v1.NodeSelectorRequirementWithMinValues{{Key: corev1.LabelTopologyZone, Operator: corev1.NodeSelectorOpIn, Values: zones}}
	pools := []*v1.NodePool{pool}
	if g.chance(0.3) {
		dedicated := &v1.NodePool{ObjectMeta: metav1.ObjectMeta{Name: "dedicated"}}
		dedicated.Spec.Weight = ptr.To(int32(10))
		dedicated.Spec.Template.ObjectMeta.Labels = map[string]string{labelTeam: "x"}
		dedicated.Spec.Template.Spec.Taints = []corev1.Taint{{Key: "dedicated", Value: "x", Effect: corev1.TaintEffectNoSchedule}}
		dedicated.Spec.Template.Spec.Requirements = []v1.NodeSelectorRequirementWithMinValues{
			{Key: corev1.LabelTopologyZone, Operator: corev1.NodeSelectorOpIn, Values: some(g, oracleZones, 2)},
			{Key: v1.LabelCapacityType, Operator: corev1.NodeSelectorOpIn, Values: []string{v1.CapacityTypeOnDemand}},
		}
		pools = append(pools, dedicated)
	}
	// A random few dozen types, so that types and prices differ by case.
	var picked []*instancetype.InstanceType
	for _, i := range g.Perm(len(instanceTypes))[:40] {
		picked = append(picked, instanceTypes[i])
	}
	for _, p := range pools {
		pool := &scheduling.NodePool{NodePool: p, InstanceTypes: picked}
		if g.chance(0.2) {
			// Limits that leave room for a few nodes only.
			pool.Remaining = corev1.ResourceList{corev1.ResourceName("nodes"): *resource.NewQuantity(int64(1+g.IntN(6)), resource.DecimalSI)}
			if g.chance(0.5) {
				pool.Remaining = corev1.ResourceList{corev1.ResourceCPU: *resource.NewQuantity(int64(4+4*g.IntN(6)), resource.DecimalSI)}
			}
		}
		sc.input.NodePools = append(sc.input.NodePools, pool)
	}
	sc.input.Namespaces = clusterNamespaces

	for i := range g.IntN(4) {
		name := fmt.Sprintf("old-%d", i)
		zone := pick(g, oracleZones)
		if g.chance(0.1) {
			zone = "us-west-2d" // a zone no pool launches in
		}
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
				corev1.LabelHostname: name, corev1.LabelTopologyZone: zone, corev1.LabelArchStable: "amd64", corev1.LabelOSStable: "linux",
			}},
			Status: corev1.NodeStatus{Allocatable: corev1.ResourceList{
				corev1.ResourceCPU:    *resource.NewQuantity(int64(2+2*g.IntN(4)), resource.DecimalSI),
				corev1.ResourceMemory: *resource.NewQuantity(int64(4+4*g.IntN(4))<<30, resource.BinarySI),
				corev1.ResourcePods:   *resource.NewQuantity(30, resource.DecimalSI),
			}},
		}
		node.Status.Capacity = node.Status.Allocatable
		var running []*corev1.Pod
		for j := range g.IntN(4) {
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-run-%d", name, j), Namespace: pick(g, []string{namespace, namespace, "other"}), UID: g.uid(),
					Labels: map[string]string{labelApp: pick(g, deploymentApps)}},
				Spec: corev1.PodSpec{NodeName: name, Containers: []corev1.Container{{Name: "app", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("512Mi"),
				}}}}},
			}
			if g.chance(0.25) {
				pod.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{g.deploymentTerm()}}}
			}
			running = append(running, pod)
		}
		sc.nodes = append(sc.nodes, node)
		sc.running = append(sc.running, running...)
		sc.input.Nodes = append(sc.input.Nodes, scheduling.NodeFromObject(node, running))
	}

	for d := range 1 + g.IntN(4) {
		sc.input.Pods = append(sc.input.Pods, g.deployment(d, zones)...)
	}
	return sc
}

var deploymentApps = []string{"a", "b", "c"}

// deploymentTerm selects a Deployment's pods by app, on hostnames or
// zones, in various namespaces.
func (g gen) deploymentTerm() corev1.PodAffinityTerm {
	term := g.podAffinityTerm()
	term.LabelSelector = &metav1.LabelSelector{MatchLabels: map[string]string{labelApp: pick(g, deploymentApps)}}
	return term
}

// deployment is one to eight identical pods with random constraints.
func (g gen) deployment(d int, zones []string) []*corev1.Pod {
	app := pick(g, deploymentApps)
	template := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: pick(g, []string{namespace, namespace, namespace, "other"}), Labels: map[string]string{labelApp: app, "tier": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
			corev1.ResourceCPU:    *resource.NewMilliQuantity(int64(250*(1+g.IntN(8))), resource.DecimalSI),
			corev1.ResourceMemory: *resource.NewQuantity(int64(256*(1+g.IntN(16)))<<20, resource.BinarySI),
		}}}}},
	}
	spec := &template.Spec
	affinity := &corev1.Affinity{}
	if g.chance(0.35) {
		spread := corev1.TopologySpreadConstraint{
			MaxSkew: int32(1 + g.IntN(2)), TopologyKey: corev1.LabelTopologyZone, WhenUnsatisfiable: corev1.DoNotSchedule,
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{labelApp: app}},
		}
		if g.chance(0.3) {
			// One spread over several Deployments.
			spread.LabelSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "web"}}
		}
		if g.chance(0.2) {
			spread.MinDomains = ptr.To(int32(1 + g.IntN(4)))
		}
		spec.TopologySpreadConstraints = append(spec.TopologySpreadConstraints, spread)
	}
	if g.chance(0.2) {
		spec.TopologySpreadConstraints = append(spec.TopologySpreadConstraints, corev1.TopologySpreadConstraint{
			MaxSkew: int32(1 + g.IntN(2)), TopologyKey: corev1.LabelHostname, WhenUnsatisfiable: corev1.DoNotSchedule,
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{pick(g, []string{labelApp, "tier"}): pick(g, []string{app, "web"})}},
		})
	}
	if g.chance(0.3) {
		affinity.PodAntiAffinity = &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{g.deploymentTerm()}}
	}
	if g.chance(0.15) {
		term := g.deploymentTerm()
		term.TopologyKey = corev1.LabelTopologyZone
		if g.chance(0.3) {
			term.TopologyKey = corev1.LabelHostname
		}
		affinity.PodAffinity = &corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{term}}
	}
	if affinity.PodAntiAffinity != nil || affinity.PodAffinity != nil {
		spec.Affinity = affinity
	}
	if g.chance(0.1) {
		spec.NodeSelector = map[string]string{corev1.LabelTopologyZone: pick(g, zones)}
	}
	if g.chance(0.1) {
		spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 8080, HostPort: 8080, Protocol: corev1.ProtocolTCP}}
	}
	if g.chance(0.3) {
		spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "x", Effect: corev1.TaintEffectNoSchedule}}
	}
	pods := make([]*corev1.Pod, 1+g.IntN(8))
	for i := range pods {
		pod := template.DeepCopy()
		pod.Name = fmt.Sprintf("deploy%d-%s-%d", d, app, i)
		pod.UID = g.uid()
		pods[i] = pod
	}
	return pods
}

// describeDecision prints a failing decision for a person to reproduce.
func describeDecision(t *testing.T, pod *corev1.Pod, nodes []*corev1.Node, bound []*corev1.Pod, r *scheduling.Result) string {
	var b strings.Builder
	b.WriteString(describe(t, pod, nodes[0], nil))
	for _, n := range nodes {
		fmt.Fprintf(&b, "node %s: labels %v taints %v\n", n.Name, n.Labels, n.Spec.Taints)
	}
	for _, p := range bound {
		fmt.Fprintf(&b, "bound pod %s/%s on %s: labels %v\n", p.Namespace, p.Name, p.Spec.NodeName, p.Labels)
	}
	for _, nc := range r.NodeClaims {
		fmt.Fprintf(&b, "claim %s: %s\n", nc.NodePool, nc.Requirements)
	}
	for _, w := range r.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", w)
	}
	return b.String()
}

// refusalCounts tally what kube-scheduler's plugins say of the pods Tailor
// refused.
type refusalCounts struct {
	// judged are the refused pods judged; nowhere those the plugins
	// accept on no node Tailor could have launched or used.
	judged, nowhere int
	// beyondLimits are those the plugins accept only on new nodes the
	// pools' limits, less what Tailor launches, leave no room for.
	beyondLimits int
	// allowed counts the disagreements each allowance let pass.
	allowed []int
	// disagreements count the refused pods the plugins accept, by where.
	disagreements map[string]int
}

func (c *refusalCounts) log(t *testing.T) {
	t.Helper()
	t.Logf("%d refused pods judged: the plugins accept %d nowhere Tailor could put them, %d only on new nodes beyond the pools' limits, %d elsewhere %v",
		c.judged, c.nowhere, c.beyondLimits, sumCounts(c.disagreements), c.disagreements)
	for i, a := range refusalAllowances {
		n := 0
		if i < len(c.allowed) {
			n = c.allowed[i]
		}
		t.Logf("allowance, %d refusals the plugins would accept let pass (at most %d): %s", n, a.max, a.what)
	}
}

func (c *refusalCounts) check(t *testing.T) {
	t.Helper()
	if len(c.disagreements) > 0 {
		t.Errorf("Tailor refused pods that the plugins accept on a node it could launch or use: %v", c.disagreements)
	}
	for i, a := range refusalAllowances {
		if i < len(c.allowed) && c.allowed[i] > a.max {
			t.Errorf("allowance %q let %d refusals pass, want at most %d", a.what, c.allowed[i], a.max)
		}
	}
}

func sumCounts(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// refusalAllowances are refusals the plugins would accept that the test
// lets pass, each with why and a budget, about what is observed today, that
// fails the test when exceeded. An allowance covers a refusal by the reason
// Tailor gives, wherever the plugins accept the pod; the first that applies
// counts it. A refusal none covers (no instance type holds the pod, a taint
// it does not tolerate, a selector no pool meets, a host port, ...) that the
// plugins accept fails the test.
var refusalAllowances = []struct {
	what    string
	max     int
	applies func(reason string) bool
}{
	{
		what: "pool limits: the core reserves a node's limits at the capacity of the type it planned (resizing may then shrink the node), " +
			"spends them in the order it packs its groups without putting a refused pod in another group's room, " +
			"and does not fall back to a lighter pool once the pool it chose for a class runs out",
		max:     380,
		applies: func(reason string) bool { return strings.Contains(reason, " has reached its limit") },
	},
	{
		what: "co-location with pending pods: a pod whose required affinity selects only pending pods waits until they run, " +
			"or goes only where the core planned them, not where kube-scheduler finds them bound",
		max: 440,
		applies: func(reason string) bool {
			return strings.Contains(reason, "pod affinity") && strings.Contains(reason, "pending too")
		},
	},
	{
		what: "affinity on hostnames: the core puts a pod next to the pods its affinity selects that run before the decision, " +
			"not next to those it places in the decision",
		max: 100,
		applies: func(reason string) bool {
			return strings.Contains(reason, "pod affinity needs it on a node that runs")
		},
	},
	{
		what: "zone spreads: the core sizes a spread over zones against the zones as they are when it assigns the class " +
			"(existing nodes are filled first, pod affinity pins a class to one zone), kube-scheduler against the zones once every pod is bound",
		max:     255,
		applies: func(reason string) bool { return strings.Contains(reason, "topology spread over zones") },
	},
	{
		what: "zones narrowed between pending classes: the core pins a class to one zone for its affinity and splits zones between classes " +
			"whose anti-affinity repels each other before it knows which of them it can place",
		max: 170,
		applies: func(reason string) bool {
			return strings.Contains(reason, "conflicts with topology.kubernetes.io/zone") || strings.Contains(reason, "anti-affinity allows one of its pods per zone")
		},
	},
}

// judgeRefusals asks kube-scheduler's plugins whether they would accept the
// pods Tailor refused on a node Tailor could have used: an existing node or
// one Tailor launches, with the pods bound in the end, or a fresh node of
// any instance type and offering of a NodePool whose requirements allow it,
// with the pool's labels and taints. The fresh nodes join the cluster all
// at once, which can only add topology domains, each empty: a spread may
// find its skew broken where, with one fresh node, it would not, so the
// check errs toward agreeing. A pod accepted only on fresh nodes the pools'
// limits, less what Tailor launches, leave no room for is counted apart.
// Pods of one Deployment are alike, so one answers for its refused
// siblings. It returns a description of each disagreement.
func (sc *scenario) judgeRefusals(ctx context.Context, t *testing.T, plugins []fwk.FilterPlugin, lister *snapshotLister, nodes []*corev1.Node, bound []*corev1.Pod, r *scheduling.Result, counts *refusalCounts) []string {
	if len(r.Unschedulable) == 0 {
		return nil
	}
	if counts.disagreements == nil {
		counts.disagreements = map[string]int{}
		counts.allowed = make([]int, len(refusalAllowances))
	}
	fresh, withinLimits := sc.freshNodes(r)
	all := append(slices.Clone(nodes), fresh...)
	snapshot := cache.NewSnapshot(bound, all)
	lister.SharedLister = snapshot
	nodeInfos, err := snapshot.NodeInfos().List()
	if err != nil {
		t.Fatal(err)
	}
	type verdict struct {
		where string // the kind of node the plugins accept the pod on
		node  *corev1.Node
	}
	verdicts := map[string]verdict{} // by Deployment
	var out []string
	for _, u := range r.Unschedulable {
		counts.judged++
		deployment := u.Pod.Namespace + "/" + u.Pod.Name[:strings.LastIndex(u.Pod.Name, "-")+1]
		v, ok := verdicts[deployment]
		if !ok {
			for _, n := range accepting(ctx, plugins, u.Pod, nodeInfos) {
				kind := nodeKind(n.Name, withinLimits)
				if v.node == nil || kindRank[kind] < kindRank[v.where] {
					v = verdict{kind, n}
				}
			}
			verdicts[deployment] = v
		}
		switch v.where {
		case "":
			counts.nowhere++
			continue
		case beyondLimits:
			counts.beyondLimits++
			continue
		}
		allowed := false
		for i, a := range refusalAllowances {
			if a.applies(u.Reason) {
				counts.allowed[i]++
				allowed = true
				break
			}
		}
		if allowed {
			continue
		}
		counts.disagreements[v.where]++
		out = append(out, fmt.Sprintf("Tailor refuses pod %s (%s) but the plugins accept it on %s node %s\n%s",
			u.Pod.Name, u.Reason, v.where, v.node.Name, describeDecision(t, u.Pod, append(slices.Clone(nodes), v.node), bound, r)))
	}
	return out
}

// The kinds of node the plugins may accept a refused pod on, best first.
const (
	onExistingNode = "an existing"
	onLaunchedNode = "a launched"
	onFreshNode    = "a fresh"
	beyondLimits   = "beyond limits"
)

var kindRank = map[string]int{onExistingNode: 0, onLaunchedNode: 1, onFreshNode: 2, beyondLimits: 3}

func nodeKind(name string, withinLimits map[string]bool) string {
	switch {
	case strings.HasPrefix(name, "old-"):
		return onExistingNode
	case strings.HasPrefix(name, "new-"):
		return onLaunchedNode
	case withinLimits[name]:
		return onFreshNode
	}
	return beyondLimits
}

// freshNodes are a node of every instance type and available offering of
// every NodePool that its requirements allow, with the labels and taints a
// node of the pool gets, and which of them the pool's limits, less what
// Tailor launches from it (counted at capacity, as limits are), leave room
// for.
func (sc *scenario) freshNodes(r *scheduling.Result) ([]*corev1.Node, map[string]bool) {
	var out []*corev1.Node
	withinLimits := map[string]bool{}
	for _, p := range sc.input.NodePools {
		np := p.NodePool
		selector := labels.NewSelector()
		for _, req := range np.Spec.Template.Spec.Requirements {
			lr, err := labels.NewRequirement(req.Key, selectionOperators[req.Operator], req.Values)
			if err != nil {
				panic(err)
			}
			selector = selector.Add(*lr)
		}
		var remaining corev1.ResourceList
		if p.Remaining != nil {
			remaining = p.Remaining.DeepCopy()
			for _, nc := range r.NodeClaims {
				if nc.NodePool != np.Name {
					continue
				}
				for name, q := range remaining {
					used := resource.MustParse("1")
					if name != "nodes" {
						used = nc.Candidates[0].InstanceType.Capacity[name]
					}
					q.Sub(used)
					remaining[name] = q
				}
			}
		}
		for _, it := range p.InstanceTypes {
			for _, o := range it.Offerings {
				if !o.Available {
					continue
				}
				name := fmt.Sprintf("fresh-%s-%s-%s-%s", np.Name, it.Name, o.Zone, o.CapacityType)
				nodeLabels := it.Requirements.Labels()
				maps.Copy(nodeLabels, np.Spec.Template.ObjectMeta.Labels)
				nodeLabels[corev1.LabelTopologyZone] = o.Zone
				nodeLabels[v1.LabelCapacityType] = o.CapacityType
				nodeLabels[v1.LabelNodePool] = np.Name
				nodeLabels[corev1.LabelHostname] = name
				if !selector.Matches(labels.Set(nodeLabels)) {
					continue
				}
				out = append(out, &corev1.Node{
					ObjectMeta: metav1.ObjectMeta{Name: name, Labels: nodeLabels},
					Spec:       corev1.NodeSpec{Taints: np.Spec.Template.Spec.Taints},
					Status:     corev1.NodeStatus{Capacity: it.Capacity, Allocatable: it.Allocatable()},
				})
				within := true
				for name, left := range remaining {
					want := resource.MustParse("1")
					if name != "nodes" {
						want = it.Capacity[name]
					}
					if want.Cmp(left) > 0 {
						within = false
					}
				}
				withinLimits[name] = within
			}
		}
	}
	return out, withinLimits
}

var selectionOperators = map[corev1.NodeSelectorOperator]selection.Operator{
	corev1.NodeSelectorOpIn: selection.In, corev1.NodeSelectorOpNotIn: selection.NotIn,
	corev1.NodeSelectorOpExists: selection.Exists, corev1.NodeSelectorOpDoesNotExist: selection.DoesNotExist,
	corev1.NodeSelectorOpGt: selection.GreaterThan, corev1.NodeSelectorOpLt: selection.LessThan,
}

// accepting runs the Filter plugins for a pod on every node of a snapshot,
// as the scheduling framework does (PreFilter once over all the nodes, then
// Filter on each node PreFilter leaves), and returns the nodes that every
// plugin accepts.
func accepting(ctx context.Context, plugins []fwk.FilterPlugin, pod *corev1.Pod, nodeInfos []fwk.NodeInfo) []*corev1.Node {
	state := framework.NewCycleState()
	ok := make([]bool, len(nodeInfos))
	for i := range ok {
		ok[i] = true
	}
	for _, p := range plugins {
		if pre, isPre := p.(fwk.PreFilterPlugin); isPre {
			result, status := pre.PreFilter(ctx, state, pod, nodeInfos)
			switch {
			case status.IsSkip():
				continue
			case !status.IsSuccess():
				return nil
			case !result.AllNodes():
				for i, n := range nodeInfos {
					ok[i] = ok[i] && result.NodeNames.Has(n.Node().Name)
				}
			}
		}
		for i, n := range nodeInfos {
			ok[i] = ok[i] && p.Filter(ctx, state, pod, n).IsSuccess()
		}
	}
	var out []*corev1.Node
	for i, n := range nodeInfos {
		if ok[i] {
			out = append(out, n.Node())
		}
	}
	return out
}
