package integration

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/clock"
	testingclock "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/tailor-sh/tailor/api/v1"
	simv1 "github.com/tailor-sh/tailor/providers/sim/api/v1"
)

// consolidating is a pool whose nodes are all m5.large (2 vCPU): two pods of
// 700m fill one, so that tests control how many nodes pods need.
func consolidating(capacityTypes ...string) func(*v1.NodePool) {
	return func(np *v1.NodePool) {
		np.Spec.Template.Spec.Requirements = []v1.NodeSelectorRequirementWithMinValues{
			{Key: corev1.LabelInstanceTypeStable, Operator: corev1.NodeSelectorOpIn, Values: []string{"m5.large"}},
			{Key: v1.LabelCapacityType, Operator: corev1.NodeSelectorOpIn, Values: capacityTypes},
			{Key: corev1.LabelTopologyZone, Operator: corev1.NodeSelectorOpIn, Values: []string{"us-west-2a"}},
		}
		np.Spec.Disruption.ConsolidationPolicy = v1.ConsolidationPolicyWhenEmptyOrUnderutilized
		np.Spec.Disruption.ConsolidateAfter = v1.NewNillableDuration(3 * time.Second)
		np.Spec.Disruption.Budgets = []v1.Budget{{Nodes: "100%"}}
	}
}

// scale sets a Deployment's replicas.
func (e *env) scale(name string, replicas int32) {
	e.t.Helper()
	ctx := context.Background()
	d := &appsv1.Deployment{}
	if err := e.client.Get(ctx, client.ObjectKey{Namespace: e.namespace, Name: name}, d); err != nil {
		e.t.Fatal(err)
	}
	patch := client.MergeFrom(d.DeepCopy())
	d.Spec.Replicas = ptr.To(replicas)
	if err := e.client.Patch(ctx, d, patch); err != nil {
		e.t.Fatal(err)
	}
}

// liveClaims returns the pool's NodeClaims that are not being deleted.
func (e *env) liveClaims(pool string) []v1.NodeClaim {
	return slices.DeleteFunc(e.claims(pool), func(nc v1.NodeClaim) bool { return nc.DeletionTimestamp != nil })
}

// eventually polls cond until it holds or timeout passes.
func (e *env) eventually(timeout time.Duration, what string, cond func() bool) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(context.Context) (bool, error) { return cond(), nil }); err != nil {
		e.t.Fatalf("%s: not within %s: %s", what, timeout, e.describe(nil))
	}
}

// disruptionPassAfter returns once the disruption controller has finished a
// pass that started at least d from now, so that a test can assert that a
// decision was not taken. Every pass that judges drift stamps the current
// template hash version back on a NodeClaim that lacks it, once per pass:
// the claim's version is rewound and its restamping awaited, the first time
// until d has passed too. The pass that restamps it the second time started
// after d; the one that restamps it the third time started after that one
// finished. The claim must be one that disruption may judge (initialized,
// not being disrupted), and its pool's template unchanged.
func (e *env) disruptionPassAfter(d time.Duration, claim string) {
	e.t.Helper()
	start := time.Now()
	for round := range 3 {
		nc := &v1.NodeClaim{}
		if err := e.client.Get(context.Background(), client.ObjectKey{Name: claim}, nc); err != nil {
			e.t.Fatal(err)
		}
		patch := client.MergeFrom(nc.DeepCopy())
		metav1.SetMetaDataAnnotation(&nc.ObjectMeta, v1.AnnotationNodePoolHashVersion, "rewound-by-test")
		if err := e.client.Patch(context.Background(), nc, patch); err != nil {
			e.t.Fatal(err)
		}
		e.eventually(d+30*time.Second, fmt.Sprintf("a disruption pass restamps NodeClaim %s (round %d)", claim, round+1), func() bool {
			got := &v1.NodeClaim{}
			stamped := e.client.Get(context.Background(), client.ObjectKey{Name: claim}, got) == nil &&
				got.Annotations[v1.AnnotationNodePoolHashVersion] == v1.TemplateHashVersion
			return stamped && (round > 0 || time.Since(start) >= d)
		})
	}
}

// twoHalfEmptyNodes runs four pods of 700m on two m5.large nodes, then
// scales them to two, one left on each node: a pod deletion cost keeps one
// pod of each node.
func (e *env) twoHalfEmptyNodes(name string, pool *v1.NodePool) []v1.NodeClaim {
	e.t.Helper()
	e.deployment(name, 4, podSpec(pool.Name, "700m", "1Gi"))
	e.waitRunning(name, 4, time.Minute)
	claims := e.waitClaimsReady(pool.Name, time.Minute)
	if len(claims) != 2 {
		e.t.Fatalf("4 pods of 700m took %d m5.large nodes, want 2", len(claims))
	}
	pods, err := e.pods(context.Background(), name)
	if err != nil {
		e.t.Fatal(err)
	}
	kept := map[string]bool{}
	for i := range pods {
		p := &pods[i]
		if kept[p.Spec.NodeName] {
			continue
		}
		kept[p.Spec.NodeName] = true
		patch := client.MergeFrom(p.DeepCopy())
		metav1.SetMetaDataAnnotation(&p.ObjectMeta, "controller.kubernetes.io/pod-deletion-cost", "100")
		if err := e.client.Patch(context.Background(), p, patch); err != nil {
			e.t.Fatal(err)
		}
	}
	e.scale(name, 2)
	e.eventually(30*time.Second, "two pods left, one on each node", func() bool {
		pods, _ := e.pods(context.Background(), name)
		nodes := map[string]int{}
		for _, p := range pods {
			if p.DeletionTimestamp == nil {
				nodes[p.Spec.NodeName]++
			}
		}
		return len(nodes) == 2 && nodes[claims[0].Status.NodeName] == 1 && nodes[claims[1].Status.NodeName] == 1
	})
	return claims
}

// TestTwoHalfEmptyNodesBecomeOne: consolidation deletes a node whose pods
// fit on another, after its validation delay, and records the decision.
func TestTwoHalfEmptyNodesBecomeOne(t *testing.T) {
	e := newEnv(t)
	e.startOperator(testOptions)
	pool := e.nodePool("halves", simv1.SimNodeClassSpec{}, consolidating(v1.CapacityTypeOnDemand))
	e.twoHalfEmptyNodes("halves", pool)
	e.eventually(time.Minute, "one node left", func() bool { return len(e.claims(pool.Name)) == 1 })
	e.waitRunning("halves", 2, 30*time.Second)
	ev := e.waitEvent("Disrupted", "Underutilized", &pool.ObjectMeta)
	for _, want := range []string{"delete", "saving $", "moving 1 pods"} {
		if !strings.Contains(ev.Message, want) {
			t.Errorf("the decision record %q does not say %q", ev.Message, want)
		}
	}
}

// TestOnDemandIsReplacedBySpot: once the pool allows spot, its on-demand
// node is replaced by a spot node, launched and ready before the old one
// is drained.
func TestOnDemandIsReplacedBySpot(t *testing.T) {
	e := newEnv(t)
	e.startOperator(testOptions)
	pool := e.nodePool("spot", simv1.SimNodeClassSpec{}, consolidating(v1.CapacityTypeOnDemand))
	e.deployment("spot", 1, podSpec(pool.Name, "700m", "1Gi"))
	e.waitRunning("spot", 1, time.Minute)
	old := e.waitClaimsReady(pool.Name, time.Minute)[0]
	patch := client.MergeFrom(pool.DeepCopy())
	pool.Spec.Template.Spec.Requirements[1].Values = []string{v1.CapacityTypeOnDemand, v1.CapacityTypeSpot}
	if err := e.client.Patch(context.Background(), pool, patch); err != nil {
		t.Fatal(err)
	}
	var replacement v1.NodeClaim
	e.eventually(time.Minute, "a spot node replaces the on-demand one", func() bool {
		oldGone, readyElsewhere := true, false
		replacement = v1.NodeClaim{}
		for _, nc := range e.claims(pool.Name) {
			if nc.Name == old.Name {
				oldGone = false
				continue
			}
			replacement = nc
			readyElsewhere = readyElsewhere || apimeta.IsStatusConditionTrue(nc.Status.Conditions, v1.ConditionInitialized)
		}
		for _, nc := range e.claims(pool.Name) {
			// Pre-spin: the old node is not deleted before its replacement
			// is ready.
			if nc.Name == old.Name && nc.DeletionTimestamp != nil && !readyElsewhere {
				t.Errorf("the on-demand node was deleted before its replacement was ready: %s", e.describe(nil))
			}
		}
		return oldGone && replacement.Labels[v1.LabelCapacityType] == v1.CapacityTypeSpot
	})
	pods := e.waitRunning("spot", 1, 30*time.Second)
	if pods[0].Spec.NodeName != replacement.Status.NodeName {
		t.Errorf("the pod runs on %s, not on the spot node %s", pods[0].Spec.NodeName, replacement.Status.NodeName)
	}
	ev := e.waitEvent("Disrupted", "Underutilized", &pool.ObjectMeta)
	if !strings.Contains(ev.Message, "replace") || !strings.Contains(ev.Message, "spot") {
		t.Errorf("the decision record %q does not name the spot replacement", ev.Message)
	}
}

// TestConsolidationIsBlocked: a PodDisruptionBudget that allows no
// disruption, pods annotated do-not-disrupt and a budget of 0 each keep two
// half-empty nodes, and say why.
func TestConsolidationIsBlocked(t *testing.T) {
	e := newEnv(t)
	e.startOperator(testOptions)
	for _, tc := range []struct {
		name   string
		pool   func(*v1.NodePool)
		before func(e *env)
		after  func(e *env, app string)
		says   string
	}{
		{name: "pdb", before: func(e *env) {
			pdb := &policyv1.PodDisruptionBudget{
				ObjectMeta: metav1.ObjectMeta{Name: "pdb", Namespace: e.namespace},
				Spec:       policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptrIntOrString(0), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "pdb"}}},
			}
			if err := e.client.Create(context.Background(), pdb); err != nil {
				e.t.Fatal(err)
			}
		}, says: "PodDisruptionBudget"},
		{name: "budget", pool: func(np *v1.NodePool) { np.Spec.Disruption.Budgets = []v1.Budget{{Nodes: "0"}} }, says: "budgets allow no more"},
		{name: "pinned", after: func(e *env, app string) {
			// Both pods left: neither node may go.
			pods, err := e.pods(context.Background(), app)
			if err != nil {
				e.t.Fatal(err)
			}
			for i := range pods {
				p := &pods[i]
				if p.DeletionTimestamp != nil {
					continue
				}
				patch := client.MergeFrom(p.DeepCopy())
				metav1.SetMetaDataAnnotation(&p.ObjectMeta, v1.AnnotationDoNotDisrupt, "true")
				if err := e.client.Patch(context.Background(), p, patch); err != nil {
					e.t.Fatal(err)
				}
			}
		}, says: v1.AnnotationDoNotDisrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			pool := e.nodePool("blocked-"+tc.name, simv1.SimNodeClassSpec{}, func(np *v1.NodePool) {
				consolidating(v1.CapacityTypeOnDemand)(np)
				if tc.pool != nil {
					tc.pool(np)
				}
			})
			if tc.before != nil {
				tc.before(e)
			}
			claims := e.twoHalfEmptyNodes(tc.name, pool)
			if tc.after != nil {
				tc.after(e, tc.name)
			}
			// Both nodes were judged and kept; a consolidation proposed
			// before they were blocked would be carried out, or dropped,
			// within the validation delay.
			e.waitEvent("DisruptionBlocked", tc.says, &claims[0].ObjectMeta)
			e.waitEvent("DisruptionBlocked", tc.says, &claims[1].ObjectMeta)
			e.disruptionPassAfter(testOptions.ValidationDelay, claims[1].Name)
			if n := len(e.liveClaims(pool.Name)); n != 2 {
				t.Errorf("%d nodes left, want both kept", n)
			}
		})
	}
}

// TestDriftReplacesNodesOneByOne: changing the pool's template drifts its
// three nodes; with a budget of 30% (one of three) they are replaced one at
// a time, the replacements not counting towards the percentage, each
// replacement ready before its node drains, and no pod waits long for a
// node.
func TestDriftReplacesNodesOneByOne(t *testing.T) {
	e := newEnv(t)
	e.startOperator(testOptions)
	pool := e.nodePool("drift", simv1.SimNodeClassSpec{}, func(np *v1.NodePool) {
		consolidating(v1.CapacityTypeOnDemand)(np)
		np.Spec.Disruption.ConsolidationPolicy = v1.ConsolidationPolicyWhenEmpty
		np.Spec.Disruption.Budgets = []v1.Budget{{Nodes: "30%"}}
	})
	// 1200m each: one pod per m5.large.
	e.deployment("drift", 3, podSpec(pool.Name, "1200m", "1Gi"))
	e.waitRunning("drift", 3, time.Minute)
	old := map[string]bool{}
	for _, nc := range e.waitClaimsReady(pool.Name, time.Minute) {
		old[nc.Name] = true
	}
	if len(old) != 3 {
		t.Fatalf("3 pods took %d nodes, want 3", len(old))
	}
	patch := client.MergeFrom(pool.DeepCopy())
	pool.Spec.Template.ObjectMeta.Labels = map[string]string{"rollout": "v2"}
	if err := e.client.Patch(context.Background(), pool, patch); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	most := 0
	err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		disrupting, remaining, deletingOld, readyNew := 0, 0, 0, 0
		for _, nc := range e.claims(pool.Name) {
			if !old[nc.Name] {
				if apimeta.IsStatusConditionTrue(nc.Status.Conditions, v1.ConditionInitialized) {
					readyNew++
				}
				continue
			}
			remaining++
			if nc.DeletionTimestamp != nil {
				disrupting++
				deletingOld++
			} else if node := (&corev1.Node{}); nc.Status.NodeName != "" && e.client.Get(ctx, client.ObjectKey{Name: nc.Status.NodeName}, node) == nil && hasTaint(node, v1.TaintKeyDisrupted) {
				disrupting++
			}
		}
		most = max(most, disrupting)
		// Pre-spin: every old node draining has a ready node in its place.
		if deletingOld > readyNew+(len(old)-remaining) {
			return false, fmt.Errorf("%d drifted nodes are draining but only %d replacements are ready", deletingOld, readyNew)
		}
		pods, _ := e.pods(ctx, "drift")
		for _, p := range pods {
			if p.Spec.NodeName == "" && time.Since(p.CreationTimestamp.Time) > 15*time.Second {
				return false, fmt.Errorf("pod %s has waited %s for a node", p.Name, time.Since(p.CreationTimestamp.Time).Round(time.Second))
			}
		}
		return remaining == 0, nil
	})
	if err != nil {
		t.Fatalf("the drifted nodes were not all replaced: %v: %s", err, e.describe(nil))
	}
	if most > 1 {
		t.Errorf("%d drifted nodes were disrupted at once; the budget allows 1", most)
	}
	e.waitRunning("drift", 3, 30*time.Second)
	for _, nc := range e.claims(pool.Name) {
		if nc.Labels["rollout"] != "v2" {
			t.Errorf("NodeClaim %s lacks the new template's label", nc.Name)
		}
	}
	e.waitEvent("Disrupted", "Drifted", &pool.ObjectMeta)
}

// aheadClock is the real clock moved ahead by a duration the test sets.
type aheadClock struct {
	clock.RealClock
	by atomic.Int64
}

func (c *aheadClock) Now() time.Time                  { return c.RealClock.Now().Add(time.Duration(c.by.Load())) }
func (c *aheadClock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

// TestExpireAfterReplacesANode: a node older than expireAfter is replaced.
// The API accepts no expireAfter under 30 minutes, so disruption's clock is
// moved 31 minutes ahead instead of the test waiting.
func TestExpireAfterReplacesANode(t *testing.T) {
	e := newEnv(t)
	opts := testOptions
	ahead := &aheadClock{}
	opts.DisruptionClock = ahead
	// Replacements launched now must not look too old to wait for.
	opts.ReplacementTimeout = 2 * time.Hour
	e.startOperator(opts)
	pool := e.nodePool("expire", simv1.SimNodeClassSpec{}, func(np *v1.NodePool) {
		consolidating(v1.CapacityTypeOnDemand)(np)
		np.Spec.Disruption.ConsolidationPolicy = v1.ConsolidationPolicyWhenEmpty
	})
	e.deployment("expire", 1, podSpec(pool.Name, "700m", "1Gi"))
	e.waitRunning("expire", 1, time.Minute)
	old := e.waitClaimsReady(pool.Name, time.Minute)[0]
	patch := client.MergeFrom(pool.DeepCopy())
	pool.Spec.Template.Spec.ExpireAfter = v1.NewNillableDuration(30 * time.Minute)
	if err := e.client.Patch(context.Background(), pool, patch); err != nil {
		t.Fatal(err)
	}
	ahead.by.Store(int64(31 * time.Minute))
	e.eventually(time.Minute, "the expired node is replaced", func() bool {
		claims := e.claims(pool.Name)
		return len(claims) == 1 && claims[0].Name != old.Name
	})
	// The replacement would expire in turn.
	patch = client.MergeFrom(pool.DeepCopy())
	pool.Spec.Template.Spec.ExpireAfter = v1.NillableDuration{}
	if err := e.client.Patch(context.Background(), pool, patch); err != nil {
		t.Fatal(err)
	}
	pods := e.waitRunning("expire", 1, 30*time.Second)
	if pods[0].Spec.NodeName == old.Status.NodeName {
		t.Errorf("the pod still runs on the expired node")
	}
	ev := e.waitEvent("Disrupted", "Expired", &pool.ObjectMeta)
	if !strings.Contains(ev.Message, "expireAfter is 30m") || !strings.Contains(ev.Message, "launched ") {
		t.Errorf("the decision record %q does not say why", ev.Message)
	}
}

// TestBudgetWindowInATimeZone: a budget of 0 from 09:00 to 10:00 in New
// York keeps an empty node in that hour and lets it go at 10:00, by a fake
// clock; the pool's status says what is allowed and when that changes.
func TestBudgetWindowInATimeZone(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	calendar := testingclock.NewFakePassiveClock(time.Date(2026, 11, 30, 8, 59, 0, 0, ny))
	opts := testOptions
	opts.Calendar = calendar
	e := newEnv(t)
	e.startOperator(opts)
	pool := e.nodePool("window", simv1.SimNodeClassSpec{}, func(np *v1.NodePool) {
		np.Spec.Disruption.ConsolidationPolicy = v1.ConsolidationPolicyWhenEmpty
		np.Spec.Disruption.ConsolidateAfter = v1.NewNillableDuration(time.Second)
		np.Spec.Disruption.Budgets = []v1.Budget{{Nodes: "0", Schedule: ptr.To("0 9 * * *"), Duration: &metav1.Duration{Duration: time.Hour}, TimeZone: ptr.To("America/New_York")}}
	})
	status := func(want int32, next *time.Time) {
		t.Helper()
		// Touch the pool so that its status is computed at once.
		current := &v1.NodePool{}
		e.eventually(30*time.Second, fmt.Sprintf("status allows %d Empty disruptions until %v", want, next), func() bool {
			if err := e.client.Get(context.Background(), client.ObjectKeyFromObject(pool), current); err != nil {
				return false
			}
			patch := client.MergeFrom(current.DeepCopy())
			metav1.SetMetaDataAnnotation(&current.ObjectMeta, "test/touch", time.Now().String())
			_ = e.client.Patch(context.Background(), current, patch)
			for _, d := range current.Status.Disruptions {
				if d.Reason == v1.DisruptionReasonEmpty {
					if next == nil {
						return d.Allowed == want && d.NextChange == nil
					}
					return d.Allowed == want && d.NextChange != nil && d.NextChange.Equal(&metav1.Time{Time: *next})
				}
			}
			return false
		})
	}
	e.deployment("window", 1, podSpec(pool.Name, "500m", "512Mi"))
	e.waitRunning("window", 1, time.Minute)
	claim := e.waitClaimsReady(pool.Name, time.Minute)[0]
	status(1, ptr.To(time.Date(2026, 11, 30, 9, 0, 0, 0, ny)))

	calendar.SetTime(time.Date(2026, 11, 30, 9, 0, 1, 0, ny))
	status(0, ptr.To(time.Date(2026, 11, 30, 10, 0, 0, 0, ny)))
	e.scale("window", 0)
	// Empty for over consolidateAfter and past the 10 s after its
	// initialization, but the window is open: the pass that would have
	// removed it says so instead.
	e.waitEvent("DisruptionBlocked", "budgets allow no more", &claim.ObjectMeta)
	if len(e.liveClaims(pool.Name)) != 1 {
		t.Fatalf("the empty node was removed while the budget window was open")
	}

	calendar.SetTime(time.Date(2026, 11, 30, 10, 0, 1, 0, ny))
	e.eventually(10*time.Second, "the empty node goes once the window closes", func() bool { return len(e.liveClaims(pool.Name)) == 0 })
	// No node is left: none may be disrupted, whatever the windows.
	status(0, nil)
}
