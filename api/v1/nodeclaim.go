package v1

import (
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NodeSelectorRequirementWithMinValues is a node selector requirement that can
// also ask for a minimum number of distinct values among the instance types a
// launch may choose from (for example, at least five instance families, so
// that spot capacity stays diverse).
//
// +kubebuilder:validation:XValidation:rule="self.operator != 'In' || (has(self.values) && size(self.values) > 0)",message="operator In requires at least one value"
// +kubebuilder:validation:XValidation:rule="!(self.operator in ['Exists', 'DoesNotExist']) || !has(self.values) || size(self.values) == 0",message="operators Exists and DoesNotExist take no values"
// +kubebuilder:validation:XValidation:rule="!(self.operator in ['Gt', 'Lt']) || (has(self.values) && size(self.values) == 1 && self.values[0].matches('^-?[0-9]+$'))",message="operators Gt and Lt require exactly one integer value"
// +kubebuilder:validation:XValidation:rule="!has(self.minValues) || self.operator != 'In' || self.minValues <= size(self.values)",message="minValues must not exceed the number of values"
// +kubebuilder:validation:XValidation:rule="!has(self.minValues) || self.operator != 'DoesNotExist'",message="minValues cannot be used with operator DoesNotExist"
// +kubebuilder:validation:XValidation:rule="!self.key.matches('^([a-z0-9.-]*[.])?tailor[.]sh/') || self.key in ['tailor.sh/nodepool', 'tailor.sh/capacity-type', 'tailor.sh/instance-category', 'tailor.sh/instance-generation', 'tailor.sh/instance-family', 'tailor.sh/instance-size', 'tailor.sh/instance-cpu', 'tailor.sh/instance-memory', 'tailor.sh/instance-gpu-count', 'tailor.sh/instance-gpu-name', 'tailor.sh/instance-gpu-manufacturer', 'tailor.sh/instance-gpu-memory']",message="label domain tailor.sh is reserved: requirements may only use its well-known labels (see docs/labels.md)"
// +kubebuilder:validation:XValidation:rule="self.key != 'tailor.sh/capacity-type' || self.operator != 'In' || self.values.all(v, v in ['on-demand', 'spot', 'reserved'])",message="tailor.sh/capacity-type values must be on-demand, spot or reserved"
type NodeSelectorRequirementWithMinValues struct {
	// Key is the label key the requirement applies to.
	// +required
	// +kubebuilder:validation:MaxLength=316
	// +kubebuilder:validation:XValidation:rule="self.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$')",message="key must be a valid label key such as topology.kubernetes.io/zone"
	Key string `json:"key"`
	// Operator relates the key to the values: In, NotIn, Exists,
	// DoesNotExist, Gt or Lt.
	// +required
	// +kubebuilder:validation:Enum=In;NotIn;Exists;DoesNotExist;Gt;Lt
	Operator corev1.NodeSelectorOperator `json:"operator"`
	// Values are the values the operator compares with: one or more for In
	// and NotIn, none for Exists and DoesNotExist, one integer for Gt and Lt.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=100
	// +kubebuilder:validation:items:MaxLength=63
	Values []string `json:"values,omitempty"`
	// MinValues is the least number of distinct values of this key that the
	// instance types considered for a launch must cover.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=50
	MinValues *int `json:"minValues,omitempty"`
}

// NodeClassReference points at the cloud provider's node class (for example a
// SimNodeClass) that holds the provider-specific settings of a node.
type NodeClassReference struct {
	// Group of the node class, e.g. sim.tailor.sh.
	// +required
	// +kubebuilder:validation:MinLength=1
	Group string `json:"group"`
	// Kind of the node class, e.g. SimNodeClass.
	// +required
	// +kubebuilder:validation:MinLength=1
	Kind string `json:"kind"`
	// Name of the node class.
	// +required
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
}

// ResourceRequirements are the resources a NodeClaim's node must provide.
type ResourceRequirements struct {
	// Requests are the resources of the pods (and DaemonSet pods) that the
	// node was launched for.
	// +optional
	Requests corev1.ResourceList `json:"requests,omitempty"`
}

// NodeClaimSpec is what a node must be. It is immutable: a different node is a
// different NodeClaim.
//
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="NodeClaim spec is immutable; create a new NodeClaim instead"
// +kubebuilder:validation:XValidation:rule="!has(self.taints) || !has(self.startupTaints) || self.startupTaints.all(s, !self.taints.exists(t, t.key == s.key && t.effect == s.effect))",message="a startup taint must not have the key and effect of a taint: the API server refuses a Node with both"
type NodeClaimSpec struct {
	// Taints are applied to the node and must be tolerated by its pods.
	// +optional
	// +kubebuilder:validation:MaxItems=50
	// +kubebuilder:validation:XValidation:rule="self.all(t, t.effect in ['NoSchedule', 'PreferNoSchedule', 'NoExecute'])",message="taint effect must be NoSchedule, PreferNoSchedule or NoExecute"
	// +kubebuilder:validation:XValidation:rule="self.all(t, t.key.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$') && t.key.matches('^([^/]{1,253}/)?[^/]*$'))",message="taint keys must be valid Kubernetes label keys such as example.com/dedicated: an optional DNS subdomain prefix of at most 253 characters and '/', then a name of at most 63 alphanumerics, '-', '_' or '.' that starts and ends with an alphanumeric"
	// +kubebuilder:validation:XValidation:rule="self.all(t, !has(t.value) || (t.value.size() <= 63 && t.value.matches('^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$')))",message="taint values must be valid label values: empty, or at most 63 alphanumerics, '-', '_' or '.' that start and end with an alphanumeric"
	// +kubebuilder:validation:XValidation:rule="self.all(t, self.exists_one(u, u.key == t.key && u.effect == t.effect))",message="taints must not repeat a key and effect: the API server refuses a Node with two such taints"
	Taints []corev1.Taint `json:"taints,omitempty"`
	// StartupTaints are applied to the node at launch and expected to be
	// removed by another agent (a CNI, say); the node is not initialized
	// until they are gone. Scheduling ignores them.
	// +optional
	// +kubebuilder:validation:MaxItems=50
	// +kubebuilder:validation:XValidation:rule="self.all(t, t.effect in ['NoSchedule', 'PreferNoSchedule', 'NoExecute'])",message="taint effect must be NoSchedule, PreferNoSchedule or NoExecute"
	// +kubebuilder:validation:XValidation:rule="self.all(t, t.key.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$') && t.key.matches('^([^/]{1,253}/)?[^/]*$'))",message="startupTaints keys must be valid Kubernetes label keys such as example.com/dedicated: an optional DNS subdomain prefix of at most 253 characters and '/', then a name of at most 63 alphanumerics, '-', '_' or '.' that starts and ends with an alphanumeric"
	// +kubebuilder:validation:XValidation:rule="self.all(t, !has(t.value) || (t.value.size() <= 63 && t.value.matches('^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$')))",message="startupTaints values must be valid label values: empty, or at most 63 alphanumerics, '-', '_' or '.' that start and end with an alphanumeric"
	// +kubebuilder:validation:XValidation:rule="self.all(t, self.exists_one(u, u.key == t.key && u.effect == t.effect))",message="startupTaints must not repeat a key and effect: the API server refuses a Node with two such taints"
	StartupTaints []corev1.Taint `json:"startupTaints,omitempty"`
	// Requirements constrain the node's labels: its instance type, zone,
	// capacity type and any other label.
	// +optional
	// +kubebuilder:validation:MaxItems=100
	Requirements []NodeSelectorRequirementWithMinValues `json:"requirements,omitempty"`
	// Resources are the resources the node must provide.
	// +optional
	Resources ResourceRequirements `json:"resources,omitempty"`
	// NodeClassRef points at the provider's node class.
	// +required
	NodeClassRef *NodeClassReference `json:"nodeClassRef"`
	// TerminationGracePeriod is how long a drain may take before pods that
	// block it (by PodDisruptionBudget or do-not-disrupt) are deleted anyway.
	// Unset means a drain waits as long as it must.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=16
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(s|m|h))+$')",message="terminationGracePeriod must be a duration such as 48h or 90m"
	TerminationGracePeriod *metav1.Duration `json:"terminationGracePeriod,omitempty"`
	// ExpireAfter is how long a node may live before it is replaced, or
	// Never. It is copied from the NodePool, which holds it to at least
	// 30m; a NodeClaim takes what its pool had when it launched (a pool
	// written before that floor may have less), so that no launch fails
	// over it.
	// +optional
	// +kubebuilder:default="720h"
	// +kubebuilder:validation:XValidation:rule="self == 'Never' || self.matches('^([0-9]+(s|m|h))+$')",message="expireAfter must be a duration such as 720h, or Never"
	ExpireAfter NillableDuration `json:"expireAfter,omitempty"`
}

// NodeClaimStatus is what is known of the node.
type NodeClaimStatus struct {
	// NodeName is the name of the Node that registered for this claim.
	// +optional
	NodeName string `json:"nodeName,omitempty"`
	// ProviderID is the cloud provider's identity of the instance.
	// +optional
	ProviderID string `json:"providerID,omitempty"`
	// ImageID is the image the instance was launched from.
	// +optional
	ImageID string `json:"imageID,omitempty"`
	// Capacity is what the instance has.
	// +optional
	Capacity corev1.ResourceList `json:"capacity,omitempty"`
	// Allocatable is what pods can use: capacity less the kubelet's
	// reservations and eviction threshold.
	// +optional
	Allocatable corev1.ResourceList `json:"allocatable,omitempty"`
	// Conditions: Launched, Registered, Initialized, Ready, Drifted,
	// Consolidatable.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// LastPodEventTime is when a pod was last bound to or removed from the
	// node; consolidateAfter counts from it.
	// +optional
	LastPodEventTime metav1.Time `json:"lastPodEventTime,omitempty"`
}

// NodeClaim conditions.
const (
	// ConditionLaunched is True once the cloud provider has created the
	// instance.
	ConditionLaunched = "Launched"
	// ConditionRegistered is True once a Node with the instance's provider
	// ID has joined and has been synced.
	ConditionRegistered = "Registered"
	// ConditionInitialized is True once the node is Ready, its startup
	// taints are gone and its requested resources are present.
	ConditionInitialized = "Initialized"
	// ConditionDrifted is True when the node no longer matches its NodePool
	// or node class.
	ConditionDrifted = "Drifted"
	// ConditionConsolidatable is True when the node has had no pod events
	// for its NodePool's consolidateAfter.
	ConditionConsolidatable = "Consolidatable"
	// ConditionDisruptionBlocked is True while the node is due to be
	// replaced (expired or drifted) but its drain could never finish: a pod
	// annotated do-not-disrupt, or a PodDisruptionBudget that allows
	// nothing, and no terminationGracePeriod to end the wait. No replacement
	// is launched meanwhile; the reason is Expired or Drifted.
	ConditionDisruptionBlocked = "DisruptionBlocked"
	// ConditionReady is True when Launched, Registered and Initialized are.
	// NodePools use the same type for their own readiness.
	ConditionReady = "Ready"
)

// NodeClaim is Tailor's request for one node, and the record of that node's
// life from launch to termination. Tailor creates NodeClaims; users read them,
// and may delete one to have its node drained and removed.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:path=nodeclaims,scope=Cluster,categories=tailor,shortName=nc
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.metadata.labels.node\.kubernetes\.io/instance-type`
// +kubebuilder:printcolumn:name="Capacity",type=string,JSONPath=`.metadata.labels.tailor\.sh/capacity-type`
// +kubebuilder:printcolumn:name="Zone",type=string,JSONPath=`.metadata.labels.topology\.kubernetes\.io/zone`
// +kubebuilder:printcolumn:name="Node",type=string,JSONPath=`.status.nodeName`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="ID",type=string,JSONPath=`.status.providerID`,priority=1
// +kubebuilder:printcolumn:name="NodePool",type=string,JSONPath=`.metadata.labels.tailor\.sh/nodepool`,priority=1
type NodeClaim struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec NodeClaimSpec `json:"spec"`
	// +optional
	Status NodeClaimStatus `json:"status,omitempty"`
}

// NodeClaimList is a list of NodeClaims.
//
// +kubebuilder:object:root=true
type NodeClaimList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []NodeClaim `json:"items"`
}

// Phase names a NodeClaim's place in its lifecycle, for metrics and people:
// Pending, Launched, Registered, Ready or Terminating.
func (nc *NodeClaim) Phase() string {
	switch {
	case nc.DeletionTimestamp != nil:
		return "Terminating"
	case apimeta.IsStatusConditionTrue(nc.Status.Conditions, ConditionReady):
		return "Ready"
	case apimeta.IsStatusConditionTrue(nc.Status.Conditions, ConditionRegistered):
		return "Registered"
	case apimeta.IsStatusConditionTrue(nc.Status.Conditions, ConditionLaunched):
		return "Launched"
	}
	return "Pending"
}
