package status

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tailor-sh/tailor/controllers/controllertest"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	testingclock "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/cloudprovider"
	fakecloud "github.com/tailor-sh/tailor/cloudprovider/fake"
	"github.com/tailor-sh/tailor/core/instancetype"
	"github.com/tailor-sh/tailor/metrics"
)

// epoch is a Monday, 08:30 UTC.
var epoch = time.Date(2026, 3, 2, 8, 30, 0, 0, time.UTC)

type fixture struct {
	client   client.Client
	cloud    *fakecloud.CloudProvider
	calendar *testingclock.FakePassiveClock
	c        *Controller
}

func newFixture(t *testing.T, objs ...client.Object) *fixture {
	t.Helper()
	scheme := controllertest.Scheme()
	f := &fixture{
		client:   fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).WithStatusSubresource(&v1.NodePool{}, &v1.NodeClaim{}).Build(),
		cloud:    &fakecloud.CloudProvider{InstanceTypes: []*instancetype.InstanceType{fakecloud.InstanceType("small", "2", "8Gi", 0.1, "a"), fakecloud.InstanceType("large", "8", "32Gi", 0.4, "a")}},
		calendar: testingclock.NewFakePassiveClock(epoch),
	}
	f.c = New(f.client, f.cloud, f.calendar)
	return f
}

func pool(name string, mutate func(*v1.NodePool)) *v1.NodePool {
	np := &v1.NodePool{ObjectMeta: metav1.ObjectMeta{Name: name, Generation: 3}}
	if mutate != nil {
		mutate(np)
	}
	return np
}

// nodeClaim is a claim of the pool for an on-demand node of type it in zone
// a, with the given conditions true.
func nodeClaim(name, pool, it string, conditions ...string) *v1.NodeClaim {
	capacity := map[string]corev1.ResourceList{
		"small": {corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("8Gi")},
		"large": {corev1.ResourceCPU: resource.MustParse("8"), corev1.ResourceMemory: resource.MustParse("32Gi")},
	}[it]
	nc := &v1.NodeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name), Labels: map[string]string{
			v1.LabelNodePool: pool, corev1.LabelInstanceTypeStable: it, corev1.LabelTopologyZone: "a", v1.LabelCapacityType: v1.CapacityTypeOnDemand,
		}},
		Status: v1.NodeClaimStatus{Capacity: capacity},
	}
	for _, c := range conditions {
		nc.Status.Conditions = append(nc.Status.Conditions, metav1.Condition{Type: c, Status: metav1.ConditionTrue, Reason: c, LastTransitionTime: metav1.NewTime(epoch)})
	}
	return nc
}

func deleting(nc *v1.NodeClaim) *v1.NodeClaim {
	nc.DeletionTimestamp = &metav1.Time{Time: epoch}
	nc.Finalizers = []string{v1.TerminationFinalizer}
	return nc
}

func replacing(nc *v1.NodeClaim, of string) *v1.NodeClaim {
	metav1.SetMetaDataAnnotation(&nc.ObjectMeta, v1.AnnotationReplaces, of)
	return nc
}

func (f *fixture) reconcile(t *testing.T, name string) (reconcile.Result, *v1.NodePool) {
	t.Helper()
	res, err := f.c.Reconcile(context.Background(), reconcile.Request{NamespacedName: types.NamespacedName{Name: name}})
	if err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	np := &v1.NodePool{}
	if err := f.client.Get(context.Background(), client.ObjectKey{Name: name}, np); err != nil {
		t.Fatal(err)
	}
	return res, np
}

// TestReconcileCountsWhatThePoolHolds: the status and the metrics count
// the pool's NodeClaims (and no other pool's), sum their capacity and price
// them.
func TestReconcileCountsWhatThePoolHolds(t *testing.T) {
	f := newFixture(t,
		pool("counts", func(np *v1.NodePool) {
			np.Spec.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100")}
		}),
		nodeClaim("pending", "counts", "small"),
		nodeClaim("launched", "counts", "small", v1.ConditionLaunched),
		nodeClaim("registered", "counts", "small", v1.ConditionLaunched, v1.ConditionRegistered),
		nodeClaim("ready", "counts", "large", v1.ConditionLaunched, v1.ConditionRegistered, v1.ConditionReady),
		deleting(nodeClaim("terminating", "counts", "large", v1.ConditionLaunched, v1.ConditionRegistered, v1.ConditionReady)),
		nodeClaim("elsewhere", "other", "large", v1.ConditionReady),
	)
	_, np := f.reconcile(t, "counts")
	if np.Status.Nodes != 5 {
		t.Errorf("status.nodes = %d, want 5", np.Status.Nodes)
	}
	for name, want := range map[corev1.ResourceName]string{corev1.ResourceCPU: "22", corev1.ResourceMemory: "88Gi", "nodes": "5"} {
		if got := np.Status.Resources[name]; got.Cmp(resource.MustParse(want)) != 0 {
			t.Errorf("status.resources[%s] = %s, want %s", name, got.String(), want)
		}
	}
	for phase, want := range map[string]float64{"Pending": 1, "Launched": 1, "Registered": 1, "Ready": 1, "Terminating": 1} {
		if got := gauge(t, metrics.NodeClaims.WithLabelValues("counts", phase)); got != want {
			t.Errorf("NodeClaims{phase=%s} = %v, want %v", phase, got, want)
		}
	}
	if got := gauge(t, metrics.ClusterCost.WithLabelValues("counts")); !near(got, 3*0.1+2*0.4) {
		t.Errorf("cost = %v, want 1.1 (three small at 0.1, two large at 0.4)", got)
	}
	if got := gauge(t, metrics.NodePoolUsage.WithLabelValues("counts", "cpu")); got != 22 {
		t.Errorf("usage{cpu} = %v, want 22", got)
	}
	if got := gauge(t, metrics.NodePoolLimit.WithLabelValues("counts", "cpu")); got != 100 {
		t.Errorf("limit{cpu} = %v, want 100", got)
	}

	// A deleted pool takes its metrics with it.
	if err := f.client.Delete(context.Background(), np); err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.Reconcile(context.Background(), reconcile.Request{NamespacedName: types.NamespacedName{Name: "counts"}}); err != nil {
		t.Fatal(err)
	}
	for _, vec := range []*prometheus.GaugeVec{metrics.NodeClaims, metrics.ClusterCost, metrics.NodePoolUsage, metrics.NodePoolLimit} {
		if exported(t, vec, "counts") {
			t.Errorf("the deleted pool's metric %v is still exported", vec)
		}
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }

// gauge reads a gauge's value.
func gauge(t *testing.T, g prometheus.Gauge) float64 {
	t.Helper()
	m := &dto.Metric{}
	if err := g.Write(m); err != nil {
		t.Fatal(err)
	}
	return m.GetGauge().GetValue()
}

// exported reports whether any series of vec is labelled with the pool.
func exported(t *testing.T, vec *prometheus.GaugeVec, pool string) bool {
	t.Helper()
	ch := make(chan prometheus.Metric, 1000)
	vec.Collect(ch)
	close(ch)
	for metric := range ch {
		m := &dto.Metric{}
		if err := metric.Write(m); err != nil {
			t.Fatal(err)
		}
		for _, l := range m.GetLabel() {
			if l.GetName() == "nodepool" && l.GetValue() == pool {
				return true
			}
		}
	}
	return false
}

// TestReconcileConditions: NodeClassReady and Ready follow what listing the
// instance types says, at the pool's generation.
func TestReconcileConditions(t *testing.T) {
	for _, tc := range []struct {
		name       string
		err        error
		classReady metav1.ConditionStatus
		ready      metav1.ConditionStatus
		reason     string
	}{
		{name: "instance types listed", classReady: metav1.ConditionTrue, ready: metav1.ConditionTrue, reason: "NodeClassReady"},
		{name: "node class not ready", err: &cloudprovider.NodeClassNotReadyError{NodeClass: "default", Err: errors.New("no image")},
			classReady: metav1.ConditionFalse, ready: metav1.ConditionFalse, reason: "NodeClassNotReady"},
		{name: "the cloud failed", err: errors.New("throttled"), classReady: metav1.ConditionUnknown, ready: metav1.ConditionFalse, reason: "InstanceTypesUnavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, pool("conditions", nil))
			f.cloud.InstanceTypesError = tc.err
			_, np := f.reconcile(t, "conditions")
			classReady := apimeta.FindStatusCondition(np.Status.Conditions, v1.ConditionNodeClassReady)
			ready := apimeta.FindStatusCondition(np.Status.Conditions, v1.ConditionReady)
			if classReady == nil || ready == nil {
				t.Fatalf("conditions %v lack NodeClassReady or Ready", np.Status.Conditions)
			}
			if classReady.Status != tc.classReady || classReady.Reason != tc.reason {
				t.Errorf("NodeClassReady = %s/%s, want %s/%s", classReady.Status, classReady.Reason, tc.classReady, tc.reason)
			}
			if ready.Status != tc.ready {
				t.Errorf("Ready = %s, want %s", ready.Status, tc.ready)
			}
			if tc.err != nil && !strings.Contains(classReady.Message, tc.err.Error()) {
				t.Errorf("NodeClassReady says %q, not the cloud's %q", classReady.Message, tc.err)
			}
			if classReady.ObservedGeneration != 3 || ready.ObservedGeneration != 3 {
				t.Errorf("conditions observed generations %d and %d, want the pool's, 3", classReady.ObservedGeneration, ready.ObservedGeneration)
			}
		})
	}
}

// TestReconcileDisruptions: status.disruptions is what the budgets allow
// now for each reason, of the NodeClaims that stay, with the next budget
// change; the pool is looked at again just after it.
func TestReconcileDisruptions(t *testing.T) {
	// Five NodeClaims; one is going away and one is a replacement still
	// launching, so three stay.
	claims := func(pool string) []client.Object {
		return []client.Object{
			nodeClaim(pool+"-1", pool, "small", v1.ConditionInitialized), nodeClaim(pool+"-2", pool, "small", v1.ConditionInitialized),
			nodeClaim(pool+"-3", pool, "small", v1.ConditionInitialized),
			deleting(nodeClaim(pool+"-4", pool, "small", v1.ConditionInitialized)),
			replacing(nodeClaim(pool+"-5", pool, "small"), pool+"-4"),
		}
	}
	type allowed struct {
		now       int32
		next      *time.Time
		afterNext int32
	}
	at := func(h, m int) *time.Time { return ptr.To(time.Date(2026, 3, 2, h, m, 0, 0, time.UTC)) }
	for _, tc := range []struct {
		name    string
		now     time.Time // epoch when zero
		budgets []v1.Budget
		want    map[v1.DisruptionReason]allowed
		requeue time.Duration
	}{
		{name: "default budget: 10% of three, rounded up", want: map[v1.DisruptionReason]allowed{
			v1.DisruptionReasonEmpty: {now: 1}, v1.DisruptionReasonUnderutilized: {now: 1}, v1.DisruptionReasonDrifted: {now: 1}, v1.DisruptionReasonExpired: {now: 1},
		}, requeue: resync},
		{name: "a percentage counts the nodes that stay", budgets: []v1.Budget{{Nodes: "67%"}}, want: map[v1.DisruptionReason]allowed{
			v1.DisruptionReasonEmpty: {now: 3}, v1.DisruptionReasonExpired: {now: 3},
		}, requeue: resync},
		{name: "a budget for one reason", budgets: []v1.Budget{{Nodes: "100%"}, {Nodes: "0", Reasons: []v1.DisruptionReason{v1.DisruptionReasonDrifted}}}, want: map[v1.DisruptionReason]allowed{
			v1.DisruptionReasonEmpty: {now: 3}, v1.DisruptionReasonDrifted: {now: 0},
		}, requeue: resync},
		{name: "a window opening at nine", budgets: []v1.Budget{{Nodes: "100%"}, {Nodes: "0", Schedule: ptr.To("0 9 * * *"), Duration: &metav1.Duration{Duration: time.Hour}}},
			want: map[v1.DisruptionReason]allowed{
				v1.DisruptionReasonEmpty: {now: 3, next: at(9, 0), afterNext: 0}, v1.DisruptionReasonUnderutilized: {now: 3, next: at(9, 0), afterNext: 0},
			}, requeue: resync},
		{name: "a window opening in twenty seconds", now: time.Date(2026, 3, 2, 8, 59, 40, 0, time.UTC),
			budgets: []v1.Budget{{Nodes: "100%"}, {Nodes: "0", Schedule: ptr.To("0 9 * * *"), Duration: &metav1.Duration{Duration: time.Hour}}},
			want: map[v1.DisruptionReason]allowed{
				v1.DisruptionReasonEmpty: {now: 3, next: at(9, 0), afterNext: 0},
			}, requeue: 21 * time.Second},
		{name: "a window open since eight, closing at ten", budgets: []v1.Budget{{Nodes: "1", Schedule: ptr.To("0 8 * * *"), Duration: &metav1.Duration{Duration: 2 * time.Hour}}},
			want: map[v1.DisruptionReason]allowed{
				v1.DisruptionReasonEmpty: {now: 1, next: at(10, 0), afterNext: 3},
			}, requeue: resync},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, append(claims("budgets"), pool("budgets", func(np *v1.NodePool) { np.Spec.Disruption.Budgets = tc.budgets }))...)
			if !tc.now.IsZero() {
				f.calendar.SetTime(tc.now)
			}
			res, np := f.reconcile(t, "budgets")
			if len(np.Status.Disruptions) != 4 {
				t.Fatalf("status.disruptions = %v, want one per reason", np.Status.Disruptions)
			}
			for _, d := range np.Status.Disruptions {
				want, ok := tc.want[d.Reason]
				if !ok {
					continue
				}
				if d.Allowed != want.now {
					t.Errorf("%s: allowed %d, want %d", d.Reason, d.Allowed, want.now)
				}
				switch {
				case want.next == nil && d.NextChange != nil:
					t.Errorf("%s: next change at %v, want none", d.Reason, d.NextChange)
				case want.next != nil && (d.NextChange == nil || !d.NextChange.Time.Equal(*want.next) || d.AllowedAfterNextChange == nil || *d.AllowedAfterNextChange != want.afterNext):
					t.Errorf("%s: next change %v to %d, want %v to %d", d.Reason, d.NextChange, ptr.Deref(d.AllowedAfterNextChange, -1), want.next, want.afterNext)
				}
				if got := gauge(t, metrics.DisruptionsAllowed.WithLabelValues("budgets", string(d.Reason))); got != float64(d.Allowed) {
					t.Errorf("%s: metric %v, status %d", d.Reason, got, d.Allowed)
				}
			}
			if res.RequeueAfter != tc.requeue {
				t.Errorf("requeue after %s, want %s", res.RequeueAfter, tc.requeue)
			}
			if c := apimeta.FindStatusCondition(np.Status.Conditions, v1.ConditionValidationSucceeded); c == nil || c.Status != metav1.ConditionTrue {
				t.Errorf("ValidationSucceeded = %v, want True", c)
			}
		})
	}
}

// TestReconcileFollowsTheCalendar: the budgets are read against the
// injected calendar, so moving it into a window changes the status.
func TestReconcileFollowsTheCalendar(t *testing.T) {
	f := newFixture(t, nodeClaim("cal-1", "calendar", "small", v1.ConditionInitialized), pool("calendar", func(np *v1.NodePool) {
		np.Spec.Disruption.Budgets = []v1.Budget{{Nodes: "0", Schedule: ptr.To("0 9 * * *"), Duration: &metav1.Duration{Duration: time.Hour}}}
	}))
	if _, np := f.reconcile(t, "calendar"); np.Status.Disruptions[0].Allowed != 1 {
		t.Fatalf("at 08:30 allowed %d, want 1", np.Status.Disruptions[0].Allowed)
	}
	f.calendar.SetTime(time.Date(2026, 3, 2, 9, 59, 50, 0, time.UTC))
	res, np := f.reconcile(t, "calendar")
	if d := np.Status.Disruptions[0]; d.Allowed != 0 || d.NextChange == nil || !d.NextChange.Time.Equal(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("at 09:59:50: %+v, want 0 allowed until 10:00", d)
	}
	if res.RequeueAfter != 11*time.Second {
		t.Errorf("requeue after %s, want just after the window closes, 11s", res.RequeueAfter)
	}
}

// TestReconcileInvalidBudget: a budget that cannot be read fails
// validation, clears status.disruptions and the metric, so that nobody
// reads an allowance the disruption controller does not apply.
func TestReconcileInvalidBudget(t *testing.T) {
	f := newFixture(t, nodeClaim("bad-1", "invalid", "small"), pool("invalid", func(np *v1.NodePool) {
		np.Spec.Disruption.Budgets = []v1.Budget{{Nodes: "1"}}
	}))
	if _, np := f.reconcile(t, "invalid"); len(np.Status.Disruptions) != 4 {
		t.Fatalf("a valid budget gave %v", np.Status.Disruptions)
	}
	np := &v1.NodePool{}
	if err := f.client.Get(context.Background(), client.ObjectKey{Name: "invalid"}, np); err != nil {
		t.Fatal(err)
	}
	np.Spec.Disruption.Budgets = []v1.Budget{{Nodes: "many"}}
	if err := f.client.Update(context.Background(), np); err != nil {
		t.Fatal(err)
	}
	_, np = f.reconcile(t, "invalid")
	c := apimeta.FindStatusCondition(np.Status.Conditions, v1.ConditionValidationSucceeded)
	if c == nil || c.Status != metav1.ConditionFalse || c.Reason != "InvalidBudget" || !strings.Contains(c.Message, `"many"`) {
		t.Errorf("ValidationSucceeded = %+v, want False/InvalidBudget naming the budget", c)
	}
	if np.Status.Disruptions != nil {
		t.Errorf("status.disruptions = %v, want none", np.Status.Disruptions)
	}
	if exported(t, metrics.DisruptionsAllowed, "invalid") {
		t.Errorf("DisruptionsAllowed still exported for the invalid pool")
	}
}

// TestReconcileWritesOnlyChanges: a second pass over an unchanged pool does
// not write its status again.
func TestReconcileWritesOnlyChanges(t *testing.T) {
	f := newFixture(t, nodeClaim("same-1", "same", "small", v1.ConditionReady), pool("same", nil))
	_, first := f.reconcile(t, "same")
	_, second := f.reconcile(t, "same")
	if first.ResourceVersion != second.ResourceVersion {
		t.Errorf("resourceVersion %s became %s with nothing changed", first.ResourceVersion, second.ResourceVersion)
	}
}

// reporting is a fake cloud that says whether it is healthy.
type reporting struct {
	*fakecloud.CloudProvider
	health error
}

func (r *reporting) Healthy() error { return r.health }

func TestReconcileSaysWhenLaunchesArePaused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		health error
		want   metav1.ConditionStatus
	}{
		{"healthy", nil, metav1.ConditionTrue},
		{"paused", errors.New("launches are paused for 30s after 5 failed in a row: InternalError"), metav1.ConditionFalse},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, pool("health", nil))
			f.c = New(f.client, &reporting{CloudProvider: f.cloud, health: tc.health}, f.calendar)
			_, np := f.reconcile(t, "health")
			got := apimeta.FindStatusCondition(np.Status.Conditions, v1.ConditionCloudProviderHealthy)
			if got == nil || got.Status != tc.want || (tc.health != nil && got.Message != tc.health.Error()) {
				t.Errorf("CloudProviderHealthy = %+v, want %s saying %v", got, tc.want, tc.health)
			}
		})
	}
}
