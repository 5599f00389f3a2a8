package lifecycle

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/cloudprovider"
	fakecloud "github.com/tailor-sh/tailor/cloudprovider/fake"
	"github.com/tailor-sh/tailor/controllers/controllertest"
	"github.com/tailor-sh/tailor/controllers/events"
	"github.com/tailor-sh/tailor/core/instancetype"
)

// epoch is the fake clock's start; objects are dated relative to it.
var epoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const (
	launchTimeout       = 5 * time.Minute
	registrationTimeout = 15 * time.Minute
)

// capacityCloud is the fake cloud that, as real providers do, leaves out
// the offerings the unavailable cache holds when it chooses one to launch.
type capacityCloud struct {
	*fakecloud.CloudProvider
	unavailable *cloudprovider.UnavailableOfferings
}

func (c *capacityCloud) Create(ctx context.Context, nc *v1.NodeClaim) (*v1.NodeClaim, error) {
	c.unavailable.Apply(c.InstanceTypes)
	return c.CloudProvider.Create(ctx, nc)
}

type fixture struct {
	t           *testing.T
	ctx         context.Context
	client      client.Client
	cloud       *capacityCloud
	unavailable *cloudprovider.UnavailableOfferings
	clock       *clocktesting.FakeClock
	events      *controllertest.Log
	c           *Controller
	// evicted are the pods evicted through the Eviction API, in order.
	evicted []string
	// refuseEviction answers evictions of these pods with 429, as a
	// PodDisruptionBudget does.
	refuseEviction map[string]bool
}

// newFixture returns the controller over a fake API server holding objs and
// a cloud selling small (2 cpu, $0.10/h) and medium (4 cpu, $0.20/h) types
// in zone a, on demand and as spot at 30% of the price.
func newFixture(t *testing.T, objs ...client.Object) *fixture {
	t.Helper()
	f := &fixture{t: t, ctx: context.Background(), clock: clocktesting.NewFakeClock(epoch), refuseEviction: map[string]bool{}}
	f.unavailable = cloudprovider.NewUnavailableOfferings(time.Hour, f.clock)
	f.cloud = &capacityCloud{unavailable: f.unavailable, CloudProvider: &fakecloud.CloudProvider{InstanceTypes: []*instancetype.InstanceType{
		fakecloud.InstanceType("small", "2", "8Gi", 0.1, "a"),
		fakecloud.InstanceType("medium", "4", "16Gi", 0.2, "a"),
	}}}
	f.client = controllertest.NewClientBuilder(objs...).WithInterceptorFuncs(interceptor.Funcs{
		SubResourceCreate: func(ctx context.Context, c client.Client, sub string, obj, subObj client.Object, opts ...client.SubResourceCreateOption) error {
			if sub == "eviction" {
				if f.refuseEviction[obj.GetName()] {
					return apierrors.NewTooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", 0)
				}
				f.evicted = append(f.evicted, obj.GetName())
			}
			return c.SubResource(sub).Create(ctx, obj, subObj, opts...)
		},
	}).Build()
	recorder, log := controllertest.NewLog()
	f.events = log
	f.c = New(f.client, f.client, f.cloud, f.unavailable, recorder, Options{
		LaunchTimeout: launchTimeout, RegistrationTimeout: registrationTimeout, Clock: f.clock,
	})
	return f
}

func (f *fixture) reconcile(name string) reconcile.Result {
	f.t.Helper()
	result, err := f.c.Reconcile(f.ctx, reconcile.Request{NamespacedName: types.NamespacedName{Name: name}})
	if err != nil {
		f.t.Fatalf("Reconcile: %v", err)
	}
	return result
}

// claim returns the NodeClaim, or nil once it is gone.
func (f *fixture) claim(name string) *v1.NodeClaim {
	f.t.Helper()
	nc := &v1.NodeClaim{}
	if err := f.client.Get(f.ctx, client.ObjectKey{Name: name}, nc); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		f.t.Fatal(err)
	}
	return nc
}

// node returns the Node, or nil once it is gone.
func (f *fixture) node(name string) *corev1.Node {
	f.t.Helper()
	node := &corev1.Node{}
	if err := f.client.Get(f.ctx, client.ObjectKey{Name: name}, node); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		f.t.Fatal(err)
	}
	return node
}

func (f *fixture) create(objs ...client.Object) {
	f.t.Helper()
	for _, obj := range objs {
		if err := f.client.Create(f.ctx, obj); err != nil {
			f.t.Fatal(err)
		}
	}
}

// newClaim is a NodeClaim of pool default created at epoch, for 1 cpu.
func newClaim(name string) *v1.NodeClaim {
	return &v1.NodeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name), CreationTimestamp: metav1.NewTime(epoch),
			Labels: map[string]string{v1.LabelNodePool: "default", "team": "a"}},
		Spec: v1.NodeClaimSpec{
			Taints:        []corev1.Taint{{Key: "dedicated", Value: "a", Effect: corev1.TaintEffectNoSchedule}},
			StartupTaints: []corev1.Taint{{Key: "cni.example.com/not-ready", Effect: corev1.TaintEffectNoSchedule}},
			Requirements: []v1.NodeSelectorRequirementWithMinValues{
				{Key: corev1.LabelInstanceTypeStable, Operator: corev1.NodeSelectorOpIn, Values: []string{"small", "medium"}},
			},
			Resources: v1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}},
		},
	}
}

// joiningNode is a Node as its kubelet registers it: not ready, tainted
// unregistered and with the NodeClaim's startup taint.
func joiningNode(name, providerID string) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelHostname: name}},
		Spec: corev1.NodeSpec{ProviderID: providerID, Taints: []corev1.Taint{
			{Key: v1.TaintKeyUnregistered, Effect: corev1.TaintEffectNoExecute},
			{Key: "cni.example.com/not-ready", Effect: corev1.TaintEffectNoSchedule},
		}},
		Status: corev1.NodeStatus{
			Conditions:  []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionFalse}},
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourcePods: resource.MustParse("110")},
		},
	}
}

func condition(nc *v1.NodeClaim, conditionType string) metav1.Condition {
	if c := apimeta.FindStatusCondition(nc.Status.Conditions, conditionType); c != nil {
		return *c
	}
	return metav1.Condition{Type: conditionType, Status: "Absent"}
}

func TestLaunchHydratesTheNodeClaim(t *testing.T) {
	f := newFixture(t, newClaim("c1"))
	result := f.reconcile("c1")
	nc := f.claim("c1")
	if !controllerutil.ContainsFinalizer(nc, v1.TerminationFinalizer) {
		t.Error("claim lacks the termination finalizer")
	}
	if !strings.HasPrefix(nc.Status.ProviderID, "fake:///a/") {
		t.Errorf("provider ID %q not recorded", nc.Status.ProviderID)
	}
	for k, want := range map[string]string{
		corev1.LabelInstanceTypeStable: "small", corev1.LabelTopologyZone: "a", v1.LabelCapacityType: v1.CapacityTypeSpot,
		v1.LabelNodePool: "default", "team": "a",
	} {
		if got := nc.Labels[k]; got != want {
			t.Errorf("label %s = %q, want %q", k, got, want)
		}
	}
	if got := nc.Status.Capacity.Cpu(); got.Cmp(resource.MustParse("2")) != 0 {
		t.Errorf("capacity cpu %s, want the small type's 2", got)
	}
	if len(nc.Status.Allocatable) == 0 {
		t.Error("allocatable not recorded")
	}
	if c := condition(nc, v1.ConditionLaunched); c.Status != metav1.ConditionTrue || !strings.Contains(c.Message, "spot small in a") {
		t.Errorf("Launched = %s %q, want True with the offering", c.Status, c.Message)
	}
	if c := condition(nc, v1.ConditionRegistered); c.Status != metav1.ConditionFalse || c.Reason != "NodeNotFound" {
		t.Errorf("Registered = %s %s, want False NodeNotFound", c.Status, c.Reason)
	}
	if c := condition(nc, v1.ConditionReady); c.Status != metav1.ConditionFalse {
		t.Errorf("Ready = %s before the Node joined", c.Status)
	}
	if result.RequeueAfter <= 0 || result.RequeueAfter > 5*time.Second {
		t.Errorf("RequeueAfter = %s, want a look for the Node within 5s", result.RequeueAfter)
	}
	if !f.events.Has("c1", events.Launched, nc.Status.ProviderID) {
		t.Errorf("no Launched event; events: %v", f.events.Events())
	}
	f.reconcile("c1")
	if got := f.cloud.Calls["Create"]; got != 1 {
		t.Errorf("Create called %d times over two reconciles, want 1", got)
	}
}

func TestLaunchFailures(t *testing.T) {
	soldOut := func(it, capacityType string) cloudprovider.OfferingKey {
		return cloudprovider.OfferingKey{InstanceType: it, Zone: "a", CapacityType: capacityType}
	}
	for _, tc := range []struct {
		name string
		// createErrors are the answers of the cloud's first Create calls.
		createErrors []error
		// noCapacity makes every offering unavailable.
		noCapacity  bool
		wantErr     string
		wantCreates int
		// wantType is the instance type launched, "" for none.
		wantType, wantCapacityType string
		wantUnavailable            []cloudprovider.OfferingKey
		wantDeleted                bool
		wantLaunched               metav1.Condition
		wantRequeue                time.Duration
		wantEvent                  string
	}{
		{
			name: "insufficient capacity tries the next cheapest offering at once",
			createErrors: []error{
				&cloudprovider.InsufficientCapacityError{Offerings: []cloudprovider.OfferingKey{soldOut("small", v1.CapacityTypeSpot)}},
				&cloudprovider.InsufficientCapacityError{Offerings: []cloudprovider.OfferingKey{soldOut("small", v1.CapacityTypeOnDemand)}},
			},
			wantCreates: 3, wantType: "medium", wantCapacityType: v1.CapacityTypeSpot,
			wantUnavailable: []cloudprovider.OfferingKey{soldOut("small", v1.CapacityTypeSpot), soldOut("small", v1.CapacityTypeOnDemand)},
			wantLaunched:    metav1.Condition{Status: metav1.ConditionTrue, Reason: "Launched"},
		},
		{
			name: "no capacity anywhere deletes the claim", noCapacity: true, wantCreates: 5, wantDeleted: true,
			wantUnavailable: []cloudprovider.OfferingKey{soldOut("small", v1.CapacityTypeSpot), soldOut("medium", v1.CapacityTypeOnDemand)},
			wantLaunched:    metav1.Condition{Status: "Absent"},
			wantEvent:       events.InsufficientCapacity,
		},
		{
			name: "insufficient capacity naming no offering deletes the claim", wantCreates: 1, wantDeleted: true,
			createErrors: []error{&cloudprovider.InsufficientCapacityError{}},
			wantLaunched: metav1.Condition{Status: "Absent"},
			wantEvent:    events.InsufficientCapacity,
		},
		{
			name: "a node class not ready is waited for", wantCreates: 1,
			createErrors: []error{&cloudprovider.NodeClassNotReadyError{Err: errors.New("subnets not found")}},
			wantLaunched: metav1.Condition{Status: metav1.ConditionFalse, Reason: "NodeClassNotReady"},
			wantRequeue:  10 * time.Second, wantEvent: events.NodeClassNotReady,
		},
		{
			name: "another error is retried with backoff", wantCreates: 1,
			createErrors: []error{errors.New("rate limited")},
			wantErr:      "launch NodeClaim c1: rate limited",
			wantLaunched: metav1.Condition{Status: metav1.ConditionFalse, Reason: "LaunchFailed"},
			wantEvent:    events.LaunchFailed,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, newClaim("c1"))
			f.cloud.CreateErrors = tc.createErrors
			if tc.noCapacity {
				for _, it := range f.cloud.InstanceTypes {
					for i := range it.Offerings {
						it.Offerings[i].Available = false
					}
				}
			}
			result, err := f.c.Reconcile(f.ctx, reconcile.Request{NamespacedName: types.NamespacedName{Name: "c1"}})
			if (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("Reconcile error = %v, want %q", err, tc.wantErr)
			}
			if got := f.cloud.Calls["Create"]; got != tc.wantCreates {
				t.Errorf("Create called %d times, want %d", got, tc.wantCreates)
			}
			for _, key := range tc.wantUnavailable {
				if !f.unavailable.IsUnavailable(key) {
					t.Errorf("offering %s not marked unavailable", key)
				}
			}
			nc := f.claim("c1")
			if deleted := nc == nil || nc.DeletionTimestamp != nil; deleted != tc.wantDeleted {
				t.Fatalf("claim deleted = %v, want %v", deleted, tc.wantDeleted)
			}
			if tc.wantType != "" && (nc.Labels[corev1.LabelInstanceTypeStable] != tc.wantType || nc.Labels[v1.LabelCapacityType] != tc.wantCapacityType) {
				t.Errorf("launched %s %s, want %s %s", nc.Labels[v1.LabelCapacityType], nc.Labels[corev1.LabelInstanceTypeStable], tc.wantCapacityType, tc.wantType)
			}
			if c := condition(nc, v1.ConditionLaunched); c.Status != tc.wantLaunched.Status || (tc.wantLaunched.Reason != "" && c.Reason != tc.wantLaunched.Reason) {
				t.Errorf("Launched = %s %s, want %s %s", c.Status, c.Reason, tc.wantLaunched.Status, tc.wantLaunched.Reason)
			}
			if tc.wantRequeue != 0 && result.RequeueAfter != tc.wantRequeue {
				t.Errorf("RequeueAfter = %s, want %s", result.RequeueAfter, tc.wantRequeue)
			}
			if tc.wantEvent != "" && len(f.events.Find("c1", tc.wantEvent)) == 0 {
				t.Errorf("no %s event; events: %v", tc.wantEvent, f.events.Events())
			}
		})
	}
}

func TestLivenessDeletesClaimsThatDoNotLaunchOrRegisterInTime(t *testing.T) {
	for _, tc := range []struct {
		name string
		// launches says whether the cloud launches the instance.
		launches bool
		// age is the claim's age at the reconcile that judges it.
		age         time.Duration
		wantDeleted bool
		// wantRequeue, when not zero, is when the claim is looked at
		// again.
		wantRequeue time.Duration
	}{
		{name: "not launched, before the launch timeout", age: launchTimeout - 3*time.Second, wantRequeue: 3 * time.Second},
		{name: "not launched at the launch timeout", age: launchTimeout, wantDeleted: true},
		{name: "launched, waits for its Node past the launch timeout", launches: true, age: launchTimeout + time.Minute, wantRequeue: 5 * time.Second},
		{name: "launched, before the registration timeout", launches: true, age: registrationTimeout - 2*time.Second, wantRequeue: 2 * time.Second},
		{name: "launched, no Node at the registration timeout", launches: true, age: registrationTimeout, wantDeleted: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, newClaim("c1"))
			if !tc.launches {
				for range 10 {
					f.cloud.CreateErrors = append(f.cloud.CreateErrors, &cloudprovider.NodeClassNotReadyError{Err: errors.New("not yet")})
				}
			}
			f.reconcile("c1")
			f.clock.Step(tc.age)
			result := f.reconcile("c1")
			nc := f.claim("c1")
			if deleted := nc == nil || nc.DeletionTimestamp != nil; deleted != tc.wantDeleted {
				t.Fatalf("claim deleted = %v at age %s, want %v", deleted, tc.age, tc.wantDeleted)
			}
			if tc.wantDeleted && !f.events.Has("c1", events.LivenessTimeout) {
				t.Errorf("no LivenessTimeout event; events: %v", f.events.Events())
			}
			if tc.wantRequeue != 0 && result.RequeueAfter != tc.wantRequeue {
				t.Errorf("RequeueAfter = %s, want %s", result.RequeueAfter, tc.wantRequeue)
			}
		})
	}
}

// launched returns the claim after a reconcile that launched it.
func (f *fixture) launched(name string) *v1.NodeClaim {
	f.t.Helper()
	f.reconcile(name)
	nc := f.claim(name)
	if nc.Status.ProviderID == "" {
		f.t.Fatalf("claim %s did not launch", name)
	}
	return nc
}

func TestRegistrationSyncsTheNode(t *testing.T) {
	f := newFixture(t, newClaim("c1"))
	nc := f.launched("c1")
	f.create(joiningNode("stranger", "other:///x"))
	f.reconcile("c1")
	if c := condition(f.claim("c1"), v1.ConditionRegistered); c.Status != metav1.ConditionFalse {
		t.Fatalf("registered with a Node of another provider ID: %v", c)
	}

	f.create(joiningNode("node-1", nc.Status.ProviderID))
	f.reconcile("c1")
	nc = f.claim("c1")
	if c := condition(nc, v1.ConditionRegistered); c.Status != metav1.ConditionTrue || nc.Status.NodeName != "node-1" {
		t.Errorf("Registered = %s, node name %q; want True and node-1", c.Status, nc.Status.NodeName)
	}
	node := f.node("node-1")
	for _, k := range []string{v1.LabelNodePool, "team", corev1.LabelInstanceTypeStable, v1.LabelCapacityType, corev1.LabelTopologyZone} {
		if node.Labels[k] == "" || node.Labels[k] != nc.Labels[k] {
			t.Errorf("Node label %s = %q, the claim's is %q", k, node.Labels[k], nc.Labels[k])
		}
	}
	if node.Labels[v1.LabelNodeRegistered] != "true" || node.Labels[corev1.LabelHostname] != "node-1" {
		t.Errorf("Node labels %v: want registered and its own hostname kept", node.Labels)
	}
	if !controllerutil.ContainsFinalizer(node, v1.TerminationFinalizer) {
		t.Error("Node lacks the termination finalizer")
	}
	var keys []string
	for _, taint := range node.Spec.Taints {
		keys = append(keys, taint.Key)
	}
	slices.Sort(keys)
	if want := []string{"cni.example.com/not-ready", "dedicated"}; !slices.Equal(keys, want) {
		t.Errorf("Node taints %v, want %v: the unregistered taint off, the claim's taints on, the startup taint once", keys, want)
	}
	if c := condition(nc, v1.ConditionInitialized); c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, "not Ready") {
		t.Errorf("Initialized = %s %q, want False because the Node is not Ready", c.Status, c.Message)
	}
	if !f.events.Has("c1", events.Registered, "node-1") {
		t.Errorf("no Registered event; events: %v", f.events.Events())
	}

	// Registered: the registration timeout no longer applies.
	f.clock.Step(registrationTimeout + time.Minute)
	f.reconcile("c1")
	if nc := f.claim("c1"); nc == nil || nc.DeletionTimestamp != nil {
		t.Error("a registered claim was deleted at the registration timeout")
	}
}

func TestTwoNodesWithOneProviderIDAreAnError(t *testing.T) {
	f := newFixture(t, newClaim("c1"))
	nc := f.launched("c1")
	f.create(joiningNode("node-1", nc.Status.ProviderID), joiningNode("node-2", nc.Status.ProviderID))
	_, err := f.c.Reconcile(f.ctx, reconcile.Request{NamespacedName: types.NamespacedName{Name: "c1"}})
	if err == nil || !strings.Contains(err.Error(), "2 Nodes have provider ID") {
		t.Errorf("Reconcile error = %v, want the duplicate provider ID", err)
	}
}

func TestInitialization(t *testing.T) {
	ready := corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue}
	withoutStartupTaint := func(n *corev1.Node) {
		n.Spec.Taints = slices.DeleteFunc(n.Spec.Taints, func(t corev1.Taint) bool { return t.Key == "cni.example.com/not-ready" })
	}
	for _, tc := range []struct {
		name string
		// mutate is what the kubelet and the CNI do to the registered
		// Node.
		mutate     func(*corev1.Node)
		wantReady  bool
		wantReason string
	}{
		{name: "Ready, its startup taint removed", wantReady: true, mutate: func(n *corev1.Node) {
			n.Status.Conditions = []corev1.NodeCondition{ready}
			withoutStartupTaint(n)
		}},
		{name: "not Ready", wantReason: "not Ready", mutate: withoutStartupTaint},
		{name: "startup taint still on", wantReason: "startup taint", mutate: func(n *corev1.Node) {
			n.Status.Conditions = []corev1.NodeCondition{ready}
		}},
		{name: "not yet tolerable", wantReason: "taint node.kubernetes.io/not-ready", mutate: func(n *corev1.Node) {
			n.Status.Conditions = []corev1.NodeCondition{ready}
			withoutStartupTaint(n)
			n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoSchedule})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, newClaim("c1"))
			nc := f.launched("c1")
			f.create(joiningNode("node-1", nc.Status.ProviderID))
			f.reconcile("c1") // registers, and puts the startup taint on
			node := f.node("node-1")
			tc.mutate(node)
			status := node.Status.DeepCopy()
			if err := f.client.Update(f.ctx, node); err != nil {
				t.Fatal(err)
			}
			node.Status = *status
			if err := f.client.Status().Update(f.ctx, node); err != nil {
				t.Fatal(err)
			}
			f.reconcile("c1")
			nc = f.claim("c1")
			initialized := condition(nc, v1.ConditionInitialized)
			if got := initialized.Status == metav1.ConditionTrue; got != tc.wantReady {
				t.Fatalf("Initialized = %s %q, want true: %v", initialized.Status, initialized.Message, tc.wantReady)
			}
			if !tc.wantReady && !strings.Contains(initialized.Message, tc.wantReason) {
				t.Errorf("Initialized message %q, want it to say %q", initialized.Message, tc.wantReason)
			}
			labelled := f.node("node-1").Labels[v1.LabelNodeInitialized] == "true"
			if ready := condition(nc, v1.ConditionReady).Status == metav1.ConditionTrue; ready != tc.wantReady || labelled != tc.wantReady {
				t.Errorf("Ready = %v, Node labelled initialized = %v; want %v", ready, labelled, tc.wantReady)
			}
			if tc.wantReady && !f.events.Has("c1", events.Initialized, "node-1") {
				t.Errorf("no Initialized event; events: %v", f.events.Events())
			}
		})
	}
}

func TestADeletedNodeTakesItsClaimAlong(t *testing.T) {
	f := newFixture(t, newClaim("c1"))
	nc := f.launched("c1")
	node := joiningNode("node-1", nc.Status.ProviderID)
	node.Finalizers = []string{v1.TerminationFinalizer}
	f.create(node)
	if err := f.client.Delete(f.ctx, node); err != nil { // kubectl delete node
		t.Fatal(err)
	}
	f.reconcile("c1")
	if nc := f.claim("c1"); nc == nil || nc.DeletionTimestamp == nil {
		t.Error("the claim of a Node being deleted was not deleted")
	}
}
