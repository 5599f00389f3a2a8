package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SimNodeClassSpec describes the simulated cloud a NodePool launches into.
//
// +kubebuilder:validation:XValidation:rule="!(has(self.catalog) && has(self.catalogConfigMap))",message="set catalog or catalogConfigMap, not both"
type SimNodeClassSpec struct {
	// Catalog names a built-in catalog: aws-us-west-2 (the default) or
	// gce-us-central1.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Catalog string `json:"catalog,omitempty"`
	// CatalogConfigMap points at a ConfigMap key holding a catalog in
	// Tailor's JSON catalog format (docs/catalogs.md).
	// +optional
	CatalogConfigMap *ConfigMapKeyReference `json:"catalogConfigMap,omitempty"`
	// Zones limits the cloud to these zones of the catalog. Empty means all.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	// +listType=set
	Zones []string `json:"zones,omitempty"`
	// ImageID is the image new instances boot from. Changing it drifts the
	// instances launched from the old one.
	// +optional
	// +kubebuilder:default="sim-image-1"
	// +kubebuilder:validation:MaxLength=128
	ImageID string `json:"imageID,omitempty"`
	// Latency is how long the simulated cloud takes.
	// +optional
	Latency Latency `json:"latency,omitempty"`
	// Faults makes the simulated cloud fail on purpose.
	// +optional
	Faults Faults `json:"faults,omitempty"`
}

// ConfigMapKeyReference selects a key of a ConfigMap.
type ConfigMapKeyReference struct {
	// +required
	// +kubebuilder:validation:MinLength=1
	Namespace string `json:"namespace"`
	// +required
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// Key defaults to catalog.json.
	// +optional
	// +kubebuilder:default="catalog.json"
	Key string `json:"key,omitempty"`
}

// Latency sets the simulated cloud's delays.
type Latency struct {
	// Launch is how long a launch call takes before it returns.
	// +optional
	Launch DurationRange `json:"launch,omitempty"`
	// Registration is how long after a launch the instance's Node joins the
	// cluster.
	// +optional
	Registration DurationRange `json:"registration,omitempty"`
}

// DurationRange is a fixed duration (min only, or min = max) or a duration
// drawn uniformly between min and max.
//
// +kubebuilder:validation:XValidation:rule="!has(self.max) || !has(self.min) || duration(self.min) <= duration(self.max)",message="latency min must not exceed max"
type DurationRange struct {
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=16
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(ms|s|m|h))+$')",message="latency must be a duration such as 500ms or 2s"
	Min *metav1.Duration `json:"min,omitempty"`
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=16
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(ms|s|m|h))+$')",message="latency must be a duration such as 500ms or 2s"
	Max *metav1.Duration `json:"max,omitempty"`
}

// Faults are failures the simulated cloud injects.
type Faults struct {
	// InsufficientCapacity makes launches fail for lack of capacity.
	// +optional
	InsufficientCapacity InsufficientCapacityFaults `json:"insufficientCapacity,omitempty"`
	// APIErrorRate is the fraction (0 to 1) of cloud API calls that fail
	// with a retryable error, like a throttled or failing real API.
	// +optional
	// +kubebuilder:validation:Pattern=`^(0(\.[0-9]+)?|1(\.0+)?)$`
	APIErrorRate string `json:"apiErrorRate,omitempty"`
	// SpotInterruptionsPerHour is the chance per hour (0 to 1) that a spot
	// instance is interrupted. An interrupted instance gets a two-minute
	// warning (an event and a condition on its Node), then terminates.
	// +optional
	// +kubebuilder:validation:Pattern=`^(0(\.[0-9]+)?|1(\.0+)?)$`
	SpotInterruptionsPerHour string `json:"spotInterruptionsPerHour,omitempty"`
}

// InsufficientCapacityFaults say which launches find no capacity.
type InsufficientCapacityFaults struct {
	// Offerings that never have capacity. Empty fields match anything.
	// +optional
	// +kubebuilder:validation:MaxItems=100
	Offerings []OfferingSelector `json:"offerings,omitempty"`
	// Rate is the fraction (0 to 1) of other launches that find no capacity.
	// +optional
	// +kubebuilder:validation:Pattern=`^(0(\.[0-9]+)?|1(\.0+)?)$`
	Rate string `json:"rate,omitempty"`
}

// OfferingSelector matches offerings; an empty field matches any value.
type OfferingSelector struct {
	// +optional
	InstanceType string `json:"instanceType,omitempty"`
	// +optional
	Zone string `json:"zone,omitempty"`
	// +optional
	// +kubebuilder:validation:Enum=on-demand;spot;reserved
	CapacityType string `json:"capacityType,omitempty"`
}

// SimNodeClassStatus reports what the simulated cloud offers.
type SimNodeClassStatus struct {
	// InstanceTypes is the number of instance types on sale.
	// +optional
	InstanceTypes int `json:"instanceTypes,omitempty"`
	// Zones are the zones on sale.
	// +optional
	Zones []string `json:"zones,omitempty"`
	// Conditions: Ready (the catalog loaded).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// SimNodeClass is the node class of Tailor's simulated cloud: which catalog
// it sells, in which zones, how fast, and which failures it injects.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:path=simnodeclasses,scope=Cluster,categories=tailor
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Catalog",type=string,JSONPath=`.spec.catalog`
// +kubebuilder:printcolumn:name="Types",type=integer,JSONPath=`.status.instanceTypes`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type SimNodeClass struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +optional
	Spec SimNodeClassSpec `json:"spec,omitempty"`
	// +optional
	Status SimNodeClassStatus `json:"status,omitempty"`
}

// SimNodeClassList is a list of SimNodeClasses.
//
// +kubebuilder:object:root=true
type SimNodeClassList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []SimNodeClass `json:"items"`
}
