// Package instancetype is the model of what a cloud sells that the
// scheduling core prices and fits pods against: instance types, their
// overhead, and the offerings (zone, capacity type, price) they are sold in.
// It is plain data, so that the core, the controllers and every provider can
// share it without importing one another.
package instancetype

import (
	"cmp"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/core/requirements"
)

// InstanceType is a machine shape a cloud sells, with the places it can be
// bought.
type InstanceType struct {
	// Name is the cloud's name of the type, e.g. m6i.large.
	Name string
	// Requirements are the labels every node of this type carries, as
	// single-valued requirements: node.kubernetes.io/instance-type,
	// kubernetes.io/arch, kubernetes.io/os and the tailor.sh/instance-*
	// labels. Zone and capacity type vary by offering and are not here.
	Requirements requirements.Requirements
	// Capacity is what the machine has: cpu, memory, pods,
	// ephemeral-storage and extended resources such as nvidia.com/gpu.
	Capacity corev1.ResourceList
	// Overhead is what the kubelet and system keep for themselves.
	Overhead Overhead
	// Offerings are the zones and capacity types the type is sold in.
	Offerings Offerings
}

// Allocatable is what pods can use on a node of this type: capacity less
// overhead, never below zero.
func (it *InstanceType) Allocatable() corev1.ResourceList {
	out := corev1.ResourceList{}
	total := it.Overhead.Total()
	for name, capacity := range it.Capacity {
		q := capacity.DeepCopy()
		if o, ok := total[name]; ok {
			q.Sub(o)
		}
		if q.Sign() < 0 {
			q = resource.Quantity{Format: q.Format}
		}
		out[name] = q
	}
	return out
}

// Overhead is the part of a node's capacity that pods cannot use.
type Overhead struct {
	// KubeReserved is reserved for the kubelet and container runtime.
	KubeReserved corev1.ResourceList
	// SystemReserved is reserved for the operating system.
	SystemReserved corev1.ResourceList
	// EvictionThreshold is the free memory or disk below which the kubelet
	// evicts pods.
	EvictionThreshold corev1.ResourceList
}

// Total is the sum of all overheads. (apimachinery has no ResourceList sum;
// k8s.io/apiserver's quota helpers would bring admission and CEL into the
// core.)
func (o Overhead) Total() corev1.ResourceList {
	out := corev1.ResourceList{}
	for _, list := range []corev1.ResourceList{o.KubeReserved, o.SystemReserved, o.EvictionThreshold} {
		for name, q := range list {
			sum := out[name]
			sum.Add(q)
			out[name] = sum
		}
	}
	return out
}

// Offering is one zone and capacity type an instance type is sold in, at a
// price.
type Offering struct {
	// Zone is the topology.kubernetes.io/zone of the offering.
	Zone string
	// CapacityType is on-demand, spot or reserved.
	CapacityType string
	// Price is the hourly price in US dollars.
	Price float64
	// Available is false when the cloud has no capacity for the offering
	// right now (it reported insufficient capacity recently).
	Available bool
}

// Offerings are the offerings of one instance type.
type Offerings []Offering

// Available returns the offerings that can be bought now.
func (os Offerings) Available() Offerings {
	return slices.DeleteFunc(slices.Clone(os), func(o Offering) bool { return !o.Available })
}

// Compatible returns the offerings whose zone and capacity type reqs allow.
func (os Offerings) Compatible(reqs requirements.Requirements) Offerings {
	zone, capacityType := reqs.Get(corev1.LabelTopologyZone), reqs.Get(v1.LabelCapacityType)
	return slices.DeleteFunc(slices.Clone(os), func(o Offering) bool {
		return (zone != nil && !zone.Allows(o.Zone)) || (capacityType != nil && !capacityType.Allows(o.CapacityType))
	})
}

// Cheapest returns the offering with the lowest price, breaking ties by zone
// and capacity type so that the choice is deterministic, and false when there
// are none.
func (os Offerings) Cheapest() (Offering, bool) {
	if len(os) == 0 {
		return Offering{}, false
	}
	return slices.MinFunc(os, func(a, b Offering) int {
		return cmp.Or(cmp.Compare(a.Price, b.Price), cmp.Compare(a.Zone, b.Zone), cmp.Compare(a.CapacityType, b.CapacityType))
	}), true
}

// ownLabel reports whether an instance type, rather than its offering or the
// NodePool, decides a label's value. Zone and capacity type vary by offering,
// the NodePool label by pool, and custom labels come from the pool's
// template, so an instance type says nothing about them.
func ownLabel(key string) bool {
	switch key {
	case corev1.LabelTopologyZone, v1.LabelCapacityType, v1.LabelNodePool:
		return false
	}
	return v1.WellKnownLabels[key]
}

// Compatible reports whether a node of this type can satisfy reqs, as far as
// the type decides: a type without GPUs cannot satisfy a requirement on the
// GPU name, but any type can carry a custom label the NodePool sets.
func (it *InstanceType) Compatible(reqs requirements.Requirements) error {
	return it.Requirements.Compatible(reqs, func(key string) bool { return !ownLabel(key) })
}

// Fits reports whether requests fit within the type's allocatable resources,
// and if not, which resource is short.
func (it *InstanceType) Fits(requests corev1.ResourceList) (corev1.ResourceName, bool) {
	allocatable := it.Allocatable()
	for name, want := range requests {
		if want.IsZero() {
			continue
		}
		have, ok := allocatable[name]
		if !ok || have.Cmp(want) < 0 {
			return name, false
		}
	}
	return "", true
}

// Price is the hourly price of a launched NodeClaim's offering among its,
// or 0 when it is not launched or the offering is unknown.
func Price(nc *v1.NodeClaim, its []*InstanceType) float64 {
	name := nc.Labels[corev1.LabelInstanceTypeStable]
	zone, capacityType := nc.Labels[corev1.LabelTopologyZone], nc.Labels[v1.LabelCapacityType]
	for _, it := range its {
		if it.Name != name {
			continue
		}
		for _, o := range it.Offerings {
			if o.Zone == zone && o.CapacityType == capacityType {
				return o.Price
			}
		}
	}
	return 0
}

// NodeClaimRequirements returns the NodeClaim's requirements as a set.
func NodeClaimRequirements(nodeClaim *v1.NodeClaim) (requirements.Requirements, error) {
	reqs := requirements.Requirements{}
	for _, r := range nodeClaim.Spec.Requirements {
		req, err := requirements.New(r.Key, requirements.Operator(r.Operator), r.Values...)
		if err != nil {
			return nil, fmt.Errorf("NodeClaim %s: %w", nodeClaim.Name, err)
		}
		reqs.Add(req)
	}
	return reqs, nil
}
