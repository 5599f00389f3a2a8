package disruption

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/cloudprovider"
)

// TestExpiredNodes: a node older than its pool's expireAfter is replaced
// at once (a replacement launches, the node is tainted), whatever its pods
// say, within the Expired budget.
func TestExpiredNodes(t *testing.T) {
	expireAfter := func(d time.Duration) func(*v1.NodePool) {
		return func(np *v1.NodePool) { np.Spec.Template.Spec.ExpireAfter = v1.NewNillableDuration(d) }
	}
	for _, tc := range []struct {
		name     string
		pool     func(*v1.NodePool)
		node     func(*v1.NodeClaim)
		pod      func(*corev1.Pod)
		replaced bool
		says     string
		// blockedCondition: the NodeClaim's DisruptionBlocked condition says
		// why it stays.
		blockedCondition bool
	}{
		{name: "older than expireAfter", pool: expireAfter(30 * time.Minute), replaced: true},
		{name: "exactly expireAfter old", pool: expireAfter(time.Hour), replaced: true},
		{name: "younger than expireAfter", pool: expireAfter(2 * time.Hour)},
		{name: "expireAfter Never", pool: expireAfter(0), node: func(*v1.NodeClaim) {}},
		{name: "with a terminationGracePeriod, a do-not-disrupt pod does not hold expiry", pool: expireAfter(30 * time.Minute),
			node: func(nc *v1.NodeClaim) { nc.Spec.TerminationGracePeriod = &metav1.Duration{Duration: time.Hour} },
			pod:  func(p *corev1.Pod) { annotated(p, v1.AnnotationDoNotDisrupt, "true") }, replaced: true},
		{name: "without one, a do-not-disrupt pod holds expiry and launches no replacement", pool: expireAfter(30 * time.Minute),
			pod:  func(p *corev1.Pod) { annotated(p, v1.AnnotationDoNotDisrupt, "true") },
			says: "with no terminationGracePeriod its drain could never finish, so no replacement is launched", blockedCondition: true},
		{name: "a do-not-disrupt node does", pool: expireAfter(30 * time.Minute),
			node: func(nc *v1.NodeClaim) { annotated(nc, v1.AnnotationDoNotDisrupt, "true") }, says: "the node is annotated", blockedCondition: true},
		{name: "an Expired budget of zero", pool: func(np *v1.NodePool) {
			expireAfter(30 * time.Minute)(np)
			np.Spec.Disruption.Budgets = []v1.Budget{{Nodes: "0", Reasons: []v1.DisruptionReason{v1.DisruptionReasonExpired}}}
		}, says: "budgets allow no more Expired disruptions"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool := nodePool("default", tc.pool)
			if tc.name == "expireAfter Never" {
				pool.Spec.Template.Spec.ExpireAfter = v1.NillableDuration{}
			}
			nc, n := node("n1", pool, large)
			if tc.node != nil {
				tc.node(nc)
			}
			p := pod("web-1", "n1", "1")
			if tc.pod != nil {
				tc.pod(p)
			}
			f := newFixture(t, pool, nc, n, p)
			f.pass()
			replacements := f.replacements()
			if got := len(replacements) == 1 && f.tainted("n1"); got != tc.replaced {
				t.Fatalf("replaced = %v (%d replacements), want %v; events: %v", got, len(replacements), tc.replaced, f.seen)
			}
			if f.deleted("n1") {
				t.Errorf("n1 deleted before its replacement is ready")
			}
			if tc.replaced {
				f.wantEvent("Disrupted", "Expired (launched 2026-03-02T11:00:00Z; NodePool default's expireAfter is")
			}
			if tc.says != "" {
				f.wantEvent("DisruptionBlocked", "Expired, but kept", tc.says)
			}
			stored := &v1.NodeClaim{}
			if err := f.client.Get(context.Background(), client.ObjectKey{Name: "n1"}, stored); err != nil {
				t.Fatal(err)
			}
			cond := apimeta.FindStatusCondition(stored.Status.Conditions, v1.ConditionDisruptionBlocked)
			if got := cond != nil && cond.Reason == string(v1.DisruptionReasonExpired) && strings.Contains(cond.Message, tc.says); got != tc.blockedCondition {
				t.Errorf("DisruptionBlocked condition %+v, want one: %v", cond, tc.blockedCondition)
			}
		})
	}
}

// TestDriftedNodes: a node whose pool template changed, that no longer
// meets the pool's requirements, or that the cloud says has drifted is
// marked Drifted and replaced; others are left alone.
func TestDriftedNodes(t *testing.T) {
	for _, tc := range []struct {
		name string
		// pool changes the pool after the node was launched from it.
		pool     func(*v1.NodePool)
		node     func(*v1.NodeClaim)
		cloud    map[string]cloudprovider.DriftReason
		reason   string // of the Drifted condition, "" for none
		message  string
		replaced bool
	}{
		{name: "nothing changed"},
		{name: "the template's labels changed", pool: func(np *v1.NodePool) { np.Spec.Template.ObjectMeta.Labels = map[string]string{"team": "b"} },
			reason: driftReasonTemplate, message: "NodePool default's template changed", replaced: true},
		{name: "expireAfter changed: not drift", pool: func(np *v1.NodePool) { np.Spec.Template.Spec.ExpireAfter = v1.NewNillableDuration(48 * time.Hour) }},
		{name: "the requirements no longer allow its type", pool: func(np *v1.NodePool) {
			np.Spec.Template.Spec.Requirements = append(np.Spec.Template.Spec.Requirements,
				v1.NodeSelectorRequirementWithMinValues{Key: corev1.LabelInstanceTypeStable, Operator: corev1.NodeSelectorOpIn, Values: []string{"small", "medium"}})
		}, reason: driftReasonRequirements, message: "label node.kubernetes.io/instance-type=large no longer meets NodePool default's requirement", replaced: true},
		{name: "the requirements still allow it", pool: func(np *v1.NodePool) {
			np.Spec.Template.Spec.Requirements = append(np.Spec.Template.Spec.Requirements,
				v1.NodeSelectorRequirementWithMinValues{Key: corev1.LabelInstanceTypeStable, Operator: corev1.NodeSelectorOpIn, Values: []string{"medium", "large"}})
		}},
		{name: "the cloud says it drifted", cloud: map[string]cloudprovider.DriftReason{"fake:///a/n1": "ImageChanged"},
			reason: driftReasonProvider, message: "the cloud provider reports ImageChanged", replaced: true},
		{name: "a hash of another version is taken as current", pool: func(np *v1.NodePool) { np.Spec.Template.ObjectMeta.Labels = map[string]string{"team": "b"} },
			node: func(nc *v1.NodeClaim) { nc.Annotations[v1.AnnotationNodePoolHashVersion] = "v1" }},
		{name: "a Drifted budget of zero", pool: func(np *v1.NodePool) {
			np.Spec.Template.ObjectMeta.Labels = map[string]string{"team": "b"}
			np.Spec.Disruption.Budgets = []v1.Budget{{Nodes: "100%"}, {Nodes: "0", Reasons: []v1.DisruptionReason{v1.DisruptionReasonDrifted}}}
		}, reason: driftReasonTemplate, message: "template changed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool := nodePool("default", nil)
			nc, n := node("n1", pool, large)
			if tc.node != nil {
				tc.node(nc)
			}
			if tc.pool != nil {
				tc.pool(pool)
			}
			f := newFixture(t, pool, nc, n, pod("web-1", "n1", "1"))
			f.cloud.Drifted = tc.cloud
			f.pass()
			got := f.nodeClaim("n1")
			cond := apimeta.FindStatusCondition(got.Status.Conditions, v1.ConditionDrifted)
			switch {
			case tc.reason == "" && cond != nil:
				t.Errorf("Drifted = %+v, want none", cond)
			case tc.reason != "" && (cond == nil || cond.Status != metav1.ConditionTrue || cond.Reason != tc.reason || !strings.Contains(cond.Message, tc.message)):
				t.Errorf("Drifted = %+v, want True/%s saying %q", cond, tc.reason, tc.message)
			}
			if replaced := len(f.replacements()) == 1 && f.tainted("n1"); replaced != tc.replaced {
				t.Errorf("replaced = %v, want %v; events: %v", replaced, tc.replaced, f.seen)
			}
			if tc.reason != "" && !tc.replaced {
				f.wantEvent("DisruptionBlocked", "Drifted, but kept", "budgets allow no more Drifted")
			}
			if got.Annotations[v1.AnnotationNodePoolHashVersion] != v1.TemplateHashVersion {
				t.Errorf("hash version %q, want it stamped %s", got.Annotations[v1.AnnotationNodePoolHashVersion], v1.TemplateHashVersion)
			}
		})
	}
}

// TestProviderDriftIsAskedOncePerMinute: the cloud's drift verdict is
// cached for providerDriftEvery, and a cleared verdict clears the
// condition.
func TestProviderDriftIsAskedOncePerMinute(t *testing.T) {
	pool := nodePool("default", func(np *v1.NodePool) {
		np.Spec.Disruption.Budgets = []v1.Budget{{Nodes: "0", Reasons: []v1.DisruptionReason{v1.DisruptionReasonDrifted}}}
	})
	nc, n := node("n1", pool, large)
	f := newFixture(t, pool, nc, n, pod("web-1", "n1", "1"))
	f.cloud.Drifted = map[string]cloudprovider.DriftReason{"fake:///a/n1": "ImageChanged"}
	f.pass()
	f.after(providerDriftEvery - time.Second)
	if calls := f.cloud.Calls["IsDrifted"]; calls != 1 {
		t.Errorf("asked the cloud %d times within a minute, want once", calls)
	}
	if !apimeta.IsStatusConditionTrue(f.nodeClaim("n1").Status.Conditions, v1.ConditionDrifted) {
		t.Fatal("not marked Drifted")
	}
	f.cloud.Drifted = nil
	f.after(time.Second)
	if calls := f.cloud.Calls["IsDrifted"]; calls != 2 {
		t.Errorf("asked the cloud %d times after a minute, want twice", calls)
	}
	if cond := apimeta.FindStatusCondition(f.nodeClaim("n1").Status.Conditions, v1.ConditionDrifted); cond != nil {
		t.Errorf("Drifted = %+v after the cloud cleared it, want none", cond)
	}
}

// expiring is a fixture with one expired node n1 running a pod, and a pass
// that started its replacement, which it returns.
func expiring(t *testing.T) (*fixture, *v1.NodeClaim) {
	t.Helper()
	pool := nodePool("default", func(np *v1.NodePool) { np.Spec.Template.Spec.ExpireAfter = v1.NewNillableDuration(30 * time.Minute) })
	nc, n := node("n1", pool, large)
	f := newFixture(t, pool, nc, n, pod("web-1", "n1", "1"))
	f.pass()
	replacements := f.replacements()
	if len(replacements) != 1 || !f.tainted("n1") {
		t.Fatalf("%d replacements for the expired node, want 1, and it tainted", len(replacements))
	}
	return f, &replacements[0]
}

// TestReplacementReady: once its replacement is initialized, the node is
// deleted, and the replacement is left alone while its pods move.
func TestReplacementReady(t *testing.T) {
	f, r := expiring(t)
	f.after(time.Minute)
	if f.deleted("n1") {
		t.Fatal("n1 deleted before its replacement is ready")
	}
	f.join(r.Name, nodePool("default", nil))
	f.after(time.Second)
	if !f.deleted("n1") {
		t.Errorf("n1 kept after its replacement became ready; events: %v", f.seen)
	}
	if f.deleted(r.Name) {
		t.Errorf("the replacement was deleted")
	}
	if _, ok := f.c.protected[r.Name]; !ok {
		t.Errorf("the replacement is not protected while the pods it was launched for move in")
	}
	if len(f.c.commands) != 0 {
		t.Errorf("%d moves still under way, want none", len(f.c.commands))
	}
}

// TestReplacementTimeout: a replacement not ready within the replacement
// timeout abandons the move: it is deleted, the node stays and is
// untainted.
func TestReplacementTimeout(t *testing.T) {
	f, r := expiring(t)
	f.after(testReplacementLimit)
	if f.deleted(r.Name) || len(f.c.commands) != 1 {
		t.Fatalf("the move was abandoned at the replacement timeout, not after it")
	}
	f.after(time.Second)
	if !f.deleted(r.Name) {
		t.Errorf("the late replacement was not deleted")
	}
	if f.deleted("n1") {
		t.Errorf("n1 deleted though its replacement never became ready")
	}
	f.wantEvent("DisruptionAborted", "abandoned, the node stays: the replacements were not ready after 2m0s")
	f.wantEvent("DisruptionAborted", "abandoned: the replacements were not ready after 2m0s")
	// The next pass, no longer holding the node for the move, untaints it.
	f.after(time.Second)
	if f.tainted("n1") {
		t.Errorf("n1 is still tainted after the move was abandoned")
	}
}

// TestReplacementGone: a replacement whose launch failed (it was deleted)
// abandons the move at once.
func TestReplacementGone(t *testing.T) {
	f, r := expiring(t)
	f.remove(r.Name)
	f.after(time.Second)
	f.wantEvent("DisruptionAborted", "replacement "+r.Name+" is gone")
	if len(f.c.commands) != 0 {
		t.Errorf("%d moves under way, want the failed one abandoned", len(f.c.commands))
	}
	if f.deleted("n1") {
		t.Errorf("n1 deleted without a replacement")
	}
}

// TestStartPassesOnTheClocksTicks: passes are paced by the injected clock:
// an hour's interval passes at once.
func TestStartPassesOnTheClocksTicks(t *testing.T) {
	pool := nodePool("default", func(np *v1.NodePool) { np.Spec.Disruption.ConsolidateAfter = v1.NewNillableDuration(0) })
	nc, n := node("n1", pool, small)
	f := newFixture(t, pool, nc, n)
	f.c.opts.Interval = time.Hour
	ctx, cancel := context.WithCancel(f.ctx)
	done := make(chan error, 1)
	go func() { done <- f.c.Start(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	deleted := func() bool {
		got := &v1.NodeClaim{}
		return f.client.Get(ctx, client.ObjectKey{Name: "n1"}, got) == nil && got.DeletionTimestamp != nil
	}
	if err := wait.PollUntilContextTimeout(ctx, time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		return f.clock.HasWaiters(), nil
	}); err != nil {
		t.Fatal("Start set no ticker up on the clock")
	}
	f.clock.Step(time.Hour)
	if err := wait.PollUntilContextTimeout(ctx, time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		return deleted(), nil
	}); err != nil {
		t.Errorf("the empty node was not removed after a tick of the clock")
	}
}
