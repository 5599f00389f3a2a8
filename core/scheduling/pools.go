package scheduling

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	resourcehelper "k8s.io/component-helpers/resource"
	"k8s.io/klog/v2"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/core/instancetype"
	"github.com/tailor-sh/tailor/core/requirements"
)

// pool is a NodePool prepared for one decision.
type pool struct {
	name   string
	weight int32
	source *v1.NodePool
	// reqs are the template's requirements and labels, and the pool label.
	reqs   requirements.Requirements
	taints []corev1.Taint
	types  []*poolType
	// limits is what the pool may still launch, as given; remaining is the
	// same as a vector, less what this decision launches. nil means no
	// limits.
	limits    corev1.ResourceList
	remaining vec
	// remainingNodes is how many more nodes it may launch; -1 means
	// unlimited.
	remainingNodes int64
}

// poolType is an instance type as a node of one pool.
type poolType struct {
	it       *instancetype.InstanceType
	capacity vec
	// free is what pods can use: allocatable less the pool's DaemonSet pods
	// that would run on the node.
	free   vec
	daemon vec
	// offerings are available and allowed by the pool.
	offerings instancetype.Offerings
}

// preparePools prepares the NodePools, heaviest first. A pool whose
// requirements are invalid (the API server rejects such pools, but callers
// may build them by hand) is left out, with a warning.
func preparePools(d *dims, in []*NodePool, daemonSets []*appsv1.DaemonSet) ([]*pool, []string) {
	var daemonPods []*corev1.Pod
	for _, ds := range daemonSets {
		daemonPods = append(daemonPods, &corev1.Pod{ObjectMeta: ds.Spec.Template.ObjectMeta, Spec: ds.Spec.Template.Spec})
	}
	daemonClasses := classify(d, daemonPods, nil, nil, nil)
	var out []*pool
	var warnings []string
	for _, np := range in {
		p, err := newPool(d, np, daemonClasses)
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("NodePool %s is left out: %v", np.NodePool.Name, err))
			continue
		}
		out = append(out, p)
	}
	// Dimensions registered by later pools apply to the earlier ones too.
	for _, p := range out {
		p.resizeVectors(d)
	}
	slices.SortStableFunc(out, func(a, b *pool) int { return cmp.Or(cmp.Compare(b.weight, a.weight), strings.Compare(a.name, b.name)) })
	return out, warnings
}

// newPool prepares one NodePool: its requirements, its limits, and the
// instance types it can launch, less what its DaemonSets' pods take on
// each. It fails when a requirement is invalid.
func newPool(d *dims, np *NodePool, daemonClasses []*podClass) (*pool, error) {
	p := &pool{name: np.NodePool.Name, source: np.NodePool, taints: np.NodePool.Spec.Template.Spec.Taints, remainingNodes: -1}
	if w := np.NodePool.Spec.Weight; w != nil {
		p.weight = *w
	}
	p.reqs = requirements.FromLabels(np.NodePool.Spec.Template.ObjectMeta.Labels)
	p.reqs.Add(requirements.MustNew(v1.LabelNodePool, requirements.OpIn, np.NodePool.Name))
	for _, r := range np.NodePool.Spec.Template.Spec.Requirements {
		req, err := requirements.New(r.Key, requirements.Operator(r.Operator), r.Values...)
		if err != nil {
			return nil, err
		}
		if r.MinValues != nil {
			req.MinValues = *r.MinValues
		}
		p.reqs.Add(req)
	}
	if np.Remaining != nil {
		p.limits = np.Remaining.DeepCopy()
		if n, ok := p.limits[corev1.ResourceName("nodes")]; ok {
			p.remainingNodes = max(n.Value(), 0)
			delete(p.limits, "nodes")
		}
		d.fromList(p.limits, true) // register the dimensions
	}
	for _, it := range np.InstanceTypes {
		if pt := p.newType(d, it, daemonClasses); pt != nil {
			p.types = append(p.types, pt)
		}
	}
	return p, nil
}

// newType is an instance type as a node of the pool, with what the pool's
// DaemonSet pods that would run there take off it; nil when the pool's
// requirements rule it out or leave it no available offering.
func (p *pool) newType(d *dims, it *instancetype.InstanceType, daemonClasses []*podClass) *poolType {
	if it.Compatible(p.reqs) != nil {
		return nil
	}
	offerings := it.Offerings.Compatible(p.reqs).Available()
	if len(offerings) == 0 {
		return nil
	}
	pt := &poolType{it: it, capacity: d.fromList(it.Capacity, true), offerings: offerings}
	pt.free = d.fromList(it.Allocatable(), true)
	pt.daemon = d.zero()
	labels := it.Requirements.Labels()
	for k, v := range p.reqs.Labels() {
		labels[k] = v
	}
	for _, dc := range daemonClasses {
		if tolerates(dc.tolerations, p.taints) && dc.runsOn(labels, it.Requirements.Merge(p.reqs)) {
			pt.daemon.add(dc.requests)
		}
	}
	pt.free.sub(pt.daemon)
	return pt
}

// resizeVectors brings the pool's vectors to the final dimensions, and
// makes its limits a vector (resources without a limit have no end).
func (p *pool) resizeVectors(d *dims) {
	for _, t := range p.types {
		t.capacity, t.free, t.daemon = d.resize(t.capacity), d.resize(t.free), d.resize(t.daemon)
	}
	if p.limits != nil {
		p.remaining = d.zero()
		for i, name := range d.names {
			p.remaining[i] = math.MaxInt64
			if q, ok := p.limits[name]; ok {
				p.remaining[i] = max(quantity(name, q), 0)
			}
		}
	}
}

// runsOn reports whether a DaemonSet's pod would run on a node with the given
// labels (and whose other labels are constrained by reqs).
func (c *podClass) runsOn(labels map[string]string, reqs requirements.Requirements) bool {
	if c.err != nil {
		return false
	}
	for _, term := range c.terms {
		if reqs.Intersects(term) == nil && matchesKnown(term, labels) {
			return true
		}
	}
	return false
}

// matchesKnown checks a term against the labels that are known, leaving keys
// without a known value to the caller.
func matchesKnown(term requirements.Requirements, labels map[string]string) bool {
	for _, key := range term.Keys() {
		if v, ok := labels[key]; ok && !term[key].Allows(v) {
			return false
		}
	}
	return true
}

// tolerates reports whether tolerations let a pod onto a node with taints.
// PreferNoSchedule taints are preferences and never keep a pod off.
func tolerates(tolerations []corev1.Toleration, taints []corev1.Taint) bool {
	_, ok := untolerated(tolerations, taints)
	return ok
}

func untolerated(tolerations []corev1.Toleration, taints []corev1.Taint) (corev1.Taint, bool) {
	for i := range taints {
		taint := &taints[i]
		if taint.Effect == corev1.TaintEffectPreferNoSchedule {
			continue
		}
		ok := false
		for j := range tolerations {
			if tolerations[j].ToleratesTaint(klog.Background(), taint, false) {
				ok = true
				break
			}
		}
		if !ok {
			return *taint, false
		}
	}
	return corev1.Taint{}, true
}

// usedBy sums the requests of pods.
func usedBy(d *dims, pods []*corev1.Pod) vec {
	used := d.zero()
	for _, pod := range pods {
		r := d.fromList(resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{}), false)
		r[dimPods] = 1
		used.add(r)
	}
	return used
}
