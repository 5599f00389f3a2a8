package lifecycle

import (
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/controllers/events"
	"github.com/tailor-sh/tailor/core/drain"
)

const providerID = "fake:///a/i-1"

// newTerminating returns a fixture with claim c1, deleted at epoch, whose
// instance runs and whose Node node-1 has joined and is ready, with objs
// beside. tgp, when set, is the claim's terminationGracePeriod.
func newTerminating(t *testing.T, tgp time.Duration, objs ...client.Object) *fixture {
	t.Helper()
	nc := newClaim("c1")
	nc.DeletionTimestamp = &metav1.Time{Time: epoch}
	nc.Finalizers = []string{v1.TerminationFinalizer}
	nc.Status = v1.NodeClaimStatus{ProviderID: providerID, NodeName: "node-1", Conditions: []metav1.Condition{
		{Type: v1.ConditionLaunched, Status: metav1.ConditionTrue, Reason: "Launched", LastTransitionTime: metav1.NewTime(epoch.Add(-time.Hour))},
		{Type: v1.ConditionRegistered, Status: metav1.ConditionTrue, Reason: "Registered", LastTransitionTime: metav1.NewTime(epoch.Add(-time.Hour))},
	}}
	if tgp > 0 {
		nc.Spec.TerminationGracePeriod = &metav1.Duration{Duration: tgp}
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "node-1", Finalizers: []string{v1.TerminationFinalizer}, Labels: map[string]string{v1.LabelNodePool: "default"}},
		Spec:       corev1.NodeSpec{ProviderID: providerID},
	}
	f := newFixture(t, append([]client.Object{nc, node}, objs...)...)
	f.cloud.AddInstance(&v1.NodeClaim{ObjectMeta: metav1.ObjectMeta{Name: "c1"}, Status: v1.NodeClaimStatus{ProviderID: providerID}})
	return f
}

// podOn is a running pod bound to node-1.
func podOn(name string, mutate func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("pod-" + name)},
		Spec:       corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "c"}}},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning},
	}
	if mutate != nil {
		mutate(p)
	}
	return p
}

func ownedByDaemonSet(p *corev1.Pod) {
	p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: "agent", UID: "ds", Controller: ptr.To(true)}}
}

func toleratesDisruption(p *corev1.Pod) {
	p.Spec.Tolerations = []corev1.Toleration{{Key: v1.TaintKeyDisrupted, Operator: corev1.TolerationOpExists}}
}

func attachment(name, pv string) *storagev1.VolumeAttachment {
	return &storagev1.VolumeAttachment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       storagev1.VolumeAttachmentSpec{NodeName: "node-1", Attacher: "csi.example.com", Source: storagev1.VolumeAttachmentSource{PersistentVolumeName: ptr.To(pv)}},
	}
}

// terminated reports whether the instance was asked to go.
func (f *fixture) terminated() bool { return f.cloud.Calls["Delete"] > 0 }

func TestTerminationDrainsInOrderThenTerminates(t *testing.T) {
	f := newTerminating(t, 0,
		podOn("web", nil),
		podOn("agent", ownedByDaemonSet),
		podOn("critical", func(p *corev1.Pod) { p.Spec.PriorityClassName = "system-node-critical" }),
		podOn("static", func(p *corev1.Pod) { p.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "x"} }),
		podOn("tolerant", func(p *corev1.Pod) { ownedByDaemonSet(p); toleratesDisruption(p) }),
		podOn("done", func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }),
	)
	for i, step := range []struct {
		// after is how long after the claim's deletion the reconcile runs.
		after       time.Duration
		wantEvicted []string
		wantRequeue time.Duration
	}{
		{after: 0, wantEvicted: []string{"web"}, wantRequeue: time.Second},
		// Retries slow down as the drain takes longer.
		{after: 40 * time.Second, wantEvicted: []string{"web", "agent"}, wantRequeue: 10 * time.Second},
		{after: 2 * time.Minute, wantEvicted: []string{"web", "agent", "critical"}, wantRequeue: 15 * time.Second},
	} {
		f.clock.SetTime(epoch.Add(step.after))
		result := f.reconcile("c1")
		if !slices.Equal(f.evicted, step.wantEvicted) {
			t.Fatalf("reconcile %d: evicted %v, want %v", i+1, f.evicted, step.wantEvicted)
		}
		if result.RequeueAfter != step.wantRequeue {
			t.Errorf("reconcile %d: RequeueAfter = %s, want %s", i+1, result.RequeueAfter, step.wantRequeue)
		}
		if f.terminated() || f.node("node-1").DeletionTimestamp != nil {
			t.Fatalf("reconcile %d: the Node or instance went before the drain ended", i+1)
		}
	}
	if node := f.node("node-1"); !slices.ContainsFunc(node.Spec.Taints, func(t corev1.Taint) bool { return t.MatchTaint(&drain.DisruptedTaint) }) {
		t.Errorf("Node not tainted %s while draining: %v", drain.DisruptedTaint.ToString(), node.Spec.Taints)
	}
	if !f.events.Has("default/web", events.Evicted, "node-1") {
		t.Errorf("no Evicted event for web; events: %v", f.events.Events())
	}

	// Drained: the Node is deleted and the instance terminated; the claim
	// waits until the cloud says the instance is gone.
	f.reconcile("c1")
	if node := f.node("node-1"); node == nil || node.DeletionTimestamp == nil || !f.terminated() {
		t.Fatalf("after the drain: Node %v, instance terminated %v; want the Node deleting and the instance terminated", node, f.terminated())
	}
	if nc := f.claim("c1"); nc == nil || !controllerutil.ContainsFinalizer(nc, v1.TerminationFinalizer) {
		t.Fatal("the claim went before its instance was confirmed gone")
	}
	f.reconcile("c1")
	if f.node("node-1") != nil || f.claim("c1") != nil {
		t.Error("the Node and the claim stayed after the instance was gone")
	}
	if got := f.cloud.Calls["Delete"]; got != 2 {
		t.Errorf("Delete called %d times, want 2: until it reports NodeClaimNotFound", got)
	}
	if want := []string{"web", "agent", "critical"}; !slices.Equal(f.evicted, want) {
		t.Errorf("evicted %v, want %v: static, tolerant and finished pods stay", f.evicted, want)
	}
}

func TestAPodStuckTerminatingHoldsTheDrainForAMinute(t *testing.T) {
	stuck := podOn("stuck", func(p *corev1.Pod) {
		p.DeletionTimestamp = &metav1.Time{Time: epoch.Add(-30 * time.Second)}
		p.Finalizers = []string{"example.com/cleanup"}
	})
	f := newTerminating(t, 0, stuck)
	f.reconcile("c1")
	if f.terminated() || len(f.evicted) > 0 {
		t.Fatalf("terminated %v, evicted %v; want the drain to wait for the terminating pod", f.terminated(), f.evicted)
	}
	f.clock.Step(31 * time.Second)
	f.reconcile("c1")
	if !f.terminated() {
		t.Error("a pod terminating for over a minute still holds the drain")
	}
}

func TestABlockedEvictionHoldsTheDrain(t *testing.T) {
	f := newTerminating(t, 0, podOn("web", nil))
	f.refuseEviction["web"] = true
	for range 3 {
		f.clock.Step(time.Minute)
		f.reconcile("c1")
	}
	if f.terminated() || f.node("node-1").DeletionTimestamp != nil {
		t.Error("the Node or instance went while a PodDisruptionBudget held a pod")
	}
	pod := &corev1.Pod{}
	if err := f.client.Get(f.ctx, client.ObjectKey{Namespace: "default", Name: "web"}, pod); err != nil {
		t.Errorf("the pod the budget protects is gone: %v", err)
	}
	if !f.events.Has("default/web", events.DrainBlocked, "node-1 waits") {
		t.Errorf("no DrainBlocked event for web; events: %v", f.events.Events())
	}
}

func TestTerminationGracePeriod(t *testing.T) {
	for _, tc := range []struct {
		name        string
		tgp         time.Duration
		after       time.Duration
		wantDeleted bool
	}{
		{name: "without one, do-not-disrupt holds the drain", after: 24 * time.Hour},
		{name: "within it, do-not-disrupt holds the drain", tgp: 10 * time.Minute, after: 10 * time.Minute},
		{name: "past it, the pod is deleted and volumes are not waited for", tgp: 10 * time.Minute, after: 10*time.Minute + time.Second, wantDeleted: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newTerminating(t, tc.tgp,
				podOn("precious", func(p *corev1.Pod) { p.Annotations = map[string]string{v1.AnnotationDoNotDisrupt: "true"} }),
				attachment("va-1", "pv-1"))
			f.reconcile("c1")
			if !f.events.Has("default/precious", events.DrainBlocked, v1.AnnotationDoNotDisrupt) {
				t.Errorf("no DrainBlocked event for the do-not-disrupt pod; events: %v", f.events.Events())
			}
			f.clock.SetTime(epoch.Add(tc.after))
			f.reconcile("c1")
			err := f.client.Get(f.ctx, client.ObjectKey{Namespace: "default", Name: "precious"}, &corev1.Pod{})
			if deleted := err != nil; deleted != tc.wantDeleted {
				t.Fatalf("pod deleted = %v (%v), want %v", deleted, err, tc.wantDeleted)
			}
			if len(f.evicted) > 0 {
				t.Errorf("evicted %v: a do-not-disrupt pod is never evicted, only deleted at the deadline", f.evicted)
			}
			f.reconcile("c1")
			if f.terminated() != tc.wantDeleted {
				t.Errorf("instance terminated = %v, want %v", f.terminated(), tc.wantDeleted)
			}
			if tc.wantDeleted && !f.events.Has("default/precious", events.Evicted, "terminationGracePeriod") {
				t.Errorf("no event tells the pod why it was deleted; events: %v", f.events.Events())
			}
		})
	}
}

func TestTerminationWaitsForVolumesToDetach(t *testing.T) {
	agentData := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "agent-data", Namespace: "default"},
		Spec:       corev1.PersistentVolumeClaimSpec{VolumeName: "pv-agent"},
	}
	// A DaemonSet pod that tolerates the disrupted taint stays to the
	// end; its volume detaches only when the node goes.
	agent := podOn("agent", func(p *corev1.Pod) {
		ownedByDaemonSet(p)
		toleratesDisruption(p)
		p.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "agent-data"},
		}}}
	})
	for _, tc := range []struct {
		name     string
		objs     []client.Object
		wantWait bool
	}{
		{name: "a volume of a pod that moved", objs: []client.Object{attachment("va-web", "pv-web")}, wantWait: true},
		{name: "a volume of a pod that stays", objs: []client.Object{attachment("va-agent", "pv-agent"), agent, agentData}},
		{name: "a volume on another node", objs: []client.Object{func() client.Object {
			va := attachment("va-other", "pv-other")
			va.Spec.NodeName = "node-2"
			return va
		}()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newTerminating(t, 0, tc.objs...)
			f.reconcile("c1")
			if waited := !f.terminated(); waited != tc.wantWait {
				t.Fatalf("waited for volumes = %v, want %v", waited, tc.wantWait)
			}
			if !tc.wantWait {
				return
			}
			if !f.events.Has("c1", events.WaitingForVolumes, "pv-web") {
				t.Errorf("no WaitingForVolumes event naming pv-web; events: %v", f.events.Events())
			}
			if f.node("node-1").DeletionTimestamp != nil {
				t.Error("the Node was deleted while its volumes were attached")
			}
			if err := f.client.Delete(f.ctx, attachment("va-web", "pv-web")); err != nil {
				t.Fatal(err)
			}
			f.reconcile("c1")
			if !f.terminated() {
				t.Error("the instance was not terminated once its volumes had detached")
			}
		})
	}
}

func TestTerminationWithoutADrain(t *testing.T) {
	for _, tc := range []struct {
		name string
		// instanceGone: the cloud has already taken the instance away.
		instanceGone bool
		// neverLaunched: the claim has no provider ID and no Node.
		neverLaunched bool
	}{
		{name: "an instance the cloud took away is not drained", instanceGone: true},
		{name: "a claim that never launched", neverLaunched: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newTerminating(t, 0, podOn("web", nil))
			if tc.instanceGone || tc.neverLaunched {
				if err := f.cloud.Delete(f.ctx, &v1.NodeClaim{Status: v1.NodeClaimStatus{ProviderID: providerID}}); err != nil {
					t.Fatal(err)
				}
				f.cloud.Calls = nil
			}
			if tc.neverLaunched {
				if err := f.client.Delete(f.ctx, f.node("node-1")); err != nil {
					t.Fatal(err)
				}
				node := f.node("node-1")
				controllerutil.RemoveFinalizer(node, v1.TerminationFinalizer)
				if err := f.client.Update(f.ctx, node); err != nil {
					t.Fatal(err)
				}
				nc := f.claim("c1")
				nc.Status = v1.NodeClaimStatus{}
				if err := f.client.Status().Update(f.ctx, nc); err != nil {
					t.Fatal(err)
				}
			}
			// Deleting the Node changes it, so releasing it in the same
			// reconcile conflicts and is done on the next.
			for range 2 {
				f.reconcile("c1")
			}
			if len(f.evicted) > 0 {
				t.Errorf("evicted %v from a node whose instance is gone", f.evicted)
			}
			if f.claim("c1") != nil || f.node("node-1") != nil {
				t.Error("the claim or its Node stayed after the cloud reported the instance gone")
			}
			if got := f.cloud.Calls["Delete"]; got == 0 {
				t.Error("Delete never called: even a claim without a launch may have an instance")
			}
		})
	}
}
