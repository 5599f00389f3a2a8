package v1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SimInstanceSpec is what was launched. It does not change.
type SimInstanceSpec struct {
	// NodeClaim is the name of the NodeClaim the instance was launched for;
	// the simulated cloud launches at most one instance per NodeClaim.
	NodeClaim string `json:"nodeClaim"`
	// NodeClass is the SimNodeClass it was launched from.
	NodeClass    string `json:"nodeClass"`
	InstanceType string `json:"instanceType"`
	Zone         string `json:"zone"`
	CapacityType string `json:"capacityType"`
	ImageID      string `json:"imageID"`
	// PricePerHour is in US dollars, as a decimal string.
	PricePerHour string `json:"pricePerHour"`
	// Capacity and Allocatable of the instance's Node.
	Capacity    corev1.ResourceList `json:"capacity"`
	Allocatable corev1.ResourceList `json:"allocatable"`
	// Labels of the instance's Node.
	Labels map[string]string `json:"labels,omitempty"`
	// Taints and StartupTaints the Node registers with.
	// +optional
	Taints []corev1.Taint `json:"taints,omitempty"`
	// RegisterAfter is when the instance's Node joins the cluster.
	RegisterAfter metav1.Time `json:"registerAfter"`
}

// SimInstanceStatus is the instance's state.
type SimInstanceStatus struct {
	// State is pending (booting), running (its Node has joined) or
	// shutting-down (terminated or interrupted; the record goes away once
	// the Node has been removed).
	// +optional
	State string `json:"state,omitempty"`
	// InterruptionTime is when a spot interruption takes the instance away.
	// +optional
	InterruptionTime *metav1.Time `json:"interruptionTime,omitempty"`
}

// SimInstance states.
const (
	StatePending      = "pending"
	StateRunning      = "running"
	StateShuttingDown = "shutting-down"
)

// SimInstance is one instance of the simulated cloud. Its name is its
// instance ID; its Node's providerID is sim:///<zone>/<name>.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:path=siminstances,scope=Cluster,categories=tailor
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.instanceType`
// +kubebuilder:printcolumn:name="Zone",type=string,JSONPath=`.spec.zone`
// +kubebuilder:printcolumn:name="Capacity",type=string,JSONPath=`.spec.capacityType`
// +kubebuilder:printcolumn:name="Price",type=string,JSONPath=`.spec.pricePerHour`
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.status.state`
// +kubebuilder:printcolumn:name="NodeClaim",type=string,JSONPath=`.spec.nodeClaim`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type SimInstance struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec SimInstanceSpec `json:"spec"`
	// +optional
	Status SimInstanceStatus `json:"status,omitempty"`
}

// SimInstanceList is a list of SimInstances.
//
// +kubebuilder:object:root=true
type SimInstanceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []SimInstance `json:"items"`
}
