// Package launch turns the scheduling core's decisions into what is
// launched: the NodeClaim object for a decision, and the room a NodePool's
// limits leave for more. Provisioning and disruption (which launches
// replacements) both use it, so it is pure and lives below them.
package launch

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/core/instancetype"
	"github.com/tailor-sh/tailor/core/scheduling"
)

// ResourceNodes is the pseudo-resource by which a NodePool limits its number
// of nodes.
const ResourceNodes corev1.ResourceName = "nodes"

// Budget is what a NodePool may still launch. The provisioner decides one
// batch at a time, so charging every claim here, launched or not, at the
// most it can turn out to be keeps the pool within its limits however many
// batches are in flight. (Disruption launches replacements for nodes about
// to go, so a pool may briefly hold both; see Remaining.)
type Budget struct {
	// remaining is nil when the pool has no limits.
	remaining corev1.ResourceList
	types     map[string]*instancetype.InstanceType
}

// NewBudget charges the pool's limits for its claims.
func NewBudget(pool *v1.NodePool, its []*instancetype.InstanceType, claims []*v1.NodeClaim) *Budget {
	b := &Budget{types: make(map[string]*instancetype.InstanceType, len(its))}
	for _, it := range its {
		b.types[it.Name] = it
	}
	if len(pool.Spec.Limits) == 0 {
		return b
	}
	b.remaining = pool.Spec.Limits.DeepCopy()
	for _, nc := range claims {
		b.charge(b.mostOf(nc))
	}
	return b
}

// mostOf is the most a claim's node may hold: its capacity once launched,
// before that the largest capacity among the instance types it allows.
func (b *Budget) mostOf(nc *v1.NodeClaim) corev1.ResourceList {
	out := corev1.ResourceList{ResourceNodes: resource.MustParse("1")}
	if len(nc.Status.Capacity) > 0 {
		for name, q := range nc.Status.Capacity {
			out[name] = q.DeepCopy()
		}
		return out
	}
	var names []string
	for _, r := range nc.Spec.Requirements {
		if r.Key == corev1.LabelInstanceTypeStable && r.Operator == corev1.NodeSelectorOpIn {
			names = r.Values
		}
	}
	known := 0
	for _, name := range names {
		if it, ok := b.types[name]; ok {
			known++
			maxInto(out, it.Capacity)
		}
	}
	if known == 0 {
		// Nothing to go by but what the pods asked for.
		maxInto(out, nc.Spec.Resources.Requests)
	}
	return out
}

// maxInto raises each quantity of into to list's where list's is larger.
// apimachinery has no ResourceList arithmetic; k8s.io/apiserver's quota
// helpers do, but would bring admission and CEL into the pure core.
func maxInto(into, list corev1.ResourceList) {
	for name, q := range list {
		if have, ok := into[name]; !ok || q.Cmp(have) > 0 {
			into[name] = q.DeepCopy()
		}
	}
}

func (b *Budget) fits(use corev1.ResourceList) bool {
	if b.remaining == nil {
		return true
	}
	for name, limit := range b.remaining {
		if q, ok := use[name]; ok && q.Cmp(limit) > 0 {
			return false
		}
	}
	return true
}

func (b *Budget) charge(use corev1.ResourceList) {
	if b.remaining == nil {
		return
	}
	for name, limit := range b.remaining {
		if q, ok := use[name]; ok {
			limit.Sub(q)
			b.remaining[name] = limit
		}
	}
}

// Admit keeps the candidates whose nodes the pool can still afford and
// charges the pool for the largest of them. It returns false, with the
// candidates untouched, when none fits.
func (b *Budget) Admit(nc *scheduling.NewNodeClaim) ([]scheduling.Candidate, bool) {
	if b.remaining == nil {
		return nc.Candidates, true
	}
	one := resource.MustParse("1")
	most := corev1.ResourceList{ResourceNodes: one}
	var kept []scheduling.Candidate
	for _, c := range nc.Candidates {
		use := c.InstanceType.Capacity.DeepCopy()
		use[ResourceNodes] = one
		if b.fits(use) {
			kept = append(kept, c)
			maxInto(most, use)
		}
	}
	if len(kept) == 0 {
		return nil, false
	}
	b.charge(most)
	return kept, true
}

// Remaining returns a copy of what the pool may still launch, or nil when
// it has no limits.
func (b *Budget) Remaining() corev1.ResourceList {
	if b.remaining == nil {
		return nil
	}
	return b.remaining.DeepCopy()
}

// Remaining is what the pool may still launch within its limits when it has
// claims (launched or not, each charged at the most it can become), or nil
// when the pool has no limits.
func Remaining(pool *v1.NodePool, its []*instancetype.InstanceType, claims []*v1.NodeClaim) corev1.ResourceList {
	return NewBudget(pool, its, claims).remaining
}

// NewNodeClaim makes the NodeClaim object for a decision of the core,
// allowing only the given candidates of the decision.
func NewNodeClaim(pool *v1.NodePool, decision *scheduling.NewNodeClaim, candidates []scheduling.Candidate) *v1.NodeClaim {
	template := pool.Spec.Template
	labels := map[string]string{}
	for k, v := range template.ObjectMeta.Labels {
		labels[k] = v
	}
	labels[v1.LabelNodePool] = pool.Name
	annotations := map[string]string{v1.AnnotationNodePoolHash: pool.TemplateHash(), v1.AnnotationNodePoolHashVersion: v1.TemplateHashVersion}
	for k, v := range template.ObjectMeta.Annotations {
		annotations[k] = v
	}
	minValues := map[string]*int{}
	for _, r := range template.Spec.Requirements {
		if r.MinValues != nil {
			minValues[r.Key] = r.MinValues
		}
	}
	names := make([]string, len(candidates))
	for i, c := range candidates {
		names[i] = c.InstanceType.Name
	}
	var reqs []v1.NodeSelectorRequirementWithMinValues
	for _, r := range decision.Requirements.NodeSelectorRequirements() {
		if r.Key == corev1.LabelInstanceTypeStable && r.Operator == corev1.NodeSelectorOpIn {
			r.Values = names
		}
		reqs = append(reqs, v1.NodeSelectorRequirementWithMinValues{Key: r.Key, Operator: r.Operator, Values: r.Values, MinValues: minValues[r.Key]})
	}
	return &v1.NodeClaim{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: pool.Name + "-",
			Labels:       labels,
			Annotations:  annotations,
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: v1.SchemeGroupVersion.String(), Kind: "NodePool", Name: pool.Name, UID: pool.UID,
			}},
		},
		Spec: v1.NodeClaimSpec{
			Taints:                 template.Spec.Taints,
			StartupTaints:          template.Spec.StartupTaints,
			Requirements:           reqs,
			Resources:              v1.ResourceRequirements{Requests: decision.Requests},
			NodeClassRef:           template.Spec.NodeClassRef,
			TerminationGracePeriod: template.Spec.TerminationGracePeriod,
			ExpireAfter:            template.Spec.ExpireAfter,
		},
	}
}
