package status

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/core/instancetype"
	"github.com/tailor-sh/tailor/core/requirements"
)

// ReasonNoInstanceType is the reason of a pool's Ready condition, and of
// the event published when it turns so, when no instance type of its node
// class meets its requirements: the pool can launch nothing.
const ReasonNoInstanceType = "NoInstanceType"

// noInstanceType says why no instance type of its node class can be a node
// of the pool, naming the requirement (or the two) that rules every one
// out, or returns "" when some can. It looks at every offering, available
// or not: a type short of capacity for now is not ruled out.
func noInstanceType(pool *v1.NodePool, its []*instancetype.InstanceType) string {
	if len(its) == 0 {
		return "the node class offers no instance types, so the pool can launch nothing"
	}
	reqs, err := poolRequirements(pool)
	if err != nil {
		return err.Error()
	}
	if k := reqs.Unsatisfiable(); k != "" {
		return fmt.Sprintf("the requirements on %s allow no value (%s)", k, describe(pool, k))
	}
	fit := meeting(its, reqs)
	if len(fit) == 0 {
		return fmt.Sprintf("%s; the node class offers %s", culprit(its, reqs), names(its))
	}
	for _, k := range reqs.Keys() {
		want := reqs[k].MinValues
		if want == 0 {
			continue
		}
		if values := distinct(fit, reqs, k); len(values) < want {
			return fmt.Sprintf("%s has minValues %d, but the instance types that meet the pool's requirements have only %d values of it (%s)",
				k, want, len(values), strings.Join(values, ", "))
		}
	}
	return ""
}

// poolRequirements are what every node of the pool must satisfy: the
// template's labels and its requirements, as the scheduling core reads them.
func poolRequirements(pool *v1.NodePool) (requirements.Requirements, error) {
	reqs := requirements.FromLabels(pool.Spec.Template.ObjectMeta.Labels)
	for _, r := range pool.Spec.Template.Spec.Requirements {
		req, err := requirements.New(r.Key, requirements.Operator(r.Operator), r.Values...)
		if err != nil {
			return nil, fmt.Errorf("requirement on %s cannot be read: %w", r.Key, err)
		}
		if r.MinValues != nil {
			req.MinValues = *r.MinValues
		}
		reqs.Add(req)
	}
	return reqs, nil
}

// meets reports whether a node of type it, in one of its offerings, can
// satisfy reqs.
func meets(it *instancetype.InstanceType, reqs requirements.Requirements) bool {
	return it.Compatible(reqs) == nil && len(it.Offerings.Compatible(reqs)) > 0
}

func meeting(its []*instancetype.InstanceType, reqs requirements.Requirements) []*instancetype.InstanceType {
	var out []*instancetype.InstanceType
	for _, it := range its {
		if meets(it, reqs) {
			out = append(out, it)
		}
	}
	return out
}

// culprit names what rules out every type: each requirement that no type
// meets on its own, or else the first two that no type meets together, or
// else all of them.
func culprit(its []*instancetype.InstanceType, reqs requirements.Requirements) string {
	keys := reqs.Keys()
	var alone []string
	for _, k := range keys {
		if len(meeting(its, requirements.Requirements{k: reqs[k]})) == 0 {
			alone = append(alone, "no instance type has "+reqs[k].String())
		}
	}
	if len(alone) > 0 {
		return strings.Join(alone, "; ")
	}
	for i, a := range keys {
		for _, b := range keys[i+1:] {
			if len(meeting(its, requirements.Requirements{a: reqs[a], b: reqs[b]})) == 0 {
				return fmt.Sprintf("no instance type has both %s and %s", reqs[a], reqs[b])
			}
		}
	}
	return "no instance type meets all of " + reqs.String()
}

// distinct returns, sorted, the values of key that the types (in their
// offerings that reqs allow, for zone and capacity type) give a node.
func distinct(its []*instancetype.InstanceType, reqs requirements.Requirements, key string) []string {
	set := map[string]bool{}
	for _, it := range its {
		switch key {
		case corev1.LabelTopologyZone:
			for _, o := range it.Offerings.Compatible(reqs) {
				set[o.Zone] = true
			}
		case v1.LabelCapacityType:
			for _, o := range it.Offerings.Compatible(reqs) {
				set[o.CapacityType] = true
			}
		default:
			if v, ok := it.Requirements.Labels()[key]; ok {
				set[v] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// describe lists the pool's requirements on key as written.
func describe(pool *v1.NodePool, key string) string {
	var parts []string
	if v, ok := pool.Spec.Template.ObjectMeta.Labels[key]; ok {
		parts = append(parts, fmt.Sprintf("label %s=%s", key, v))
	}
	for _, r := range pool.Spec.Template.Spec.Requirements {
		if r.Key == key {
			parts = append(parts, strings.TrimSpace(fmt.Sprintf("%s %s %s", r.Key, r.Operator, bracket(r.Values))))
		}
	}
	return strings.Join(parts, " and ")
}

func bracket(values []string) string {
	if len(values) == 0 {
		return ""
	}
	return "[" + strings.Join(values, " ") + "]"
}

// names lists up to five of the types' names, and how many there are.
func names(its []*instancetype.InstanceType) string {
	all := make([]string, len(its))
	for i, it := range its {
		all[i] = it.Name
	}
	slices.Sort(all)
	if len(all) == 1 {
		return "1 instance type (" + all[0] + ")"
	}
	if len(all) > 5 {
		return fmt.Sprintf("%d instance types (%s, …)", len(all), strings.Join(all[:5], ", "))
	}
	return fmt.Sprintf("%d instance types (%s)", len(all), strings.Join(all, ", "))
}
