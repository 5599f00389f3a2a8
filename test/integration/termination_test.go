package integration

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/tailor-sh/tailor/api/v1"
	simv1 "github.com/tailor-sh/tailor/providers/sim/api/v1"
)

// TestDeletingANodeClaimDrainsItsNode: a deleted NodeClaim's node is
// drained through the Eviction API, so a PodDisruptionBudget holds it; once
// the budget allows, the pod moves to a new node and the old one goes.
func TestDeletingANodeClaimDrainsItsNode(t *testing.T) {
	e := newEnv(t)
	e.startOperator(testOptions)
	pool := e.nodePool("drain", simv1.SimNodeClassSpec{}, nil)
	e.deployment("drain", 1, podSpec(pool.Name, "500m", "512Mi"))
	pods := e.waitRunning("drain", 1, time.Minute)
	claims := e.waitClaimsReady(pool.Name, time.Minute)
	victim := claims[0]
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "drain", Namespace: e.namespace},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable: ptrIntOrString(0),
			Selector:       &metav1.LabelSelector{MatchLabels: map[string]string{"app": "drain"}},
		},
	}
	if err := e.client.Create(ctx, pdb); err != nil {
		t.Fatal(err)
	}
	// Let the disruption controller compute the budget.
	if err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		current := &policyv1.PodDisruptionBudget{}
		if err := e.client.Get(ctx, client.ObjectKeyFromObject(pdb), current); err != nil {
			return false, nil
		}
		return current.Status.ObservedGeneration == current.Generation && current.Status.ExpectedPods == 1, nil
	}); err != nil {
		t.Fatalf("the PodDisruptionBudget was never observed: %v", err)
	}
	if err := e.client.Delete(ctx, &victim); err != nil {
		t.Fatal(err)
	}
	// The drain tried to evict the pod and was refused: the budget held it.
	e.waitEvent("DrainBlocked", "", &pods[0].ObjectMeta)
	if node := e.node(victim.Status.NodeName); !hasTaint(node, v1.TaintKeyDisrupted) {
		t.Errorf("the draining node is not tainted %s", v1.TaintKeyDisrupted)
	}
	if running, err := e.pods(ctx, "drain"); err != nil || len(running) != 1 || running[0].Name != pods[0].Name {
		t.Fatalf("the PodDisruptionBudget did not hold the pod on its node: %v", running)
	}

	// Lift the budget: the pod is evicted, comes back on a new node, and the
	// old node and its claim go.
	if err := e.client.Delete(ctx, pdb); err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		err := e.client.Get(ctx, client.ObjectKey{Name: victim.Name}, &v1.NodeClaim{})
		if !apierrors.IsNotFound(err) {
			return false, nil
		}
		now, err := e.pods(ctx, "drain")
		if err != nil {
			return false, nil
		}
		for _, p := range now {
			if p.Status.Phase == corev1.PodRunning && p.Spec.NodeName != victim.Status.NodeName && p.DeletionTimestamp == nil {
				return true, nil
			}
		}
		return false, nil
	}); err != nil {
		t.Fatalf("after the budget was lifted, the pod did not move and the NodeClaim stayed: %s", e.describe(nil))
	}
}

func ptrIntOrString(i int) *intstr.IntOrString {
	v := intstr.FromInt32(int32(i))
	return &v
}

func hasTaint(node *corev1.Node, key string) bool {
	for _, t := range node.Spec.Taints {
		if t.Key == key {
			return true
		}
	}
	return false
}

// TestTerminationGracePeriodEndsADrain: a do-not-disrupt pod, or a
// PodDisruptionBudget that would block forever, holds its node's drain until
// the NodeClaim's terminationGracePeriod runs out; then the pod is deleted
// and the node goes.
func TestTerminationGracePeriodEndsADrain(t *testing.T) {
	e := newEnv(t)
	e.startOperator(testOptions)
	for _, tc := range []struct {
		name  string
		block func(e *env, d *appsv1.Deployment)
		says  string
	}{
		{"do-not-disrupt", func(e *env, d *appsv1.Deployment) {
			patch := client.MergeFrom(d.DeepCopy())
			d.Spec.Template.Annotations = map[string]string{v1.AnnotationDoNotDisrupt: "true"}
			if err := e.client.Patch(context.Background(), d, patch); err != nil {
				e.t.Fatal(err)
			}
		}, v1.AnnotationDoNotDisrupt},
		{"pdb", func(e *env, d *appsv1.Deployment) {
			pdb := &policyv1.PodDisruptionBudget{
				ObjectMeta: metav1.ObjectMeta{Name: d.Name, Namespace: e.namespace},
				Spec:       policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptrIntOrString(0), Selector: d.Spec.Selector},
			}
			if err := e.client.Create(context.Background(), pdb); err != nil {
				e.t.Fatal(err)
			}
		}, "Cannot evict yet"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			pool := e.nodePool("grace-"+tc.name, simv1.SimNodeClassSpec{}, func(np *v1.NodePool) {
				np.Spec.Template.Spec.TerminationGracePeriod = &metav1.Duration{Duration: 6 * time.Second}
			})
			d := e.deployment(tc.name, 1, podSpec(pool.Name, "500m", "512Mi"))
			tc.block(e, d)
			// The annotation rolls the Deployment: wait for its new pod.
			var pods []corev1.Pod
			e.eventually(time.Minute, "the Deployment's one pod runs", func() bool {
				var err error
				if pods, err = e.pods(context.Background(), tc.name); err != nil || len(pods) != 1 {
					return false
				}
				p := pods[0]
				return p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil &&
					(tc.name != "do-not-disrupt" || p.Annotations[v1.AnnotationDoNotDisrupt] == "true")
			})
			claims := e.waitClaimsReady(pool.Name, time.Minute)
			var victim v1.NodeClaim
			for _, nc := range claims {
				if nc.Status.NodeName == pods[0].Spec.NodeName {
					victim = nc
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			deleted := time.Now()
			if err := e.client.Delete(ctx, &victim); err != nil {
				t.Fatal(err)
			}
			e.waitEvent("DrainBlocked", tc.says, &pods[0].ObjectMeta)
			if err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
				return apierrors.IsNotFound(e.client.Get(ctx, client.ObjectKey{Name: victim.Name}, &v1.NodeClaim{})), nil
			}); err != nil {
				t.Fatalf("the NodeClaim outlived its terminationGracePeriod: %s", e.describe(nil))
			}
			if took := time.Since(deleted); took < 5*time.Second {
				t.Errorf("the drain ended after %s, before the 6 s terminationGracePeriod: the %s was not respected", took, tc.name)
			}
		})
	}
}

// TestTerminationWaitsForVolumesToDetach: a drained node's instance is not
// terminated while a volume is still attached to it.
func TestTerminationWaitsForVolumesToDetach(t *testing.T) {
	e := newEnv(t)
	e.startOperator(testOptions)
	pool := e.nodePool("volumes", simv1.SimNodeClassSpec{}, nil)
	e.deployment("volumes", 1, podSpec(pool.Name, "500m", "512Mi"))
	e.waitRunning("volumes", 1, time.Minute)
	claim := e.waitClaimsReady(pool.Name, time.Minute)[0]
	ctx := context.Background()
	pv := "pv-" + e.namespace
	va := &storagev1.VolumeAttachment{
		ObjectMeta: metav1.ObjectMeta{Name: "va-" + e.namespace},
		Spec: storagev1.VolumeAttachmentSpec{
			Attacher: "csi.tailor.test", NodeName: claim.Status.NodeName,
			Source: storagev1.VolumeAttachmentSource{PersistentVolumeName: &pv},
		},
	}
	if err := e.client.Create(ctx, va); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.client.Delete(context.Background(), va) })
	if err := e.client.Delete(ctx, &claim); err != nil {
		t.Fatal(err)
	}
	// Termination drained the node and now waits for the volume: the
	// instance must outlast the attachment.
	e.waitEvent("WaitingForVolumes", pv, &claim.ObjectMeta)
	if err := e.client.Get(ctx, client.ObjectKeyFromObject(&claim), &v1.NodeClaim{}); err != nil {
		t.Fatalf("the NodeClaim went while a volume was attached: %v", err)
	}
	if err := e.client.Delete(ctx, va); err != nil {
		t.Fatal(err)
	}
	e.eventually(30*time.Second, "the NodeClaim goes once the volume detached", func() bool {
		return apierrors.IsNotFound(e.client.Get(ctx, client.ObjectKeyFromObject(&claim), &v1.NodeClaim{}))
	})
}
