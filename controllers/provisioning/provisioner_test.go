package provisioning

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	v1 "github.com/tailor-sh/tailor/api/v1"
	fakecloud "github.com/tailor-sh/tailor/cloudprovider/fake"
	"github.com/tailor-sh/tailor/controllers/controllertest"
	"github.com/tailor-sh/tailor/controllers/events"
	"github.com/tailor-sh/tailor/controllers/state"
	"github.com/tailor-sh/tailor/core/instancetype"
	"github.com/tailor-sh/tailor/core/launch"
)

// epoch is the fake clock's start; objects are dated relative to it.
var epoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// cloud lists its instance types for every pool but those named in broken.
type cloud struct {
	*fakecloud.CloudProvider
	broken map[string]error
}

func (c *cloud) GetInstanceTypes(ctx context.Context, pool *v1.NodePool) ([]*instancetype.InstanceType, error) {
	if err := c.broken[pool.Name]; err != nil {
		return nil, err
	}
	return c.CloudProvider.GetInstanceTypes(ctx, pool)
}

type fixture struct {
	t      *testing.T
	ctx    context.Context
	client client.Client
	cloud  *cloud
	clock  *clocktesting.FakeClock
	events *controllertest.Log
	p      *Provisioner
	// createErr, when set, fails the creation of NodeClaims.
	createErr error
}

// newFixture returns a provisioner over a fake API server holding objs and
// a cloud selling small (2 cpu, $0.10/h), medium (4 cpu, $0.20/h) and
// large (8 cpu, $0.40/h) types in zones a and b. The API server stamps
// what it creates with the fake clock's time and a UID, as a real one does.
func newFixture(t *testing.T, objs ...client.Object) *fixture {
	t.Helper()
	f := &fixture{
		t: t, ctx: context.Background(),
		clock: clocktesting.NewFakeClock(epoch),
		cloud: &cloud{CloudProvider: &fakecloud.CloudProvider{InstanceTypes: []*instancetype.InstanceType{
			fakecloud.InstanceType("small", "2", "8Gi", 0.1, "a", "b"),
			fakecloud.InstanceType("medium", "4", "16Gi", 0.2, "a", "b"),
			fakecloud.InstanceType("large", "8", "32Gi", 0.4, "a", "b"),
		}}},
	}
	// The provisioner creates claims in parallel.
	var created atomic.Int64
	f.client = controllertest.NewClientBuilder(objs...).WithInterceptorFuncs(interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if _, ok := obj.(*v1.NodeClaim); ok && f.createErr != nil {
				return f.createErr
			}
			obj.SetCreationTimestamp(metav1.NewTime(f.clock.Now()))
			obj.SetUID(types.UID(fmt.Sprintf("uid-%d", created.Add(1))))
			return c.Create(ctx, obj, opts...)
		},
	}).Build()
	recorder, log := controllertest.NewLog()
	f.events = log
	cluster := state.NewFromReader(f.client, state.WithClock(f.clock))
	f.p = New(f.client, nil, cluster, f.cloud, recorder, Options{Clock: f.clock})
	return f
}

// provision runs one batch and fails the test on an error.
func (f *fixture) provision() Report {
	f.t.Helper()
	report, err := f.p.Provision(f.ctx)
	if err != nil {
		f.t.Fatalf("Provision: %v", err)
	}
	if last := f.p.LastReport(); len(report.NodeClaims) > 0 && len(last.NodeClaims) != len(report.NodeClaims) {
		f.t.Errorf("LastReport has %d NodeClaims, the batch created %d", len(last.NodeClaims), len(report.NodeClaims))
	}
	return report
}

// claims returns the NodeClaims in the API server, by name.
func (f *fixture) claims() []v1.NodeClaim {
	f.t.Helper()
	list := &v1.NodeClaimList{}
	if err := f.client.List(f.ctx, list); err != nil {
		f.t.Fatal(err)
	}
	slices.SortFunc(list.Items, func(a, b v1.NodeClaim) int { return strings.Compare(a.Name, b.Name) })
	return list.Items
}

func nodePool(name string, mutate func(*v1.NodePool)) *v1.NodePool {
	p := &v1.NodePool{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("pool-" + name), CreationTimestamp: metav1.NewTime(epoch.Add(-time.Hour))},
		Spec: v1.NodePoolSpec{Template: v1.NodeClaimTemplate{Spec: v1.NodeClaimTemplateSpec{
			NodeClassRef: &v1.NodeClassReference{Group: "fake.tailor.sh", Kind: "FakeNodeClass", Name: "default"},
		}}},
	}
	if mutate != nil {
		mutate(p)
	}
	return p
}

// pendingPod is a pod kube-scheduler found unschedulable, requesting cpu.
func pendingPod(name, cpu string, mutate func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("pod-" + name)},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)},
		}}}},
		Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{
			Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable,
		}}},
	}
	if mutate != nil {
		mutate(p)
	}
	return p
}

// requirement returns the claim's values for key, or nil.
func requirement(nc *v1.NodeClaim, key string) []string {
	for _, r := range nc.Spec.Requirements {
		if r.Key == key && r.Operator == corev1.NodeSelectorOpIn {
			return r.Values
		}
	}
	return nil
}

func TestProvisionLaunchesForPendingPods(t *testing.T) {
	zoneA := v1.NodeSelectorRequirementWithMinValues{Key: corev1.LabelTopologyZone, Operator: corev1.NodeSelectorOpIn, Values: []string{"a"}}
	dedicated := corev1.Taint{Key: "dedicated", Value: "batch", Effect: corev1.TaintEffectNoSchedule}
	teamB := nodePool("team-b", func(p *v1.NodePool) {
		p.Spec.Template.ObjectMeta.Labels = map[string]string{"team": "b"}
		p.Spec.Template.Spec.Requirements = []v1.NodeSelectorRequirementWithMinValues{zoneA}
	})
	tainted := nodePool("batch", func(p *v1.NodePool) {
		p.Spec.Template.Spec.Taints = []corev1.Taint{dedicated}
		p.Spec.Weight = new(int32(100))
	})
	for _, tc := range []struct {
		name string
		objs []client.Object
		// want is the pool of each NodeClaim, in the order of the claims'
		// names.
		want []string
		// check looks further at the only NodeClaim.
		check func(t *testing.T, nc *v1.NodeClaim)
	}{
		{
			name: "pods that fit one node share one claim",
			objs: []client.Object{nodePool("default", nil), pendingPod("a", "1", nil), pendingPod("b", "1", nil)},
			want: []string{"default"},
			check: func(t *testing.T, nc *v1.NodeClaim) {
				if got := nc.Spec.Resources.Requests.Cpu(); got.Cmp(resource.MustParse("2")) != 0 {
					t.Errorf("claim requests %s cpu, want the pods' 2", got)
				}
				if !slices.Contains(requirement(nc, corev1.LabelInstanceTypeStable), "small") {
					t.Errorf("the cheapest type that holds both pods is not allowed: %v", nc.Spec.Requirements)
				}
				if len(nc.OwnerReferences) != 1 || nc.OwnerReferences[0].Name != "default" || nc.OwnerReferences[0].UID != "pool-default" {
					t.Errorf("claim is not owned by its pool: %v", nc.OwnerReferences)
				}
				if nc.Spec.NodeClassRef == nil || nc.Spec.NodeClassRef.Name != "default" {
					t.Errorf("claim lost the pool's node class: %v", nc.Spec.NodeClassRef)
				}
			},
		},
		{
			name: "a pod selecting a pool's label gets that pool's labels and requirements",
			objs: []client.Object{nodePool("default", nil), teamB,
				pendingPod("a", "1", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"team": "b"} })},
			want: []string{"team-b"},
			check: func(t *testing.T, nc *v1.NodeClaim) {
				if nc.Labels["team"] != "b" {
					t.Errorf("claim labels %v lack the pool's team=b", nc.Labels)
				}
				if got := requirement(nc, corev1.LabelTopologyZone); !slices.Equal(got, []string{"a"}) {
					t.Errorf("claim allows zones %v, want the pool's [a]", got)
				}
			},
		},
		{
			name: "a pool's taint keeps pods that do not tolerate it out, though it weighs more",
			objs: []client.Object{nodePool("default", nil), tainted, pendingPod("a", "1", nil),
				pendingPod("tolerant", "1", func(p *corev1.Pod) {
					p.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpExists}}
				})},
			want: []string{"batch", "default"},
		},
		{
			name: "a pod bigger than a node of the smallest type gets a bigger type",
			objs: []client.Object{nodePool("default", nil), pendingPod("big", "3", nil)},
			want: []string{"default"},
			check: func(t *testing.T, nc *v1.NodeClaim) {
				if got := requirement(nc, corev1.LabelInstanceTypeStable); slices.Contains(got, "small") || !slices.Contains(got, "medium") {
					t.Errorf("claim allows types %v, want medium and not small", got)
				}
			},
		},
		{
			name: "a NodePool being deleted launches nothing",
			objs: []client.Object{nodePool("going", func(p *v1.NodePool) {
				p.DeletionTimestamp = &metav1.Time{Time: epoch}
				p.Finalizers = []string{"test"}
			}), pendingPod("a", "1", nil)},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.objs...)
			report := f.provision()
			claims := f.claims()
			var pools []string
			for _, nc := range claims {
				pools = append(pools, nc.Labels[v1.LabelNodePool])
			}
			slices.Sort(pools)
			if !slices.Equal(pools, tc.want) {
				t.Fatalf("claims of pools %v, want %v", pools, tc.want)
			}
			if len(report.NodeClaims) != len(claims) {
				t.Errorf("report has %d NodeClaims, the API server %d", len(report.NodeClaims), len(claims))
			}
			if len(claims) > 0 && report.PricePerHour <= 0 {
				t.Errorf("report prices the new nodes at %v", report.PricePerHour)
			}
			for _, nc := range claims {
				if nc.Annotations[v1.AnnotationNodePoolHash] == "" {
					t.Errorf("claim %s lacks its pool's template hash", nc.Name)
				}
			}
			if tc.check != nil && len(claims) == 1 {
				tc.check(t, &claims[0])
			}
			// Every pod is either nominated to a claim or told why not.
			for _, obj := range tc.objs {
				if pod, ok := obj.(*corev1.Pod); ok {
					key := pod.Namespace + "/" + pod.Name
					if len(f.events.Find(key, events.Nominated)) == 0 && len(f.events.Find(key, events.FailedProvisioning)) == 0 {
						t.Errorf("pod %s was neither nominated nor told why not; events: %v", key, f.events.Events())
					}
				}
			}
		})
	}
}

func TestProvisionNominatesEachPodToItsClaim(t *testing.T) {
	f := newFixture(t, nodePool("default", nil), pendingPod("a", "1500m", nil), pendingPod("b", "1500m", nil))
	report := f.provision()
	if len(report.NodeClaims) != 2 || report.PendingPods != 2 {
		t.Fatalf("report: %d pending pods, %d NodeClaims; want 2 and 2 (1.5 cpu each, 2 cpu nodes)", report.PendingPods, len(report.NodeClaims))
	}
	for _, pod := range []string{"a", "b"} {
		nominated := f.events.Find("default/"+pod, events.Nominated)
		if len(nominated) != 1 {
			t.Fatalf("pod %s: %d Nominated events, want 1", pod, len(nominated))
		}
		claim := f.p.nominations[types.UID("pod-"+pod)]
		if claim == "" || !strings.Contains(nominated[0].Note, claim) {
			t.Errorf("pod %s nominated to %q, event says %q", pod, claim, nominated[0].Note)
		}
	}
	if f.p.nominations["pod-a"] == f.p.nominations["pod-b"] {
		t.Error("both pods nominated to one claim that holds only one")
	}
}

func TestProvisionDoesNotDecideTwiceForAPodItNominated(t *testing.T) {
	f := newFixture(t, nodePool("default", nil), pendingPod("a", "1", nil))
	if got := len(f.provision().NodeClaims); got != 1 {
		t.Fatalf("first batch created %d NodeClaims, want 1", got)
	}
	f.clock.Step(time.Second)
	// The pod is still pending: its node is launching.
	if report := f.provision(); len(report.NodeClaims) != 0 || len(report.Unschedulable) != 0 {
		t.Errorf("second batch created %d NodeClaims and found %d pods unschedulable, want none: the pod waits for its claim",
			len(report.NodeClaims), len(report.Unschedulable))
	}
	if got := len(f.claims()); got != 1 {
		t.Errorf("%d NodeClaims after two batches, want 1", got)
	}
}

// TestNominationsLapse: a pod nominated to a NodeClaim waits for it while
// the claim launches (up to NominationLimit) and for NominationGrace after
// its node is initialized; after that, the pod is decided afresh. Here
// kube-scheduler refuses the pod on the claim's node (a taint the pod does
// not tolerate), so deciding afresh launches another node.
func TestNominationsLapse(t *testing.T) {
	const initializedAfter = time.Minute
	for _, tc := range []struct {
		name        string
		initialized bool
		// after is the time from the claim's creation, or from its
		// initialization, to the second batch.
		after        time.Duration
		wantRelaunch bool
	}{
		{name: "launching, within the limit", after: state.NominationLimit - time.Second},
		{name: "launching, past the limit", after: state.NominationLimit, wantRelaunch: true},
		{name: "initialized, within the grace", initialized: true, after: state.NominationGrace - time.Second},
		{name: "initialized, past the grace", initialized: true, after: state.NominationGrace, wantRelaunch: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nodePool("default", nil), pendingPod("a", "1", nil))
			f.provision()
			claims := f.claims()
			if len(claims) != 1 {
				t.Fatalf("first batch created %d NodeClaims, want 1", len(claims))
			}
			nc := &claims[0]
			node := &corev1.Node{
				ObjectMeta: metav1.ObjectMeta{Name: "node-1", Labels: map[string]string{}},
				Spec: corev1.NodeSpec{ProviderID: "fake:///a/i-1", Taints: []corev1.Taint{
					{Key: "example.com/refuse", Effect: corev1.TaintEffectNoSchedule},
				}},
				Status: corev1.NodeStatus{Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourcePods: resource.MustParse("110")}},
			}
			for k, v := range nc.Labels {
				node.Labels[k] = v
			}
			nc.Status.ProviderID = node.Spec.ProviderID
			if tc.initialized {
				f.clock.Step(initializedAfter)
				node.Labels[v1.LabelNodeInitialized] = "true"
				nc.Status.Conditions = []metav1.Condition{{Type: v1.ConditionInitialized, Status: metav1.ConditionTrue, Reason: "Initialized",
					LastTransitionTime: metav1.NewTime(f.clock.Now())}}
			}
			if err := f.client.Status().Update(f.ctx, nc); err != nil {
				t.Fatal(err)
			}
			if err := f.client.Create(f.ctx, node); err != nil {
				t.Fatal(err)
			}
			f.clock.Step(tc.after)
			report := f.provision()
			if relaunched := len(report.NodeClaims) > 0; relaunched != tc.wantRelaunch {
				t.Errorf("second batch created %d NodeClaims; want a new one: %v", len(report.NodeClaims), tc.wantRelaunch)
			}
			if kept := f.p.nominations["pod-a"] == nc.Name; kept == tc.wantRelaunch {
				t.Errorf("pod nominated to %q after the second batch; still to the first claim %s: want %v", f.p.nominations["pod-a"], nc.Name, !tc.wantRelaunch)
			}
		})
	}
}

func TestANominatedPodThatNoLongerFitsIsDecidedAfresh(t *testing.T) {
	f := newFixture(t, nodePool("default", nil), pendingPod("a", "1", nil))
	f.provision()
	nc := f.claims()[0]
	// kube-scheduler bound other pods to the new node; the nominated one
	// no longer fits.
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "node-1", Labels: nc.Labels},
		Spec:       corev1.NodeSpec{ProviderID: "fake:///a/i-1"},
		Status:     corev1.NodeStatus{Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourcePods: resource.MustParse("110")}},
	}
	nc.Status.ProviderID = node.Spec.ProviderID
	if err := f.client.Status().Update(f.ctx, &nc); err != nil {
		t.Fatal(err)
	}
	other := pendingPod("other", "1500m", func(p *corev1.Pod) { p.Spec.NodeName = "node-1"; p.Status = corev1.PodStatus{Phase: corev1.PodRunning} })
	for _, obj := range []client.Object{node, other} {
		if err := f.client.Create(f.ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	if report := f.provision(); len(report.NodeClaims) != 1 {
		t.Errorf("second batch created %d NodeClaims, want 1 for the pod its node has no room for", len(report.NodeClaims))
	}
}

func TestProvisionPlacesPodsOnLaunchingClaimsWithRoom(t *testing.T) {
	launching := &v1.NodeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "default-launching", Labels: map[string]string{v1.LabelNodePool: "default"}, CreationTimestamp: metav1.NewTime(epoch)},
		Spec: v1.NodeClaimSpec{Resources: v1.ResourceRequirements{Requests: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourcePods: resource.MustParse("10"),
		}}},
	}
	f := newFixture(t, nodePool("default", nil), launching, pendingPod("a", "1", nil))
	if report := f.provision(); len(report.NodeClaims) != 0 {
		t.Errorf("created %d NodeClaims for a pod a launching claim has room for", len(report.NodeClaims))
	}
	if !f.events.Has("default/a", events.Nominated, "default-launching", "which is launching") {
		t.Errorf("pod not nominated to the launching claim; events: %v", f.events.Events())
	}
	if got := f.p.nominations["pod-a"]; got != "default-launching" {
		t.Errorf("pod nominated to %q, want default-launching", got)
	}
}

func TestProvisionDoesNotOfferNodesBeingDeleted(t *testing.T) {
	deleting := &v1.NodeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "default-going", Labels: map[string]string{v1.LabelNodePool: "default"},
			CreationTimestamp: metav1.NewTime(epoch), DeletionTimestamp: &metav1.Time{Time: epoch}, Finalizers: []string{v1.TerminationFinalizer}},
		Spec: v1.NodeClaimSpec{Resources: v1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")}}},
	}
	for _, tc := range []struct {
		name   string
		limits corev1.ResourceList
		want   int
	}{
		{name: "a pod that would fit on it gets a new node", want: 1},
		// The node being deleted still counts against the pool's limits
		// until it is gone.
		{name: "but it counts against the pool's limits", limits: corev1.ResourceList{launch.ResourceNodes: resource.MustParse("1")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool := nodePool("default", func(p *v1.NodePool) { p.Spec.Limits = tc.limits })
			f := newFixture(t, pool, deleting.DeepCopy(), pendingPod("a", "1", nil))
			if got := len(f.provision().NodeClaims); got != tc.want {
				t.Errorf("created %d NodeClaims, want %d", got, tc.want)
			}
		})
	}
}

func TestNodePoolLimitsHoldAcrossBatches(t *testing.T) {
	for _, tc := range []struct {
		name   string
		limits corev1.ResourceList
		// batches are the pods (1.5 cpu each, one per 2 cpu node) that
		// become pending before each batch.
		batches [][]string
		// want is the number of NodeClaims after each batch.
		want []int
	}{
		{name: "cpu limit within one batch", limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")},
			batches: [][]string{{"a", "b"}}, want: []int{1}},
		{name: "cpu limit across batches", limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")},
			batches: [][]string{{"a", "b"}, {"c"}}, want: []int{2, 2}},
		{name: "node limit across batches", limits: corev1.ResourceList{launch.ResourceNodes: resource.MustParse("2")},
			batches: [][]string{{"a"}, {"b"}, {"c"}}, want: []int{1, 2, 2}},
		{name: "no limits", batches: [][]string{{"a", "b"}, {"c"}}, want: []int{2, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool := nodePool("default", func(p *v1.NodePool) {
				p.Spec.Limits = tc.limits
				// Only the small type: a limit must not be met by
				// packing pods onto a bigger node.
				p.Spec.Template.Spec.Requirements = []v1.NodeSelectorRequirementWithMinValues{
					{Key: corev1.LabelInstanceTypeStable, Operator: corev1.NodeSelectorOpIn, Values: []string{"small"}},
				}
			})
			f := newFixture(t, pool)
			var last string
			for i, batch := range tc.batches {
				for _, name := range batch {
					if err := f.client.Create(f.ctx, pendingPod(name, "1500m", nil)); err != nil {
						t.Fatal(err)
					}
					last = "default/" + name
				}
				f.provision()
				if got := len(f.claims()); got != tc.want[i] {
					t.Fatalf("after batch %d: %d NodeClaims, want %d", i+1, got, tc.want[i])
				}
				f.clock.Step(time.Second)
			}
			overLimit := tc.limits != nil
			if told := f.events.Has(last, events.FailedProvisioning, "has reached its limit"); told != overLimit {
				t.Errorf("the last pod was told of the pool's limits: %v, want %v; events: %v", told, overLimit, f.events.Events())
			}
		})
	}
}

func TestLimitReachedIsReportedOnThePool(t *testing.T) {
	// The core sizes each node by its cheapest candidate, but a claim may
	// become any type it allows, so each admitted claim is charged at its
	// largest: with 5 cpu, the first claim (small or medium) takes 4 and
	// the second, which the core thought would fit, is refused.
	pool := nodePool("default", func(p *v1.NodePool) {
		p.Spec.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("5")}
	})
	f := newFixture(t, pool, pendingPod("a", "1500m", nil), pendingPod("b", "1500m", nil))
	report := f.provision()
	if len(report.NodeClaims) != 1 || len(report.Unschedulable) != 1 {
		t.Fatalf("created %d NodeClaims with %d pods unschedulable, want 1 and 1", len(report.NodeClaims), len(report.Unschedulable))
	}
	if types := requirement(report.NodeClaims[0], corev1.LabelInstanceTypeStable); slices.Contains(types, "large") {
		t.Errorf("the admitted claim allows a type beyond the limit: %v", types)
	}
	if !f.events.Has("default", events.LimitReached, "NodePool default has reached its limits (cpu 5)", "1 pods wait") {
		t.Errorf("no LimitReached event on the pool; events: %v", f.events.Events())
	}
	waiting := "default/" + report.Unschedulable[0].Pod.Name
	if !f.events.Has(waiting, events.FailedProvisioning, "has reached its limits (cpu 5)") {
		t.Errorf("the waiting pod was not told of the limit; events: %v", f.events.Events())
	}
}

func TestAPoolWhoseInstanceTypesCannotBeListedIsLeftOut(t *testing.T) {
	broken := nodePool("broken", func(p *v1.NodePool) { p.Spec.Weight = new(int32(100)) })
	for _, tc := range []struct {
		name          string
		objs          []client.Object
		wantPool      string
		wantPodToldOf string
	}{
		{name: "the other pool launches", objs: []client.Object{broken, nodePool("default", nil)}, wantPool: "default"},
		{name: "alone, its pods are told why", objs: []client.Object{broken}, wantPodToldOf: "NodePool broken cannot launch: node class gone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, append(tc.objs, pendingPod("a", "1", nil))...)
			f.cloud.broken = map[string]error{"broken": errors.New("node class gone")}
			f.provision()
			var pools []string
			for _, nc := range f.claims() {
				pools = append(pools, nc.Labels[v1.LabelNodePool])
			}
			if want := []string{tc.wantPool}; tc.wantPool != "" && !slices.Equal(pools, want) {
				t.Errorf("claims of pools %v, want %v", pools, want)
			}
			if !f.events.Has("broken", events.NodeClassNotReady, "node class gone") {
				t.Errorf("no NodeClassNotReady event on the pool; events: %v", f.events.Events())
			}
			if tc.wantPodToldOf != "" && !f.events.Has("default/a", events.FailedProvisioning, tc.wantPodToldOf) {
				t.Errorf("the pod was not told %q; events: %v", tc.wantPodToldOf, f.events.Events())
			}
		})
	}
}

func TestUnschedulablePodsAreToldWhy(t *testing.T) {
	for _, tc := range []struct {
		name string
		objs []client.Object
		want string
	}{
		{name: "no NodePool", objs: []client.Object{pendingPod("a", "1", nil)}, want: "no NodePool exists"},
		{name: "bigger than any type", objs: []client.Object{nodePool("default", nil), pendingPod("a", "100", nil)}, want: "cpu"},
		{name: "selects a label no pool has", objs: []client.Object{nodePool("default", nil),
			pendingPod("a", "1", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"team": "z"} })}, want: "team"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.objs...)
			report := f.provision()
			if len(report.NodeClaims) != 0 || len(report.Unschedulable) != 1 {
				t.Fatalf("%d NodeClaims and %d unschedulable pods, want 0 and 1", len(report.NodeClaims), len(report.Unschedulable))
			}
			if !f.events.Has("default/a", events.FailedProvisioning, "Tailor cannot launch a node for this pod", tc.want) {
				t.Errorf("the pod was not told why (%q); events: %v", tc.want, f.events.Events())
			}
		})
	}
}

func TestDaemonSetOverheadIsCounted(t *testing.T) {
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "kube-system"},
		Spec: appsv1.DaemonSetSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			Tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
			Containers: []corev1.Container{{Name: "agent", Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")},
			}}},
		}}},
	}
	for _, tc := range []struct {
		name      string
		daemonSet bool
		// want is the cheapest type the claim allows.
		want string
	}{
		{name: "without a DaemonSet, the pod fits the small type", want: "small"},
		{name: "with one, it no longer does", daemonSet: true, want: "medium"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := []client.Object{nodePool("default", nil), pendingPod("a", "1500m", nil)}
			if tc.daemonSet {
				objs = append(objs, ds)
			}
			f := newFixture(t, objs...)
			report := f.provision()
			if len(report.NodeClaims) != 1 {
				t.Fatalf("created %d NodeClaims, want 1", len(report.NodeClaims))
			}
			types := requirement(report.NodeClaims[0], corev1.LabelInstanceTypeStable)
			if len(types) == 0 || types[0] != tc.want {
				t.Errorf("claim allows %v, want %s first", types, tc.want)
			}
			if tc.daemonSet && slices.Contains(types, "small") {
				t.Errorf("claim allows the small type, which the DaemonSet's 1 cpu leaves too little room on: %v", types)
			}
		})
	}
}

func TestAFailedCreateIsReportedAndDecidedAgain(t *testing.T) {
	f := newFixture(t, nodePool("default", nil), pendingPod("a", "1", nil))
	f.createErr = errors.New("admission webhook said no")
	report, err := f.p.Provision(f.ctx)
	if err == nil || !strings.Contains(err.Error(), "create NodeClaim for 1 pods in NodePool default") || !strings.Contains(err.Error(), "admission webhook said no") {
		t.Errorf("Provision error = %v, want the failed create with its context", err)
	}
	if len(report.NodeClaims) != 0 || len(f.p.nominations) != 0 {
		t.Errorf("a claim that was not created is reported (%d) or holds nominations (%v)", len(report.NodeClaims), f.p.nominations)
	}
	f.createErr = nil
	if got := len(f.provision().NodeClaims); got != 1 {
		t.Errorf("next batch created %d NodeClaims, want 1", got)
	}
}

func TestNoPendingPodsForgetsNominations(t *testing.T) {
	f := newFixture(t, nodePool("default", nil), pendingPod("a", "1", nil))
	f.provision()
	if len(f.p.nominations) != 1 {
		t.Fatalf("nominations %v, want the pod's", f.p.nominations)
	}
	pod := &corev1.Pod{}
	if err := f.client.Get(f.ctx, client.ObjectKey{Namespace: "default", Name: "a"}, pod); err != nil {
		t.Fatal(err)
	}
	pod.Spec.NodeName = "node-1" // bound at last
	if err := f.client.Update(f.ctx, pod); err != nil {
		t.Fatal(err)
	}
	report := f.provision()
	if report.PendingPods != 0 || len(f.p.nominations) != 0 {
		t.Errorf("with no pending pod: report %+v, nominations %v; want an empty report and none", report, f.p.nominations)
	}
}
