package oracle

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/backend/cache"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	"k8s.io/utils/ptr"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/cloudprovider/catalog"
	"github.com/tailor-sh/tailor/core/instancetype"
	"github.com/tailor-sh/tailor/core/scheduling"
)

const (
	// decisions is how many random clusters with pending pods are decided.
	decisions = 5000
	// minNewPlacements is how many pods Tailor must place on new nodes
	// over all decisions for the test to mean anything.
	minNewPlacements = 10000
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
// launched for it.
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
	var onNew, onExisting, refused, reported, excusedRejections int
	disagreements := map[string]int{}
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
				if excused(pod, result.Warnings) {
					excusedRejections++
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
	}
	t.Logf("%d decisions: %d pods placed on new nodes, %d on existing nodes, %d refused", decisions, onNew, onExisting, refused)
	t.Logf("%d rejections excused: pods of Deployments whose constraints Tailor reported as not taken into account", excusedRejections)
	if len(disagreements) > 0 {
		t.Errorf("plugins rejected pods that Tailor placed: %v", disagreements)
	}
	if onNew < minNewPlacements {
		t.Errorf("Tailor placed only %d pods on new nodes, want at least %d for the test to mean anything", onNew, minNewPlacements)
	}
}

// excused reports whether Tailor warned that it did not take one of the
// pod's Deployment's constraints into account: a warning names the
// Deployment's first pod of the class, "namespace/deployN-app-i".
func excused(pod *corev1.Pod, warnings []string) bool {
	deployment := pod.Name[:strings.LastIndex(pod.Name, "-")+1]
	for _, w := range warnings {
		if strings.HasPrefix(w, pod.Namespace+"/"+deployment) {
			return true
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
