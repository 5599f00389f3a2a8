package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/metrics"
	"github.com/tailor-sh/tailor/providers/sim"
	simv1 "github.com/tailor-sh/tailor/providers/sim/api/v1"
)

// TestLimitsAcrossBatches: pods arriving in waves, with launches slow enough
// that several batches are in flight at once, never take a NodePool past its
// limits; the pods that do not fit are told why.
func TestLimitsAcrossBatches(t *testing.T) {
	e := newEnv(t)
	e.startOperator(testOptions)
	slow := metav1.Duration{Duration: 2 * time.Second}
	pool := e.nodePool("limits", simv1.SimNodeClassSpec{Latency: simv1.Latency{Launch: simv1.DurationRange{Min: &slow}}}, func(np *v1.NodePool) {
		np.Spec.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("8")}
		// One pod per node, so that every pod needs its own launch.
		np.Spec.Template.Spec.Requirements = append(np.Spec.Template.Spec.Requirements,
			v1.NodeSelectorRequirementWithMinValues{Key: v1.LabelInstanceCPU, Operator: corev1.NodeSelectorOpIn, Values: []string{"2"}})
	})
	spec := podSpec(pool.Name, "1500m", "1Gi")
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()

	// Watch the pool's capacity the whole time.
	overshoot := make(chan string, 1)
	go func() {
		for ctx.Err() == nil {
			claims := &v1.NodeClaimList{}
			if err := e.client.List(ctx, claims, client.MatchingLabels{v1.LabelNodePool: pool.Name}); err == nil {
				total := resource.Quantity{}
				for _, nc := range claims.Items {
					total.Add(*nc.Status.Capacity.Cpu())
				}
				if total.Cmp(resource.MustParse("8")) > 0 {
					select {
					case overshoot <- total.String():
					default:
					}
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	// Each wave comes once the last one's batch has created its NodeClaims
	// (one per pod, four at most), while they launch.
	claimed := 0
	for i, wave := range []int32{2, 2, 3} {
		e.deployment("wave-"+string(rune('a'+i)), wave, spec)
		claimed = min(claimed+int(wave), 4)
		e.eventually(30*time.Second, fmt.Sprintf("wave %d's NodeClaims", i+1), func() bool { return len(e.claims(pool.Name)) >= claimed })
	}
	// 4 nodes of 2 cpu fit in the limit; 3 pods must wait.
	var running int
	err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		list := &corev1.PodList{}
		if err := e.client.List(ctx, list, client.InNamespace(e.namespace)); err != nil {
			return false, nil
		}
		running = 0
		for _, p := range list.Items {
			if p.Status.Phase == corev1.PodRunning {
				running++
			}
		}
		return running == 4, nil
	})
	if err != nil {
		t.Fatalf("%d pods running, want 4 (the NodePool's limit of 8 cpu holds four 2-cpu nodes): %s", running, e.describe(nil))
	}
	list := &corev1.PodList{}
	if err := e.client.List(ctx, list, client.InNamespace(e.namespace)); err != nil {
		t.Fatal(err)
	}
	for _, p := range list.Items {
		if p.Status.Phase == corev1.PodPending {
			e.waitEvent("FailedProvisioning", "limits", &p.ObjectMeta)
			break
		}
	}
	e.waitBatches(1) // more batches come and go
	select {
	case total := <-overshoot:
		t.Fatalf("NodePool %s reached %s cpu, past its limit of 8", pool.Name, total)
	default:
	}
	if n := len(e.claims(pool.Name)); n != 4 {
		t.Errorf("%d NodeClaims, want 4", n)
	}
}

// TestRestartMidLaunch: the controller stopped while it launches (with one
// instance created whose NodeClaim never learned of it, as after a crash)
// and started again launches no duplicate, leaks nothing, and runs every
// pod.
func TestRestartMidLaunch(t *testing.T) {
	e := newEnv(t)
	slow := metav1.Duration{Duration: 2 * time.Second}
	pool := e.nodePool("restart", simv1.SimNodeClassSpec{Latency: simv1.Latency{Launch: simv1.DurationRange{Min: &slow}}}, nil)
	first := e.startOperator(testOptions)
	spec := podSpec(pool.Name, "1", "1Gi")
	spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
		TopologyKey: corev1.LabelHostname, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "restart"}},
	}}}}
	e.deployment("restart", 5, spec)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(context.Context) (bool, error) {
		return len(e.claims(pool.Name)) >= 3, nil
	}); err != nil {
		t.Fatalf("no NodeClaims created: %v", err)
	}
	first.stop() // mid-launch: the simulated launch takes 2 s
	claims := e.claims(pool.Name)
	unlaunched := 0
	for i := range claims {
		if claims[i].Status.ProviderID == "" {
			unlaunched++
		}
	}
	if unlaunched == 0 {
		t.Fatal("every NodeClaim launched before the stop; the test did not stop the controller mid-launch")
	}
	// As if the controller had crashed right after the cloud accepted a
	// launch: the instance exists, the NodeClaim does not say so.
	for i := range claims {
		if claims[i].Status.ProviderID == "" {
			if _, err := sim.New(e.client, sim.Options{ClusterName: "tailor"}).Create(ctx, &claims[i]); err != nil {
				t.Fatalf("launch for NodeClaim %s behind the controller's back: %v", claims[i].Name, err)
			}
			break
		}
	}

	e.startOperator(testOptions)
	e.waitRunning("restart", 5, 2*time.Minute)
	claims = e.waitClaimsReady(pool.Name, time.Minute)

	instances := &simv1.SimInstanceList{}
	if err := e.client.List(ctx, instances); err != nil {
		t.Fatal(err)
	}
	byClaim := map[string]int{}
	for _, in := range instances.Items {
		if in.Spec.NodeClass == pool.Name {
			byClaim[in.Spec.NodeClaim]++
		}
	}
	if len(claims) != 5 {
		t.Errorf("%d NodeClaims for 5 pods that need a node each", len(claims))
	}
	for _, nc := range claims {
		if byClaim[nc.Name] != 1 {
			t.Errorf("NodeClaim %s has %d instances, want 1", nc.Name, byClaim[nc.Name])
		}
		delete(byClaim, nc.Name)
	}
	for name, n := range byClaim {
		t.Errorf("%d instances leaked for NodeClaim %s, which does not exist", n, name)
	}
}

// TestInsufficientCapacityFallback: when the cheapest offering has no
// capacity, the same NodeClaim launches the next cheapest at once, well
// within one batch window, and the offering is avoided afterwards.
func TestInsufficientCapacityFallback(t *testing.T) {
	e := newEnv(t)
	e.startOperator(testOptions)
	pool := e.nodePool("ice", simv1.SimNodeClassSpec{Faults: simv1.Faults{InsufficientCapacity: simv1.InsufficientCapacityFaults{
		Offerings: []simv1.OfferingSelector{{InstanceType: "m5.large"}},
	}}}, func(np *v1.NodePool) {
		np.Spec.Template.Spec.Requirements = []v1.NodeSelectorRequirementWithMinValues{
			{Key: corev1.LabelInstanceTypeStable, Operator: corev1.NodeSelectorOpIn, Values: []string{"m5.large", "m5.xlarge"}},
			{Key: v1.LabelCapacityType, Operator: corev1.NodeSelectorOpIn, Values: []string{v1.CapacityTypeOnDemand}},
		}
	})
	e.deployment("ice", 1, podSpec(pool.Name, "1", "1Gi"))
	pods := e.waitRunning("ice", 1, time.Minute)
	claims := e.claims(pool.Name)
	if len(claims) != 1 {
		t.Fatalf("%d NodeClaims, want the one that fell back", len(claims))
	}
	nc := claims[0]
	if got := nc.Labels[corev1.LabelInstanceTypeStable]; got != "m5.xlarge" {
		t.Errorf("launched %s, want m5.xlarge, the next cheapest after m5.large", got)
	}
	launched := apimeta.FindStatusCondition(nc.Status.Conditions, v1.ConditionLaunched)
	if took := launched.LastTransitionTime.Sub(nc.CreationTimestamp.Time); took > time.Second+500*time.Millisecond {
		t.Errorf("the fallback launched %s after the NodeClaim was created, more than a batch window", took)
	}
	if node := e.node(pods[0].Spec.NodeName); node.Labels[corev1.LabelInstanceTypeStable] != "m5.xlarge" {
		t.Errorf("pod runs on %s", node.Labels[corev1.LabelInstanceTypeStable])
	}
}

// TestImpossiblePod: a pod that no instance type can hold gets an event that
// says why, and Tailor launches nothing for it, batch after batch.
func TestImpossiblePod(t *testing.T) {
	e := newEnv(t)
	e.startOperator(testOptions)
	pool := e.nodePool("impossible", simv1.SimNodeClassSpec{}, nil)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "huge", Namespace: e.namespace}, Spec: podSpec(pool.Name, "1000", "1Gi")}
	if err := e.client.Create(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	ev := e.waitEvent("FailedProvisioning", "cpu", &pod.ObjectMeta)
	t.Logf("event: %s", ev.Message)
	e.waitBatches(1) // the provisioner decides the pod again
	if claims := e.claims(pool.Name); len(claims) != 0 {
		t.Errorf("%d NodeClaims launched for a pod no instance type can hold", len(claims))
	}
	if n := e.countEvents("FailedProvisioning", &pod.ObjectMeta); n != 1 {
		t.Errorf("%d FailedProvisioning events, want 1 (repeats are held back)", n)
	}
}

// batches is how many batches with pending pods the provisioners of this
// process have started.
func batches(t testing.TB) uint64 {
	t.Helper()
	m := &dto.Metric{}
	if err := metrics.BatchSize.Write(m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}

// waitBatches returns once the provisioner has finished n batches with
// pending pods that started after the call: batches run one after another,
// so the n+1th to start after it has seen the nth finish.
func (e *env) waitBatches(n int) {
	e.t.Helper()
	from := batches(e.t)
	e.eventually(time.Minute, fmt.Sprintf("%d provisioning batches", n+1), func() bool { return batches(e.t) >= from+uint64(n)+1 })
}

// waitEvent waits for an event with the reason about obj whose message
// contains text.
func (e *env) waitEvent(reason, text string, obj *metav1.ObjectMeta) corev1.Event {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var found corev1.Event
	err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		for _, ev := range e.events(ctx, obj) {
			if ev.Reason == reason && strings.Contains(ev.Message, text) {
				found = ev
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		e.t.Fatalf("no %s event mentioning %q about %s: %s", reason, text, obj.Name, e.describe(nil))
	}
	return found
}

func (e *env) countEvents(reason string, obj *metav1.ObjectMeta) int {
	n := 0
	for _, ev := range e.events(context.Background(), obj) {
		if ev.Reason == reason {
			n += max(int(ev.Count), 1)
		}
	}
	return n
}

// events lists the events about obj (core/v1 shows events.k8s.io events).
func (e *env) events(ctx context.Context, obj *metav1.ObjectMeta) []corev1.Event {
	list := &corev1.EventList{}
	ns := obj.Namespace
	if ns == "" {
		ns = metav1.NamespaceDefault
	}
	if err := e.client.List(ctx, list, client.InNamespace(ns)); err != nil {
		return nil
	}
	var out []corev1.Event
	for _, ev := range list.Items {
		if ev.InvolvedObject.Name == obj.Name {
			out = append(out, ev)
		}
	}
	return out
}
