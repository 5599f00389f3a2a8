package disruption

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tailor-sh/tailor/controllers/controllertest"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"
	toolsevents "k8s.io/client-go/tools/events"
	testingclock "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache/informertest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	v1 "github.com/tailor-sh/tailor/api/v1"
	fakecloud "github.com/tailor-sh/tailor/cloudprovider/fake"
	"github.com/tailor-sh/tailor/controllers/events"
	"github.com/tailor-sh/tailor/controllers/state"
	"github.com/tailor-sh/tailor/core/drain"
	"github.com/tailor-sh/tailor/core/instancetype"
)

// epoch is the fake clock's start. Nodes are launched an hour before it.
var epoch = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)

const (
	testConsolidateAfter = 30 * time.Second
	testValidationDelay  = 5 * time.Second
	testReplacementLimit = 2 * time.Minute
)

// The catalog: each size twice the last, at twice the price, in zone a.
var (
	small  = fakecloud.InstanceType("small", "2", "8Gi", 0.1, "a")
	medium = fakecloud.InstanceType("medium", "4", "16Gi", 0.2, "a")
	large  = fakecloud.InstanceType("large", "8", "32Gi", 0.4, "a")
)

// readerCache is a cache.Cache without informers whose reads go to a
// client, so that a state.Cluster can be built over the fake client.
type readerCache struct {
	*informertest.FakeInformers
	reader client.Reader
}

func (c *readerCache) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	return c.reader.Get(ctx, key, obj, opts...)
}

func (c *readerCache) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	return c.reader.List(ctx, list, opts...)
}

// fixture is a disruption controller over the fake client and cloud, on a
// fake clock; the test runs its passes one at a time.
type fixture struct {
	t      *testing.T
	ctx    context.Context
	client client.Client
	cloud  *fakecloud.CloudProvider
	clock  *testingclock.FakeClock
	events chan string
	// informers stand in for the cache's: only the deletions they are
	// told of reach the cluster state.
	informers *informertest.FakeInformers
	// seen are the events published so far.
	seen []string
	c    *Controller
}

func newFixture(t *testing.T, objs ...client.Object) *fixture {
	t.Helper()
	scheme := controllertest.Scheme()
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).
		WithStatusSubresource(&v1.NodeClaim{}, &v1.NodePool{}).
		WithIndex(&corev1.Pod{}, state.FieldPodNodeName, func(o client.Object) []string { return []string{o.(*corev1.Pod).Spec.NodeName} }).
		WithIndex(&corev1.Node{}, state.FieldNodeProviderID, func(o client.Object) []string { return []string{o.(*corev1.Node).Spec.ProviderID} }).
		WithIndex(&v1.NodeClaim{}, state.FieldNodeClaimProviderID, func(o client.Object) []string { return []string{o.(*v1.NodeClaim).Status.ProviderID} }).
		Build()
	ctx := context.Background()
	informers := &informertest.FakeInformers{Scheme: scheme}
	cluster, err := state.New(ctx, &readerCache{FakeInformers: informers, reader: c})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{
		t: t, ctx: ctx, client: c, informers: informers,
		cloud:  &fakecloud.CloudProvider{InstanceTypes: []*instancetype.InstanceType{small, medium, large}},
		clock:  testingclock.NewFakeClock(epoch),
		events: make(chan string, 1000),
	}
	recorder := events.NewRecorder(&toolsevents.FakeRecorder{Events: f.events})
	f.c = New(c, cluster, f.cloud, recorder, Options{
		Interval: time.Second, ValidationDelay: testValidationDelay, ReplacementTimeout: testReplacementLimit, Clock: f.clock,
	})
	return f
}

// pass runs one pass of the controller.
func (f *fixture) pass() {
	f.t.Helper()
	if err := f.c.reconcile(f.ctx); err != nil {
		f.t.Fatalf("pass at %s: %v", f.clock.Now().Sub(epoch), err)
	}
}

// after moves the clock on by d and runs a pass.
func (f *fixture) after(d time.Duration) {
	f.t.Helper()
	f.clock.Step(d)
	f.pass()
}

// settle runs the first pass, which notes the nodes' pods, and a second
// once they have kept them for consolidateAfter.
func (f *fixture) settle() {
	f.t.Helper()
	f.pass()
	f.after(testConsolidateAfter)
}

// look returns the view a pass would start from, with the pods tracked.
func (f *fixture) look() *view {
	f.t.Helper()
	v, err := f.c.look(f.ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	f.c.trackPods(v)
	return v
}

// event returns the first event published so far that contains every
// part, or "".
func (f *fixture) event(parts ...string) string {
	for {
		select {
		case ev := <-f.events:
			f.seen = append(f.seen, ev)
			continue
		default:
		}
		break
	}
	for _, ev := range f.seen {
		if !slices.ContainsFunc(parts, func(p string) bool { return !strings.Contains(ev, p) }) {
			return ev
		}
	}
	return ""
}

func (f *fixture) wantEvent(parts ...string) {
	f.t.Helper()
	if f.event(parts...) == "" {
		f.t.Errorf("no event says %q; events: %s", parts, strings.Join(f.seen, "\n  "))
	}
}

// nodeClaim reads a NodeClaim; nil when it is gone.
func (f *fixture) nodeClaim(name string) *v1.NodeClaim {
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

// deleted reports whether the NodeClaim is gone or going.
func (f *fixture) deleted(name string) bool {
	f.t.Helper()
	nc := f.nodeClaim(name)
	return nc == nil || nc.DeletionTimestamp != nil
}

// replacements returns the NodeClaims launched to replace others.
func (f *fixture) replacements() []v1.NodeClaim {
	f.t.Helper()
	list := &v1.NodeClaimList{}
	if err := f.client.List(f.ctx, list); err != nil {
		f.t.Fatal(err)
	}
	return slices.DeleteFunc(list.Items, func(nc v1.NodeClaim) bool { return nc.Annotations[v1.AnnotationReplaces] == "" })
}

// remove deletes a NodeClaim for good, finalizers and all, and tells the
// cluster state as its informer would.
func (f *fixture) remove(name string) {
	f.t.Helper()
	nc := f.nodeClaim(name)
	if nc == nil {
		f.t.Fatalf("NodeClaim %s is already gone", name)
	}
	nc.Finalizers = nil
	if err := f.client.Update(f.ctx, nc); err != nil {
		f.t.Fatal(err)
	}
	if err := f.client.Delete(f.ctx, nc); err != nil {
		f.t.Fatal(err)
	}
	informer, err := f.informers.FakeInformerFor(f.ctx, &v1.NodeClaim{})
	if err != nil {
		f.t.Fatal(err)
	}
	informer.Delete(nc)
}

// join makes a NodeClaim's Node join, initialized, as the lifecycle
// controller would.
func (f *fixture) join(name string, pool *v1.NodePool) {
	f.t.Helper()
	nc := f.nodeClaim(name)
	it := small
	for _, candidate := range f.cloud.InstanceTypes {
		if slices.ContainsFunc(nc.Spec.Requirements, func(r v1.NodeSelectorRequirementWithMinValues) bool {
			return r.Key == corev1.LabelInstanceTypeStable && len(r.Values) > 0 && r.Values[0] == candidate.Name
		}) {
			it = candidate
		}
	}
	joined, n := node(name, pool, it)
	nc.Labels, nc.Status = joined.Labels, joined.Status
	if err := f.client.Status().Update(f.ctx, nc); err != nil {
		f.t.Fatal(err)
	}
	if err := f.client.Create(f.ctx, n); err != nil {
		f.t.Fatal(err)
	}
}

// tainted reports whether the Node carries the disrupted taint.
func (f *fixture) tainted(name string) bool {
	f.t.Helper()
	node := &corev1.Node{}
	if err := f.client.Get(f.ctx, client.ObjectKey{Name: name}, node); err != nil {
		f.t.Fatal(err)
	}
	return slices.ContainsFunc(node.Spec.Taints, func(t corev1.Taint) bool { return t.MatchTaint(&drain.DisruptedTaint) })
}

// update reads obj, changes it and writes it back.
func update[T client.Object](f *fixture, obj T, mutate func(T)) {
	f.t.Helper()
	if err := f.client.Get(f.ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
		f.t.Fatal(err)
	}
	mutate(obj)
	if err := f.client.Update(f.ctx, obj); err != nil {
		f.t.Fatal(err)
	}
}

// nodePool consolidates when empty or underutilized after
// testConsolidateAfter, any number of nodes at a time, on demand only.
func nodePool(name string, mutate func(*v1.NodePool)) *v1.NodePool {
	np := &v1.NodePool{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: k8stypes.UID("uid-" + name), CreationTimestamp: metav1.NewTime(epoch.Add(-24 * time.Hour))},
		Spec: v1.NodePoolSpec{
			Template: v1.NodeClaimTemplate{Spec: v1.NodeClaimTemplateSpec{
				NodeClassRef: &v1.NodeClassReference{Group: "fake.tailor.sh", Kind: "FakeNodeClass", Name: "default"},
				Requirements: []v1.NodeSelectorRequirementWithMinValues{{Key: v1.LabelCapacityType, Operator: corev1.NodeSelectorOpIn, Values: []string{v1.CapacityTypeOnDemand}}},
			}},
			Disruption: v1.Disruption{
				ConsolidationPolicy: v1.ConsolidationPolicyWhenEmptyOrUnderutilized,
				ConsolidateAfter:    v1.NewNillableDuration(testConsolidateAfter),
				Budgets:             []v1.Budget{{Nodes: "100%"}},
			},
		},
	}
	if mutate != nil {
		mutate(np)
	}
	return np
}

// node returns a ready node of the pool, of the instance type, launched an
// hour before epoch and initialized then, as its NodeClaim and Node (both
// named name).
func node(name string, pool *v1.NodePool, it *instancetype.InstanceType) (*v1.NodeClaim, *corev1.Node) {
	launched := metav1.NewTime(epoch.Add(-time.Hour))
	providerID := "fake:///a/" + name
	labels := map[string]string{
		v1.LabelNodePool: pool.Name, corev1.LabelInstanceTypeStable: it.Name, corev1.LabelTopologyZone: "a", v1.LabelCapacityType: v1.CapacityTypeOnDemand,
	}
	nc := &v1.NodeClaim{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, UID: k8stypes.UID("uid-" + name), CreationTimestamp: launched, Labels: labels,
			Annotations: map[string]string{v1.AnnotationNodePoolHash: pool.TemplateHash(), v1.AnnotationNodePoolHashVersion: v1.TemplateHashVersion},
			Finalizers:  []string{v1.TerminationFinalizer},
		},
		Spec: v1.NodeClaimSpec{NodeClassRef: pool.Spec.Template.Spec.NodeClassRef},
		Status: v1.NodeClaimStatus{
			ProviderID: providerID, NodeName: name, Capacity: it.Capacity.DeepCopy(), Allocatable: it.Allocatable(),
		},
	}
	for _, c := range []string{v1.ConditionLaunched, v1.ConditionRegistered, v1.ConditionInitialized, v1.ConditionReady} {
		nc.Status.Conditions = append(nc.Status.Conditions, metav1.Condition{Type: c, Status: metav1.ConditionTrue, Reason: c, LastTransitionTime: launched})
	}
	nodeLabels := map[string]string{
		corev1.LabelHostname: name, corev1.LabelArchStable: "amd64", corev1.LabelOSStable: "linux",
		v1.LabelNodeRegistered: "true", v1.LabelNodeInitialized: "true",
	}
	for k, v := range labels {
		nodeLabels[k] = v
	}
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: k8stypes.UID("uid-node-" + name), CreationTimestamp: launched, Labels: nodeLabels},
		Spec:       corev1.NodeSpec{ProviderID: providerID},
		Status:     corev1.NodeStatus{Capacity: it.Capacity.DeepCopy(), Allocatable: it.Allocatable()},
	}
	return nc, n
}

// pod is a running pod of a ReplicaSet on the node, requesting cpu and a
// gibibyte of memory.
func pod(name, node, cpu string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: "shop", UID: k8stypes.UID("uid-" + name), Labels: map[string]string{"app": "web"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web", UID: "rs", Controller: ptr.To(true)}},
		},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "app", Image: "app", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse("1Gi")},
		}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
}

// podKey names a pod of the tests' namespace, to read or delete it.
func podKey(name string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop"}}
}

// daemonPod is a DaemonSet's pod on the node, which no move has to place.
func daemonPod(name, node string) *corev1.Pod {
	p := pod(name, node, "100m")
	p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: "agent", UID: "ds", Controller: ptr.To(true)}}
	return p
}

// annotated returns the object with the annotation set.
func annotated[T client.Object](obj T, key, value string) T {
	a := obj.GetAnnotations()
	if a == nil {
		a = map[string]string{}
	}
	a[key] = value
	obj.SetAnnotations(a)
	return obj
}
