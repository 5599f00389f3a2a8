package disruption

import (
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/core/instancetype"
)

// TestConsolidationCandidates: which of a pool's nodes the consolidation
// search looks at, emptiest first, and why the others are left out.
func TestConsolidationCandidates(t *testing.T) {
	pool := nodePool("default", nil)
	other := nodePool("other", nil)
	var objs []client.Object
	add := func(name string, np *v1.NodePool, it *instancetype.InstanceType, mutate func(*v1.NodeClaim, *corev1.Node), pods ...*corev1.Pod) {
		nc, n := node(name, np, it)
		if mutate != nil {
			mutate(nc, n)
		}
		objs = append(objs, nc, n)
		for _, p := range pods {
			objs = append(objs, p)
		}
	}
	// Candidates: by the larger of their cpu and memory shares, then the
	// most expensive first.
	add("a-large-eighth", pool, large, nil, pod("a1", "a-large-eighth", "1"))
	add("b-large-three-eighths", pool, large, nil, pod("b1", "b-large-three-eighths", "3"))
	add("c-medium-quarter", pool, medium, nil, pod("c1", "c-medium-quarter", "1"))
	add("d-small-eighth", pool, small, nil, pod("d1", "d-small-eighth", "250m"))
	// Left out, saying why.
	add("e-do-not-disrupt-pod", pool, large, nil, annotated(pod("e1", "e-do-not-disrupt-pod", "1"), v1.AnnotationDoNotDisrupt, "true"))
	guarded := pod("f1", "f-pdb", "1")
	guarded.Labels = map[string]string{"app": "db"}
	add("f-pdb", pool, large, nil, guarded)
	bare := pod("g1", "g-bare-pod", "1")
	bare.OwnerReferences = nil
	add("g-bare-pod", pool, large, nil, bare)
	add("h-do-not-disrupt-node", pool, large, func(nc *v1.NodeClaim, _ *corev1.Node) { annotated(nc, v1.AnnotationDoNotDisrupt, "true") }, pod("h1", "h-do-not-disrupt-node", "1"))
	// Left out silently: not settled, or not the pool's.
	add("i-initialized-lately", pool, large, func(nc *v1.NodeClaim, _ *corev1.Node) {
		// Initialized 10 s before the candidates are looked at: less than
		// consolidateAfter ago.
		nc.Status.Conditions[2].LastTransitionTime = metav1.NewTime(epoch.Add(testConsolidateAfter - 10*time.Second))
	}, pod("i1", "i-initialized-lately", "1"))
	add("j-not-initialized", pool, large, func(_ *v1.NodeClaim, n *corev1.Node) { delete(n.Labels, v1.LabelNodeInitialized) }, pod("j1", "j-not-initialized", "1"))
	add("k-deleting", pool, large, func(nc *v1.NodeClaim, _ *corev1.Node) { nc.DeletionTimestamp = &metav1.Time{Time: epoch} }, pod("k1", "k-deleting", "1"))
	add("l-other-pool", other, large, nil, pod("l1", "l-other-pool", "1"))
	add("m-pods-changed", pool, large, nil, pod("m1", "m-pods-changed", "1"))
	objs = append(objs, pool, other, &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "shop"},
		Spec:       policyv1.PodDisruptionBudgetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}},
		Status:     policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 0},
	})
	f := newFixture(t, objs...)
	f.pass()
	f.clock.Step(testConsolidateAfter)
	if err := f.client.Create(f.ctx, pod("m2", "m-pods-changed", "1")); err != nil {
		t.Fatal(err)
	}
	v := f.look()
	cands, nodes := f.c.consolidationCandidates(f.ctx, v, v.pools["default"])
	var names []string
	for i, cand := range cands {
		names = append(names, cand.Name)
		if nodes[i].Name() != cand.Name {
			t.Errorf("candidate %d is %s but its node is %s", i, cand.Name, nodes[i].Name())
		}
	}
	want := []string{"a-large-eighth", "d-small-eighth", "c-medium-quarter", "b-large-three-eighths"}
	if !slices.Equal(names, want) {
		t.Errorf("candidates %v, want %v", names, want)
	}
	if c := cands[0]; c.Price != 0.4 || c.InstanceType != "large" || c.Zone != "a" || c.CapacityType != v1.CapacityTypeOnDemand || len(c.Pods) != 1 || c.Pods[0].Spec.NodeName != "" {
		t.Errorf("candidate %s = %+v; want its offering, price and its pod as pending", c.Name, c)
	}
	for _, why := range []string{
		"pod shop/e1 is annotated tailor.sh/do-not-disrupt",
		"PodDisruptionBudget shop/db allows no disruption of pod f1 now",
		"pod shop/g1 has no controller",
		"the node is annotated tailor.sh/do-not-disrupt",
	} {
		f.wantEvent("DisruptionBlocked", "Underutilized, but kept", why)
	}
	for _, quiet := range []string{"i-initialized-lately", "j-not-initialized", "k-deleting", "l-other-pool", "m-pods-changed"} {
		if slices.Contains(names, quiet) {
			t.Errorf("%s is a candidate", quiet)
		}
	}
}

// TestConsolidationDecisions: the search deletes a node whose pods fit
// elsewhere, replaces nodes by cheaper ones when that saves the pool's
// minSavingsPercent, takes as many nodes together as the budget allows, and
// carries the decision out only after the validation delay.
func TestConsolidationDecisions(t *testing.T) {
	type shape struct {
		name string
		it   *instancetype.InstanceType
		cpu  []string // pods' requests
	}
	for _, tc := range []struct {
		name    string
		catalog []*instancetype.InstanceType
		pool    func(*v1.NodePool)
		nodes   []shape
		// propose is a part of the proposal's description, "" for none.
		propose string
		// deleted are deleted at once; replaced are tainted and wait for
		// a replacement of the type.
		deleted, replaced []string
		by                string
		says              string
	}{
		{name: "pods fit on another node: delete", catalog: []*instancetype.InstanceType{large},
			nodes:   []shape{{"n1", large, []string{"1"}}, {"n2", large, []string{"2"}}},
			propose: "delete n1, saving $0.4000/h and moving 1 pods", deleted: []string{"n1"}},
		{name: "a cheaper node holds the pods: replace", nodes: []shape{{"n1", large, []string{"1"}}},
			propose: "replace n1 ($0.4000/h) by small on-demand in a ($0.1000/h)", replaced: []string{"n1"}, by: "small"},
		{name: "the saving is below minSavingsPercent", pool: func(np *v1.NodePool) { np.Spec.Disruption.MinSavingsPercent = ptr.To[int32](80) },
			nodes: []shape{{"n1", large, []string{"1"}}}, says: "less than the NodePool's minSavingsPercent of 80%"},
		{name: "the saving meets minSavingsPercent", pool: func(np *v1.NodePool) { np.Spec.Disruption.MinSavingsPercent = ptr.To[int32](75) },
			nodes: []shape{{"n1", large, []string{"1"}}}, propose: "replace n1", replaced: []string{"n1"}, by: "small"},
		{name: "already the cheapest node", nodes: []shape{{"n1", small, []string{"1"}}}, says: "no less than"},
		{name: "several nodes into one", catalog: []*instancetype.InstanceType{medium, large}, nodes: []shape{{"n1", large, []string{"1"}}, {"n2", large, []string{"1"}}, {"n3", large, []string{"1"}}},
			propose: "replace n1, n2, n3 ($1.2000/h) by medium", replaced: []string{"n1", "n2", "n3"}, by: "medium"},
		{name: "no more nodes together than the budget allows", pool: func(np *v1.NodePool) { np.Spec.Disruption.Budgets = []v1.Budget{{Nodes: "2"}} },
			nodes:   []shape{{"n1", large, []string{"1"}}, {"n2", large, []string{"1"}}, {"n3", large, []string{"1"}}},
			propose: "delete n1, n2, saving $0.8000/h and moving 2 pods", deleted: []string{"n1", "n2"}},
		{name: "an Underutilized budget of zero", pool: func(np *v1.NodePool) {
			np.Spec.Disruption.Budgets = []v1.Budget{{Nodes: "100%"}, {Nodes: "0", Reasons: []v1.DisruptionReason{v1.DisruptionReasonUnderutilized}}}
		}, nodes: []shape{{"n1", large, []string{"1"}}}, says: "budgets allow no more Underutilized disruptions"},
		{name: "WhenEmpty pools do not consolidate", pool: func(np *v1.NodePool) { np.Spec.Disruption.ConsolidationPolicy = v1.ConsolidationPolicyWhenEmpty },
			nodes: []shape{{"n1", large, []string{"1"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool := nodePool("default", tc.pool)
			objs := []client.Object{pool}
			for _, n := range tc.nodes {
				nc, nd := node(n.name, pool, n.it)
				objs = append(objs, nc, nd)
				for i, cpu := range n.cpu {
					objs = append(objs, pod(n.name+"-"+string(rune('a'+i)), n.name, cpu))
				}
			}
			f := newFixture(t, objs...)
			if tc.catalog != nil {
				f.cloud.InstanceTypes = tc.catalog
			}
			f.settle()
			switch {
			case tc.propose == "" && f.c.proposal != nil:
				t.Fatalf("proposed %q, want nothing", f.c.proposal.describe)
			case tc.propose != "" && (f.c.proposal == nil || !strings.Contains(f.c.proposal.describe, tc.propose)):
				t.Fatalf("proposal %+v, want %q; events: %v", f.c.proposal, tc.propose, f.seen)
			}
			if tc.says != "" {
				f.wantEvent("DisruptionBlocked", tc.says)
			}
			// Nothing moves before the validation delay.
			f.after(testValidationDelay - time.Second)
			for _, n := range tc.nodes {
				if f.deleted(n.name) || f.tainted(n.name) {
					t.Fatalf("%s disrupted before the validation delay", n.name)
				}
			}
			f.after(time.Second)
			for _, n := range tc.nodes {
				wantDeleted, wantTainted := slices.Contains(tc.deleted, n.name), slices.Contains(tc.replaced, n.name)
				if got := f.deleted(n.name); got != wantDeleted {
					t.Errorf("%s deleted = %v, want %v", n.name, got, wantDeleted)
				}
				if got := f.tainted(n.name); got != wantTainted {
					t.Errorf("%s tainted = %v, want %v", n.name, got, wantTainted)
				}
			}
			replacements := f.replacements()
			if tc.by == "" {
				if len(replacements) != 0 {
					t.Errorf("launched %d replacements, want none", len(replacements))
				}
				return
			}
			if len(replacements) != 1 {
				t.Fatalf("launched %d replacements, want one", len(replacements))
			}
			r := replacements[0]
			if got := r.Annotations[v1.AnnotationReplaces]; got != strings.Join(tc.replaced, ",") {
				t.Errorf("the replacement replaces %q, want %q", got, strings.Join(tc.replaced, ","))
			}
			// The cheapest first, and never the type of the one node it
			// replaces, which would save nothing.
			i := slices.IndexFunc(r.Spec.Requirements, func(req v1.NodeSelectorRequirementWithMinValues) bool {
				return req.Key == corev1.LabelInstanceTypeStable
			})
			if i < 0 || r.Spec.Requirements[i].Values[0] != tc.by || len(tc.replaced) == 1 && slices.Contains(r.Spec.Requirements[i].Values, "large") {
				t.Errorf("the replacement may launch %v, want %s first (and never large for one large node)", r.Spec.Requirements, tc.by)
			}
			f.wantEvent("Disrupted", "Underutilized (validated after 5s)")
		})
	}
}

// TestRevalidation: a proposal is decided again on the cluster as it is
// after the validation delay; one that no longer holds is dropped and the
// nodes stay.
func TestRevalidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		// meanwhile changes the cluster during the validation delay.
		meanwhile func(f *fixture)
		dropped   string // why, "" when it still holds
	}{
		{name: "nothing changed", meanwhile: func(*fixture) {}},
		{name: "a pod landed on the node", meanwhile: func(f *fixture) {
			if err := f.client.Create(f.ctx, pod("late", "n1", "1")); err != nil {
				f.t.Fatal(err)
			}
		}, dropped: "the pods of NodeClaim n1 changed"},
		{name: "a pod became do-not-disrupt", meanwhile: func(f *fixture) {
			update(f, podKey("n1-a"), func(p *corev1.Pod) { annotated(p, v1.AnnotationDoNotDisrupt, "true") })
		}, dropped: "pod shop/n1-a is annotated tailor.sh/do-not-disrupt"},
		{name: "a PodDisruptionBudget now allows nothing", meanwhile: func(f *fixture) {
			if err := f.client.Create(f.ctx, &policyv1.PodDisruptionBudget{
				ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
				Spec:       policyv1.PodDisruptionBudgetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}},
			}); err != nil {
				f.t.Fatal(err)
			}
		}, dropped: "PodDisruptionBudget shop/web allows no disruption"},
		{name: "the budget closed", meanwhile: func(f *fixture) {
			update(f, nodePool("default", nil), func(np *v1.NodePool) { np.Spec.Disruption.Budgets = []v1.Budget{{Nodes: "0"}} })
		}, dropped: "budgets allow no more Underutilized disruptions"},
		{name: "the pool stopped consolidating", meanwhile: func(f *fixture) {
			update(f, nodePool("default", nil), func(np *v1.NodePool) { np.Spec.Disruption.ConsolidationPolicy = v1.ConsolidationPolicyWhenEmpty })
		}, dropped: "the NodePool no longer allows consolidation"},
		{name: "the node went", meanwhile: func(f *fixture) {
			nc := f.nodeClaim("n1")
			nc.Finalizers = nil
			if err := f.client.Update(f.ctx, nc); err != nil {
				f.t.Fatal(err)
			}
			if err := f.client.Delete(f.ctx, nc); err != nil {
				f.t.Fatal(err)
			}
		}, dropped: "NodeClaim n1 is gone"},
		{name: "the node its pods would move to went", meanwhile: func(f *fixture) {
			nc, n := f.nodeClaim("n2"), &corev1.Node{}
			n.Name = "n2"
			nc.Finalizers = nil
			if err := f.client.Update(f.ctx, nc); err != nil {
				f.t.Fatal(err)
			}
			for _, obj := range []client.Object{nc, n, podKey("n2-a")} {
				if err := f.client.Delete(f.ctx, obj); err != nil {
					f.t.Fatal(err)
				}
			}
		}, dropped: "the cheapest nodes that hold their pods cost $0.4000/h, no less than $0.4000/h now"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool := nodePool("default", nil)
			nc1, n1 := node("n1", pool, large)
			nc2, n2 := node("n2", pool, large)
			f := newFixture(t, pool, nc1, n1, nc2, n2, pod("n1-a", "n1", "1"), pod("n2-a", "n2", "2"))
			f.cloud.InstanceTypes = []*instancetype.InstanceType{large}
			f.settle()
			if f.c.proposal == nil || f.c.proposal.describe != "delete n1, saving $0.4000/h and moving 1 pods to other nodes" {
				t.Fatalf("proposal %+v, want to delete n1", f.c.proposal)
			}
			tc.meanwhile(f)
			f.after(testValidationDelay)
			if f.c.proposal != nil {
				t.Errorf("the proposal is still pending after its validation")
			}
			if tc.dropped == "" {
				if !f.deleted("n1") {
					t.Errorf("a proposal that still holds was not carried out; events: %v", f.seen)
				}
				f.wantEvent("Disrupted", "delete n1")
				return
			}
			if tc.name != "the node went" && f.deleted("n1") {
				t.Errorf("n1 deleted by a proposal that no longer holds")
			}
			f.wantEvent("DisruptionBlocked", "Dropped after validation: delete n1", tc.dropped)
		})
	}
}
