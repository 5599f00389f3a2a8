package catalog

import (
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/tailor-sh/tailor/core/instancetype"
)

// overheadModel computes what the kubelet and system keep of a node of the
// given type. docs/catalogs.md describes each model.
type overheadModel func(it *instancetype.InstanceType) instancetype.Overhead

var overheadModels = map[string]overheadModel{
	"":     noOverhead,
	"none": noOverhead,
	"eks":  eksOverhead,
	"gke":  gkeOverhead,
}

func overheadModelNames() []string {
	return slices.Sorted(maps.Keys(overheadModels))[1:] // without ""
}

func noOverhead(*instancetype.InstanceType) instancetype.Overhead { return instancetype.Overhead{} }

// eksOverhead is the EKS-optimised AMI's bootstrap: kube-reserved cpu on a
// sliding scale per core, kube-reserved memory of 255Mi plus 11Mi per pod the
// node may run, 1Gi of disk, and hard eviction at 100Mi of memory and 10% of
// the node's disk.
func eksOverhead(it *instancetype.InstanceType) instancetype.Overhead {
	pods := it.Capacity.Pods().Value()
	return instancetype.Overhead{
		KubeReserved: corev1.ResourceList{
			corev1.ResourceCPU:              *resource.NewMilliQuantity(reservedCPUMillis(it.Capacity.Cpu().MilliValue()), resource.DecimalSI),
			corev1.ResourceMemory:           *resource.NewQuantity((255+11*pods)*mebibyte, resource.BinarySI),
			corev1.ResourceEphemeralStorage: resource.MustParse("1Gi"),
		},
		EvictionThreshold: evictionThreshold(it),
	}
}

// gkeOverhead is GKE's documented node allocatable: the same cpu scale as EKS,
// memory reserved on a sliding scale of the machine's memory (255Mi below
// 1GiB; 25% of the first 4GiB, 20% of the next 4GiB, 10% of the next 8GiB, 6%
// of the next 112GiB and 2% of the rest), and hard eviction at 100Mi of memory
// and 10% of disk.
func gkeOverhead(it *instancetype.InstanceType) instancetype.Overhead {
	return instancetype.Overhead{
		KubeReserved: corev1.ResourceList{
			corev1.ResourceCPU:    *resource.NewMilliQuantity(reservedCPUMillis(it.Capacity.Cpu().MilliValue()), resource.DecimalSI),
			corev1.ResourceMemory: *resource.NewQuantity(gkeReservedMemory(it.Capacity.Memory().Value()), resource.BinarySI),
		},
		EvictionThreshold: evictionThreshold(it),
	}
}

const mebibyte = 1 << 20

// tier is a band of a sliding scale: what lies below upTo (and above the
// previous band) is charged percent.
type tier struct {
	upTo    int64
	percent float64
}

// slidingScale charges amount band by band.
func slidingScale(amount int64, tiers []tier) float64 {
	var charged float64
	var from int64
	for _, t := range tiers {
		if amount <= from {
			break
		}
		charged += float64(min(amount, t.upTo)-from) * t.percent / 100
		from = t.upTo
	}
	return charged
}

// reservedCPUMillis is 6% of the first core, 1% of the second, 0.5% of the
// third and fourth and 0.25% of each further core, in millicores.
func reservedCPUMillis(cpuMillis int64) int64 {
	return int64(slidingScale(cpuMillis, []tier{{1000, 6}, {2000, 1}, {4000, 0.5}, {1 << 62, 0.25}}) + 0.5)
}

func gkeReservedMemory(memory int64) int64 {
	const gib = 1 << 30
	if memory < gib {
		return 255 * mebibyte
	}
	return int64(slidingScale(memory, []tier{{4 * gib, 25}, {8 * gib, 20}, {16 * gib, 10}, {128 * gib, 6}, {1 << 62, 2}}))
}

func evictionThreshold(it *instancetype.InstanceType) corev1.ResourceList {
	out := corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("100Mi")}
	if disk, ok := it.Capacity[corev1.ResourceEphemeralStorage]; ok {
		out[corev1.ResourceEphemeralStorage] = *resource.NewQuantity(disk.Value()/10, resource.BinarySI)
	}
	return out
}
