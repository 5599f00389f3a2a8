package disruption

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/controllers/events"
	"github.com/tailor-sh/tailor/controllers/state"
	coredisruption "github.com/tailor-sh/tailor/core/disruption"
	"github.com/tailor-sh/tailor/core/drain"
	"github.com/tailor-sh/tailor/core/launch"
	"github.com/tailor-sh/tailor/metrics"
)

// protectFor is how long a replacement is left alone after the nodes it
// replaces are gone, so that it is not judged empty before their pods
// arrive.
const protectFor = time.Minute

// protection keeps a replacement from being disrupted while the nodes it
// replaces still exist, and until protectFor after.
type protection struct {
	candidates []string
	until      time.Time
}

// command is a move under way: replacements launching for candidates that
// are tainted and wait to be deleted.
type command struct {
	reason       v1.DisruptionReason
	pool         string
	describe     string
	candidates   []string // NodeClaim names
	replacements []string // NodeClaim names
	started      time.Time
}

// execute carries out a decision: a deletion at once, a replacement by
// tainting the candidates and launching the replacements; advance finishes
// it once they are ready.
func (c *Controller) execute(ctx context.Context, v *view, reason v1.DisruptionReason, because string, d coredisruption.Decision) error {
	logger := log.FromContext(ctx)
	byNode := map[string]*state.StateNode{}
	for _, n := range v.nodes {
		byNode[n.Name()] = n
	}
	var nodes []*state.StateNode
	for _, cand := range d.Candidates {
		n := byNode[cand.Name]
		if n == nil {
			return fmt.Errorf("candidate %s is not in the cluster", cand.Name)
		}
		nodes = append(nodes, n)
	}
	pool := v.pools[nodes[0].NodePool()]
	cmd := &command{reason: reason, pool: pool.Name, describe: d.Describe(), started: v.now}
	for _, n := range nodes {
		cmd.candidates = append(cmd.candidates, n.NodeClaim.Name)
		v.busy[n.NodeClaim.Name] = true
		v.disrupting[n.NodePool()]++
	}
	v.moved = v.moved || len(d.Moved) > 0
	record := fmt.Sprintf("%s (%s): %s", reason, because, cmd.describe)
	if d.Action == coredisruption.ActionReplace {
		for _, n := range nodes {
			if err := c.taint(ctx, n.Node); err != nil {
				return err // untaintStrays removes the taints already set
			}
		}
		for _, r := range d.Replacements {
			rpool := v.pools[r.NodePool]
			if rpool == nil {
				rpool = pool
			}
			nc := launch.NewNodeClaim(rpool, r, r.Candidates)
			metav1.SetMetaDataAnnotation(&nc.ObjectMeta, v1.AnnotationReplaces, strings.Join(cmd.candidates, ","))
			if err := c.client.Create(ctx, nc); err != nil {
				c.abort(ctx, v, cmd, fmt.Sprintf("creating a replacement failed: %v", err))
				return fmt.Errorf("create a replacement for %s: %w", strings.Join(cmd.candidates, ", "), err)
			}
			c.cluster.Created(nc)
			metrics.NodeClaimsCreated.WithLabelValues(rpool.Name).Inc()
			cmd.replacements = append(cmd.replacements, nc.Name)
			v.busy[nc.Name] = true
		}
		c.commands = append(c.commands, cmd)
		record += "; launching " + strings.Join(cmd.replacements, ", ") + " first"
	} else if err := c.remove(ctx, v, cmd); err != nil {
		return err
	}
	if len(d.Moved) > 0 {
		record += "; pods: " + podNames(d.Moved, 10)
	}
	metrics.DisruptionDecisions.WithLabelValues(pool.Name, string(reason), strings.ToLower(string(d.Action))).Inc()
	if s := d.Savings(); s > 0 {
		metrics.DisruptionSavings.WithLabelValues(pool.Name, string(reason)).Add(s)
	}
	for _, n := range nodes {
		c.recorder.Normal(n.NodeClaim, events.Disrupted, "Disrupt", "%s", record)
	}
	c.recorder.Normal(pool, events.Disrupted, "Disrupt", "%s", record)
	logger.Info("disrupting", "reason", reason, "because", because, "decision", cmd.describe, "pods", len(d.Moved), "replacements", cmd.replacements)
	return nil
}

// advance finishes the moves whose replacements are ready and abandons
// those whose replacements failed or took too long.
func (c *Controller) advance(ctx context.Context, v *view) error {
	var errs []error
	kept := c.commands[:0]
	for _, cmd := range c.commands {
		ready, failed := true, ""
		for _, name := range cmd.replacements {
			n := v.nodes[name]
			switch {
			case n == nil || n.Deleting():
				failed = fmt.Sprintf("replacement %s is gone: its launch failed or it was deleted", name)
			case !n.Initialized():
				ready = false
			}
		}
		if failed == "" && !ready && v.now.Sub(cmd.started) > c.opts.ReplacementTimeout {
			failed = fmt.Sprintf("the replacements were not ready after %s", c.opts.ReplacementTimeout)
		}
		switch {
		case failed != "":
			c.abort(ctx, v, cmd, failed)
		case ready:
			for _, name := range cmd.replacements {
				c.protected[name] = &protection{candidates: cmd.candidates, until: v.now.Add(protectFor)}
			}
			if err := c.remove(ctx, v, cmd); err != nil {
				errs = append(errs, err)
				kept = append(kept, cmd) // try again next time
			}
		default:
			kept = append(kept, cmd)
		}
	}
	c.commands = kept
	return errors.Join(errs...)
}

// remove deletes the candidates' NodeClaims, which drains and terminates
// their nodes.
func (c *Controller) remove(ctx context.Context, v *view, cmd *command) error {
	for _, name := range cmd.candidates {
		n := v.nodes[name]
		if n == nil || n.NodeClaim.DeletionTimestamp != nil {
			continue
		}
		if err := c.client.Delete(ctx, n.NodeClaim); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("delete NodeClaim %s (%s): %w", name, cmd.reason, err)
		}
		c.deleted[name] = v.now
		metrics.NodeClaimsTerminated.WithLabelValues(cmd.pool, string(cmd.reason)).Inc()
	}
	return nil
}

// abort abandons a move: the candidates stay and are untainted, and the
// replacements, which no pod was sent to, are deleted.
func (c *Controller) abort(ctx context.Context, v *view, cmd *command, why string) {
	logger := log.FromContext(ctx)
	for _, name := range cmd.candidates {
		if n := v.nodes[name]; n != nil {
			c.recorder.Warning(n.NodeClaim, events.DisruptionAborted, "Disrupt", "%s abandoned, the node stays: %s", cmd.describe, why)
		}
	}
	// The candidates are untainted by untaintStrays once they are no longer
	// busy: the view's copies may predate the taint.
	for _, name := range cmd.replacements {
		if n := v.nodes[name]; n != nil && n.NodeClaim.DeletionTimestamp != nil {
			continue
		}
		// A replacement created in this pass is not in the view yet.
		if err := c.client.Delete(ctx, &v1.NodeClaim{ObjectMeta: metav1.ObjectMeta{Name: name}}); client.IgnoreNotFound(err) != nil {
			logger.Error(err, "delete an abandoned replacement; emptiness will remove it", "nodeClaim", name)
		}
	}
	if pool := v.pools[cmd.pool]; pool != nil {
		c.recorder.Warning(pool, events.DisruptionAborted, "Disrupt", "%s abandoned: %s", cmd.describe, why)
	}
	logger.Info("disruption abandoned", "decision", cmd.describe, "why", why)
}

func (c *Controller) taint(ctx context.Context, node *corev1.Node) error {
	if node == nil || slices.ContainsFunc(node.Spec.Taints, func(t corev1.Taint) bool { return t.MatchTaint(&drain.DisruptedTaint) }) {
		return nil
	}
	node = node.DeepCopy()
	patch := client.MergeFromWithOptions(node.DeepCopy(), client.MergeFromWithOptimisticLock{})
	node.Spec.Taints = append(node.Spec.Taints, drain.DisruptedTaint)
	if err := c.client.Patch(ctx, node, patch); err != nil {
		return fmt.Errorf("taint Node %s %s: %w", node.Name, drain.DisruptedTaint.ToString(), err)
	}
	return nil
}

func (c *Controller) removeTaint(ctx context.Context, node *corev1.Node) error {
	if !slices.ContainsFunc(node.Spec.Taints, func(t corev1.Taint) bool { return t.MatchTaint(&drain.DisruptedTaint) }) {
		return nil
	}
	node = node.DeepCopy()
	patch := client.MergeFromWithOptions(node.DeepCopy(), client.MergeFromWithOptimisticLock{})
	node.Spec.Taints = slices.DeleteFunc(node.Spec.Taints, func(t corev1.Taint) bool { return t.MatchTaint(&drain.DisruptedTaint) })
	if err := c.client.Patch(ctx, node, patch); err != nil {
		return fmt.Errorf("untaint Node %s: %w", node.Name, err)
	}
	return nil
}

// untaintStrays untaints the nodes that carry the disrupted taint though
// nothing is taking them away: a move was abandoned, or the previous leader
// stopped in the middle of one. Nodes being deleted keep it; the drain
// needs it.
func (c *Controller) untaintStrays(ctx context.Context, v *view) {
	for name, n := range v.nodes {
		if n.Node == nil || n.Deleting() || v.busy[name] {
			continue
		}
		if !slices.ContainsFunc(n.Node.Spec.Taints, func(t corev1.Taint) bool { return t.MatchTaint(&drain.DisruptedTaint) }) {
			continue
		}
		if err := c.removeTaint(ctx, n.Node); err != nil {
			log.FromContext(ctx).Error(err, "untaint a node nothing is taking away; will retry", "node", n.Node.Name)
			continue
		}
		log.FromContext(ctx).Info("untainted a node nothing is taking away", "node", n.Node.Name)
	}
}

// podNames lists up to limit pods as namespace/name.
func podNames(pods []*corev1.Pod, limit int) string {
	var names []string
	for i, pod := range pods {
		if i == limit {
			names = append(names, fmt.Sprintf("and %d more", len(pods)-limit))
			break
		}
		names = append(names, pod.Namespace+"/"+pod.Name)
	}
	return strings.Join(names, ", ")
}
