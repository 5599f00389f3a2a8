package requirements

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Operator is a node selector operator, spelled as in the Kubernetes API.
type Operator string

// The operators of corev1.NodeSelectorOperator.
const (
	OpIn           Operator = "In"
	OpNotIn        Operator = "NotIn"
	OpExists       Operator = "Exists"
	OpDoesNotExist Operator = "DoesNotExist"
	OpGt           Operator = "Gt"
	OpLt           Operator = "Lt"
)

// Requirement is the set of values that one label key may take.
//
// The zero value is not meaningful; build one with New.
type Requirement struct {
	// Key is the label key.
	Key string
	// complement is true when values lists the excluded values rather than the
	// allowed ones.
	complement bool
	// values is sorted and free of duplicates.
	values []string
	// greaterThan and lessThan are exclusive integer bounds; when set, a value
	// must parse as a base-10 integer within them.
	greaterThan *int64
	lessThan    *int64
	// absentAllowed is true when a node without the label satisfies the
	// requirement.
	absentAllowed bool
	// MinValues is the least number of distinct values that the candidates
	// for a launch must still cover. Zero means no minimum.
	MinValues int
}

// New builds the requirement for key under op with the given values. It
// returns an error when the values do not fit the operator, in the words the
// API server's validation uses.
func New(key string, op Operator, values ...string) (*Requirement, error) {
	r := &Requirement{Key: key}
	switch op {
	case OpIn:
		if len(values) == 0 {
			return nil, fmt.Errorf("requirement %s: operator In requires at least one value", key)
		}
		r.values = normalize(values)
	case OpNotIn:
		r.complement, r.absentAllowed = true, true
		r.values = normalize(values)
	case OpExists:
		if len(values) != 0 {
			return nil, fmt.Errorf("requirement %s: operator Exists takes no values", key)
		}
		r.complement = true
	case OpDoesNotExist:
		if len(values) != 0 {
			return nil, fmt.Errorf("requirement %s: operator DoesNotExist takes no values", key)
		}
		r.absentAllowed = true
	case OpGt, OpLt:
		if len(values) != 1 {
			return nil, fmt.Errorf("requirement %s: operator %s requires exactly one integer value", key, op)
		}
		n, err := strconv.ParseInt(values[0], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("requirement %s: operator %s requires an integer value, got %q", key, op, values[0])
		}
		r.complement = true
		if op == OpGt {
			r.greaterThan = &n
		} else {
			r.lessThan = &n
		}
	default:
		return nil, fmt.Errorf("requirement %s: unknown operator %q", key, op)
	}
	return r, nil
}

// MustNew is New for values known to be valid, such as constants in code.
// It panics on error and must never see user input.
func MustNew(key string, op Operator, values ...string) *Requirement {
	r, err := New(key, op, values...)
	if err != nil {
		panic(err)
	}
	return r
}

func normalize(values []string) []string {
	out := slices.Clone(values)
	slices.Sort(out)
	return slices.Compact(out)
}

// Allows reports whether a node whose label key has the given value satisfies
// the requirement.
func (r *Requirement) Allows(value string) bool {
	if r.greaterThan != nil || r.lessThan != nil {
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil || !r.withinBounds(n) {
			return false
		}
	}
	_, found := slices.BinarySearch(r.values, value)
	return found != r.complement
}

// AllowsAbsent reports whether a node without the label satisfies the
// requirement.
func (r *Requirement) AllowsAbsent() bool { return r.absentAllowed }

// Matches reports whether a node's labels satisfy the requirement.
func (r *Requirement) Matches(labels map[string]string) bool {
	value, ok := labels[r.Key]
	if !ok {
		return r.absentAllowed
	}
	return r.Allows(value)
}

func (r *Requirement) withinBounds(n int64) bool {
	return (r.greaterThan == nil || n > *r.greaterThan) && (r.lessThan == nil || n < *r.lessThan)
}

// Intersect returns the requirement that allows exactly what both r and o
// allow. The keys must be equal. MinValues is the larger of the two.
func (r *Requirement) Intersect(o *Requirement) *Requirement {
	out := &Requirement{
		Key:           r.Key,
		absentAllowed: r.absentAllowed && o.absentAllowed,
		greaterThan:   maxBound(r.greaterThan, o.greaterThan),
		lessThan:      minBound(r.lessThan, o.lessThan),
		MinValues:     max(r.MinValues, o.MinValues),
	}
	switch {
	case !r.complement && !o.complement:
		out.values = intersectSorted(r.values, o.values)
	case !r.complement && o.complement:
		out.values = subtractSorted(r.values, o.values)
	case r.complement && !o.complement:
		out.values = subtractSorted(o.values, r.values)
	default:
		out.complement = true
		out.values = unionSorted(r.values, o.values)
	}
	out.canonicalize()
	return out
}

// smallRange is how many integers beyond its exclusions a bounded range may
// hold and still be turned into a finite list.
const smallRange = 64

// canonicalize drops finite values that the bounds exclude, and turns a
// bounded complement whose integer range is exhausted into the empty set, so
// that Empty and Len need not reason about bounds.
func (r *Requirement) canonicalize() {
	if r.greaterThan == nil && r.lessThan == nil {
		return
	}
	if !r.complement {
		r.values = slices.DeleteFunc(r.values, func(v string) bool {
			n, err := strconv.ParseInt(v, 10, 64)
			return err != nil || !r.withinBounds(n)
		})
		return
	}
	lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
	if r.greaterThan != nil {
		if *r.greaterThan == math.MaxInt64 {
			r.complement, r.values = false, nil
			return
		}
		lo = *r.greaterThan + 1
	}
	if r.lessThan != nil {
		if *r.lessThan == math.MinInt64 {
			r.complement, r.values = false, nil
			return
		}
		hi = *r.lessThan - 1
	}
	if lo > hi {
		r.complement, r.values = false, nil
		return
	}
	// A small range is listed outright, so that a range exhausted by its
	// exclusions is seen to be empty and a narrow one can be enumerated.
	if uint64(hi-lo) < uint64(len(r.values))+smallRange {
		remaining := []string{}
		for n := lo; ; n++ {
			s := strconv.FormatInt(n, 10)
			if _, excluded := slices.BinarySearch(r.values, s); !excluded {
				remaining = append(remaining, s)
			}
			if n == hi {
				break
			}
		}
		slices.Sort(remaining)
		r.complement, r.values = false, remaining
	}
}

// Empty reports whether no label value satisfies the requirement. A node
// without the label may still satisfy it; see AllowsAbsent.
func (r *Requirement) Empty() bool { return !r.complement && len(r.values) == 0 }

// Satisfiable reports whether any node, with or without the label, satisfies
// the requirement.
func (r *Requirement) Satisfiable() bool { return r.absentAllowed || !r.Empty() }

// Finite reports whether the allowed values are an enumerable list.
func (r *Requirement) Finite() bool { return !r.complement }

// Values returns the allowed values of a finite requirement, sorted, or nil
// for an unbounded one. The caller must not modify the slice.
func (r *Requirement) Values() []string {
	if r.complement {
		return nil
	}
	return r.values
}

// Len is the number of allowed values, or math.MaxInt for an unbounded set.
func (r *Requirement) Len() int {
	if r.complement {
		return math.MaxInt
	}
	return len(r.values)
}

// Any returns one allowed value, preferring the smallest, and false when the
// requirement allows no value or allows so many that none is worth choosing
// (an unbounded set).
func (r *Requirement) Any() (string, bool) {
	if r.complement || len(r.values) == 0 {
		return "", false
	}
	return r.values[0], true
}

// Complement returns the requirement that a node satisfies exactly when it
// does not satisfy r. Integer bounds cannot be complemented into this shape,
// so for a bounded requirement ok is false.
func (r *Requirement) Complement() (out *Requirement, ok bool) {
	if r.greaterThan != nil || r.lessThan != nil {
		return nil, false
	}
	return &Requirement{
		Key:           r.Key,
		complement:    !r.complement,
		values:        slices.Clone(r.values),
		absentAllowed: !r.absentAllowed,
	}, true
}

// Operator returns the single operator that expresses r when there is one,
// which is the case for every requirement built by New from one operator.
// It is used to print requirements and to convert them back to the API.
func (r *Requirement) Operator() (Operator, []string) {
	switch {
	case r.greaterThan != nil && r.lessThan == nil && r.complement && len(r.values) == 0 && !r.absentAllowed:
		return OpGt, []string{strconv.FormatInt(*r.greaterThan, 10)}
	case r.lessThan != nil && r.greaterThan == nil && r.complement && len(r.values) == 0 && !r.absentAllowed:
		return OpLt, []string{strconv.FormatInt(*r.lessThan, 10)}
	case r.greaterThan != nil || r.lessThan != nil:
		return "", nil
	case r.complement && len(r.values) == 0 && !r.absentAllowed:
		return OpExists, nil
	case r.complement && r.absentAllowed:
		return OpNotIn, slices.Clone(r.values)
	case !r.complement && len(r.values) == 0 && r.absentAllowed:
		return OpDoesNotExist, nil
	case !r.complement && !r.absentAllowed && len(r.values) > 0:
		return OpIn, slices.Clone(r.values)
	}
	return "", nil
}

// String describes the requirement for people, e.g. `zone In [a b]`.
func (r *Requirement) String() string {
	if op, values := r.Operator(); op != "" {
		if len(values) == 0 {
			return fmt.Sprintf("%s %s", r.Key, op)
		}
		return fmt.Sprintf("%s %s [%s]", r.Key, op, strings.Join(values, " "))
	}
	var parts []string
	if r.complement {
		if len(r.values) > 0 {
			parts = append(parts, "NotIn ["+strings.Join(r.values, " ")+"]")
		}
	} else {
		parts = append(parts, "In ["+strings.Join(r.values, " ")+"]")
	}
	if r.greaterThan != nil {
		parts = append(parts, fmt.Sprintf("Gt %d", *r.greaterThan))
	}
	if r.lessThan != nil {
		parts = append(parts, fmt.Sprintf("Lt %d", *r.lessThan))
	}
	if r.absentAllowed {
		parts = append(parts, "or absent")
	}
	return r.Key + " " + strings.Join(parts, ", ")
}

func maxBound(a, b *int64) *int64 {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	case *a >= *b:
		return a
	}
	return b
}

func minBound(a, b *int64) *int64 {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	case *a <= *b:
		return a
	}
	return b
}

func intersectSorted(a, b []string) []string {
	out := []string{}
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch strings.Compare(a[i], b[j]) {
		case 0:
			out = append(out, a[i])
			i++
			j++
		case -1:
			i++
		default:
			j++
		}
	}
	return out
}

func subtractSorted(a, b []string) []string {
	out := []string{}
	for _, v := range a {
		if _, found := slices.BinarySearch(b, v); !found {
			out = append(out, v)
		}
	}
	return out
}

func unionSorted(a, b []string) []string {
	out := make([]string, 0, len(a)+len(b))
	out = append(out, a...)
	out = append(out, b...)
	slices.Sort(out)
	return slices.Compact(out)
}
