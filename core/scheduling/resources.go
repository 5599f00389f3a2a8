package scheduling

import (
	"math"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// dims maps resource names to positions in a vector. cpu, memory, pods and
// ephemeral-storage always come first; extended resources (GPUs) follow in
// the order they are met.
type dims struct {
	names []corev1.ResourceName
	index map[corev1.ResourceName]int
}

const (
	dimCPU = iota
	dimMemory
	dimPods
	dimEphemeral
)

func newDims() *dims {
	d := &dims{index: map[corev1.ResourceName]int{}}
	for _, n := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourcePods, corev1.ResourceEphemeralStorage} {
		d.add(n)
	}
	return d
}

func (d *dims) add(name corev1.ResourceName) int {
	if i, ok := d.index[name]; ok {
		return i
	}
	d.index[name] = len(d.names)
	d.names = append(d.names, name)
	return len(d.names) - 1
}

// vec is an amount of each resource: millicores for cpu, units for the rest.
type vec []int64

func (d *dims) zero() vec { return make(vec, len(d.names)) }

// fromList converts a resource list, adding unknown resource names as new
// dimensions when grow is set and ignoring them otherwise.
func (d *dims) fromList(list corev1.ResourceList, grow bool) vec {
	if grow {
		for name := range list {
			d.add(name)
		}
	}
	v := d.zero()
	for name, q := range list {
		i, ok := d.index[name]
		if !ok {
			continue
		}
		v[i] = quantity(name, q)
	}
	return v
}

func quantity(name corev1.ResourceName, q resource.Quantity) int64 {
	if name == corev1.ResourceCPU {
		return q.MilliValue()
	}
	return q.Value()
}

func (d *dims) toList(v vec) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i, x := range v {
		if x == 0 {
			continue
		}
		if d.names[i] == corev1.ResourceCPU {
			out[d.names[i]] = *resource.NewMilliQuantity(x, resource.DecimalSI)
		} else if d.names[i] == corev1.ResourceMemory || d.names[i] == corev1.ResourceEphemeralStorage {
			out[d.names[i]] = *resource.NewQuantity(x, resource.BinarySI)
		} else {
			out[d.names[i]] = *resource.NewQuantity(x, resource.DecimalSI)
		}
	}
	return out
}

// resize pads v with zeros to the current number of dimensions.
func (d *dims) resize(v vec) vec {
	for len(v) < len(d.names) {
		v = append(v, 0)
	}
	return v
}

func (v vec) add(o vec) {
	for i := range o {
		v[i] += o[i]
	}
}

func (v vec) sub(o vec) {
	for i := range o {
		v[i] -= o[i]
	}
}

func (v vec) addTimes(o vec, k int64) {
	for i := range o {
		v[i] += o[i] * k
	}
}

// fits reports whether o fits within v, and the first dimension that does
// not fit otherwise.
func (v vec) fits(o vec) (int, bool) {
	for i := range o {
		if o[i] > v[i] {
			return i, false
		}
	}
	return -1, true
}

// times is how many copies of o fit in v (math.MaxInt64 when o is zero).
func (v vec) times(o vec) int64 {
	n := int64(math.MaxInt64)
	for i := range o {
		if o[i] <= 0 {
			continue
		}
		if v[i] <= 0 {
			return 0
		}
		n = min(n, v[i]/o[i])
	}
	return n
}

func (v vec) clone() vec { return append(vec(nil), v...) }
