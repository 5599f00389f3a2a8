package disruption

import (
	"testing"
	"time"

	policyv1 "k8s.io/api/policy/v1"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/controllers/state"
)

// TestEmptyNodes: a node with no pod to move goes after consolidateAfter,
// within the Empty budget, unless something keeps it.
func TestEmptyNodes(t *testing.T) {
	for _, tc := range []struct {
		name string
		pool func(*v1.NodePool)
		// node changes the empty node; extra are more objects.
		node  func(*v1.NodeClaim, *corev1.Node)
		extra []client.Object
		// wait is how long after the first pass the second runs.
		wait    time.Duration
		deleted bool
		says    string
	}{
		{name: "empty for consolidateAfter", wait: testConsolidateAfter, deleted: true, says: "no pod to move for 30s"},
		{name: "empty for less than consolidateAfter", wait: testConsolidateAfter - time.Second},
		{name: "only a DaemonSet's pod", extra: []client.Object{daemonPod("agent", "empty")}, wait: testConsolidateAfter, deleted: true},
		{name: "only a DaemonSet's pod that tolerates everything", extra: []client.Object{tolerateEverything(daemonPod("agent", "empty"))}, wait: testConsolidateAfter, deleted: true},
		{name: "a pod that tolerates everything is not nothing", extra: []client.Object{tolerateEverything(pod("agent", "empty", "100m"))}, wait: testConsolidateAfter},
		{name: "nor is one behind a PodDisruptionBudget that allows nothing", extra: []client.Object{tolerateEverything(pod("agent", "empty", "100m")), &policyv1.PodDisruptionBudget{
			ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "shop"},
			Spec:       policyv1.PodDisruptionBudgetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}},
		}}, wait: time.Hour},
		{name: "a finished pod", extra: []client.Object{func() client.Object {
			p := pod("job", "empty", "1")
			p.Status.Phase = corev1.PodSucceeded
			return p
		}()}, wait: testConsolidateAfter, deleted: true},
		{name: "consolidateAfter Never", pool: func(np *v1.NodePool) { np.Spec.Disruption.ConsolidateAfter = v1.NillableDuration{} }, wait: time.Hour},
		{name: "WhenEmpty pools remove empty nodes too", pool: func(np *v1.NodePool) { np.Spec.Disruption.ConsolidationPolicy = v1.ConsolidationPolicyWhenEmpty },
			wait: testConsolidateAfter, deleted: true},
		{name: "a do-not-disrupt NodeClaim", node: func(nc *v1.NodeClaim, _ *corev1.Node) { annotated(nc, v1.AnnotationDoNotDisrupt, "true") },
			wait: testConsolidateAfter, says: "the node is annotated tailor.sh/do-not-disrupt"},
		{name: "a do-not-disrupt Node", node: func(_ *v1.NodeClaim, n *corev1.Node) { annotated(n, v1.AnnotationDoNotDisrupt, "true") },
			wait: testConsolidateAfter, says: "the node is annotated tailor.sh/do-not-disrupt"},
		{name: "an Empty budget of zero", pool: func(np *v1.NodePool) {
			np.Spec.Disruption.Budgets = []v1.Budget{{Nodes: "100%"}, {Nodes: "0", Reasons: []v1.DisruptionReason{v1.DisruptionReasonEmpty}}}
		}, wait: testConsolidateAfter, says: "budgets allow no more Empty disruptions now (0 of its 1 nodes"},
		{name: "a zero budget for another reason", pool: func(np *v1.NodePool) {
			np.Spec.Disruption.Budgets = []v1.Budget{{Nodes: "0", Reasons: []v1.DisruptionReason{v1.DisruptionReasonUnderutilized, v1.DisruptionReasonDrifted}}}
		}, wait: testConsolidateAfter, deleted: true},
		{name: "an unreadable budget blocks", pool: func(np *v1.NodePool) { np.Spec.Disruption.Budgets = []v1.Budget{{Nodes: "all"}} },
			wait: testConsolidateAfter, says: "Budgets cannot be read"},
		{name: "initialized within the nominations' grace", pool: func(np *v1.NodePool) { np.Spec.Disruption.ConsolidateAfter = v1.NewNillableDuration(0) },
			node: func(nc *v1.NodeClaim, _ *corev1.Node) {
				nc.Status.Conditions[2].LastTransitionTime = metav1.NewTime(epoch.Add(-state.NominationGrace / 2))
			}},
		{name: "initialized the nominations' grace ago", pool: func(np *v1.NodePool) { np.Spec.Disruption.ConsolidateAfter = v1.NewNillableDuration(0) },
			node: func(nc *v1.NodeClaim, _ *corev1.Node) {
				nc.Status.Conditions[2].LastTransitionTime = metav1.NewTime(epoch.Add(-state.NominationGrace / 2))
			},
			wait: state.NominationGrace / 2, deleted: true},
		{name: "not initialized", node: func(_ *v1.NodeClaim, n *corev1.Node) { delete(n.Labels, v1.LabelNodeInitialized) }, wait: time.Hour},
		{name: "already being deleted by someone else", node: func(nc *v1.NodeClaim, _ *corev1.Node) { nc.DeletionTimestamp = &metav1.Time{Time: epoch} },
			wait: testConsolidateAfter, deleted: true /* and no decision: checked below */},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool := nodePool("default", tc.pool)
			nc, n := node("empty", pool, medium)
			if tc.node != nil {
				tc.node(nc, n)
			}
			f := newFixture(t, append([]client.Object{pool, nc, n}, tc.extra...)...)
			f.pass()
			f.after(tc.wait)
			if got := f.deleted("empty"); got != tc.deleted {
				t.Errorf("deleted = %v, want %v; events: %v", got, tc.deleted, f.seen)
			}
			decided := f.event("Disrupted", "Empty") != ""
			if want := tc.deleted && nc.DeletionTimestamp == nil; decided != want {
				t.Errorf("an Empty decision was recorded: %v, want %v", decided, want)
			}
			if tc.says != "" {
				f.wantEvent(tc.says)
			}
		})
	}
}

// TestEmptyWaitsForPodsToSettle: a node whose last pod just left is empty
// only once it has been so for consolidateAfter, however old the node.
func TestEmptyWaitsForPodsToSettle(t *testing.T) {
	pool := nodePool("default", nil)
	nc, n := node("n1", pool, medium)
	p := pod("web-1", "n1", "1")
	f := newFixture(t, pool, nc, n, p)
	f.pass()
	f.after(testConsolidateAfter)
	if f.deleted("n1") {
		t.Fatal("a node with a pod was removed as empty")
	}
	if err := f.client.Delete(f.ctx, p); err != nil {
		t.Fatal(err)
	}
	f.after(time.Second) // notices the pod left
	f.after(testConsolidateAfter - time.Second)
	if f.deleted("n1") {
		t.Fatalf("removed %s after its pod left, before consolidateAfter", f.clock.Now().Sub(epoch))
	}
	f.after(time.Second)
	if !f.deleted("n1") {
		t.Errorf("kept a node empty for consolidateAfter; events: %v", f.seen)
	}
}

// TestEmptyNodesWithinBudget: a budget of one node removes one empty node
// per pass, counting the nodes already going.
func TestEmptyNodesWithinBudget(t *testing.T) {
	pool := nodePool("default", func(np *v1.NodePool) { np.Spec.Disruption.Budgets = []v1.Budget{{Nodes: "1"}} })
	objs := []client.Object{pool}
	for _, name := range []string{"n1", "n2", "n3"} {
		nc, n := node(name, pool, small)
		objs = append(objs, nc, n)
	}
	f := newFixture(t, objs...)
	f.settle()
	count := func() int {
		gone := 0
		for _, name := range []string{"n1", "n2", "n3"} {
			if f.deleted(name) {
				gone++
			}
		}
		return gone
	}
	if got := count(); got != 1 {
		t.Fatalf("%d empty nodes removed, want 1 (the budget)", got)
	}
	f.wantEvent("budgets allow no more Empty disruptions now (1 of its 3 nodes are being disrupted)")
	f.after(time.Second)
	if got := count(); got != 1 {
		t.Errorf("%d empty nodes removed while the first still drains, want 1", got)
	}
	// Once it shows as deleting, the node going away counts as disrupted
	// and no longer among the nodes that stay.
	f.wantEvent("budgets allow no more Empty disruptions now (1 of its 2 nodes are being disrupted)")
}

// tolerateEverything gives the pod the toleration of many agents: every
// taint, Tailor's disrupted taint included.
func tolerateEverything(p *corev1.Pod) *corev1.Pod {
	p.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}}
	return p
}
