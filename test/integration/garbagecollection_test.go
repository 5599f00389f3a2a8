package integration

import (
	"context"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/providers/sim"
	simv1 "github.com/tailor-sh/tailor/providers/sim/api/v1"
)

// TestGarbageCollection: an instance no NodeClaim accounts for is
// terminated, and a NodeClaim whose instance vanished is deleted.
func TestGarbageCollection(t *testing.T) {
	e := newEnv(t)
	e.startOperator(testOptions)
	pool := e.nodePool("gc", simv1.SimNodeClassSpec{}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// A leak: the cloud has an instance for a NodeClaim that never existed.
	ghost := &v1.NodeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "gc-ghost", UID: "ghost-uid", Labels: map[string]string{v1.LabelNodePool: pool.Name}},
		Spec:       v1.NodeClaimSpec{NodeClassRef: pool.Spec.Template.Spec.NodeClassRef},
	}
	leaked, err := sim.New(e.client, sim.Options{ClusterName: "tailor"}).Create(ctx, ghost)
	if err != nil {
		t.Fatal(err)
	}

	// A vanished instance: a pod's node whose instance record is deleted
	// behind Tailor's back.
	e.deployment("gc", 1, podSpec(pool.Name, "500m", "512Mi"))
	e.waitRunning("gc", 1, time.Minute)
	claims := e.waitClaimsReady(pool.Name, time.Minute)
	victim := claims[0]
	instances := &simv1.SimInstanceList{}
	if err := e.client.List(ctx, instances, client.MatchingLabels{sim.LabelNodeClaim: victim.Name}); err != nil || len(instances.Items) != 1 {
		t.Fatalf("instance of %s: %v (%d found)", victim.Name, err, len(instances.Items))
	}
	if err := e.client.Delete(ctx, &instances.Items[0]); err != nil {
		t.Fatal(err)
	}

	err = wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		leakedGone, victimGone := false, false
		list := &simv1.SimInstanceList{}
		if err := e.client.List(ctx, list, client.MatchingLabels{sim.LabelNodeClaim: ghost.Name}); err != nil {
			return false, nil
		}
		leakedGone = len(list.Items) == 0
		err := e.client.Get(ctx, client.ObjectKey{Name: victim.Name}, &v1.NodeClaim{})
		victimGone = apierrors.IsNotFound(err)
		return leakedGone && victimGone, nil
	})
	if err != nil {
		t.Fatalf("leaked instance %s terminated and NodeClaim %s (instance deleted) removed: not both within a minute: %s",
			leaked.Status.ProviderID, victim.Name, e.describe(nil))
	}
}
