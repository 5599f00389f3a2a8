package disruption

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/cloudprovider"
	"github.com/tailor-sh/tailor/controllers/events"
	"github.com/tailor-sh/tailor/controllers/state"
	coredisruption "github.com/tailor-sh/tailor/core/disruption"
	"github.com/tailor-sh/tailor/core/instancetype"
)

// settlingLimit is how long a node that has not become ready holds up
// disruption; lifecycle deletes nodes that never register, but one that
// registers and never initializes must not block it for good.
const settlingLimit = 15 * time.Minute

// Defaults of Options.
const (
	DefaultInterval           = 2 * time.Second
	DefaultValidationDelay    = 15 * time.Second
	DefaultReplacementTimeout = 20 * time.Minute
)

// Options tune the controller.
type Options struct {
	// Interval is how often the cluster is looked at.
	Interval time.Duration
	// ValidationDelay is how long a consolidation decision waits before it
	// is decided again and, if still sound, carried out. Pods that were
	// just scheduled or deleted should not be moved on a passing picture.
	ValidationDelay time.Duration
	// ReplacementTimeout is how long a replacement may take to become
	// ready before the move is abandoned.
	ReplacementTimeout time.Duration
	// Clock measures durations (consolidateAfter, the validation delay, the
	// replacement timeout) and paces the passes; nil means the real one.
	// Tests set a fake one to step through decisions without waiting.
	Clock clock.WithTicker
	// Calendar is the wall clock that budget schedules are read against;
	// nil means Clock. Tests may set it apart from Clock to move to a
	// budget window while durations still pass at their own pace.
	Calendar clock.PassiveClock
}

// Controller disrupts nodes. It is a controller-runtime Runnable that runs
// on the leader only.
type Controller struct {
	client   client.Client
	cluster  *state.Cluster
	provider cloudprovider.CloudProvider
	recorder *events.Recorder
	opts     Options

	// Only the loop in Start touches what follows.

	// podsSince is when the pods that would have to move off each
	// NodeClaim's node last changed.
	podsSince map[string]podSet
	// proposal is a consolidation decision waiting for its validation.
	proposal *proposal
	// commands are the moves under way.
	commands []*command
	// protected are replacements that disruption leaves alone while the
	// nodes they replace drain, and for a while after, as the pods they
	// were launched for move in.
	protected map[string]*protection
	// deleted are the NodeClaims this controller deleted, with when, until
	// the cache shows them deleting or gone.
	deleted map[string]time.Time
	// driftChecks caches the cloud provider's drift verdicts.
	driftChecks map[string]driftCheck
	// fruitless are the search keys of the last consolidation searches
	// that found nothing, by pool: the search is not repeated until
	// something it looked at changes.
	fruitless map[string]fruitless
	// said is, by NodeClaim and disruption reason, the last explanation a
	// NodeClaim was given for staying, so that it is not repeated every
	// interval.
	said map[string]string
}

// New returns the controller.
func New(c client.Client, cluster *state.Cluster, provider cloudprovider.CloudProvider, recorder *events.Recorder, opts Options) *Controller {
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.ValidationDelay <= 0 {
		opts.ValidationDelay = DefaultValidationDelay
	}
	if opts.ReplacementTimeout <= 0 {
		opts.ReplacementTimeout = DefaultReplacementTimeout
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Calendar == nil {
		opts.Calendar = opts.Clock
	}
	return &Controller{
		client: c, cluster: cluster, provider: provider, recorder: recorder, opts: opts,
		podsSince: map[string]podSet{}, protected: map[string]*protection{}, deleted: map[string]time.Time{}, driftChecks: map[string]driftCheck{}, said: map[string]string{}, fruitless: map[string]fruitless{},
	}
}

// NeedLeaderElection makes only the leader disrupt.
func (c *Controller) NeedLeaderElection() bool { return true }

// Start looks at the cluster every interval until ctx ends.
func (c *Controller) Start(ctx context.Context) error {
	logger := log.FromContext(ctx).WithName("disruption")
	ctx = log.IntoContext(ctx, logger)
	ticker := c.opts.Clock.NewTicker(c.opts.Interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C():
		}
		if !c.cluster.Synced(ctx) {
			continue
		}
		if err := c.reconcile(ctx); err != nil && ctx.Err() == nil {
			logger.Error(err, "disruption")
		}
	}
}

// view is the cluster at one moment, as disruption sees it.
type view struct {
	now   time.Time
	snap  *state.Snapshot
	pdbs  []policyv1.PodDisruptionBudget
	pools map[string]*v1.NodePool
	types map[string][]*instancetype.InstanceType
	// nodes are the nodes with a NodeClaim, by claim name; sorted are the
	// same by claim name, so that decisions do not depend on map order.
	nodes  map[string]*state.StateNode
	sorted []*state.StateNode
	// movableByNode caches movable, by node name.
	movableByNode map[string][]*corev1.Pod
	// total counts each pool's nodes that stay (not being deleted, not a
	// replacement still launching); disrupting those being deleted or
	// replaced.
	total, disrupting map[string]int
	// busy are the claims a move under way holds: its candidates and its
	// replacements. Decisions neither take them nor count on them.
	busy map[string]bool
	// replacing are the nodes (by node name) a move under way takes away.
	replacing map[string]bool
	// moved is set once a decision that moves pods was carried out in this
	// pass: the next decision must see the cluster it leaves.
	moved bool
	// settling is true while a node is launching for pending pods: moves
	// wait until it has landed, as the pods it is for may need the room a
	// move would count on.
	settling bool
}

func (c *Controller) reconcile(ctx context.Context) error {
	v, err := c.look(ctx)
	if err != nil {
		return err
	}
	c.trackPods(v)
	if err := c.advance(ctx, v); err != nil {
		return err
	}
	c.untaintStrays(ctx, v)
	for _, method := range []func(context.Context, *view) error{c.removeEmpty, c.replaceExpired, c.replaceDrifted, c.consolidate} {
		if err := method(ctx, v); err != nil || v.moved {
			return err
		}
	}
	return nil
}

func (c *Controller) look(ctx context.Context) (*view, error) {
	snap, err := c.cluster.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	pdbs := &policyv1.PodDisruptionBudgetList{}
	if err := c.client.List(ctx, pdbs); err != nil {
		return nil, fmt.Errorf("list PodDisruptionBudgets: %w", err)
	}
	v := &view{
		now: c.opts.Clock.Now(), snap: snap, pdbs: pdbs.Items,
		pools: map[string]*v1.NodePool{}, types: map[string][]*instancetype.InstanceType{},
		nodes: map[string]*state.StateNode{}, total: map[string]int{}, disrupting: map[string]int{}, busy: map[string]bool{}, replacing: map[string]bool{}, movableByNode: map[string][]*corev1.Pod{},
	}
	for _, pool := range snap.NodePools {
		if pool.DeletionTimestamp != nil {
			continue
		}
		its, err := c.provider.GetInstanceTypes(ctx, pool)
		if err != nil {
			log.FromContext(ctx).Error(err, "list instance types; the pool's nodes are left alone", "nodePool", pool.Name)
			continue
		}
		v.pools[pool.Name], v.types[pool.Name] = pool, its
	}
	for _, cmd := range c.commands {
		for _, name := range cmd.candidates {
			v.busy[name] = true
		}
		for _, name := range cmd.replacements {
			v.busy[name] = true
		}
	}
	replacement := map[string]bool{}
	for _, cmd := range c.commands {
		for _, name := range cmd.replacements {
			replacement[name] = true
		}
	}
	present := map[string]bool{}
	for _, n := range snap.Nodes {
		if n.NodeClaim == nil {
			continue
		}
		name, pool := n.NodeClaim.Name, n.NodePool()
		present[name] = true
		if at, ok := c.deleted[name]; ok && n.NodeClaim.DeletionTimestamp == nil {
			// Deleted by this controller, but the cache does not show it
			// yet: the view must not take the node for one that stays.
			n.NodeClaim = n.NodeClaim.DeepCopy()
			n.NodeClaim.DeletionTimestamp = &metav1.Time{Time: at}
		}
		v.nodes[name] = n
		// A percentage is of the nodes the pool keeps: not those going
		// away, nor replacements still launching, which stand in for
		// nodes already counted.
		if !replacement[name] && !n.Deleting() {
			v.total[pool]++
		}
		switch {
		case n.Deleting():
			v.disrupting[pool]++
		case slices.ContainsFunc(c.commands, func(cmd *command) bool { return slices.Contains(cmd.candidates, name) }):
			v.disrupting[pool]++
			v.replacing[n.Name()] = true
		case !n.Initialized() && !v.busy[name] && v.now.Sub(n.NodeClaim.CreationTimestamp.Time) < settlingLimit:
			v.settling = true
		}
	}
	for name, at := range c.deleted {
		if !present[name] || v.now.Sub(at) > time.Minute {
			delete(c.deleted, name)
		}
	}
	for _, n := range v.nodes {
		v.sorted = append(v.sorted, n)
	}
	slices.SortFunc(v.sorted, func(a, b *state.StateNode) int { return strings.Compare(a.NodeClaim.Name, b.NodeClaim.Name) })
	return v, nil
}

// allowance is how many more of the pool's nodes may be disrupted for
// reason now. A budget that cannot be read blocks disruption and says so on
// the pool.
func (c *Controller) allowance(v *view, pool *v1.NodePool, reason v1.DisruptionReason) int {
	allowed, err := coredisruption.Allowed(pool.Spec.Disruption.Budgets, reason, v.total[pool.Name], c.opts.Calendar.Now())
	if err != nil {
		c.recorder.Warning(pool, events.DisruptionBlocked, "Disrupt", "Budgets cannot be read, so no node is disrupted: %v", err)
		return 0
	}
	return allowed - v.disrupting[pool.Name]
}

// minSavings is the pool's minSavingsPercent as a fraction.
func minSavings(pool *v1.NodePool) float64 {
	if p := pool.Spec.Disruption.MinSavingsPercent; p != nil {
		return float64(*p) / 100
	}
	return 0.1
}

// consolidateAfter is the pool's consolidateAfter; ok is false for Never.
func consolidateAfter(pool *v1.NodePool) (time.Duration, bool) {
	d := pool.Spec.Disruption.ConsolidateAfter
	if d.IsNever() {
		return 0, false
	}
	return *d.Duration, true
}

// stay tells a NodeClaim why it is kept, once per reason.
func (c *Controller) stay(ctx context.Context, n *state.StateNode, reason v1.DisruptionReason, why string) {
	name := n.NodeClaim.Name
	key := name + "/" + string(reason)
	if c.said[key] == why {
		return
	}
	c.said[key] = why
	c.recorder.Normal(n.NodeClaim, events.DisruptionBlocked, "Disrupt", "%s, but kept: %s", reason, why)
	log.FromContext(ctx).V(1).Info("node kept", "nodeClaim", name, "reason", reason, "why", why)
}
