package disruption

import (
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/controllers/state"
	coredisruption "github.com/tailor-sh/tailor/core/disruption"
	"github.com/tailor-sh/tailor/core/drain"
	"github.com/tailor-sh/tailor/core/instancetype"
	"github.com/tailor-sh/tailor/core/launch"
	"github.com/tailor-sh/tailor/core/scheduling"
)

// podSet identifies the pods that would move off a node, and since when they
// have been the same.
type podSet struct {
	hash  uint64
	since time.Time
}

// trackPods notes when the pods that would move off each node last changed:
// consolidation leaves a node alone for consolidateAfter after a pod was
// scheduled to it or left it.
func (c *Controller) trackPods(v *view) {
	seen := map[string]bool{}
	for name, n := range v.nodes {
		seen[name] = true
		h := fnv.New64a()
		for _, pod := range v.movable(n) {
			_, _ = h.Write([]byte(pod.UID))
		}
		sum := h.Sum64()
		if have, ok := c.podsSince[name]; !ok || have.hash != sum {
			c.podsSince[name] = podSet{hash: sum, since: v.now}
		}
	}
	for name := range c.podsSince {
		if !seen[name] {
			delete(c.podsSince, name)
		}
	}
	for key := range c.said {
		if name, _, _ := strings.Cut(key, "/"); !seen[name] {
			delete(c.said, key)
		}
	}
	for name, p := range c.protected {
		if slices.ContainsFunc(p.candidates, func(candidate string) bool { return seen[candidate] }) {
			p.until = v.now.Add(protectFor)
		}
		if !seen[name] || v.now.After(p.until) {
			delete(c.protected, name)
		}
	}
	for name := range c.driftChecks {
		if !seen[name] {
			delete(c.driftChecks, name)
		}
	}
}

// movable returns the pods of a node that would have to move, computed once
// per view: each method of a pass asks for them.
func (v *view) movable(n *state.StateNode) []*corev1.Pod {
	if pods, ok := v.movableByNode[n.Name()]; ok {
		return pods
	}
	pods := movable(n.Pods, v.now)
	if v.movableByNode == nil {
		v.movableByNode = map[string][]*corev1.Pod{}
	}
	v.movableByNode[n.Name()] = pods
	return pods
}

// movable returns the pods that a drain would evict and that must find
// another node: not DaemonSet, static or finished pods, nor pods already
// terminating. Pods annotated do-not-disrupt are included; they block.
func movable(pods []*corev1.Pod, now time.Time) []*corev1.Pod {
	plan := drain.NewPlan(pods, now)
	out := slices.Clone(plan.Blocked)
	out = append(out, plan.Tiers[0]...)
	out = append(out, plan.Tiers[2]...)
	out = slices.DeleteFunc(out, func(p *corev1.Pod) bool { return p.DeletionTimestamp != nil })
	slices.SortFunc(out, func(a, b *corev1.Pod) int {
		if a.UID < b.UID {
			return -1
		}
		if a.UID > b.UID {
			return 1
		}
		return 0
	})
	return out
}

// candidate describes a node to the core: its offering, price and the pods
// that must move, each as it would be before scheduling.
func (c *Controller) candidate(v *view, n *state.StateNode) *coredisruption.Candidate {
	nc := n.NodeClaim
	pool := n.NodePool()
	var pods []*corev1.Pod
	for _, pod := range v.movable(n) {
		pending := *pod
		pending.Spec.NodeName = ""
		pods = append(pods, &pending)
	}
	return &coredisruption.Candidate{
		Name: n.Name(), NodePool: pool,
		InstanceType: nc.Labels[corev1.LabelInstanceTypeStable], Zone: nc.Labels[corev1.LabelTopologyZone], CapacityType: nc.Labels[v1.LabelCapacityType],
		Price: instancetype.Price(nc, v.types[pool]),
		Pods:  pods,
	}
}

// blocked says why a node must not be disrupted for reason, or "". An
// expired node with a terminationGracePeriod is replaced whatever its pods
// say: the drain waits for PodDisruptionBudgets and do-not-disrupt pods only
// up to that deadline, which the user chose. Without one, such pods would
// hold the drain for ever, and a replacement launched meanwhile would double
// the node's cost, so the node stays until they let it go.
func blocked(v *view, n *state.StateNode, reason v1.DisruptionReason) string {
	if n.NodeClaim.Annotations[v1.AnnotationDoNotDisrupt] == "true" || n.Node.Annotations[v1.AnnotationDoNotDisrupt] == "true" {
		return fmt.Sprintf("the node is annotated %s", v1.AnnotationDoNotDisrupt)
	}
	if reason == v1.DisruptionReasonExpired && n.NodeClaim.Spec.TerminationGracePeriod != nil {
		return ""
	}
	why := podsHolding(v, n)
	if why != "" && n.NodeClaim.Spec.TerminationGracePeriod == nil && (reason == v1.DisruptionReasonExpired || reason == v1.DisruptionReasonDrifted) {
		why += "; with no terminationGracePeriod its drain could never finish, so no replacement is launched"
	}
	return why
}

// podsHolding says which of the node's pods would hold a drain (or could
// not be recreated elsewhere), or "".
func podsHolding(v *view, n *state.StateNode) string {
	for _, pod := range v.movable(n) {
		if pod.Annotations[v1.AnnotationDoNotDisrupt] == "true" {
			return fmt.Sprintf("pod %s/%s is annotated %s", pod.Namespace, pod.Name, v1.AnnotationDoNotDisrupt)
		}
		if metav1.GetControllerOf(pod) == nil {
			return fmt.Sprintf("pod %s/%s has no controller that would recreate it elsewhere", pod.Namespace, pod.Name)
		}
		for i := range v.pdbs {
			pdb := &v.pdbs[i]
			if pdb.Namespace != pod.Namespace || pdb.Status.DisruptionsAllowed > 0 {
				continue
			}
			// A null selector matches no pod, an empty one every pod.
			selector, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
			if err == nil && selector.Matches(labels.Set(pod.Labels)) {
				return fmt.Sprintf("PodDisruptionBudget %s/%s allows no disruption of pod %s now", pdb.Namespace, pdb.Name, pod.Name)
			}
		}
	}
	return ""
}

// settled reports whether the node has been initialized and has kept the
// same pods for the pool's consolidateAfter, so that consolidation may
// judge it; not while a move of its own is under way or it has just been
// launched as a replacement.
func (c *Controller) settled(v *view, n *state.StateNode, pool *v1.NodePool) bool {
	after, ok := consolidateAfter(pool)
	if !ok || !n.Initialized() || n.Deleting() || v.busy[n.NodeClaim.Name] {
		return false
	}
	if _, ok := c.protected[n.NodeClaim.Name]; ok {
		return false
	}
	// A node that has just become ready may be empty only because
	// kube-scheduler has not yet bound the pods it was launched for.
	initialized := apimeta.FindStatusCondition(n.NodeClaim.Status.Conditions, v1.ConditionInitialized)
	if initialized == nil || v.now.Sub(initialized.LastTransitionTime.Time) < max(after, state.NominationGrace) {
		return false
	}
	return v.now.Sub(c.podsSince[n.NodeClaim.Name].since) >= after
}

// input is the cluster for the core, without the nodes that a move under
// way holds, and with each pool's limits counted as if the candidates were
// gone: a replacement briefly runs next to the node it replaces. The pods
// already looking for a node (pending ones, those of nodes being deleted and
// those of nodes a move under way replaces) are placed first where they fit,
// the replacements under way included, and the room they take is not
// offered to the candidates' pods.
func (c *Controller) input(v *view, candidates []*coredisruption.Candidate) scheduling.Input {
	in := scheduling.Input{
		DaemonSets:             v.snap.DaemonSets,
		PersistentVolumeClaims: v.snap.PersistentVolumeClaims, PersistentVolumes: v.snap.PersistentVolumes,
		StorageClasses: v.snap.StorageClasses, Namespaces: v.snap.Namespaces,
	}
	going := map[string]bool{}
	for _, cand := range candidates {
		going[cand.Name] = true
	}
	claims := map[string][]*v1.NodeClaim{}
	displaced := slices.Clone(v.snap.PendingPods)
	var targets []*scheduling.Node
	for _, n := range v.snap.Nodes {
		if n.NodeClaim != nil && !going[n.Name()] {
			claims[n.NodePool()] = append(claims[n.NodePool()], n.NodeClaim)
		}
		busy := n.NodeClaim != nil && v.busy[n.NodeClaim.Name]
		if n.Deleting() || v.replacing[n.Name()] {
			for _, pod := range v.movable(n) {
				pending := *pod
				pending.Spec.NodeName = ""
				displaced = append(displaced, &pending)
			}
		}
		if busy && !v.replacing[n.Name()] && !n.Deleting() {
			// A replacement launching: it holds the pods of the nodes it
			// replaces, and nothing else may count on it.
			targets = append(targets, n.SchedulingNode())
		}
		if n.Deleting() || busy {
			continue
		}
		node := n.SchedulingNode()
		in.Nodes = append(in.Nodes, node)
		if !going[node.Name] {
			targets = append(targets, node)
		}
	}
	for _, pool := range v.snap.NodePools {
		its, ok := v.types[pool.Name]
		if !ok {
			continue
		}
		in.NodePools = append(in.NodePools, &scheduling.NodePool{NodePool: pool, InstanceTypes: its, Remaining: launch.Remaining(pool, its, claims[pool.Name])})
	}
	if len(displaced) > 0 {
		byName := map[string]*scheduling.Node{}
		for _, n := range targets {
			byName[n.Name] = n
		}
		placed := scheduling.Solve(scheduling.Input{Pods: displaced, Nodes: targets, DaemonSets: in.DaemonSets,
			PersistentVolumeClaims: in.PersistentVolumeClaims, PersistentVolumes: in.PersistentVolumes, StorageClasses: in.StorageClasses, Namespaces: in.Namespaces})
		for _, p := range placed.Existing {
			if n := byName[p.Node]; n != nil {
				n.Pods = append(slices.Clip(n.Pods), p.Pod)
			}
		}
	}
	return in
}
