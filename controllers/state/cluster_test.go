package state_test

import (
	"context"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/controllers/controllertest"
	"github.com/tailor-sh/tailor/controllers/state"
)

var epoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func pendingPod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{
			Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable,
		}}},
	}
}

func boundPod(name, node string, phase corev1.PodPhase) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec:       corev1.PodSpec{NodeName: node},
		Status:     corev1.PodStatus{Phase: phase},
	}
}

func claim(name, providerID, nodeName string) *v1.NodeClaim {
	return &v1.NodeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{v1.LabelNodePool: "default"}},
		Status:     v1.NodeClaimStatus{ProviderID: providerID, NodeName: nodeName},
	}
}

func node(name, providerID string) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.NodeSpec{ProviderID: providerID}}
}

func pool(name string, created time.Time) *v1.NodePool {
	return &v1.NodePool{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(created)}}
}

// byName indexes a snapshot's nodes by name, failing on a duplicate: a
// claim and its Node must come out as one StateNode.
func byName(t *testing.T, snap *state.Snapshot) map[string]*state.StateNode {
	t.Helper()
	out := map[string]*state.StateNode{}
	for _, n := range snap.Nodes {
		if _, dup := out[n.Name()]; dup {
			t.Fatalf("node %s is in the snapshot twice", n.Name())
		}
		out[n.Name()] = n
	}
	return out
}

func podNames(pods []*corev1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Name)
	}
	slices.Sort(out)
	return out
}

func TestSnapshotJoinsClaimsNodesAndPods(t *testing.T) {
	notTried := pendingPod("not-yet-tried")
	notTried.Status.Conditions = nil
	objs := []client.Object{
		claim("by-provider-id", "fake:///a/i-1", ""),
		node("node-1", "fake:///a/i-1"),
		// The Node's provider ID is not set yet: the name the claim
		// recorded pairs them.
		claim("by-node-name", "fake:///a/i-2", "node-2"),
		node("node-2", ""),
		claim("launching", "", ""),
		node("not-tailors", "other:///x"),
		boundPod("running", "node-1", corev1.PodRunning),
		boundPod("done", "node-1", corev1.PodSucceeded),
		boundPod("elsewhere", "not-tailors", corev1.PodRunning),
		pendingPod("pending"),
		notTried,
		pool("young", epoch), pool("old", epoch.Add(-time.Hour)),
	}
	cluster := state.NewFromReader(controllertest.NewClientBuilder(objs...).Build())
	snap, err := cluster.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	nodes := byName(t, snap)
	if len(nodes) != 4 {
		t.Errorf("snapshot has nodes %v, want node-1, node-2, launching, not-tailors", mapsKeys(nodes))
	}
	for _, tc := range []struct {
		name, claim string
		hasNode     bool
		pods        []string
	}{
		{"node-1", "by-provider-id", true, []string{"running"}},
		{"node-2", "by-node-name", true, nil},
		{"launching", "launching", false, nil},
		{"not-tailors", "", true, []string{"elsewhere"}},
	} {
		n := nodes[tc.name]
		if n == nil {
			t.Errorf("%s: missing from the snapshot", tc.name)
			continue
		}
		if got := ""; n.NodeClaim != nil {
			got = n.NodeClaim.Name
			if got != tc.claim {
				t.Errorf("%s: paired with claim %q, want %q", tc.name, got, tc.claim)
			}
		} else if tc.claim != "" {
			t.Errorf("%s: paired with no claim, want %q", tc.name, tc.claim)
		}
		if (n.Node != nil) != tc.hasNode {
			t.Errorf("%s: has Node = %v, want %v", tc.name, n.Node != nil, tc.hasNode)
		}
		if got := podNames(n.Pods); !slices.Equal(got, tc.pods) {
			t.Errorf("%s: pods %v, want %v (finished pods do not count)", tc.name, got, tc.pods)
		}
	}
	if got := podNames(snap.PendingPods); !slices.Equal(got, []string{"pending"}) {
		t.Errorf("pending pods %v, want only the one kube-scheduler found unschedulable", got)
	}
	if len(snap.NodePools) != 2 || snap.NodePools[0].Name != "old" {
		t.Errorf("NodePools not oldest first: %v", snap.NodePools)
	}
}

func mapsKeys(m map[string]*state.StateNode) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestCreatedClaimsCountUntilTheCacheShowsThem(t *testing.T) {
	const ttl = time.Minute // createdTTL
	for _, tc := range []struct {
		name string
		// inCache puts the claim in the reader, as once the informer
		// has caught up.
		inCache bool
		// deletedFirst has the informer see the claim deleted before its
		// creator records it.
		deletedFirst bool
		after        time.Duration
		wantCounted  bool
	}{
		{name: "just created, not yet in the cache", after: time.Second, wantCounted: true},
		{name: "in the cache: counted once", inCache: true, after: time.Second, wantCounted: true},
		{name: "never shown within the TTL: it was deleted", after: ttl + time.Second},
		{name: "deleted before its creator recorded it", deletedFirst: true, after: time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nc := claim("new", "", "")
			var objs []client.Object
			if tc.inCache {
				objs = append(objs, nc.DeepCopy())
			}
			clk := clocktesting.NewFakeClock(epoch)
			cluster := state.NewFromReader(controllertest.NewClientBuilder(objs...).Build(), state.WithClock(clk))
			if tc.deletedFirst {
				cluster.SawDeleted(nc)
			}
			cluster.Created(nc)
			clk.Step(tc.after)
			snap, err := cluster.Snapshot(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			nodes := byName(t, snap)
			if _, counted := nodes["new"]; counted != tc.wantCounted {
				t.Errorf("claim counted = %v, want %v", counted, tc.wantCounted)
			}
		})
	}
}

func TestADeletionIsForgottenAfterTheTTL(t *testing.T) {
	clk := clocktesting.NewFakeClock(epoch)
	cluster := state.NewFromReader(controllertest.NewClientBuilder().Build(), state.WithClock(clk))
	nc := claim("reused", "", "")
	counted := func() bool {
		t.Helper()
		snap, err := cluster.Snapshot(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		_, ok := byName(t, snap)["reused"]
		return ok
	}
	// A deletion the informer missed arrives as a tombstone.
	cluster.SawDeleted(toolscache.DeletedFinalStateUnknown{Key: "reused", Obj: nc})
	cluster.Created(nc)
	if counted() {
		t.Error("a claim seen deleted (through a tombstone) is counted when its creator records it late")
	}
	clk.Step(2 * time.Minute)
	_ = counted() // the snapshot expires the deletion
	cluster.Created(nc)
	if !counted() {
		t.Error("a claim created under the name of one deleted long ago is not counted")
	}
}

func TestSyncedWithoutACache(t *testing.T) {
	if !state.NewFromReader(controllertest.NewClientBuilder().Build()).Synced(context.Background()) {
		t.Error("a Cluster over a plain client is never synced")
	}
}

func TestHoldsNominations(t *testing.T) {
	initialized := func(at time.Time) []metav1.Condition {
		return []metav1.Condition{{Type: v1.ConditionInitialized, Status: metav1.ConditionTrue, LastTransitionTime: metav1.NewTime(at)}}
	}
	for _, tc := range []struct {
		name       string
		created    time.Time
		conditions []metav1.Condition
		want       bool
	}{
		{name: "created by this process, not yet in the cache", want: true},
		{name: "launching", created: epoch.Add(-state.NominationLimit + time.Second), want: true},
		{name: "not ready after the limit", created: epoch.Add(-state.NominationLimit)},
		{name: "initialized within the grace", created: epoch.Add(-time.Hour), conditions: initialized(epoch.Add(-state.NominationGrace + time.Second)), want: true},
		{name: "initialized past the grace", created: epoch.Add(-time.Minute), conditions: initialized(epoch.Add(-state.NominationGrace))},
		{name: "initialized false: the limit applies", created: epoch.Add(-time.Minute),
			conditions: []metav1.Condition{{Type: v1.ConditionInitialized, Status: metav1.ConditionFalse, LastTransitionTime: metav1.NewTime(epoch.Add(-time.Hour))}}, want: true},
	} {
		nc := &v1.NodeClaim{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.NewTime(tc.created)}, Status: v1.NodeClaimStatus{Conditions: tc.conditions}}
		if tc.created.IsZero() {
			nc.CreationTimestamp = metav1.Time{}
		}
		if got := state.HoldsNominations(nc, epoch); got != tc.want {
			t.Errorf("%s: HoldsNominations = %v, want %v", tc.name, got, tc.want)
		}
	}
}
