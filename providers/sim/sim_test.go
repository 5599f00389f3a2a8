package sim_test

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/cloudprovider"
	"github.com/tailor-sh/tailor/embedded"
	"github.com/tailor-sh/tailor/embedded/clustertest"
	"github.com/tailor-sh/tailor/providers/sim"
	simv1 "github.com/tailor-sh/tailor/providers/sim/api/v1"
)

func TestMain(m *testing.M) { os.Exit(clustertest.Run(m)) }

func TestKwokSelectsSimulatedNodes(t *testing.T) {
	if sim.KwokNodeAnnotation != embedded.KwokNodeAnnotation || sim.KwokNodeAnnotationValue != embedded.KwokNodeAnnotationValue {
		t.Fatal("the simulated cloud's Nodes must carry the annotation the embedded cluster's kwok selects")
	}
}

func newClient(t *testing.T) client.Client {
	t.Helper()
	scheme, err := cloudprovider.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(clustertest.Start(t).RESTConfig, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func createClass(t *testing.T, c client.Client, name string, spec simv1.SimNodeClassSpec) *simv1.SimNodeClass {
	t.Helper()
	class := &simv1.SimNodeClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}
	if err := c.Create(context.Background(), class); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Delete(context.Background(), class) })
	return class
}

func nodePool(class string) *v1.NodePool {
	return &v1.NodePool{Spec: v1.NodePoolSpec{Template: v1.NodeClaimTemplate{Spec: v1.NodeClaimTemplateSpec{
		NodeClassRef: &v1.NodeClassReference{Group: simv1.Group, Kind: "SimNodeClass", Name: class},
	}}}}
}

func nodeClaim(name, class string, requests corev1.ResourceList, reqs ...v1.NodeSelectorRequirementWithMinValues) *v1.NodeClaim {
	return &v1.NodeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{v1.LabelNodePool: "default"}},
		Spec: v1.NodeClaimSpec{
			NodeClassRef: &v1.NodeClassReference{Group: simv1.Group, Kind: "SimNodeClass", Name: class},
			Requirements: reqs,
			Resources:    v1.ResourceRequirements{Requests: requests},
		},
	}
}

func requirement(key string, values ...string) v1.NodeSelectorRequirementWithMinValues {
	return v1.NodeSelectorRequirementWithMinValues{Key: key, Operator: corev1.NodeSelectorOpIn, Values: values}
}

func cpu(n string) corev1.ResourceList {
	return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(n)}
}

func TestCatalogFromConfigMap(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "bad-catalog"},
		Data:       map[string]string{"catalog.json": `{"instanceTypes":[{"name":"tiny","arch":"amd64","resources":{"cpu":"1","memory":"1Gi"},"offerings":[]}]}`},
	}
	if err := c.Create(ctx, cm); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Delete(context.Background(), cm) })
	class := createClass(t, c, "from-configmap", simv1.SimNodeClassSpec{
		CatalogConfigMap: &simv1.ConfigMapKeyReference{Namespace: "default", Name: "bad-catalog", Key: "catalog.json"},
	})
	provider := sim.New(c, sim.Options{Seed: 1})
	_, err := provider.GetInstanceTypes(ctx, nodePool(class.Name))
	if err == nil || !strings.Contains(err.Error(), `catalog ConfigMap default/bad-catalog has no usable instance type: instance type "tiny": resources.pods is missing or zero`) {
		t.Fatalf("GetInstanceTypes error = %v, want one naming the ConfigMap, the type and the field", err)
	}
	cloud := &sim.Cloud{Provider: provider}
	if err := cloud.Step(ctx, time.Second); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, types.NamespacedName{Name: class.Name}, class); err != nil {
		t.Fatal(err)
	}
	if len(class.Status.Conditions) != 1 || class.Status.Conditions[0].Status != metav1.ConditionFalse ||
		class.Status.Conditions[0].Reason != "CatalogInvalid" || !strings.Contains(class.Status.Conditions[0].Message, "resources.pods") {
		t.Fatalf("conditions = %+v, want Ready=False CatalogInvalid naming the problem", class.Status.Conditions)
	}

	cm.Data["catalog.json"] = `{"instanceTypes":[{"name":"tiny","arch":"amd64","resources":{"cpu":"1","memory":"1Gi","pods":"8"},
		"offerings":[{"zone":"lab-a","capacityType":"on-demand","price":0.01}]}]}`
	if err := c.Update(ctx, cm); err != nil {
		t.Fatal(err)
	}
	its, err := provider.GetInstanceTypes(ctx, nodePool(class.Name))
	if err != nil || len(its) != 1 || its[0].Name != "tiny" {
		t.Fatalf("after fixing the ConfigMap: %v, %v", its, err)
	}
}

func TestZones(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	provider := sim.New(c, sim.Options{Seed: 1})
	createClass(t, c, "two-zones", simv1.SimNodeClassSpec{Catalog: "aws-us-west-2", Zones: []string{"us-west-2a", "us-west-2c"}})
	its, err := provider.GetInstanceTypes(ctx, nodePool("two-zones"))
	if err != nil {
		t.Fatal(err)
	}
	if len(its) < 800 {
		t.Fatalf("%d instance types, want the whole catalog", len(its))
	}
	for _, it := range its {
		for _, o := range it.Offerings {
			if o.Zone != "us-west-2a" && o.Zone != "us-west-2c" {
				t.Fatalf("%s offered in %s", it.Name, o.Zone)
			}
		}
	}
	createClass(t, c, "bad-zone", simv1.SimNodeClassSpec{Zones: []string{"eu-west-1a"}})
	if _, err := provider.GetInstanceTypes(ctx, nodePool("bad-zone")); err == nil || !strings.Contains(err.Error(), `zone "eu-west-1a" is not in catalog aws-us-west-2`) {
		t.Fatalf("unknown zone: %v", err)
	}
	if _, err := provider.GetInstanceTypes(ctx, nodePool("missing")); !cloudprovider.IsNodeClassNotReady(err) {
		t.Fatalf("missing class: %v, want NodeClassNotReadyError", err)
	}
}

func TestCreateChoosesTheCheapestOfferingOnceAndForAll(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	provider := sim.New(c, sim.Options{Seed: 1})
	createClass(t, c, "cheapest", simv1.SimNodeClassSpec{})
	claim := nodeClaim("cheapest-1", "cheapest", cpu("3"),
		requirement(corev1.LabelArchStable, "arm64"),
		requirement(v1.LabelInstanceFamily, "m7g", "c7g"),
		requirement(v1.LabelCapacityType, "on-demand"))
	launched, err := provider.Create(ctx, claim)
	if err != nil {
		t.Fatal(err)
	}
	labels := launched.Labels
	// c7g.xlarge (4 vCPU, $0.145/h) is the cheapest on-demand arm64 type
	// of those families with room for 3 cpu after kubelet reservations.
	if labels[corev1.LabelInstanceTypeStable] != "c7g.xlarge" || labels[v1.LabelCapacityType] != "on-demand" || labels[corev1.LabelArchStable] != "arm64" {
		t.Fatalf("launched %v", labels)
	}
	if !strings.HasPrefix(launched.Status.ProviderID, "sim:///us-west-2") || launched.Status.Allocatable.Cpu().MilliValue() >= 4000 {
		t.Fatalf("status = %+v", launched.Status)
	}
	again, err := provider.Create(ctx, claim)
	if err != nil {
		t.Fatal(err)
	}
	if again.Status.ProviderID != launched.Status.ProviderID {
		t.Fatalf("a repeated Create launched %s after %s", again.Status.ProviderID, launched.Status.ProviderID)
	}
	list, err := provider.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, nc := range list {
		if nc.Name == claim.Name {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d instances for one NodeClaim", n)
	}
	t.Cleanup(func() { _ = provider.Delete(context.Background(), launched) })

	impossible := nodeClaim("cheapest-2", "cheapest", cpu("1000"))
	if _, err := provider.Create(ctx, impossible); err == nil || cloudprovider.IsInsufficientCapacity(err) || !strings.Contains(err.Error(), "no instance type") {
		t.Fatalf("1000 cpu: %v", err)
	}
}

func TestInjectedFaults(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	provider := sim.New(c, sim.Options{Seed: 1})
	createClass(t, c, "no-spot", simv1.SimNodeClassSpec{Faults: simv1.Faults{
		InsufficientCapacity: simv1.InsufficientCapacityFaults{Offerings: []simv1.OfferingSelector{{CapacityType: "spot"}, {InstanceType: "c7g.xlarge"}}},
	}})
	_, err := provider.Create(ctx, nodeClaim("no-spot-1", "no-spot", cpu("3"),
		requirement(v1.LabelInstanceFamily, "c7g"), requirement(v1.LabelCapacityType, "spot")))
	if !cloudprovider.IsInsufficientCapacity(err) || !strings.Contains(err.Error(), "spot/c7g.2xlarge/us-west-2a") {
		t.Fatalf("spot-only claim with spot blocked: %v, want insufficient capacity naming the offerings", err)
	}
	launched, err := provider.Create(ctx, nodeClaim("no-spot-2", "no-spot", cpu("3"),
		requirement(v1.LabelInstanceFamily, "c7g"), requirement(v1.LabelCapacityType, "on-demand")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = provider.Delete(context.Background(), launched) })
	if got := launched.Labels[corev1.LabelInstanceTypeStable]; got != "c7g.2xlarge" {
		t.Fatalf("with c7g.xlarge out of capacity, launched %s, want the next cheapest, c7g.2xlarge", got)
	}

	createClass(t, c, "always-ice", simv1.SimNodeClassSpec{Faults: simv1.Faults{InsufficientCapacity: simv1.InsufficientCapacityFaults{Rate: "1"}}})
	if _, err := provider.Create(ctx, nodeClaim("ice-1", "always-ice", cpu("1"))); !cloudprovider.IsInsufficientCapacity(err) {
		t.Fatalf("rate 1: %v, want insufficient capacity", err)
	}
	createClass(t, c, "flaky", simv1.SimNodeClassSpec{Faults: simv1.Faults{APIErrorRate: "1.0"}})
	if _, err := provider.Create(ctx, nodeClaim("flaky-1", "flaky", cpu("1"))); !cloudprovider.IsRetryable(err) {
		t.Fatalf("API error rate 1: %v, want a retryable error", err)
	}
}

// TestInstancesOutliveTheProvider launches with one provider, then drives the
// instance's whole life with another, as after a controller restart.
func TestInstancesOutliveTheProvider(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	createClass(t, c, "lifecycle", simv1.SimNodeClassSpec{
		Latency: simv1.Latency{Registration: simv1.DurationRange{Min: &metav1.Duration{Duration: 30 * time.Second}}},
	})
	clock := clocktesting.NewFakeClock(time.Now())
	first := sim.New(c, sim.Options{Seed: 1, Clock: clock})
	launched, err := first.Create(ctx, nodeClaim("lifecycle-1", "lifecycle", cpu("1")))
	if err != nil {
		t.Fatal(err)
	}

	restarted := sim.New(c, sim.Options{Seed: 2, Clock: clock})
	cloud := &sim.Cloud{Provider: restarted}
	got, err := restarted.Get(ctx, launched.Status.ProviderID)
	if err != nil || got.Name != "lifecycle-1" || got.Labels[corev1.LabelInstanceTypeStable] != launched.Labels[corev1.LabelInstanceTypeStable] {
		t.Fatalf("Get after restart = %v, %v", got, err)
	}
	if err := cloud.Step(ctx, time.Second); err != nil {
		t.Fatal(err)
	}
	node := &corev1.Node{}
	if err := c.Get(ctx, types.NamespacedName{Name: "lifecycle-1"}, node); err == nil {
		t.Fatal("the Node joined before its registration delay")
	}
	clock.Step(31 * time.Second)
	if err := cloud.Step(ctx, time.Second); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, types.NamespacedName{Name: "lifecycle-1"}, node); err != nil {
		t.Fatalf("the Node did not join after its registration delay: %v", err)
	}
	if node.Spec.ProviderID != launched.Status.ProviderID || node.Annotations[sim.KwokNodeAnnotation] != sim.KwokNodeAnnotationValue ||
		node.Labels[v1.LabelNodePool] != "default" || len(node.Spec.Taints) == 0 || node.Spec.Taints[0].Key != v1.TaintKeyUnregistered {
		t.Fatalf("Node = %+v", node)
	}
	if err := restarted.Delete(ctx, launched); err != nil {
		t.Fatal(err)
	}
	if err := restarted.Delete(ctx, launched); !cloudprovider.IsNodeClaimNotFound(err) {
		t.Fatalf("second Delete = %v, want NodeClaimNotFoundError", err)
	}
	if err := cloud.Step(ctx, time.Second); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, types.NamespacedName{Name: "lifecycle-1"}, node); err == nil && node.DeletionTimestamp == nil {
		t.Fatal("the Node of a terminated instance is still there")
	}
	if _, err := restarted.Get(ctx, launched.Status.ProviderID); !cloudprovider.IsNodeClaimNotFound(err) {
		t.Fatalf("Get after termination = %v, want NodeClaimNotFoundError", err)
	}
}

func TestSpotInterruption(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	createClass(t, c, "interrupting", simv1.SimNodeClassSpec{Faults: simv1.Faults{SpotInterruptionsPerHour: "1"}})
	clock := clocktesting.NewFakeClock(time.Now())
	provider := sim.New(c, sim.Options{Seed: 1, Clock: clock})
	cloud := &sim.Cloud{Provider: provider}
	launched, err := provider.Create(ctx, nodeClaim("interrupted-1", "interrupting", cpu("1"), requirement(v1.LabelCapacityType, "spot")))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // register, then (with an hour-long tick at rate 1) interrupt
		if err := cloud.Step(ctx, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	node := &corev1.Node{}
	if err := c.Get(ctx, types.NamespacedName{Name: "interrupted-1"}, node); err != nil {
		t.Fatal(err)
	}
	if node.Annotations[sim.AnnotationInterruptionTime] == "" {
		t.Fatalf("no interruption announced on %v", node.Annotations)
	}
	notices, err := provider.Interruptions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(notices) != 1 || notices[0].ProviderID != launched.Status.ProviderID || notices[0].Kind != "SpotInterruption" ||
		!notices[0].At.Equal(clock.Now().Add(sim.InterruptionWarning).Truncate(time.Second)) {
		t.Fatalf("notices %+v, want one SpotInterruption of %s in %s", notices, launched.Status.ProviderID, sim.InterruptionWarning)
	}
	clock.Step(sim.InterruptionWarning + time.Second)
	for range 2 { // shut down, then remove
		if err := cloud.Step(ctx, time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := provider.Get(ctx, launched.Status.ProviderID); !cloudprovider.IsNodeClaimNotFound(err) {
		t.Fatalf("the interrupted instance is still there: %v", err)
	}
	if notices, err := provider.Interruptions(ctx); err != nil || len(notices) != 0 {
		t.Fatalf("notices %+v (%v) after the instance is gone, want none", notices, err)
	}
}

// TestListKeepsToItsClusterAndCarriesTheNodeClaimUID: garbage collection
// matches instances to NodeClaims by UID and must never see another
// cluster's instances.
func TestListKeepsToItsClusterAndCarriesTheNodeClaimUID(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	createClass(t, c, "clusters", simv1.SimNodeClassSpec{})
	ours := sim.New(c, sim.Options{Seed: 1, ClusterName: "ours"})
	theirs := sim.New(c, sim.Options{Seed: 1, ClusterName: "theirs"})
	mine := nodeClaim("clusters-ours", "clusters", cpu("1"))
	mine.UID = "uid-ours"
	other := nodeClaim("clusters-theirs", "clusters", cpu("1"))
	other.UID = "uid-theirs"
	for _, launch := range []struct {
		provider *sim.Provider
		claim    *v1.NodeClaim
	}{{ours, mine}, {theirs, other}} {
		launched, err := launch.provider.Create(ctx, launch.claim)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = launch.provider.Delete(context.Background(), launched) })
	}
	list, err := ours.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for _, nc := range list {
		seen = append(seen, nc.Name+"/"+string(nc.UID))
	}
	if !slices.Contains(seen, "clusters-ours/uid-ours") || slices.ContainsFunc(seen, func(s string) bool { return strings.HasPrefix(s, "clusters-theirs") }) {
		t.Errorf("cluster ours lists %v, want its own instance with its NodeClaim's UID and none of theirs", seen)
	}
}
