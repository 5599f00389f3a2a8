package scheduling

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/core/instancetype"
	"github.com/tailor-sh/tailor/core/requirements"
)

// Input is everything a decision depends on.
type Input struct {
	// Pods are the pods to place: pending pods the scheduler could not
	// bind.
	Pods []*corev1.Pod
	// Nodes are the nodes pods may go to before any new one is launched:
	// existing Nodes and NodeClaims still launching, each with the pods
	// already bound or headed there.
	Nodes []*Node
	// NodePools are the pools new nodes may come from, each with the
	// instance types its node class offers.
	NodePools []*NodePool
	// DaemonSets run a pod on every node they select; new nodes must have
	// room for those pods too.
	DaemonSets []*appsv1.DaemonSet
	// PersistentVolumeClaims, PersistentVolumes and StorageClasses say
	// where the pods' volumes let them run.
	PersistentVolumeClaims []*corev1.PersistentVolumeClaim
	PersistentVolumes      []*corev1.PersistentVolume
	StorageClasses         []*storagev1.StorageClass
	// Namespaces give the labels that the namespaceSelector of pod
	// affinity terms matches. A namespace not listed has only the label the
	// API server gives every namespace, kubernetes.io/metadata.name.
	Namespaces []*corev1.Namespace
	// LowerBound asks for Result.LowerBound. It solves a linear program,
	// which costs more than the decision itself on large, diverse batches.
	LowerBound bool
}

// NodePool is a NodePool with what the solver needs to know about it.
type NodePool struct {
	NodePool *v1.NodePool
	// InstanceTypes are what the pool's node class can launch.
	InstanceTypes []*instancetype.InstanceType
	// Remaining is how much more the pool may launch before it reaches its
	// limits (limits less what its nodes already have); nil means the pool
	// has no limits.
	Remaining corev1.ResourceList
}

// Node is a node, or a node being launched, that pods may be placed on.
type Node struct {
	Name        string
	Labels      map[string]string
	Taints      []corev1.Taint
	Allocatable corev1.ResourceList
	// Pods are the pods bound to the node or on their way to it.
	Pods []*corev1.Pod
}

// NodeFromObject describes an existing Node and the pods bound to it.
func NodeFromObject(node *corev1.Node, pods []*corev1.Pod) *Node {
	return &Node{Name: node.Name, Labels: node.Labels, Taints: node.Spec.Taints, Allocatable: node.Status.Allocatable, Pods: pods}
}

// Result is a decision.
type Result struct {
	// Existing are the pods that fit on nodes that exist or are launching.
	Existing []ExistingPlacement
	// NodeClaims are the new nodes to launch.
	NodeClaims []*NewNodeClaim
	// Unschedulable are the pods no node can hold, each with the reason.
	Unschedulable []Unschedulable
	// PricePerHour is the total price of the new nodes, each priced at its
	// cheapest candidate.
	PricePerHour float64
	// LowerBound is a lower bound on the price per hour of any set of new
	// nodes that holds the pods placed on new nodes; 0 when there are none
	// or when it could not be computed (see LowerBoundError).
	LowerBound float64
	// LowerBoundError says why LowerBound could not be computed.
	LowerBoundError string
	// Warnings name pod constraints the solver did not take into account.
	Warnings []string
}

// ExistingPlacement places a pod on a node that exists or is launching.
type ExistingPlacement struct {
	Pod  *corev1.Pod
	Node string
}

// NewNodeClaim is a node to launch.
type NewNodeClaim struct {
	// NodePool is the name of the pool the node comes from.
	NodePool string
	// Requirements are what the node must satisfy: the pool's
	// requirements, the pods' and an instance-type requirement listing the
	// candidates.
	Requirements requirements.Requirements
	// Candidates are the instance types that can hold the pods, cheapest
	// first, each with its cheapest offering.
	Candidates []Candidate
	// Pods are the pods the node is for.
	Pods []*corev1.Pod
	// Requests are the resources of the pods and of the DaemonSet pods
	// that will run on the node.
	Requests corev1.ResourceList
	// Taints are the pool's taints.
	Taints []corev1.Taint
}

// Price is the price of the cheapest candidate.
func (n *NewNodeClaim) Price() float64 {
	if len(n.Candidates) == 0 {
		return 0
	}
	return n.Candidates[0].Offering.Price
}

// Candidate is an instance type that can hold a new node's pods.
type Candidate struct {
	InstanceType *instancetype.InstanceType
	Offering     instancetype.Offering
}

// Unschedulable is a pod no node can hold.
type Unschedulable struct {
	Pod    *corev1.Pod
	Reason string
}
