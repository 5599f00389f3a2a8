package garbagecollection

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	toolsevents "k8s.io/client-go/tools/events"
	testingclock "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	v1 "github.com/tailor-sh/tailor/api/v1"
	fakecloud "github.com/tailor-sh/tailor/cloudprovider/fake"
	"github.com/tailor-sh/tailor/controllers/controllertest"
	"github.com/tailor-sh/tailor/controllers/events"
)

const grace = time.Minute

// epoch is the fake clock's start; objects are dated relative to it.
var epoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type fixture struct {
	client client.Client
	cloud  *fakecloud.CloudProvider
	clock  *testingclock.FakeClock
	events chan string
	gc     *Collector
}

func newFixture(t *testing.T, objs ...client.Object) *fixture {
	t.Helper()
	scheme := controllertest.Scheme()
	f := &fixture{
		client: fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).WithStatusSubresource(&v1.NodeClaim{}).Build(),
		cloud:  &fakecloud.CloudProvider{},
		clock:  testingclock.NewFakeClock(epoch),
		events: make(chan string, 100),
	}
	recorder := events.NewRecorder(&toolsevents.FakeRecorder{Events: f.events})
	f.gc = New(f.client, f.cloud, recorder, Options{Interval: time.Hour, GracePeriod: grace, Clock: f.clock})
	return f
}

// instance is a running instance as the cloud lists it, launched age
// before epoch for the NodeClaim name.
func instance(name, providerID string, age time.Duration) *v1.NodeClaim {
	return &v1.NodeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(epoch.Add(-age)), Labels: map[string]string{v1.LabelNodePool: "default"}},
		Status:     v1.NodeClaimStatus{ProviderID: providerID},
	}
}

// withUID gives an instance the UID of the NodeClaim it was launched for.
func withUID(instance *v1.NodeClaim, uid types.UID) *v1.NodeClaim {
	instance.UID = uid
	return instance
}

// claim is a NodeClaim created age before epoch; launched sets its Launched
// condition and provider ID.
func claim(name, providerID string, age time.Duration, launched bool) *v1.NodeClaim {
	nc := &v1.NodeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name), CreationTimestamp: metav1.NewTime(epoch.Add(-age)), Labels: map[string]string{v1.LabelNodePool: "default"}},
		Status:     v1.NodeClaimStatus{ProviderID: providerID},
	}
	if launched {
		nc.Status.Conditions = []metav1.Condition{{Type: v1.ConditionLaunched, Status: metav1.ConditionTrue, Reason: "Launched", LastTransitionTime: nc.CreationTimestamp}}
	}
	return nc
}

func (f *fixture) instances(t *testing.T) []string {
	t.Helper()
	list, err := f.cloud.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, i := range list {
		ids = append(ids, i.Status.ProviderID)
	}
	return ids
}

func TestCollectTerminatesLeakedInstancesAfterTheGracePeriod(t *testing.T) {
	for _, tc := range []struct {
		name     string
		instance *v1.NodeClaim
		claims   []client.Object
		elapse   time.Duration
		kept     bool
	}{
		{name: "no NodeClaim, older than the grace period", instance: instance("lost", "fake:///a/i-1", grace+time.Second)},
		{name: "no NodeClaim, exactly the grace period old", instance: instance("lost", "fake:///a/i-1", grace)},
		{name: "no NodeClaim, younger than the grace period", instance: instance("young", "fake:///a/i-1", grace-time.Second), kept: true},
		{name: "no NodeClaim, young, then the grace period passes", instance: instance("young", "fake:///a/i-1", grace-time.Second), elapse: time.Second},
		{name: "its NodeClaim records the provider ID", instance: instance("other-name", "fake:///a/i-1", time.Hour),
			claims: []client.Object{claim("owner", "fake:///a/i-1", time.Hour, true)}, kept: true},
		{name: "its NodeClaim has not recorded the launch yet", instance: withUID(instance("launching", "fake:///a/i-1", time.Hour), "uid-launching"),
			claims: []client.Object{claim("launching", "", time.Hour, false)}, kept: true},
		{name: "an older Tailor's instance, with no UID, whose NodeClaim has not recorded it", instance: instance("launching", "fake:///a/i-1", time.Hour),
			claims: []client.Object{claim("launching", "", time.Hour, false)}, kept: true},
		{name: "launched for an earlier NodeClaim whose name a new one reuses", instance: withUID(instance("reused", "fake:///a/i-1", time.Hour), "uid-earlier"),
			claims: []client.Object{claim("reused", "", time.Hour, false)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.claims...)
			f.cloud.AddInstance(tc.instance)
			f.clock.Step(tc.elapse)
			if err := f.gc.Collect(context.Background()); err != nil {
				t.Fatal(err)
			}
			left := f.instances(t)
			if tc.kept && len(left) != 1 {
				t.Errorf("instance %s terminated, want it kept", tc.instance.Status.ProviderID)
			}
			if !tc.kept && len(left) != 0 {
				t.Errorf("instances %v still run, want the leaked one terminated", left)
			}
		})
	}
}

func TestCollectDeletesNodeClaimsWhoseInstanceVanished(t *testing.T) {
	deleting := claim("deleting", "fake:///a/i-9", time.Hour, true)
	deleting.DeletionTimestamp = &metav1.Time{Time: epoch}
	deleting.Finalizers = []string{v1.TerminationFinalizer}
	for _, tc := range []struct {
		name    string
		claim   *v1.NodeClaim
		running bool // the instance still exists
		elapse  time.Duration
		deleted bool
	}{
		{name: "launched, instance gone, older than the grace period", claim: claim("gone", "fake:///a/i-1", grace+time.Second, true), deleted: true},
		{name: "launched, instance gone, younger than the grace period", claim: claim("young", "fake:///a/i-1", grace/2, true)},
		{name: "launched, instance gone, young, then the grace period passes", claim: claim("young", "fake:///a/i-1", grace/2, true), elapse: grace / 2, deleted: true},
		{name: "instance still running", claim: claim("fine", "fake:///a/i-1", time.Hour, true), running: true},
		{name: "not launched: lifecycle owns it", claim: claim("unlaunched", "fake:///a/i-1", time.Hour, false)},
		{name: "already being deleted", claim: deleting},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.claim.DeepCopy())
			if tc.running {
				f.cloud.AddInstance(instance(tc.claim.Name, tc.claim.Status.ProviderID, time.Hour))
			}
			f.clock.Step(tc.elapse)
			if err := f.gc.Collect(context.Background()); err != nil {
				t.Fatal(err)
			}
			err := f.client.Get(context.Background(), client.ObjectKeyFromObject(tc.claim), &v1.NodeClaim{})
			switch {
			case tc.deleted && !apierrors.IsNotFound(err):
				t.Errorf("NodeClaim %s still exists (%v), want it deleted", tc.claim.Name, err)
			case !tc.deleted && err != nil:
				t.Errorf("NodeClaim %s: %v, want it kept", tc.claim.Name, err)
			}
			if tc.deleted {
				select {
				case ev := <-f.events:
					if !strings.Contains(ev, "GarbageCollected") || !strings.Contains(ev, tc.claim.Status.ProviderID) {
						t.Errorf("event %q, want GarbageCollected naming %s", ev, tc.claim.Status.ProviderID)
					}
				default:
					t.Errorf("no event says why NodeClaim %s was deleted", tc.claim.Name)
				}
			}
			if tc.running && f.cloud.Calls["Get"] != 0 {
				t.Errorf("the cloud was asked for a listed instance %d times", f.cloud.Calls["Get"])
			}
		})
	}
}

// TestCollectReleasesOrphanedNodes: a deleted Node still holding Tailor's
// finalizer is released when no NodeClaim will finalize it, and left to the
// NodeClaim that will otherwise.
func TestCollectReleasesOrphanedNodes(t *testing.T) {
	node := func(name, providerID string) *corev1.Node {
		return &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: name, DeletionTimestamp: &metav1.Time{Time: epoch}, Finalizers: []string{v1.TerminationFinalizer, "example.com/other"}},
			Spec:       corev1.NodeSpec{ProviderID: providerID},
		}
	}
	owned := claim("owned", "fake:///a/i-2", time.Hour, true)
	f := newFixture(t, node("orphan", "fake:///a/i-1"), node("owned", owned.Status.ProviderID), owned)
	f.cloud.AddInstance(instance("owned", owned.Status.ProviderID, time.Hour))
	if err := f.gc.Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"orphan": false, "owned": true} {
		n := &corev1.Node{}
		if err := f.client.Get(context.Background(), client.ObjectKey{Name: name}, n); err != nil {
			t.Fatal(err)
		}
		if got := controllerutil.ContainsFinalizer(n, v1.TerminationFinalizer); got != want {
			t.Errorf("Node %s holds Tailor's finalizer: %v, want %v", name, got, want)
		}
		if !slices.Contains(n.Finalizers, "example.com/other") {
			t.Errorf("Node %s lost a finalizer that is not Tailor's: %v", name, n.Finalizers)
		}
	}
}

// listSignal is a cloud that says when it is listed.
type listSignal struct {
	*fakecloud.CloudProvider
	listed chan struct{}
}

func (l *listSignal) List(ctx context.Context) ([]*v1.NodeClaim, error) {
	defer func() { l.listed <- struct{}{} }()
	return l.CloudProvider.List(ctx)
}

// TestStartCollectsOnTheClocksTicks: passes are paced by the injected
// clock, so an hour's interval passes at once.
func TestStartCollectsOnTheClocksTicks(t *testing.T) {
	f := newFixture(t)
	cloud := &listSignal{CloudProvider: f.cloud, listed: make(chan struct{}, 10)}
	gc := New(f.client, cloud, nil, Options{Interval: time.Hour, GracePeriod: grace, Clock: f.clock})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gc.Start(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	// Start sets its ticker up on the clock before the first tick can fire.
	if err := wait.PollUntilContextTimeout(ctx, time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		return f.clock.HasWaiters(), nil
	}); err != nil {
		t.Fatal("Start never set up its ticker on the clock")
	}
	deadline := time.After(10 * time.Second)
	for pass := range 2 {
		f.clock.Step(time.Hour)
		select {
		case <-cloud.listed:
		case <-deadline:
			t.Fatalf("no collection after tick %d of the clock", pass+1)
		}
	}
}

// TestCollectKeepsWhatItsNodeClaimsOwnOverManyPasses: an instance whose
// NodeClaim reuses the name of an earlier one, launched but not yet
// recorded, survives pass after pass; the earlier NodeClaim's leaked
// instance of the same name does not survive the first pass after the grace
// period.
func TestCollectKeepsWhatItsNodeClaimsOwnOverManyPasses(t *testing.T) {
	f := newFixture(t, claim("reused", "", time.Hour, false))
	f.cloud.AddInstance(withUID(instance("reused", "fake:///a/i-old", time.Hour), "uid-earlier"))
	f.cloud.AddInstance(withUID(instance("reused", "fake:///a/i-new", time.Hour), "uid-reused"))
	for pass := range 5 {
		if err := f.gc.Collect(context.Background()); err != nil {
			t.Fatal(err)
		}
		if left := f.instances(t); !slices.Equal(left, []string{"fake:///a/i-new"}) {
			t.Fatalf("after pass %d: instances %v, want only the current NodeClaim's fake:///a/i-new", pass+1, left)
		}
		f.clock.Step(grace)
	}
}
