package oracle

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/apis/config/latest"
	"k8s.io/kubernetes/pkg/scheduler/backend/cache"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	plfeature "k8s.io/kubernetes/pkg/scheduler/framework/plugins/feature"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/interpodaffinity"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/nodeaffinity"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/nodeports"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/noderesources"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/podtopologyspread"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/tainttoleration"
	frameworkruntime "k8s.io/kubernetes/pkg/scheduler/framework/runtime"
	"k8s.io/kubernetes/pkg/scheduler/metrics"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/tailor-sh/tailor/core/scheduling"
)

const (
	// cases is how many random pod and node pairs are checked.
	cases = 50000
	// minFits is how many of them Tailor must place for the test to mean
	// anything: only placements are checked against the plugins.
	minFits = 1000
	// maxReports is how many disagreements are printed in full.
	maxReports = 5
)

// TestFitsAgreeWithKubeScheduler checks that whenever Tailor's core places a
// pod on an existing node, kube-scheduler's Filter plugins agree that the pod
// fits there. The converse is not required: the core may be stricter than the
// scheduler, which costs a node but never strands a pod. Constraints the core
// is known to get wrong are listed in knownGaps.
func TestFitsAgreeWithKubeScheduler(t *testing.T) {
	if testing.Short() {
		t.Skip("runs thousands of scheduling cycles")
	}
	ctx := klog.NewContext(t.Context(), logr.Discard())
	lister := &snapshotLister{SharedLister: cache.NewEmptySnapshot()}
	plugins := filterPlugins(ctx, t, lister)

	g := gen{rand.New(rand.NewPCG(20260801, 37))}
	var fits, stricter, reported int
	rejections := map[string]int{}
	disagreements := map[string]int{}
	gapCases := make([]int, len(knownGaps))
	gapDisagreements := make([]int, len(knownGaps))
	for i := range cases {
		node := g.node()
		pods := g.existingPods(node)
		pod := g.pendingPod()

		result := scheduling.Solve(scheduling.Input{Pods: []*corev1.Pod{pod}, Nodes: []*scheduling.Node{scheduling.NodeFromObject(node, pods)}, Namespaces: clusterNamespaces})
		placed := len(result.Existing) == 1
		if placed && result.Existing[0].Node != node.Name {
			t.Fatalf("case %d: Tailor placed the pod on node %q, which does not exist", i, result.Existing[0].Node)
		}
		excused := map[string]int{} // plugin name to the index of the gap it judges
		for j, gap := range knownGaps {
			if gap.applies(pod, node, pods) {
				gapCases[j]++
				excused[gap.plugin] = j
			}
		}

		snapshot := cache.NewSnapshot(pods, []*corev1.Node{node})
		lister.SharedLister = snapshot
		nodeInfos, err := snapshot.NodeInfos().List()
		if err != nil {
			t.Fatal(err)
		}
		state := framework.NewCycleState()
		schedulerFits := true
		for _, p := range plugins {
			status := filter(ctx, p, state, pod, nodeInfos, nodeInfos[0])
			if status.IsSuccess() {
				continue
			}
			schedulerFits = false
			rejections[p.Name()]++
			if !placed {
				continue
			}
			if j, ok := excused[p.Name()]; ok {
				gapDisagreements[j]++
				continue
			}
			disagreements[p.Name()]++
			if reported < maxReports {
				reported++
				t.Errorf("case %d: Tailor places the pod on node %s but %s says %v: %s\n%s",
					i, node.Name, p.Name(), status.Code(), status.Message(), describe(t, pod, node, pods))
			}
		}
		if placed {
			fits++
		} else if schedulerFits {
			stricter++
		}
	}
	t.Logf("%d cases: Tailor placed the pod in %d; in %d more the plugins accepted a pod Tailor did not place", cases, fits, stricter)
	t.Logf("rejections by plugin over all cases: %v", rejections)
	for j, gap := range knownGaps {
		t.Logf("known gap, %s not compared in %d cases (it disagreed in %d): %s", gap.plugin, gapCases[j], gapDisagreements[j], gap.what)
	}
	if len(disagreements) > 0 {
		t.Errorf("plugins rejected pods that Tailor placed: %v", disagreements)
	}
	if fits < minFits {
		t.Errorf("Tailor placed only %d pods, want at least %d for the test to mean anything", fits, minFits)
	}
}

// knownGaps are where Tailor's core is known to place pods that
// kube-scheduler rejects. In a case that has one, every plugin still runs
// but the verdict of the plugin that judges the gap is not compared; the test
// logs how often that plugin disagreed, so that a gap that closes shows.
var knownGaps = []struct {
	what    string
	plugin  string
	applies func(pod *corev1.Pod, node *corev1.Node, pods []*corev1.Pod) bool
}{
	// Empty: the four gaps this test first found (empty node selector
	// terms, host ports and anti-affinity of pods already on the node, and
	// spread onto a node without the topology label) are fixed in the core.
}

// snapshotLister lets one set of plugins serve every case: plugins keep the
// lister they are built with, and each case swaps in a snapshot of its own
// node and pods.
type snapshotLister struct{ fwk.SharedLister }

// filterPlugins builds the Filter plugins that judge a pod against a node's
// resources, labels, taints and pods, as kube-scheduler builds them: with
// the default profile's arguments and the default feature gates.
func filterPlugins(ctx context.Context, t *testing.T, lister fwk.SharedLister) []fwk.FilterPlugin {
	// The plugins record metrics, which must be registered first.
	metrics.Register()
	fts := plfeature.NewSchedulerFeaturesFromGates(utilfeature.DefaultFeatureGate)
	factories := []struct {
		name string
		new  frameworkruntime.PluginFactory
	}{
		{noderesources.Name, frameworkruntime.FactoryAdapter(fts, noderesources.NewFit)},
		{nodeaffinity.Name, frameworkruntime.FactoryAdapter(fts, nodeaffinity.New)},
		{tainttoleration.Name, frameworkruntime.FactoryAdapter(fts, tainttoleration.New)},
		{nodeports.Name, frameworkruntime.FactoryAdapter(fts, nodeports.New)},
		{interpodaffinity.Name, frameworkruntime.FactoryAdapter(fts, interpodaffinity.New)},
		{podtopologyspread.Name, frameworkruntime.FactoryAdapter(fts, podtopologyspread.New)},
	}
	cfg, err := latest.Default()
	if err != nil {
		t.Fatal(err)
	}
	args := map[string]runtime.Object{}
	for _, pc := range cfg.Profiles[0].PluginConfig {
		args[pc.Name] = pc.Args
	}
	// InterPodAffinity lists namespaces and PodTopologySpread's system
	// default constraints list workloads; they see an empty cluster.
	var objects []runtime.Object
	for _, n := range clusterNamespaces {
		objects = append(objects, n)
	}
	informerFactory := informers.NewSharedInformerFactory(fake.NewClientset(objects...), 0)
	handle, err := frameworkruntime.NewFramework(ctx, nil, nil,
		frameworkruntime.WithSnapshotSharedLister(lister), frameworkruntime.WithInformerFactory(informerFactory))
	if err != nil {
		t.Fatal(err)
	}
	var plugins []fwk.FilterPlugin
	for _, f := range factories {
		p, err := f.new(ctx, args[f.name], handle)
		if err != nil {
			t.Fatalf("%s: %v", f.name, err)
		}
		plugins = append(plugins, p.(fwk.FilterPlugin))
	}
	informerFactory.Start(ctx.Done())
	informerFactory.WaitForCacheSync(ctx.Done())
	return plugins
}

// filter runs one plugin for the target node as the scheduling framework
// does: PreFilter over all the nodes first, where Skip means the plugin has
// nothing to check for this pod, then Filter on the target.
func filter(ctx context.Context, p fwk.FilterPlugin, state fwk.CycleState, pod *corev1.Pod, nodes []fwk.NodeInfo, target fwk.NodeInfo) *fwk.Status {
	if pre, ok := p.(fwk.PreFilterPlugin); ok {
		result, status := pre.PreFilter(ctx, state, pod, nodes)
		switch {
		case status.IsSkip():
			return nil
		case !status.IsSuccess():
			return status
		case !result.AllNodes() && !result.NodeNames.Has(target.Node().Name):
			return fwk.NewStatus(fwk.UnschedulableAndUnresolvable, "PreFilter result excludes the node")
		}
	}
	return p.Filter(ctx, state, pod, target)
}

// describe prints a case for a person to reproduce it: the pods' metadata
// and specs, and what of the node the plugins look at.
func describe(t *testing.T, pod *corev1.Pod, node *corev1.Node, pods []*corev1.Pod) string {
	var b strings.Builder
	section := func(title string, obj any) {
		out, err := yaml.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "--- %s\n%s", title, out)
	}
	type object struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
		Spec     any               `json:"spec"`
		Status   any               `json:"status,omitempty"`
	}
	section("pending pod", object{Metadata: pod.ObjectMeta, Spec: pod.Spec})
	section("node", object{Metadata: node.ObjectMeta, Spec: node.Spec, Status: map[string]any{"allocatable": node.Status.Allocatable}})
	for _, p := range pods {
		section("pod on the node", object{Metadata: p.ObjectMeta, Spec: p.Spec})
	}
	return b.String()
}

// The alphabets are small so that constraints match often and miss often.
const (
	namespace = "default"
	labelTeam = "team"
	// labelGen is numeric, for the Gt and Lt operators.
	labelGen    = "gen"
	labelApp    = "app"
	resourceGPU = corev1.ResourceName("nvidia.com/gpu")
)

var (
	// clusterNamespaces are the namespaces pods live in, with labels for
	// namespaceSelectors to match.
	clusterNamespaces = []*corev1.Namespace{
		{ObjectMeta: metav1.ObjectMeta{Name: namespace, Labels: map[string]string{corev1.LabelMetadataName: namespace, "env": "prod"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "other", Labels: map[string]string{corev1.LabelMetadataName: "other", "env": "dev"}}},
	}
	nodeNames = []string{"n1", "n2", "n3"}
	// labelKeys are the node labels pods select on, in a fixed order so
	// that the generator is deterministic.
	labelKeys   = []string{corev1.LabelArchStable, corev1.LabelTopologyZone, corev1.LabelHostname, labelTeam, labelGen}
	labelValues = map[string][]string{
		corev1.LabelArchStable:   {"amd64", "arm64"},
		corev1.LabelTopologyZone: {"a", "b", "c"},
		corev1.LabelHostname:     nodeNames,
		labelTeam:                {"x", "y"},
		labelGen:                 {"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"},
	}
	apps         = []string{"a", "b"}
	taintKeys    = []string{"dedicated", "spot", "gpu"}
	taintValues  = []string{"", "x", "y"}
	taintEffects = []corev1.TaintEffect{corev1.TaintEffectNoSchedule, corev1.TaintEffectNoExecute, corev1.TaintEffectPreferNoSchedule}
	hostPorts    = []int32{80, 443, 8080}
	protocols    = []corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolUDP}
)

// gen makes random, valid Kubernetes objects.
type gen struct{ *rand.Rand }

func (g gen) chance(p float64) bool { return g.Float64() < p }

func pick[T any](g gen, xs []T) T { return xs[g.IntN(len(xs))] }

// some picks up to n distinct elements of xs, at least one.
func some[T any](g gen, xs []T, n int) []T {
	out := make([]T, 0, n)
	for _, i := range g.Perm(len(xs))[:1+g.IntN(min(n, len(xs)))] {
		out = append(out, xs[i])
	}
	return out
}

func (g gen) uid() types.UID { return types.UID(strconv.FormatUint(g.Uint64(), 16)) }

func (g gen) node() *corev1.Node {
	name := pick(g, nodeNames)
	nodeLabels := map[string]string{corev1.LabelHostname: name}
	for _, l := range []struct {
		key    string
		chance float64
	}{{corev1.LabelArchStable, 0.9}, {corev1.LabelTopologyZone, 0.8}, {labelTeam, 0.6}, {labelGen, 0.7}} {
		if g.chance(l.chance) {
			nodeLabels[l.key] = pick(g, labelValues[l.key])
		}
	}
	allocatable := corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewMilliQuantity(int64(1000+10*g.IntN(1501)), resource.DecimalSI),
		corev1.ResourceMemory: *resource.NewQuantity(int64(1024+g.IntN(63*1024+1))<<20, resource.BinarySI),
		corev1.ResourcePods:   *resource.NewQuantity(int64(4+g.IntN(107)), resource.DecimalSI),
	}
	if g.chance(0.25) {
		allocatable[resourceGPU] = *resource.NewQuantity(int64(1+g.IntN(8)), resource.DecimalSI)
	}
	var taints []corev1.Taint
	for range pick(g, []int{0, 0, 1, 2}) {
		taint := corev1.Taint{Key: pick(g, taintKeys), Value: pick(g, taintValues), Effect: pick(g, taintEffects)}
		// A node has at most one taint per key and effect.
		duplicate := false
		for _, other := range taints {
			duplicate = duplicate || other.Key == taint.Key && other.Effect == taint.Effect
		}
		if !duplicate {
			taints = append(taints, taint)
		}
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: g.uid(), Labels: nodeLabels},
		Spec:       corev1.NodeSpec{Taints: taints},
		Status:     corev1.NodeStatus{Capacity: allocatable, Allocatable: allocatable},
	}
}

// existingPods are the pods already bound to node. Their requests may add up
// to more than the node has, as after a kubelet restart with less room.
func (g gen) existingPods(node *corev1.Node) []*corev1.Pod {
	_, gpu := node.Status.Allocatable[resourceGPU]
	pods := make([]*corev1.Pod, g.IntN(6))
	for i := range pods {
		c := corev1.Container{Name: "app", Resources: corev1.ResourceRequirements{Requests: g.requests(2000, 8<<10, gpu && g.chance(0.3))}}
		if g.chance(0.25) {
			c.Ports = g.ports()
		}
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("running-%d", i), Namespace: namespace, UID: g.uid()},
			Spec:       corev1.PodSpec{NodeName: node.Name, Containers: []corev1.Container{c}},
		}
		if g.chance(0.1) {
			pod.Namespace = "other"
		}
		if g.chance(0.7) {
			pod.Labels = map[string]string{labelApp: pick(g, apps)}
		}
		if g.chance(0.15) {
			// A running pod's anti-affinity repels pending pods too.
			pod.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{g.podAffinityTerm()}}}
		}
		pods[i] = pod
	}
	return pods
}

func (g gen) pendingPod() *corev1.Pod {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "pending", Namespace: namespace, UID: g.uid()}}
	if g.chance(0.75) {
		pod.Labels = map[string]string{labelApp: pick(g, []string{"a", "a", "b"})}
	}
	spec := &pod.Spec
	for i := range 1 + g.IntN(2) {
		spec.Containers = append(spec.Containers, corev1.Container{
			Name:      fmt.Sprintf("app-%d", i),
			Resources: corev1.ResourceRequirements{Requests: g.requests(3000, 12<<10, g.chance(0.1))},
		})
	}
	if g.chance(0.2) {
		for i := range 1 + g.IntN(2) {
			c := corev1.Container{
				Name:      fmt.Sprintf("init-%d", i),
				Resources: corev1.ResourceRequirements{Requests: g.requests(4000, 16<<10, false)},
			}
			if g.chance(0.3) {
				// A sidecar, which keeps running beside the app.
				c.RestartPolicy = new(corev1.ContainerRestartPolicyAlways)
			}
			spec.InitContainers = append(spec.InitContainers, c)
		}
	}
	if g.chance(0.15) {
		spec.Overhead = corev1.ResourceList{
			corev1.ResourceCPU:    *resource.NewMilliQuantity(int64(100+g.IntN(400)), resource.DecimalSI),
			corev1.ResourceMemory: *resource.NewQuantity(int64(64+g.IntN(192))<<20, resource.BinarySI),
		}
	}
	if g.chance(0.3) {
		spec.NodeSelector = map[string]string{}
		for _, key := range some(g, labelKeys, 2) {
			spec.NodeSelector[key] = pick(g, labelValues[key])
		}
	}
	if g.chance(0.4) {
		required := &corev1.NodeSelector{}
		for range 1 + g.IntN(2) {
			required.NodeSelectorTerms = append(required.NodeSelectorTerms, g.nodeSelectorTerm())
		}
		spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: required}}
	}
	for range pick(g, []int{0, 0, 1, 1, 2, 3}) {
		spec.Tolerations = append(spec.Tolerations, g.toleration())
	}
	if g.chance(0.2) {
		spec.Containers[0].Ports = g.ports()
	}
	if g.chance(0.2) {
		if spec.Affinity == nil {
			spec.Affinity = &corev1.Affinity{}
		}
		term := corev1.PodAffinityTerm{LabelSelector: g.appSelector("a"), TopologyKey: corev1.LabelHostname}
		if g.chance(0.5) {
			term = g.podAffinityTerm()
		}
		spec.Affinity.PodAntiAffinity = &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{term}}
	}
	if g.chance(0.15) {
		if spec.Affinity == nil {
			spec.Affinity = &corev1.Affinity{}
		}
		spec.Affinity.PodAffinity = &corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{g.podAffinityTerm()}}
	}
	if g.chance(0.2) {
		spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{
			MaxSkew:           1,
			TopologyKey:       pick(g, []string{corev1.LabelHostname, corev1.LabelTopologyZone}),
			WhenUnsatisfiable: pick(g, []corev1.UnsatisfiableConstraintAction{corev1.DoNotSchedule, corev1.DoNotSchedule, corev1.ScheduleAnyway}),
			LabelSelector:     g.appSelector(pick(g, apps)),
		}}
		spread := &spec.TopologySpreadConstraints[0]
		if g.chance(0.3) {
			spread.MatchLabelKeys = []string{"app"}
		}
		policies := []*corev1.NodeInclusionPolicy{nil, ptr.To(corev1.NodeInclusionPolicyHonor), ptr.To(corev1.NodeInclusionPolicyIgnore)}
		spread.NodeAffinityPolicy, spread.NodeTaintsPolicy = pick(g, policies), pick(g, policies)
		if spread.WhenUnsatisfiable == corev1.DoNotSchedule && g.chance(0.3) {
			spread.MinDomains = ptr.To(int32(1 + g.IntN(3)))
		}
	}
	return pod
}

// requests are a container's requests, each resource up to the given
// amount; cpu or memory is sometimes left out.
func (g gen) requests(maxMilliCPU, maxMiB int, gpu bool) corev1.ResourceList {
	r := corev1.ResourceList{}
	if g.chance(0.9) {
		r[corev1.ResourceCPU] = *resource.NewMilliQuantity(int64(50*g.IntN(maxMilliCPU/50+1)), resource.DecimalSI)
	}
	if g.chance(0.9) {
		r[corev1.ResourceMemory] = *resource.NewQuantity(int64(64*g.IntN(maxMiB/64+1))<<20, resource.BinarySI)
	}
	if gpu {
		r[resourceGPU] = *resource.NewQuantity(int64(1+g.IntN(2)), resource.DecimalSI)
	}
	return r
}

// ports are one or two host ports, distinct as validation requires.
func (g gen) ports() []corev1.ContainerPort {
	var out []corev1.ContainerPort
	for i, port := range some(g, hostPorts, 2) {
		out = append(out, corev1.ContainerPort{ContainerPort: int32(9000 + i), HostPort: port, Protocol: pick(g, protocols)})
	}
	return out
}

func (g gen) nodeSelectorTerm() corev1.NodeSelectorTerm {
	var term corev1.NodeSelectorTerm
	n := 1 + g.IntN(2)
	if g.chance(0.05) {
		// An empty term, which matches no node.
		n = 0
	}
	for range n {
		term.MatchExpressions = append(term.MatchExpressions, g.nodeSelectorRequirement())
	}
	if g.chance(0.05) {
		term.MatchFields = []corev1.NodeSelectorRequirement{{Key: metav1.ObjectNameField, Operator: corev1.NodeSelectorOpIn, Values: []string{pick(g, nodeNames)}}}
	}
	return term
}

func (g gen) nodeSelectorRequirement() corev1.NodeSelectorRequirement {
	r := corev1.NodeSelectorRequirement{Key: pick(g, labelKeys)}
	switch r.Operator = pick(g, []corev1.NodeSelectorOperator{
		corev1.NodeSelectorOpIn, corev1.NodeSelectorOpNotIn, corev1.NodeSelectorOpExists,
		corev1.NodeSelectorOpDoesNotExist, corev1.NodeSelectorOpGt, corev1.NodeSelectorOpLt,
	}); r.Operator {
	case corev1.NodeSelectorOpIn, corev1.NodeSelectorOpNotIn:
		r.Values = some(g, labelValues[r.Key], 2)
	case corev1.NodeSelectorOpGt, corev1.NodeSelectorOpLt:
		// Mostly on the numeric label; other labels' values never compare.
		if g.chance(0.9) {
			r.Key = labelGen
		}
		r.Values = []string{strconv.Itoa(g.IntN(14))}
	}
	return r
}

func (g gen) toleration() corev1.Toleration {
	t := corev1.Toleration{Effect: pick(g, append([]corev1.TaintEffect{""}, taintEffects...))}
	if g.chance(0.1) {
		// An empty key with Exists tolerates every taint of the effect.
		t.Operator = corev1.TolerationOpExists
		return t
	}
	t.Key = pick(g, taintKeys)
	if g.chance(0.4) {
		t.Operator = corev1.TolerationOpExists
	} else {
		// The empty operator means Equal.
		t.Operator = pick(g, []corev1.TolerationOperator{corev1.TolerationOpEqual, ""})
		t.Value = pick(g, taintValues)
	}
	return t
}

// appSelector selects pods with the given app label, written either way the
// API allows.
func (g gen) appSelector(app string) *metav1.LabelSelector {
	if g.chance(0.5) {
		return &metav1.LabelSelector{MatchLabels: map[string]string{labelApp: app}}
	}
	return &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: labelApp, Operator: metav1.LabelSelectorOpIn, Values: []string{app}}}}
}

// podAffinityTerm selects pods by app on hostnames or zones, in the pod's
// own namespace, in named namespaces, or in namespaces a selector picks.
func (g gen) podAffinityTerm() corev1.PodAffinityTerm {
	term := corev1.PodAffinityTerm{LabelSelector: g.appSelector(pick(g, apps)), TopologyKey: pick(g, []string{corev1.LabelHostname, corev1.LabelTopologyZone})}
	switch g.IntN(5) {
	case 0:
		term.Namespaces = []string{"other"}
	case 1:
		term.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"env": pick(g, []string{"prod", "dev"})}}
	case 2:
		term.NamespaceSelector = &metav1.LabelSelector{}
	}
	return term
}
