package requirements

import (
	"strconv"
	"testing"
)

var fuzzOperators = []Operator{OpIn, OpNotIn, OpExists, OpDoesNotExist, OpGt, OpLt}

// fuzzRequirement builds a requirement from fuzzer bytes: an operator and a
// few values drawn from a small alphabet of integers and words, so that
// intersections often overlap.
func fuzzRequirement(op byte, raw []byte) *Requirement {
	operator := fuzzOperators[int(op)%len(fuzzOperators)]
	var values []string
	for _, b := range raw {
		if b%3 == 0 {
			values = append(values, "v"+strconv.Itoa(int(b%5)))
		} else {
			values = append(values, strconv.Itoa(int(b%16)-4))
		}
	}
	switch operator {
	case OpExists, OpDoesNotExist:
		values = nil
	case OpGt, OpLt:
		if len(values) == 0 {
			values = []string{"0"}
		}
		if _, err := strconv.Atoi(values[0]); err != nil {
			values[0] = "1"
		}
		values = values[:1]
	case OpIn:
		if len(values) == 0 {
			values = []string{"v0"}
		}
	}
	r, err := New("k", operator, values...)
	if err != nil {
		panic(err) // the inputs above are valid by construction
	}
	return r
}

// probes are the label states the fuzzer checks each set against: absent,
// and every value the alphabet can produce plus a few outside it.
var probes = func() []*string {
	out := []*string{nil}
	for i := -6; i <= 13; i++ {
		s := strconv.Itoa(i)
		out = append(out, &s)
	}
	for _, s := range []string{"v0", "v1", "v2", "v3", "v4", "other", ""} {
		out = append(out, &s)
	}
	return out
}()

func matches(r *Requirement, value *string) bool {
	if value == nil {
		return r.AllowsAbsent()
	}
	return r.Allows(*value)
}

// FuzzIntersect checks the algebra against its definition: a node satisfies
// a ∩ b (and b ∩ a, and (a ∩ b) ∩ c) exactly when it satisfies every side;
// Satisfiable agrees with the probes; the complement disagrees with the
// original everywhere; and converting to node selector terms and back keeps
// every verdict.
func FuzzIntersect(f *testing.F) {
	f.Add(byte(0), []byte{1, 2}, byte(1), []byte{2}, byte(4), []byte{3})
	f.Add(byte(4), []byte{7}, byte(5), []byte{9}, byte(1), []byte{8, 10})
	f.Add(byte(2), []byte{}, byte(3), []byte{}, byte(0), []byte{0})
	f.Fuzz(func(t *testing.T, opA byte, valuesA []byte, opB byte, valuesB []byte, opC byte, valuesC []byte) {
		a, b, c := fuzzRequirement(opA, valuesA), fuzzRequirement(opB, valuesB), fuzzRequirement(opC, valuesC)
		ab, ba := a.Intersect(b), b.Intersect(a)
		abc := ab.Intersect(c)
		anyMatch := false
		for _, p := range probes {
			want := matches(a, p) && matches(b, p)
			if got := matches(ab, p); got != want {
				t.Fatalf("(%s) ∩ (%s) = %s on %v: %v, want %v", a, b, ab, deref(p), got, want)
			}
			if got := matches(ba, p); got != want {
				t.Fatalf("intersection is not commutative on %v: %s vs %s", deref(p), ab, ba)
			}
			if got, want := matches(abc, p), want && matches(c, p); got != want {
				t.Fatalf("((%s) ∩ (%s)) ∩ (%s) = %s on %v: %v, want %v", a, b, c, abc, deref(p), got, want)
			}
			anyMatch = anyMatch || want
			if comp, ok := a.Complement(); ok && matches(comp, p) == matches(a, p) {
				t.Fatalf("complement %s of %s agrees with it on %v", comp, a, deref(p))
			}
		}
		if anyMatch && !ab.Satisfiable() {
			t.Fatalf("%s says unsatisfiable but a probe matches it", ab)
		}
		// Finite sets only hold values of the alphabet, which the probes cover.
		if !anyMatch && ab.Finite() && ab.Satisfiable() {
			t.Fatalf("%s says satisfiable but no probe matches it", ab)
		}
		rs := NewRequirements(ab)
		back, err := FromNodeSelector(rs.NodeSelectorRequirements())
		if err != nil {
			t.Fatalf("%s converts to invalid node selector terms %v: %v", ab, rs.NodeSelectorRequirements(), err)
		}
		for _, p := range probes {
			labels := map[string]string{}
			if p != nil {
				labels["k"] = *p
			}
			if rs.Matches(labels) != back.Matches(labels) {
				t.Fatalf("%s changed to %s through node selector terms: verdict on %v differs", rs, back, deref(p))
			}
		}
	})
}

func deref(p *string) string {
	if p == nil {
		return "<absent>"
	}
	return strconv.Quote(*p)
}
