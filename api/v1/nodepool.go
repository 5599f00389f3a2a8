package v1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NodePoolSpec says which nodes Tailor may launch for pending pods, how many,
// and when it may take them away again.
type NodePoolSpec struct {
	// Template is what every node of the pool is made from.
	// +required
	Template NodeClaimTemplate `json:"template"`
	// Disruption says when Tailor may remove or replace the pool's nodes.
	// +optional
	// +kubebuilder:default={consolidationPolicy: WhenEmptyOrUnderutilized, consolidateAfter: "1m", minSavingsPercent: 10, budgets: {{nodes: "10%"}}}
	Disruption Disruption `json:"disruption,omitempty"`
	// Limits cap the total resources of the pool's nodes (cpu, memory, GPUs,
	// and "nodes" for the node count). Tailor launches nothing that would
	// exceed them.
	// +optional
	// +kubebuilder:validation:MaxProperties=100
	// +kubebuilder:validation:XValidation:rule="self.all(k, type(self[k]) == int ? self[k] >= 0 : !self[k].startsWith('-'))",message="limits must not be negative: a limit caps the pool's total and 0 is the least"
	Limits corev1.ResourceList `json:"limits,omitempty"`
	// Weight orders NodePools: a pod that several pools can hold goes to
	// the one with the highest weight. Unset is lower than any weight.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self >= 1 && self <= 100",message="weight must be between 1 and 100"
	Weight *int32 `json:"weight,omitempty"`
}

// NodeClaimTemplate is the template of a pool's NodeClaims.
type NodeClaimTemplate struct {
	// +optional
	ObjectMeta NodeClaimTemplateObjectMeta `json:"metadata,omitempty"`
	// +required
	Spec NodeClaimTemplateSpec `json:"spec"`
}

// NodeClaimTemplateObjectMeta are the labels and annotations given to the
// pool's NodeClaims and their Nodes.
type NodeClaimTemplateObjectMeta struct {
	// Labels are set on every node of the pool; pods can select on them.
	// Their values are at most 63 characters: crdbounds.go gives the map's
	// values that maxLength, which no marker can.
	// +optional
	// +kubebuilder:validation:MaxProperties=100
	// +kubebuilder:validation:XValidation:rule="self.all(k, !k.matches('^([a-z0-9.-]*[.])?tailor[.]sh/'))",message="label domain tailor.sh is reserved: Tailor sets tailor.sh/nodepool and the instance labels itself; constrain those with requirements (see docs/labels.md)"
	// +kubebuilder:validation:XValidation:rule="self.all(k, k != 'kubernetes.io/hostname')",message="label kubernetes.io/hostname is set by each node and cannot be set by a NodePool"
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$') && k.matches('^([^/]{1,253}/)?[^/]*$'))",message="label keys must be valid Kubernetes label keys such as example.com/team: an optional DNS subdomain prefix of at most 253 characters and '/', then a name of at most 63 alphanumerics, '-', '_' or '.' that starts and ends with an alphanumeric"
	// +kubebuilder:validation:XValidation:rule="self.all(k, self[k].matches('^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$'))",message="label values must be empty or consist of alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric"
	Labels map[string]string `json:"labels,omitempty"`
	// Annotations are set on every node of the pool. The tailor.sh domain
	// is Tailor's: a pool may set tailor.sh/do-not-disrupt, to keep its
	// nodes from voluntary disruption, and no other key of it (Tailor
	// stamps tailor.sh/nodepool-hash, tailor.sh/nodepool-hash-version and
	// tailor.sh/replaces on each NodeClaim and reads them back).
	// +optional
	// +kubebuilder:validation:MaxProperties=100
	// +kubebuilder:validation:XValidation:rule="self.all(k, !(k in ['tailor.sh/nodepool-hash', 'tailor.sh/nodepool-hash-version', 'tailor.sh/replaces']))",message="annotations tailor.sh/nodepool-hash, tailor.sh/nodepool-hash-version and tailor.sh/replaces are set by Tailor on each NodeClaim and cannot be set by a NodePool: a pool that set them would have its nodes drift forever"
	// +kubebuilder:validation:XValidation:rule="self.all(k, k == 'tailor.sh/do-not-disrupt' || k in ['tailor.sh/nodepool-hash', 'tailor.sh/nodepool-hash-version', 'tailor.sh/replaces'] || !k.matches('^([a-z0-9.-]*[.])?tailor[.]sh/'))",message="annotation domain tailor.sh is reserved: a NodePool may only set tailor.sh/do-not-disrupt"
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$') && k.matches('^([^/]{1,253}/)?[^/]*$'))",message="annotation keys must be valid Kubernetes annotation keys such as example.com/owner: an optional DNS subdomain prefix of at most 253 characters and '/', then a name of at most 63 alphanumerics, '-', '_' or '.' that starts and ends with an alphanumeric"
	Annotations map[string]string `json:"annotations,omitempty"`
}

// NodeClaimTemplateSpec is the NodeClaim spec a pool's nodes are made from,
// less the resources, which come from the pods each node is launched for.
//
// +kubebuilder:validation:XValidation:rule="!has(self.taints) || !has(self.startupTaints) || self.startupTaints.all(s, !self.taints.exists(t, t.key == s.key && t.effect == s.effect))",message="a startup taint must not have the key and effect of a taint: the API server refuses a Node with both"
type NodeClaimTemplateSpec struct {
	// Taints are applied to every node of the pool; pods must tolerate
	// them.
	// +optional
	// +kubebuilder:validation:MaxItems=50
	// +kubebuilder:validation:XValidation:rule="self.all(t, t.effect in ['NoSchedule', 'PreferNoSchedule', 'NoExecute'])",message="taint effect must be NoSchedule, PreferNoSchedule or NoExecute"
	// +kubebuilder:validation:XValidation:rule="self.all(t, t.key.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$') && t.key.matches('^([^/]{1,253}/)?[^/]*$'))",message="taint keys must be valid Kubernetes label keys such as example.com/dedicated: an optional DNS subdomain prefix of at most 253 characters and '/', then a name of at most 63 alphanumerics, '-', '_' or '.' that starts and ends with an alphanumeric"
	// +kubebuilder:validation:XValidation:rule="self.all(t, !has(t.value) || (t.value.size() <= 63 && t.value.matches('^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$')))",message="taint values must be valid label values: empty, or at most 63 alphanumerics, '-', '_' or '.' that start and end with an alphanumeric"
	// +kubebuilder:validation:XValidation:rule="self.all(t, self.exists_one(u, u.key == t.key && u.effect == t.effect))",message="taints must not repeat a key and effect: the API server refuses a Node with two such taints"
	// +kubebuilder:validation:XValidation:rule="self.all(t, !t.key.matches('^([a-z0-9.-]*[.])?tailor[.]sh/'))",message="taint domain tailor.sh is reserved: Tailor adds tailor.sh/unregistered and tailor.sh/disrupted itself"
	Taints []corev1.Taint `json:"taints,omitempty"`
	// StartupTaints are applied at launch and expected to be removed by
	// another agent; scheduling ignores them.
	// +optional
	// +kubebuilder:validation:MaxItems=50
	// +kubebuilder:validation:XValidation:rule="self.all(t, t.effect in ['NoSchedule', 'PreferNoSchedule', 'NoExecute'])",message="taint effect must be NoSchedule, PreferNoSchedule or NoExecute"
	// +kubebuilder:validation:XValidation:rule="self.all(t, t.key.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$') && t.key.matches('^([^/]{1,253}/)?[^/]*$'))",message="startupTaints keys must be valid Kubernetes label keys such as example.com/dedicated: an optional DNS subdomain prefix of at most 253 characters and '/', then a name of at most 63 alphanumerics, '-', '_' or '.' that starts and ends with an alphanumeric"
	// +kubebuilder:validation:XValidation:rule="self.all(t, !has(t.value) || (t.value.size() <= 63 && t.value.matches('^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$')))",message="startupTaints values must be valid label values: empty, or at most 63 alphanumerics, '-', '_' or '.' that start and end with an alphanumeric"
	// +kubebuilder:validation:XValidation:rule="self.all(t, self.exists_one(u, u.key == t.key && u.effect == t.effect))",message="startupTaints must not repeat a key and effect: the API server refuses a Node with two such taints"
	// +kubebuilder:validation:XValidation:rule="self.all(t, !t.key.matches('^([a-z0-9.-]*[.])?tailor[.]sh/'))",message="taint domain tailor.sh is reserved: Tailor adds tailor.sh/unregistered and tailor.sh/disrupted itself"
	StartupTaints []corev1.Taint `json:"startupTaints,omitempty"`
	// Requirements constrain the nodes' labels: instance types, zones,
	// capacity types, architectures and any custom label.
	// +optional
	// +kubebuilder:validation:MaxItems=100
	// +kubebuilder:validation:XValidation:rule="self.all(r, r.key != 'tailor.sh/nodepool')",message="label tailor.sh/nodepool is set by Tailor and cannot be required"
	// +kubebuilder:validation:XValidation:rule="self.all(r, r.key != 'kubernetes.io/hostname')",message="label kubernetes.io/hostname is set by each node and cannot be required"
	Requirements []NodeSelectorRequirementWithMinValues `json:"requirements,omitempty"`
	// NodeClassRef points at the provider's node class.
	// +required
	// +kubebuilder:validation:XValidation:rule="self.group == oldSelf.group && self.kind == oldSelf.kind",message="nodeClassRef group and kind cannot change"
	NodeClassRef *NodeClassReference `json:"nodeClassRef"`
	// TerminationGracePeriod is how long a drain may take before pods that
	// block it are deleted anyway. Unset means a drain waits as long as it
	// must.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=16
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(s|m|h))+$')",message="terminationGracePeriod must be a duration such as 48h or 90m"
	TerminationGracePeriod *metav1.Duration `json:"terminationGracePeriod,omitempty"`
	// ExpireAfter is how long a node may live before it is replaced, or
	// Never. It is at least 30m: a node may take the whole registration
	// timeout (15m by default) to join, and one that expired as soon as it
	// was ready would be replaced by another that does the same, forever.
	// Twice that leaves even the slowest node as long again to serve.
	// +optional
	// +kubebuilder:default="720h"
	// +kubebuilder:validation:XValidation:rule="self == 'Never' || self.matches('^([0-9]+(s|m|h))+$')",message="expireAfter must be a duration such as 720h, or Never"
	// +kubebuilder:validation:XValidation:rule="self == 'Never' || !self.matches('^([0-9]+(s|m|h))+$') || duration(self) >= duration('30m')",message="expireAfter must be at least 30m, or Never: a node may take the 15m registration timeout to join, and one that expires sooner after that is replaced before it has settled"
	ExpireAfter NillableDuration `json:"expireAfter,omitempty"`
}

// ConsolidationPolicy says which nodes consolidation may act on.
// +kubebuilder:validation:Enum=WhenEmpty;WhenEmptyOrUnderutilized
type ConsolidationPolicy string

const (
	// ConsolidationPolicyWhenEmpty removes nodes that run no pods but
	// DaemonSet pods.
	ConsolidationPolicyWhenEmpty ConsolidationPolicy = "WhenEmpty"
	// ConsolidationPolicyWhenEmptyOrUnderutilized also moves pods off nodes
	// that can be removed or replaced by cheaper ones.
	ConsolidationPolicyWhenEmptyOrUnderutilized ConsolidationPolicy = "WhenEmptyOrUnderutilized"
)

// Disruption configures how Tailor removes and replaces a pool's nodes.
type Disruption struct {
	// ConsolidationPolicy says which nodes consolidation may act on.
	// +optional
	// +kubebuilder:default=WhenEmptyOrUnderutilized
	ConsolidationPolicy ConsolidationPolicy `json:"consolidationPolicy,omitempty"`
	// ConsolidateAfter is how long a node must have had no pod scheduled to
	// or removed from it before consolidation considers it, or Never to turn
	// consolidation off. Karpenter defaults to 0s; Tailor waits a minute so
	// that a node is not judged in the moment after a rollout touched it.
	// +optional
	// +kubebuilder:default="1m"
	// +kubebuilder:validation:XValidation:rule="self == 'Never' || self.matches('^([0-9]+(s|m|h))+$')",message="consolidateAfter must be a duration such as 30s or 10m, or Never"
	ConsolidateAfter NillableDuration `json:"consolidateAfter,omitempty"`
	// MinSavingsPercent is how much cheaper, in percent of the price of the
	// nodes it takes away, a consolidation must make the pool before Tailor
	// moves any pod for it. Deleting a node saves all of its price; replacing
	// one or several nodes by a cheaper one saves the difference. A move
	// that saves less is not worth its evictions and restarts. 0 takes any
	// saving.
	// +optional
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	MinSavingsPercent *int32 `json:"minSavingsPercent,omitempty"`
	// Budgets limit how many of the pool's nodes may be disrupted at once.
	// When several apply, the most restrictive wins.
	// +optional
	// +kubebuilder:default={{nodes: "10%"}}
	// +kubebuilder:validation:MaxItems=20
	Budgets []Budget `json:"budgets,omitempty"`
}

// DisruptionReason is why a node is disrupted.
// +kubebuilder:validation:Enum=Empty;Underutilized;Drifted;Expired
type DisruptionReason string

// Disruption reasons, as budgets name them.
const (
	DisruptionReasonEmpty         DisruptionReason = "Empty"
	DisruptionReasonUnderutilized DisruptionReason = "Underutilized"
	DisruptionReasonDrifted       DisruptionReason = "Drifted"
	DisruptionReasonExpired       DisruptionReason = "Expired"
)

// Budget limits the number of nodes that may be disrupted at the same time,
// always or during a recurring window.
//
// +kubebuilder:validation:XValidation:rule="!has(self.schedule) || has(self.duration)",message="budget schedule requires duration"
// +kubebuilder:validation:XValidation:rule="!has(self.duration) || has(self.schedule)",message="budget duration requires schedule"
// +kubebuilder:validation:XValidation:rule="!has(self.timeZone) || has(self.schedule)",message="budget timeZone requires schedule"
type Budget struct {
	// Reasons are the disruption reasons the budget applies to; unset means
	// all of them.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=4
	Reasons []DisruptionReason `json:"reasons,omitempty"`
	// Nodes is how many of the pool's nodes may be disrupted at once: a
	// count such as "2" or a percentage such as "10%" of the pool's nodes,
	// rounded up. "0" blocks disruption.
	// +optional
	// +kubebuilder:default="10%"
	// +kubebuilder:validation:MaxLength=8
	// +kubebuilder:validation:XValidation:rule="self.matches('^((100|[0-9]{1,2})%|[0-9]+)$')",message="budget nodes must be a count such as 2 or a percentage from 0% to 100%"
	Nodes string `json:"nodes"`
	// Schedule is a cron expression (minute hour day-of-month month
	// day-of-week, or a macro such as @daily) at which the budget's window
	// opens. Unset means the budget always applies.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="self.matches('^@(annually|yearly|monthly|weekly|daily|midnight|hourly)$') || self.matches('^[^ ]+ [^ ]+ [^ ]+ [^ ]+ [^ ]+$')",message="budget schedule must be a cron expression of five fields such as '0 9 * * 1-5', or a macro such as @daily"
	Schedule *string `json:"schedule,omitempty"`
	// Duration is how long the window stays open after each scheduled time.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=16
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(h|m))+(0s)?$')",message="budget duration must be in hours and minutes, such as 8h or 90m"
	Duration *metav1.Duration `json:"duration,omitempty"`
	// TimeZone is the IANA time zone the schedule is read in, such as
	// Europe/Berlin. Unset means UTC. (Karpenter reads schedules in UTC
	// only.)
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Za-z_]+(/[A-Za-z0-9_+-]+)*$')",message="budget timeZone must be an IANA time zone name such as America/New_York"
	TimeZone *string `json:"timeZone,omitempty"`
}

// NodePoolStatus is what the pool currently holds.
type NodePoolStatus struct {
	// Resources is the total capacity of the pool's nodes, with "nodes" for
	// their count.
	// +optional
	Resources corev1.ResourceList `json:"resources,omitempty"`
	// Nodes is the number of the pool's nodes.
	// +optional
	Nodes int64 `json:"nodes,omitempty"`
	// Disruptions say, for each disruption reason, how many of the pool's
	// nodes its budgets let Tailor disrupt now and when that changes next.
	// +optional
	// +listType=map
	// +listMapKey=reason
	Disruptions []DisruptionsAllowed `json:"disruptions,omitempty"`
	// Conditions: Ready, NodeClassReady, ValidationSucceeded.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// DisruptionsAllowed is what the budgets allow for one reason.
type DisruptionsAllowed struct {
	// Reason is the disruption reason.
	Reason DisruptionReason `json:"reason"`
	// Allowed is how many nodes may be disrupted for the reason now, those
	// already being disrupted included.
	Allowed int32 `json:"allowed"`
	// NextChange is when a scheduled budget next opens or closes and so
	// changes Allowed; unset when no budget has a schedule.
	// +optional
	NextChange *metav1.Time `json:"nextChange,omitempty"`
	// AllowedAfterNextChange is what Allowed becomes at NextChange.
	// +optional
	AllowedAfterNextChange *int32 `json:"allowedAfterNextChange,omitempty"`
}

// NodePool conditions besides Ready.
const (
	// ConditionNodeClassReady is True when the referenced node class exists
	// and is ready.
	ConditionNodeClassReady = "NodeClassReady"
	// ConditionValidationSucceeded is True when the parts of the spec that
	// the CRD cannot check (cron schedules, time zones) are valid.
	ConditionValidationSucceeded = "ValidationSucceeded"
	// ConditionCloudProviderHealthy is False while the cloud keeps failing
	// launches and Tailor has paused them; the message says until when and
	// the last error.
	ConditionCloudProviderHealthy = "CloudProviderHealthy"
)

// NodePool says which nodes Tailor may launch for pods the scheduler cannot
// place, and when it may remove or replace them.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:path=nodepools,scope=Cluster,categories=tailor,shortName=np
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="NodeClass",type=string,JSONPath=`.spec.template.spec.nodeClassRef.name`
// +kubebuilder:printcolumn:name="Nodes",type=integer,JSONPath=`.status.nodes`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Weight",type=integer,JSONPath=`.spec.weight`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="CPU",type=string,JSONPath=`.status.resources.cpu`,priority=1
// +kubebuilder:printcolumn:name="Memory",type=string,JSONPath=`.status.resources.memory`,priority=1
type NodePool struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec NodePoolSpec `json:"spec"`
	// +optional
	Status NodePoolStatus `json:"status,omitempty"`
}

// NodePoolList is a list of NodePools.
//
// +kubebuilder:object:root=true
type NodePoolList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []NodePool `json:"items"`
}
