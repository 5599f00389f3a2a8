package scheduling

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/klog/v2"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/core/instancetype"
)

// checkValid verifies what every decision must satisfy, reading the pods'
// own specs and never the core's pod classes: each pod is decided once;
// each pod on a node, new or existing, meets its node selector and required
// node affinity, tolerates the node's taints, and leaves its host ports to
// it alone; required pod anti-affinity between pods on the same node, or in
// the same zone, is respected; each node has room for its pods (and, for a
// new node, the DaemonSet pods that will run there) by its cheapest
// candidate; each new node comes from a pool in the input whose
// requirements its labels meet, in an available offering of its type.
// Anti-affinity is not checked for pods of a class the core warned about.
func checkValid(t *testing.T, in Input, r *Result) {
	t.Helper()
	if err := validate(in, r); err != nil {
		t.Fatal(err)
	}
}

// checkedNode is a node as the validator sees it: labels, taints, room,
// and the pods on it, those running and those the decision placed.
type checkedNode struct {
	name        string
	labels      map[string]string
	taints      []corev1.Taint
	allocatable corev1.ResourceList
	running     []*corev1.Pod
	placed      []*corev1.Pod
	daemons     []*corev1.Pod
}

func validate(in Input, r *Result) error {
	inputPods := map[*corev1.Pod]bool{}
	for _, p := range in.Pods {
		inputPods[p] = true
	}
	seen := map[*corev1.Pod]int{}
	for _, u := range r.Unschedulable {
		seen[u.Pod]++
	}
	var nodes []*checkedNode
	existing := map[string]*checkedNode{}
	for _, n := range in.Nodes {
		cn := &checkedNode{name: n.Name, labels: n.Labels, taints: n.Taints, allocatable: n.Allocatable, running: n.Pods}
		existing[n.Name] = cn
		nodes = append(nodes, cn)
	}
	for _, e := range r.Existing {
		seen[e.Pod]++
		n, ok := existing[e.Node]
		if !ok {
			return fmt.Errorf("pod %s placed on node %s, which is not in the input", e.Pod.Name, e.Node)
		}
		n.placed = append(n.placed, e.Pod)
	}
	pools := map[string]*NodePool{}
	for _, p := range in.NodePools {
		pools[p.NodePool.Name] = p
	}
	for i, nc := range r.NodeClaims {
		if len(nc.Candidates) == 0 {
			return fmt.Errorf("new node %d has no candidate instance type", i)
		}
		pool, ok := pools[nc.NodePool]
		if !ok {
			return fmt.Errorf("new node %d comes from NodePool %q, which is not in the input", i, nc.NodePool)
		}
		cheapest := nc.Candidates[0]
		it := cheapest.InstanceType
		if !slices.ContainsFunc(it.Offerings, func(o instancetype.Offering) bool {
			return o.Available && o.Zone == cheapest.Offering.Zone && o.CapacityType == cheapest.Offering.CapacityType
		}) {
			return fmt.Errorf("new node %d: %s is not available in %s %s", i, it.Name, cheapest.Offering.Zone, cheapest.Offering.CapacityType)
		}
		name := fmt.Sprintf("new-%d", i)
		nodeLabels := it.Requirements.Labels()
		for k, v := range nc.Requirements.Labels() {
			if _, ok := nodeLabels[k]; !ok {
				nodeLabels[k] = v
			}
		}
		for k, v := range pool.NodePool.Spec.Template.ObjectMeta.Labels {
			nodeLabels[k] = v
		}
		nodeLabels[corev1.LabelTopologyZone] = cheapest.Offering.Zone
		nodeLabels[v1.LabelCapacityType] = cheapest.Offering.CapacityType
		nodeLabels[v1.LabelNodePool] = pool.NodePool.Name
		nodeLabels[corev1.LabelHostname] = name
		for _, req := range pool.NodePool.Spec.Template.Spec.Requirements {
			if !matchesExpression(req.Key, req.Operator, req.Values, nodeLabels) {
				return fmt.Errorf("new node %d of NodePool %s has labels %v that its requirement %s %s %v does not allow", i, pool.NodePool.Name, nodeLabels, req.Key, req.Operator, req.Values)
			}
		}
		n := &checkedNode{name: name, labels: nodeLabels, taints: pool.NodePool.Spec.Template.Spec.Taints, allocatable: it.Allocatable(), placed: nc.Pods}
		for _, ds := range in.DaemonSets {
			if daemon := daemonPod(ds); schedulableOn(daemon, n) == "" {
				n.daemons = append(n.daemons, daemon)
			}
		}
		for _, p := range nc.Pods {
			seen[p]++
		}
		nodes = append(nodes, n)
	}
	for p, times := range seen {
		if !inputPods[p] {
			return fmt.Errorf("pod %s is not in the input", p.Name)
		}
		if times != 1 {
			return fmt.Errorf("pod %s decided %d times", p.Name, times)
		}
	}
	for _, p := range in.Pods {
		if seen[p] != 1 {
			return fmt.Errorf("pod %s decided %d times", p.Name, seen[p])
		}
	}
	warned := warnedPods(r.Warnings)
	zones := map[string][]*corev1.Pod{} // zone to the pods in it
	for _, n := range nodes {
		if zone, ok := n.labels[corev1.LabelTopologyZone]; ok {
			zones[zone] = append(zones[zone], n.running...)
			zones[zone] = append(zones[zone], n.placed...)
		}
	}
	for _, n := range nodes {
		for _, p := range n.placed {
			if why := schedulableOn(p, n); why != "" {
				return fmt.Errorf("pod %s placed on node %s (labels %v, taints %v): %s", p.Name, n.name, n.labels, n.taints, why)
			}
		}
		if err := n.checkRoom(); err != nil {
			return err
		}
		if err := n.checkHostPorts(); err != nil {
			return err
		}
		if err := checkAntiAffinity(in, n.name, append(slices.Clone(n.running), n.placed...), n.placed, corev1.LabelHostname, warned); err != nil {
			return err
		}
	}
	for zone, pods := range zones {
		var placed []*corev1.Pod
		for _, p := range pods {
			if inputPods[p] {
				placed = append(placed, p)
			}
		}
		if err := checkAntiAffinity(in, "zone "+zone, pods, placed, corev1.LabelTopologyZone, warned); err != nil {
			return err
		}
	}
	return nil
}

// daemonPod is the pod a DaemonSet runs on each node it selects.
func daemonPod(ds *appsv1.DaemonSet) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: *ds.Spec.Template.ObjectMeta.DeepCopy(), Spec: *ds.Spec.Template.Spec.DeepCopy()}
}

// schedulableOn says why a pod may not run on a node by its node selector,
// required node affinity and the node's taints, or "" when it may.
func schedulableOn(p *corev1.Pod, n *checkedNode) string {
	for k, v := range p.Spec.NodeSelector {
		if n.labels[k] != v {
			return fmt.Sprintf("its node selector %s=%s is not met", k, v)
		}
	}
	if a := p.Spec.Affinity; a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		matched := false
		for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
			if matchesNodeSelectorTerm(term, n) {
				matched = true
				break
			}
		}
		if !matched {
			return "no term of its required node affinity is met"
		}
	}
	for i := range n.taints {
		taint := &n.taints[i]
		if taint.Effect != corev1.TaintEffectNoSchedule && taint.Effect != corev1.TaintEffectNoExecute {
			continue
		}
		if !slices.ContainsFunc(p.Spec.Tolerations, func(tol corev1.Toleration) bool { return tol.ToleratesTaint(klog.Background(), taint, false) }) {
			return fmt.Sprintf("it does not tolerate taint %s", taint.ToString())
		}
	}
	return ""
}

// matchesNodeSelectorTerm reports whether a node meets every expression and
// field of a term; an empty term matches nothing, as kube-scheduler has it.
func matchesNodeSelectorTerm(term corev1.NodeSelectorTerm, n *checkedNode) bool {
	if len(term.MatchExpressions) == 0 && len(term.MatchFields) == 0 {
		return false
	}
	for _, e := range term.MatchExpressions {
		if !matchesExpression(e.Key, e.Operator, e.Values, n.labels) {
			return false
		}
	}
	for _, f := range term.MatchFields {
		if !matchesExpression("metadata.name", f.Operator, f.Values, map[string]string{"metadata.name": n.name}) {
			return false
		}
	}
	return true
}

func matchesExpression(key string, op corev1.NodeSelectorOperator, values []string, labels map[string]string) bool {
	v, ok := labels[key]
	switch op {
	case corev1.NodeSelectorOpIn:
		return ok && slices.Contains(values, v)
	case corev1.NodeSelectorOpNotIn:
		return !ok || !slices.Contains(values, v)
	case corev1.NodeSelectorOpExists:
		return ok
	case corev1.NodeSelectorOpDoesNotExist:
		return !ok
	case corev1.NodeSelectorOpGt, corev1.NodeSelectorOpLt:
		if !ok || len(values) != 1 {
			return false
		}
		have, err1 := strconv.ParseInt(v, 10, 64)
		want, err2 := strconv.ParseInt(values[0], 10, 64)
		if err1 != nil || err2 != nil {
			return false
		}
		if op == corev1.NodeSelectorOpGt {
			return have > want
		}
		return have < want
	}
	return false
}

// podRequests are what a pod asks for: its containers' requests summed, or
// an init container's if larger, plus the pod's overhead.
func podRequests(p *corev1.Pod) corev1.ResourceList {
	out := corev1.ResourceList{}
	for _, c := range p.Spec.Containers {
		for name, q := range c.Resources.Requests {
			sum := out[name]
			sum.Add(q)
			out[name] = sum
		}
	}
	for _, c := range p.Spec.InitContainers {
		for name, q := range c.Resources.Requests {
			if have := out[name]; q.Cmp(have) > 0 {
				out[name] = q.DeepCopy()
			}
		}
	}
	for name, q := range p.Spec.Overhead {
		sum := out[name]
		sum.Add(q)
		out[name] = sum
	}
	return out
}

// checkRoom checks that the node's allocatable resources hold all its pods'
// requests, and its pod count.
func (n *checkedNode) checkRoom() error {
	all := append(append(slices.Clone(n.running), n.placed...), n.daemons...)
	used := corev1.ResourceList{corev1.ResourcePods: *resource.NewQuantity(int64(len(all)), resource.DecimalSI)}
	for _, p := range all {
		for name, q := range podRequests(p) {
			sum := used[name]
			sum.Add(q)
			used[name] = sum
		}
	}
	for name, q := range used {
		if q.IsZero() {
			continue
		}
		have, ok := n.allocatable[name]
		if name == corev1.ResourcePods && !ok {
			continue // a node that does not say how many pods it takes
		}
		if have.Cmp(q) < 0 {
			return fmt.Errorf("node %s has %s %s allocatable but its %d pods request %s", n.name, have.String(), name, len(all), q.String())
		}
	}
	return nil
}

// checkHostPorts checks that no two pods on the node use the same host port
// and protocol.
func (n *checkedNode) checkHostPorts() error {
	used := map[string]string{}
	for _, p := range append(slices.Clone(n.running), n.placed...) {
		for _, c := range p.Spec.Containers {
			for _, port := range c.Ports {
				if port.HostPort == 0 {
					continue
				}
				protocol := port.Protocol
				if protocol == "" {
					protocol = corev1.ProtocolTCP
				}
				key := fmt.Sprintf("%d/%s", port.HostPort, protocol)
				if other, ok := used[key]; ok && other != p.Name {
					return fmt.Errorf("pods %s and %s both use host port %s on node %s", other, p.Name, key, n.name)
				}
				used[key] = p.Name
			}
		}
	}
	return nil
}

// checkAntiAffinity checks, among the pods of one domain of a topology key
// (a node, or a zone), that no pod the decision placed there is selected by
// the required anti-affinity on that key of another pod there, nor selects
// one with its own.
func checkAntiAffinity(in Input, domain string, pods, placed []*corev1.Pod, key string, warned map[string]bool) error {
	for _, p := range placed {
		if warned[p.Namespace+"/"+deploymentOf(p)] {
			continue
		}
		for _, other := range pods {
			if other == p {
				continue
			}
			if term, ok := repels(in, p, other, key); ok {
				return fmt.Errorf("pod %s placed in %s next to pod %s, which its anti-affinity on %s selects (%v)", p.Name, domain, other.Name, key, term.LabelSelector)
			}
			if term, ok := repels(in, other, p, key); ok {
				return fmt.Errorf("pod %s placed in %s next to pod %s, whose anti-affinity on %s selects it (%v)", p.Name, domain, other.Name, key, term.LabelSelector)
			}
		}
	}
	return nil
}

// repels reports the term of a's required anti-affinity on key that selects b.
func repels(in Input, a, b *corev1.Pod, key string) (corev1.PodAffinityTerm, bool) {
	if a.Spec.Affinity == nil || a.Spec.Affinity.PodAntiAffinity == nil {
		return corev1.PodAffinityTerm{}, false
	}
	for _, term := range a.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
		if term.TopologyKey == key && selectsPod(in, a.Namespace, term, b) {
			return term, true
		}
	}
	return corev1.PodAffinityTerm{}, false
}

// selectsPod reports whether an affinity term of a pod in namespace selects
// pod b: b is in one of the term's namespaces and its labels match.
func selectsPod(in Input, namespace string, term corev1.PodAffinityTerm, b *corev1.Pod) bool {
	inNamespace := slices.Contains(term.Namespaces, b.Namespace)
	switch {
	case term.NamespaceSelector != nil:
		selector, err := metav1.LabelSelectorAsSelector(term.NamespaceSelector)
		if err != nil {
			return false
		}
		nsLabels := map[string]string{corev1.LabelMetadataName: b.Namespace}
		for _, ns := range in.Namespaces {
			if ns.Name == b.Namespace {
				nsLabels = ns.Labels
			}
		}
		inNamespace = inNamespace || selector.Matches(labels.Set(nsLabels))
	case len(term.Namespaces) == 0:
		inNamespace = b.Namespace == namespace
	}
	if !inNamespace || term.LabelSelector == nil {
		return false
	}
	selector, err := metav1.LabelSelectorAsSelector(term.LabelSelector)
	return err == nil && selector.Matches(labels.Set(b.Labels))
}

// deploymentOf is a pod's name without its ordinal, "web" for "web-3".
func deploymentOf(p *corev1.Pod) string { return strings.TrimRight(p.Name, "-0123456789") }

// warnedPods are the pod groups, "namespace/name-without-ordinal", that a
// warning names ("ns/pod (and N like it): ...").
func warnedPods(warnings []string) map[string]bool {
	out := map[string]bool{}
	for _, w := range warnings {
		who, _, ok := strings.Cut(w, ": ")
		if !ok {
			continue
		}
		who, _, _ = strings.Cut(who, " (")
		ns, name, ok := strings.Cut(who, "/")
		if ok {
			out[ns+"/"+strings.TrimRight(name, "-0123456789")] = true
		}
	}
	return out
}
