package requirements

import (
	"errors"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func req(t testing.TB, key string, op Operator, values ...string) *Requirement {
	t.Helper()
	r, err := New(key, op, values...)
	if err != nil {
		t.Fatalf("New(%s %s %v): %v", key, op, values, err)
	}
	return r
}

func TestNewRejectsValuesThatDoNotFitTheOperator(t *testing.T) {
	for _, tc := range []struct {
		op     Operator
		values []string
		want   string
	}{
		{OpIn, nil, "operator In requires at least one value"},
		{OpExists, []string{"a"}, "operator Exists takes no values"},
		{OpDoesNotExist, []string{"a"}, "operator DoesNotExist takes no values"},
		{OpGt, nil, "operator Gt requires exactly one integer value"},
		{OpLt, []string{"1", "2"}, "operator Lt requires exactly one integer value"},
		{OpGt, []string{"four"}, `operator Gt requires an integer value, got "four"`},
		{"Near", []string{"a"}, `unknown operator "Near"`},
	} {
		t.Run(string(tc.op), func(t *testing.T) {
			_, err := New("k", tc.op, tc.values...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New(k %s %v) error = %v, want it to contain %q", tc.op, tc.values, err, tc.want)
			}
		})
	}
}

func TestMatches(t *testing.T) {
	for _, tc := range []struct {
		name   string
		r      *Requirement
		labels map[string]string
		want   bool
	}{
		{"In matches a listed value", req(t, "k", OpIn, "a", "b"), map[string]string{"k": "b"}, true},
		{"In rejects another value", req(t, "k", OpIn, "a", "b"), map[string]string{"k": "c"}, false},
		{"In rejects absence", req(t, "k", OpIn, "a"), nil, false},
		{"NotIn rejects a listed value", req(t, "k", OpNotIn, "a"), map[string]string{"k": "a"}, false},
		{"NotIn accepts another value", req(t, "k", OpNotIn, "a"), map[string]string{"k": "z"}, true},
		{"NotIn accepts absence", req(t, "k", OpNotIn, "a"), nil, true},
		{"Exists accepts any value", req(t, "k", OpExists), map[string]string{"k": ""}, true},
		{"Exists rejects absence", req(t, "k", OpExists), map[string]string{"other": "x"}, false},
		{"DoesNotExist accepts absence", req(t, "k", OpDoesNotExist), nil, true},
		{"DoesNotExist rejects presence", req(t, "k", OpDoesNotExist), map[string]string{"k": "x"}, false},
		{"Gt accepts a larger integer", req(t, "k", OpGt, "4"), map[string]string{"k": "5"}, true},
		{"Gt rejects an equal integer", req(t, "k", OpGt, "4"), map[string]string{"k": "4"}, false},
		{"Gt rejects a non-integer", req(t, "k", OpGt, "4"), map[string]string{"k": "5x"}, false},
		{"Gt rejects absence", req(t, "k", OpGt, "4"), nil, false},
		{"Lt accepts a negative integer", req(t, "k", OpLt, "0"), map[string]string{"k": "-3"}, true},
		{"Lt rejects a larger integer", req(t, "k", OpLt, "10"), map[string]string{"k": "10"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.r.Matches(tc.labels); got != tc.want {
				t.Fatalf("%s matches %v = %v, want %v", tc.r, tc.labels, got, tc.want)
			}
		})
	}
}

func TestIntersect(t *testing.T) {
	for _, tc := range []struct {
		name          string
		a, b          *Requirement
		wantOp        Operator
		wantValues    []string
		wantSatisfied bool
		allows        []string
		rejects       []string
	}{
		{name: "In and In keep the common values", a: req(t, "k", OpIn, "a", "b", "c"), b: req(t, "k", OpIn, "b", "c", "d"),
			wantOp: OpIn, wantValues: []string{"b", "c"}, wantSatisfied: true},
		{name: "disjoint In sets are unsatisfiable", a: req(t, "k", OpIn, "a"), b: req(t, "k", OpIn, "b"),
			wantSatisfied: false},
		{name: "In minus NotIn", a: req(t, "k", OpIn, "a", "b"), b: req(t, "k", OpNotIn, "a"),
			wantOp: OpIn, wantValues: []string{"b"}, wantSatisfied: true},
		{name: "NotIn and NotIn exclude both lists and still allow absence", a: req(t, "k", OpNotIn, "a"), b: req(t, "k", OpNotIn, "b"),
			wantOp: OpNotIn, wantValues: []string{"a", "b"}, wantSatisfied: true, allows: []string{"c"}, rejects: []string{"a", "b"}},
		{name: "Exists and DoesNotExist contradict", a: req(t, "k", OpExists), b: req(t, "k", OpDoesNotExist),
			wantSatisfied: false},
		{name: "NotIn and DoesNotExist leave only absence", a: req(t, "k", OpNotIn, "a"), b: req(t, "k", OpDoesNotExist),
			wantOp: OpDoesNotExist, wantSatisfied: true},
		{name: "In and Exists is In", a: req(t, "k", OpIn, "x"), b: req(t, "k", OpExists),
			wantOp: OpIn, wantValues: []string{"x"}, wantSatisfied: true},
		{name: "Gt filters a finite set", a: req(t, "k", OpIn, "2", "4", "8", "big"), b: req(t, "k", OpGt, "3"),
			wantValues: []string{"4", "8"}, wantSatisfied: true, allows: []string{"4", "8"}, rejects: []string{"2", "big", "16"}},
		{name: "Gt and Lt make a range", a: req(t, "k", OpGt, "3"), b: req(t, "k", OpLt, "7"),
			wantSatisfied: true, allows: []string{"4", "6"}, rejects: []string{"3", "7", "x"}},
		{name: "an empty integer range is unsatisfiable", a: req(t, "k", OpGt, "3"), b: req(t, "k", OpLt, "4"),
			wantSatisfied: false},
		{name: "a range whose every integer is excluded is unsatisfiable", a: req(t, "k", OpGt, "3"),
			b: req(t, "k", OpLt, "6").Intersect(req(t, "k", OpNotIn, "4", "5")), wantSatisfied: false},
		{name: "a range with one integer left is that integer", a: req(t, "k", OpGt, "3"),
			b:          req(t, "k", OpLt, "7").Intersect(req(t, "k", OpNotIn, "4", "6")),
			wantValues: []string{"5"}, wantSatisfied: true, allows: []string{"5"}, rejects: []string{"4", "6"}},
		{name: "Gt with NotIn keeps both", a: req(t, "k", OpGt, "1"), b: req(t, "k", OpNotIn, "5"),
			wantSatisfied: true, allows: []string{"2", "6"}, rejects: []string{"5", "1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, got := range []*Requirement{tc.a.Intersect(tc.b), tc.b.Intersect(tc.a)} {
				if got.Satisfiable() != tc.wantSatisfied {
					t.Fatalf("%s ∩ %s = %s: satisfiable %v, want %v", tc.a, tc.b, got, got.Satisfiable(), tc.wantSatisfied)
				}
				if op, values := got.Operator(); tc.wantOp != "" && (op != tc.wantOp || !slices.Equal(values, tc.wantValues)) {
					t.Fatalf("%s ∩ %s = %s %v, want %s %v", tc.a, tc.b, op, values, tc.wantOp, tc.wantValues)
				}
				if tc.wantOp == "" && tc.wantValues != nil && !slices.Equal(got.Values(), tc.wantValues) {
					t.Fatalf("%s ∩ %s values = %v, want %v", tc.a, tc.b, got.Values(), tc.wantValues)
				}
				for _, v := range tc.allows {
					if !got.Allows(v) {
						t.Errorf("%s should allow %q", got, v)
					}
				}
				for _, v := range tc.rejects {
					if got.Allows(v) {
						t.Errorf("%s should reject %q", got, v)
					}
				}
			}
		})
	}
}

func TestIntersectKeepsTheLargerMinValues(t *testing.T) {
	a, b := req(t, "k", OpIn, "a", "b", "c"), req(t, "k", OpExists)
	a.MinValues = 2
	if got := b.Intersect(a).MinValues; got != 2 {
		t.Fatalf("MinValues = %d, want 2", got)
	}
}

func TestComplement(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    *Requirement
		want Operator
	}{
		{"In becomes NotIn", req(t, "k", OpIn, "a"), OpNotIn},
		{"NotIn becomes In", req(t, "k", OpNotIn, "a"), OpIn},
		{"Exists becomes DoesNotExist", req(t, "k", OpExists), OpDoesNotExist},
		{"DoesNotExist becomes Exists", req(t, "k", OpDoesNotExist), OpExists},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, ok := tc.r.Complement()
			if !ok {
				t.Fatalf("%s has no complement", tc.r)
			}
			if op, _ := c.Operator(); op != tc.want {
				t.Fatalf("complement of %s = %s, want operator %s", tc.r, c, tc.want)
			}
			for _, labels := range []map[string]string{nil, {"k": "a"}, {"k": "b"}} {
				if tc.r.Matches(labels) == c.Matches(labels) {
					t.Fatalf("%s and its complement %s agree on %v", tc.r, c, labels)
				}
			}
		})
	}
	if _, ok := req(t, "k", OpGt, "1").Complement(); ok {
		t.Fatal("a bounded requirement must report that it has no complement")
	}
}

func TestCompatible(t *testing.T) {
	nodePool := NewRequirements(
		req(t, "topology.kubernetes.io/zone", OpIn, "us-west-2a", "us-west-2b"),
		req(t, "tailor.sh/capacity-type", OpIn, "spot", "on-demand"),
		req(t, "team", OpIn, "data"),
	)
	wellKnown := func(key string) bool { return key == "kubernetes.io/arch" }
	for _, tc := range []struct {
		name    string
		pod     Requirements
		wantErr string
	}{
		{"a zone the pool allows", NewRequirements(req(t, "topology.kubernetes.io/zone", OpIn, "us-west-2b")), ""},
		{"a zone the pool excludes", NewRequirements(req(t, "topology.kubernetes.io/zone", OpIn, "us-west-2c")),
			"topology.kubernetes.io/zone In [us-west-2c] conflicts with topology.kubernetes.io/zone In [us-west-2a us-west-2b]"},
		{"a custom label the pool sets", FromLabels(map[string]string{"team": "data"}), ""},
		{"a custom label the pool does not set", FromLabels(map[string]string{"gpu": "true"}),
			"label gpu is required (gpu In [true]) but not defined"},
		{"a custom label that must be absent", NewRequirements(req(t, "gpu", OpDoesNotExist)), ""},
		{"a well-known label left to the instance type", NewRequirements(req(t, "kubernetes.io/arch", OpIn, "arm64")), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := nodePool.Compatible(tc.pod, wellKnown)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Compatible = %v, want nil", err)
				}
				return
			}
			var incompatible *IncompatibleError
			if !errors.As(err, &incompatible) || err.Error() != tc.wantErr {
				t.Fatalf("Compatible = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestLabelsAreTheSingleValuedKeys(t *testing.T) {
	rs := NewRequirements(
		req(t, "zone", OpIn, "a"),
		req(t, "arch", OpIn, "amd64", "arm64"),
		req(t, "team", OpNotIn, "x"),
	)
	got := rs.Labels()
	if len(got) != 1 || got["zone"] != "a" {
		t.Fatalf("Labels = %v, want map[zone:a]", got)
	}
}

func TestNodeSelectorRoundTrip(t *testing.T) {
	in := []corev1.NodeSelectorRequirement{
		{Key: "a", Operator: corev1.NodeSelectorOpIn, Values: []string{"y", "x"}},
		{Key: "b", Operator: corev1.NodeSelectorOpNotIn, Values: []string{"z"}},
		{Key: "c", Operator: corev1.NodeSelectorOpExists},
		{Key: "d", Operator: corev1.NodeSelectorOpDoesNotExist},
		{Key: "e", Operator: corev1.NodeSelectorOpGt, Values: []string{"3"}},
		{Key: "e", Operator: corev1.NodeSelectorOpLt, Values: []string{"9"}},
		{Key: "f", Operator: corev1.NodeSelectorOpNotIn, Values: []string{"q"}},
		{Key: "f", Operator: corev1.NodeSelectorOpExists},
	}
	rs, err := FromNodeSelector(in)
	if err != nil {
		t.Fatal(err)
	}
	back, err := FromNodeSelector(rs.NodeSelectorRequirements())
	if err != nil {
		t.Fatalf("round trip produced invalid requirements %v: %v", rs.NodeSelectorRequirements(), err)
	}
	for _, labels := range []map[string]string{
		{"a": "x", "c": "", "e": "5", "f": "r"},
		{"a": "x", "b": "z", "c": "", "e": "5", "f": "r"},
		{"a": "x", "c": "", "e": "5"},
		{"a": "x", "c": "", "e": "9", "f": "r"},
		{"a": "w", "c": "", "e": "5", "f": "r"},
	} {
		if rs.Matches(labels) != back.Matches(labels) {
			t.Fatalf("round trip changed the verdict on %v: %s vs %s", labels, rs, back)
		}
	}
	if !rs.Matches(map[string]string{"a": "x", "c": "", "e": "5", "f": "r"}) {
		t.Fatalf("%s should match its example node", rs)
	}
}
