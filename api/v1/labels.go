package v1

import (
	corev1 "k8s.io/api/core/v1"
)

// Well-known labels. Tailor sets them on every node it launches, and NodePool
// requirements and pods may select on them. docs/labels.md describes each one
// with examples; keep the two in step.
const (
	// LabelNodePool names the NodePool a node was launched for.
	LabelNodePool = Group + "/nodepool"
	// LabelCapacityType is on-demand, spot or reserved.
	LabelCapacityType = Group + "/capacity-type"
	// LabelInstanceCategory is the letters before the generation digit of the
	// instance type name: c6i → c, m7g → m, x2gd → x, inf2 → inf.
	LabelInstanceCategory = Group + "/instance-category"
	// LabelInstanceGeneration is the generation digit(s): c6i → 6.
	LabelInstanceGeneration = Group + "/instance-generation"
	// LabelInstanceFamily is the part before the size: c6i.large → c6i,
	// n2-standard-8 → n2-standard.
	LabelInstanceFamily = Group + "/instance-family"
	// LabelInstanceSize is the part after the family: c6i.large → large,
	// n2-standard-8 → 8.
	LabelInstanceSize = Group + "/instance-size"
	// LabelInstanceCPU is the number of vCPUs.
	LabelInstanceCPU = Group + "/instance-cpu"
	// LabelInstanceMemory is the memory in MiB.
	LabelInstanceMemory = Group + "/instance-memory"
	// LabelInstanceGPUCount is the number of GPUs.
	LabelInstanceGPUCount = Group + "/instance-gpu-count"
	// LabelInstanceGPUName is the GPU model, e.g. a10g or t4.
	LabelInstanceGPUName = Group + "/instance-gpu-name"
	// LabelInstanceGPUManufacturer is the GPU maker, e.g. nvidia.
	LabelInstanceGPUManufacturer = Group + "/instance-gpu-manufacturer"
	// LabelInstanceGPUMemory is the memory of all GPUs together in MiB.
	LabelInstanceGPUMemory = Group + "/instance-gpu-memory"

	// LabelNodeInitialized is set to "true" once a node has passed
	// initialization (Ready, startup taints gone, resources present).
	LabelNodeInitialized = Group + "/initialized"
	// LabelNodeRegistered is set to "true" once a node has been matched to
	// its NodeClaim.
	LabelNodeRegistered = Group + "/registered"
)

// Values of LabelCapacityType.
const (
	CapacityTypeOnDemand = "on-demand"
	CapacityTypeSpot     = "spot"
	CapacityTypeReserved = "reserved"
)

// Annotations, taints and finalizers that Tailor owns.
const (
	// AnnotationDoNotDisrupt on a pod or node keeps Tailor from disrupting
	// the node voluntarily.
	AnnotationDoNotDisrupt = Group + "/do-not-disrupt"
	// AnnotationNodePoolHash records the hash of the NodePool template a
	// NodeClaim was made from, for drift detection.
	AnnotationNodePoolHash = Group + "/nodepool-hash"
	// AnnotationReplaces on a NodeClaim names, comma-separated, the
	// NodeClaims it was launched to replace.
	AnnotationReplaces = Group + "/replaces"
	// AnnotationNodePoolHashVersion records which definition of
	// TemplateHash AnnotationNodePoolHash was computed with. A NodeClaim
	// stamped by another definition is stamped again rather than drifted,
	// so that upgrading Tailor does not replace every node.
	AnnotationNodePoolHashVersion = Group + "/nodepool-hash-version"

	// TaintKeyDisrupted marks a node that Tailor is taking away.
	TaintKeyDisrupted = Group + "/disrupted"
	// TaintKeyUnregistered keeps pods off a node until Tailor has synced its
	// labels and taints.
	TaintKeyUnregistered = Group + "/unregistered"

	// TerminationFinalizer holds a Node or NodeClaim until its instance is
	// gone and its pods have been drained.
	TerminationFinalizer = Group + "/termination"
)

// WellKnownLabels are the labels that NodePool requirements may constrain and
// whose values come from the instance type or offering, not from the
// NodePool's template. A pod that selects on one of them is satisfiable by a
// NodePool that leaves it open.
var WellKnownLabels = map[string]bool{
	LabelNodePool:                  true,
	LabelCapacityType:              true,
	LabelInstanceCategory:          true,
	LabelInstanceGeneration:        true,
	LabelInstanceFamily:            true,
	LabelInstanceSize:              true,
	LabelInstanceCPU:               true,
	LabelInstanceMemory:            true,
	LabelInstanceGPUCount:          true,
	LabelInstanceGPUName:           true,
	LabelInstanceGPUManufacturer:   true,
	LabelInstanceGPUMemory:         true,
	corev1.LabelInstanceTypeStable: true,
	corev1.LabelTopologyZone:       true,
	corev1.LabelTopologyRegion:     true,
	corev1.LabelArchStable:         true,
	corev1.LabelOSStable:           true,
	corev1.LabelWindowsBuild:       true,
}
