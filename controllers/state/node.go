package state

import (
	"slices"

	corev1 "k8s.io/api/core/v1"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/core/instancetype"
	"github.com/tailor-sh/tailor/core/scheduling"
)

// StateNode is a Node, a NodeClaim, or both once the claim's node has
// joined.
type StateNode struct {
	// Node is nil while the claim's instance is launching or booting.
	Node *corev1.Node
	// NodeClaim is nil for nodes Tailor did not launch.
	NodeClaim *v1.NodeClaim
	// Pods are the pods bound to the Node.
	Pods []*corev1.Pod
}

// Name is the Node's name, or the NodeClaim's before its Node joins.
func (n *StateNode) Name() string {
	if n.Node != nil {
		return n.Node.Name
	}
	return n.NodeClaim.Name
}

// NodePool is the name of the NodePool the node was launched for, or "".
func (n *StateNode) NodePool() string {
	if n.NodeClaim != nil {
		return n.NodeClaim.Labels[v1.LabelNodePool]
	}
	return n.Node.Labels[v1.LabelNodePool]
}

// Deleting reports whether the node or its claim is going away.
func (n *StateNode) Deleting() bool {
	return (n.Node != nil && n.Node.DeletionTimestamp != nil) || (n.NodeClaim != nil && n.NodeClaim.DeletionTimestamp != nil)
}

// Initialized reports whether Tailor has found the node ready for pods.
// Nodes Tailor did not launch count as initialized.
func (n *StateNode) Initialized() bool {
	if n.NodeClaim == nil {
		return n.Node != nil
	}
	return n.Node != nil && n.Node.Labels[v1.LabelNodeInitialized] == "true"
}

// ephemeralTaints are on a node only while it starts; kube-scheduler's pods
// will tolerate the node once they are gone.
var ephemeralTaints = []string{
	v1.TaintKeyUnregistered,
	corev1.TaintNodeNotReady,
	corev1.TaintNodeUnreachable,
	"node.cloudprovider.kubernetes.io/uninitialized",
}

// SchedulingNode describes the node to the scheduling core. A node still
// starting is described as it will be once started: without its startup and
// ephemeral taints, and, before its Node joins, with the labels its claim
// fixes and room for the resources it was launched for.
func (n *StateNode) SchedulingNode() *scheduling.Node {
	if n.Node != nil {
		out := scheduling.NodeFromObject(n.Node, n.Pods)
		if n.NodeClaim != nil && !n.Initialized() {
			out.Taints = slices.DeleteFunc(slices.Clone(out.Taints), func(t corev1.Taint) bool {
				return slices.Contains(ephemeralTaints, t.Key) || slices.ContainsFunc(n.NodeClaim.Spec.StartupTaints, func(s corev1.Taint) bool { return s.MatchTaint(&t) })
			})
		}
		return out
	}
	nc := n.NodeClaim
	reqs, _ := instancetype.NodeClaimRequirements(nc)
	labels := reqs.Labels()
	for k, v := range nc.Labels {
		labels[k] = v
	}
	labels[corev1.LabelHostname] = nc.Name
	allocatable := nc.Status.Allocatable
	if len(allocatable) == 0 {
		allocatable = nc.Spec.Resources.Requests
	}
	return &scheduling.Node{Name: nc.Name, Labels: labels, Taints: nc.Spec.Taints, Allocatable: allocatable}
}
