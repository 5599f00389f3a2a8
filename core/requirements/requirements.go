package requirements

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Requirements maps label keys to the requirement on each. A key that is not
// in the map is unconstrained.
type Requirements map[string]*Requirement

// NewRequirements combines requirements; two on the same key are intersected.
func NewRequirements(rs ...*Requirement) Requirements {
	out := make(Requirements, len(rs))
	for _, r := range rs {
		out.Add(r)
	}
	return out
}

// FromNodeSelector converts Kubernetes node selector requirements, such as one
// term of a pod's required node affinity.
func FromNodeSelector(terms []corev1.NodeSelectorRequirement) (Requirements, error) {
	out := make(Requirements, len(terms))
	for _, t := range terms {
		r, err := New(t.Key, Operator(t.Operator), t.Values...)
		if err != nil {
			return nil, err
		}
		out.Add(r)
	}
	return out, nil
}

// FromLabels returns the requirements that exactly the given labels satisfy
// on their keys, e.g. for a pod's nodeSelector.
func FromLabels(labels map[string]string) Requirements {
	out := make(Requirements, len(labels))
	for k, v := range labels {
		out[k] = &Requirement{Key: k, values: []string{v}}
	}
	return out
}

// Add intersects r into rs.
func (rs Requirements) Add(r *Requirement) {
	if existing, ok := rs[r.Key]; ok {
		rs[r.Key] = existing.Intersect(r)
		return
	}
	rs[r.Key] = r
}

// Merge returns a new set that holds the intersection of rs and o.
func (rs Requirements) Merge(o Requirements) Requirements {
	out := maps.Clone(rs)
	if out == nil {
		out = Requirements{}
	}
	for _, r := range o {
		out.Add(r)
	}
	return out
}

// Keys returns the constrained keys in sorted order.
func (rs Requirements) Keys() []string {
	return slices.Sorted(maps.Keys(rs))
}

// Get returns the requirement on key, or nil when key is unconstrained.
func (rs Requirements) Get(key string) *Requirement { return rs[key] }

// Matches reports whether a node with the given labels satisfies every
// requirement.
func (rs Requirements) Matches(labels map[string]string) bool {
	for _, r := range rs {
		if !r.Matches(labels) {
			return false
		}
	}
	return true
}

// Labels returns the labels that every node satisfying rs must carry: those
// of the keys whose requirement allows exactly one value and no absence.
func (rs Requirements) Labels() map[string]string {
	out := map[string]string{}
	for k, r := range rs {
		if !r.absentAllowed && !r.complement && len(r.values) == 1 {
			out[k] = r.values[0]
		}
	}
	return out
}

// Unsatisfiable returns the first key (in sorted order) whose requirement no
// node can satisfy, or "" when every key is satisfiable.
func (rs Requirements) Unsatisfiable() string {
	for _, k := range rs.Keys() {
		if !rs[k].Satisfiable() {
			return k
		}
	}
	return ""
}

// IncompatibleError explains why two sets of requirements cannot both hold.
type IncompatibleError struct {
	Key string
	// Have and Want describe the two sides, as Requirement.String does.
	Have, Want string
	// Undefined is true when Want needs a label that Have does not define.
	Undefined bool
}

func (e *IncompatibleError) Error() string {
	if e.Undefined {
		return fmt.Sprintf("label %s is required (%s) but not defined", e.Key, e.Want)
	}
	return fmt.Sprintf("%s conflicts with %s", e.Want, e.Have)
}

// Compatible reports whether a node can satisfy both rs (what a NodePool or
// instance type offers) and want (what a pod asks for).
//
// For a key that want constrains and rs does not, the node's label depends on
// who sets it: definedElsewhere reports the keys whose values come from
// elsewhere (for example the well-known labels an instance type or offering
// sets), which are then left to that source. Any other key is a custom label
// that rs would have to set itself, so the node will not have it, and want is
// satisfied only if it allows the label to be absent. definedElsewhere may be
// nil.
func (rs Requirements) Compatible(want Requirements, definedElsewhere func(key string) bool) error {
	for _, k := range want.Keys() {
		w := want[k]
		have, ok := rs[k]
		if !ok {
			if w.absentAllowed || (definedElsewhere != nil && definedElsewhere(k)) {
				continue
			}
			return &IncompatibleError{Key: k, Want: w.String(), Undefined: true}
		}
		if !have.Intersect(w).Satisfiable() {
			return &IncompatibleError{Key: k, Have: have.String(), Want: w.String()}
		}
	}
	return nil
}

// Intersects reports whether some node can satisfy both rs and o, treating
// keys that only one side constrains as free.
func (rs Requirements) Intersects(o Requirements) error {
	return rs.Compatible(o, func(string) bool { return true })
}

// String describes the set for people, one requirement per key, sorted.
func (rs Requirements) String() string {
	parts := make([]string, 0, len(rs))
	for _, k := range rs.Keys() {
		parts = append(parts, rs[k].String())
	}
	return strings.Join(parts, ", ")
}

// NodeSelectorRequirements converts rs back to Kubernetes node selector
// requirements (one AND-ed term), sorted by key. A requirement that no single
// operator expresses becomes several on the same key. A finite set that also
// allows absence ("a, or no label") needs an OR and arises only from
// Complement; it is written as In, which is stricter, never looser.
func (rs Requirements) NodeSelectorRequirements() []corev1.NodeSelectorRequirement {
	out := make([]corev1.NodeSelectorRequirement, 0, len(rs))
	add := func(key string, op Operator, values ...string) {
		out = append(out, corev1.NodeSelectorRequirement{Key: key, Operator: corev1.NodeSelectorOperator(op), Values: values})
	}
	for _, k := range rs.Keys() {
		r := rs[k]
		if op, values := r.Operator(); op != "" {
			add(k, op, values...)
			continue
		}
		switch {
		case !r.complement && len(r.values) > 0:
			add(k, OpIn, slices.Clone(r.values)...)
		case !r.complement && r.absentAllowed:
			add(k, OpDoesNotExist)
		case !r.complement:
			// Nothing satisfies it; say so in a form the API accepts.
			add(k, OpExists)
			add(k, OpDoesNotExist)
		default:
			if len(r.values) > 0 {
				add(k, OpNotIn, slices.Clone(r.values)...)
			}
			if r.greaterThan != nil {
				add(k, OpGt, strconv.FormatInt(*r.greaterThan, 10))
			}
			if r.lessThan != nil {
				add(k, OpLt, strconv.FormatInt(*r.lessThan, 10))
			}
			if r.greaterThan == nil && r.lessThan == nil && !r.absentAllowed {
				add(k, OpExists)
			}
		}
	}
	return out
}
