// Package disruption removes nodes Tailor no longer needs. So far it removes
// empty nodes: a node that has run no pod but DaemonSet pods for its
// NodePool's consolidateAfter is deleted, as many at a time as the pool's
// budgets allow for the reason Empty. Deleting the NodeClaim drains and
// terminates the node through the usual termination path.
package disruption

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/controllers/events"
	"github.com/tailor-sh/tailor/controllers/node/termination"
	"github.com/tailor-sh/tailor/controllers/provisioning"
	"github.com/tailor-sh/tailor/controllers/state"
	coredisruption "github.com/tailor-sh/tailor/core/disruption"
	"github.com/tailor-sh/tailor/metrics"
)

// DefaultInterval is how often nodes are looked at.
const DefaultInterval = 2 * time.Second

// Emptiness removes empty nodes. It is a controller-runtime Runnable that
// runs on the leader.
type Emptiness struct {
	Client   client.Client
	Cluster  *state.Cluster
	Recorder *events.Recorder
	Interval time.Duration

	// emptySince is when each NodeClaim's node was first seen empty.
	emptySince map[string]time.Time
}

// NeedLeaderElection makes only the leader disrupt.
func (e *Emptiness) NeedLeaderElection() bool { return true }

// Start looks for empty nodes every interval until ctx ends.
func (e *Emptiness) Start(ctx context.Context) error {
	logger := log.FromContext(ctx).WithName("emptiness")
	ctx = log.IntoContext(ctx, logger)
	interval := e.Interval
	if interval <= 0 {
		interval = DefaultInterval
	}
	e.emptySince = map[string]time.Time{}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
			if !e.Cluster.Synced(ctx) {
				continue
			}
			if err := e.reconcile(ctx, time.Now()); err != nil && ctx.Err() == nil {
				logger.Error(err, "remove empty nodes")
			}
		}
	}
}

func (e *Emptiness) reconcile(ctx context.Context, now time.Time) error {
	snap, err := e.Cluster.Snapshot(ctx)
	if err != nil {
		return err
	}
	pools := map[string]*v1.NodePool{}
	for _, p := range snap.NodePools {
		pools[p.Name] = p
	}
	total, deleting := map[string]int{}, map[string]int{}
	var candidates []*state.StateNode
	seen := map[string]bool{}
	for _, n := range snap.Nodes {
		if n.NodeClaim == nil {
			continue
		}
		pool := n.NodePool()
		total[pool]++
		if n.Deleting() {
			deleting[pool]++
			continue
		}
		if !n.Initialized() || !empty(n.Pods) {
			continue
		}
		name := n.NodeClaim.Name
		seen[name] = true
		if _, ok := e.emptySince[name]; !ok {
			e.emptySince[name] = now
		}
		candidates = append(candidates, n)
	}
	for name := range e.emptySince {
		if !seen[name] {
			delete(e.emptySince, name)
		}
	}
	for _, n := range candidates {
		nc := n.NodeClaim
		pool := pools[n.NodePool()]
		if pool == nil || pool.Spec.Disruption.ConsolidateAfter.IsNever() {
			continue
		}
		after := time.Duration(0)
		if d := pool.Spec.Disruption.ConsolidateAfter.Duration; d != nil {
			after = *d
		}
		if now.Sub(e.emptySince[nc.Name]) < after {
			continue
		}
		// A node that has just become ready may be empty only because
		// kube-scheduler has not yet bound the pods it was launched for.
		if initialized := apimeta.FindStatusCondition(nc.Status.Conditions, v1.ConditionInitialized); initialized == nil ||
			now.Sub(initialized.LastTransitionTime.Time) < provisioning.NominationGrace {
			continue
		}
		if nc.Annotations[v1.AnnotationDoNotDisrupt] == "true" || n.Node.Annotations[v1.AnnotationDoNotDisrupt] == "true" {
			continue
		}
		allowed, err := coredisruption.Allowed(pool.Spec.Disruption.Budgets, v1.DisruptionReasonEmpty, total[pool.Name], now)
		if err != nil {
			e.Recorder.Warning(pool, events.DisruptionBlocked, "Disrupt", "Budgets cannot be read: %v", err)
			continue
		}
		if deleting[pool.Name] >= allowed {
			e.Recorder.Normal(nc, events.DisruptionBlocked, "Disrupt", "Empty for %s, but NodePool %s's budget allows %d disruptions now and %d are under way", after, pool.Name, allowed, deleting[pool.Name])
			continue
		}
		if err := e.Client.Delete(ctx, nc); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("delete empty NodeClaim %s: %w", nc.Name, err)
		}
		deleting[pool.Name]++
		delete(e.emptySince, nc.Name)
		metrics.NodeClaimsTerminated.WithLabelValues(pool.Name, "empty").Inc()
		e.Recorder.Normal(nc, events.Disrupted, "Disrupt", "Empty for %s (NodePool %s consolidateAfter); removing Node %s", after, pool.Name, n.Node.Name)
		log.FromContext(ctx).Info("removing empty node", "nodeClaim", nc.Name, "node", n.Node.Name, "nodePool", pool.Name)
	}
	return nil
}

// empty reports whether a node runs nothing but pods that would not move: DaemonSet,
// static and finished pods, and pods that tolerate the disrupted taint.
func empty(pods []*corev1.Pod) bool {
	plan := termination.Plan(pods, time.Now())
	return len(plan.Tiers[0]) == 0 && len(plan.Tiers[2]) == 0 && len(plan.Blocked) == 0
}
