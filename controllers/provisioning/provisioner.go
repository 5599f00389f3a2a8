package provisioning

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	resourcehelper "k8s.io/component-helpers/resource"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/cloudprovider"
	"github.com/tailor-sh/tailor/controllers/events"
	"github.com/tailor-sh/tailor/controllers/state"
	"github.com/tailor-sh/tailor/core/launch"
	"github.com/tailor-sh/tailor/core/scheduling"
	"github.com/tailor-sh/tailor/metrics"
)

// Defaults of Options.
const (
	DefaultBatchIdle = time.Second
	DefaultBatchMax  = 10 * time.Second
	// Resync is how often pending pods are looked at again without any
	// event: an offering's capacity may have come back, or a nomination
	// has lapsed.
	Resync = 5 * time.Second
)

// Options tune the provisioner.
type Options struct {
	// BatchIdle ends a batch when no pending pod has arrived for this long.
	BatchIdle time.Duration
	// BatchMax ends a batch this long after it started.
	BatchMax time.Duration
	// Clock paces the batches and the resync, and tells whether a
	// launching claim still holds its nominations; nil means the real one.
	// Tests set a fake one to step through time.
	Clock clock.WithTicker
}

// Provisioner launches nodes for pending pods. It is a controller-runtime
// Runnable that runs only on the elected leader.
type Provisioner struct {
	client   client.Client
	cache    cache.Cache
	cluster  *state.Cluster
	provider cloudprovider.CloudProvider
	recorder *events.Recorder
	batcher  *Batcher
	clock    clock.WithTicker

	// nominations remember which NodeClaim each pending pod was decided
	// for, so that the next batch keeps it there while the claim launches
	// instead of packing it afresh (which, greedily filling the launching
	// nodes, would leave some pods over and launch a node too many). Only
	// the provisioning loop touches it.
	nominations map[types.UID]string

	mu   sync.Mutex
	last Report
}

// New returns a provisioner.
func New(c client.Client, informers cache.Cache, cluster *state.Cluster, provider cloudprovider.CloudProvider, recorder *events.Recorder, opts Options) *Provisioner {
	if opts.BatchIdle <= 0 {
		opts.BatchIdle = DefaultBatchIdle
	}
	if opts.BatchMax <= 0 {
		opts.BatchMax = DefaultBatchMax
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	return &Provisioner{
		client: c, cache: informers, cluster: cluster, provider: provider, recorder: recorder, clock: opts.Clock,
		batcher:     NewBatcher(opts.BatchIdle, opts.BatchMax, opts.Clock),
		nominations: map[types.UID]string{},
	}
}

// NeedLeaderElection makes only the leader provision.
func (p *Provisioner) NeedLeaderElection() bool { return true }

// Trigger asks for a batch soon, or extends the open one: a pod is
// waiting.
func (p *Provisioner) Trigger() { p.batcher.Trigger() }

// Poke asks for a batch soon without extending the open one: something the
// pending pods depend on changed.
func (p *Provisioner) Poke() { p.batcher.Poke() }

// Start watches for pending pods and provisions for them in batches until
// ctx ends.
func (p *Provisioner) Start(ctx context.Context) error {
	logger := log.FromContext(ctx).WithName("provisioner")
	ctx = log.IntoContext(ctx, logger)
	// A batch starts when a pod becomes provisionable; kube-scheduler's
	// later updates of a pod it keeps failing do not extend the batch.
	onPod := func(old, obj any) {
		pod, ok := obj.(*corev1.Pod)
		if !ok || !state.Provisionable(pod) {
			return
		}
		if before, ok := old.(*corev1.Pod); ok && state.Provisionable(before) {
			return
		}
		p.Trigger()
	}
	poke := func(any) { p.Poke() }
	watches := []struct {
		obj     client.Object
		handler toolscache.ResourceEventHandlerFuncs
	}{
		{&corev1.Pod{}, toolscache.ResourceEventHandlerFuncs{AddFunc: func(obj any) { onPod(nil, obj) }, UpdateFunc: onPod}},
		// A NodeClaim that launched, joined or went away changes where
		// pending pods can go. While claims launch and join, kube-scheduler
		// is busy binding the pods they were launched for, so their changes
		// extend the batch: deciding in the middle of that churn would
		// launch nodes it does not need (measured: 87–90 nodes instead of 80–86
		// for 500 pods, and slower).
		{&v1.NodeClaim{}, toolscache.ResourceEventHandlerFuncs{UpdateFunc: func(_, _ any) { p.Trigger() }, DeleteFunc: poke}},
		{&v1.NodePool{}, toolscache.ResourceEventHandlerFuncs{AddFunc: poke, UpdateFunc: func(_, obj any) { poke(obj) }}},
	}
	for _, w := range watches {
		informer, err := p.cache.GetInformer(ctx, w.obj)
		if err != nil {
			return fmt.Errorf("watch %T: %w", w.obj, err)
		}
		registration, err := informer.AddEventHandler(w.handler)
		if err != nil {
			return fmt.Errorf("watch %T: %w", w.obj, err)
		}
		defer func() { _ = informer.RemoveEventHandler(registration) }()
	}
	go func() {
		ticker := p.clock.NewTicker(Resync)
		defer ticker.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-ticker.C():
				p.Poke()
			}
		}
	}()
	for {
		start, ok := p.batcher.Wait(ctx)
		if !ok {
			return nil
		}
		if !p.cluster.Synced(ctx) {
			logger.Info("waiting for the cluster state to sync before provisioning")
			p.Poke()
			continue
		}
		metrics.BatchWindow.Observe(p.clock.Since(start).Seconds())
		if _, err := p.Provision(ctx); err != nil && ctx.Err() == nil {
			logger.Error(err, "provisioning failed; retrying with the next batch")
			p.Poke()
		}
	}
}

// Report is what one batch decided.
type Report struct {
	// PendingPods is how many pods the batch looked at.
	PendingPods int
	// NodeClaims are the claims it created.
	NodeClaims []*v1.NodeClaim
	// Unschedulable are the pods it could place nowhere, with reasons.
	Unschedulable []scheduling.Unschedulable
	// PricePerHour is the price of the new nodes at their cheapest
	// candidates.
	PricePerHour float64
	// SolveDuration is how long the core took.
	SolveDuration time.Duration
	// DecisionDuration is the time from the snapshot to the decision,
	// before any NodeClaim is created.
	DecisionDuration time.Duration
	// Duration is the time from the snapshot until the last NodeClaim was
	// created.
	Duration time.Duration
}

// LastReport returns what the latest batch with pending pods decided.
func (p *Provisioner) LastReport() Report {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last
}

// Provision decides one batch: it snapshots the cluster, solves for its
// pending pods and creates the NodeClaims the core asks for.
func (p *Provisioner) Provision(ctx context.Context) (Report, error) {
	started := p.clock.Now()
	snap, err := p.cluster.Snapshot(ctx)
	if err != nil {
		return Report{}, err
	}
	metrics.PendingPods.Set(float64(len(snap.PendingPods)))
	if len(snap.PendingPods) == 0 {
		clear(p.nominations)
		metrics.UnschedulablePods.Set(0)
		return Report{}, nil
	}
	metrics.BatchSize.Observe(float64(len(snap.PendingPods)))

	b := newBatch(snap, p.clock.Now())
	p.keepNominated(b, snap.PendingPods)
	p.addNodePools(ctx, b, snap.NodePools)
	report, result := p.solve(ctx, b)
	report.PendingPods = len(snap.PendingPods)
	creates := p.admit(b, result)
	decided := p.clock.Now()
	created, err := p.createAll(ctx, creates)
	report.NodeClaims = p.nominateToCreated(ctx, created)
	p.nominateToLaunching(b, result.Existing)
	p.explainUnschedulable(b, result.Unschedulable)
	report.Unschedulable = result.Unschedulable
	report.Duration = p.clock.Since(started)
	report.DecisionDuration = decided.Sub(started)
	p.finish(ctx, report)
	return report, err
}

// batch is one decision in the making: the core's input, and what turns the
// core's answer into NodeClaims, nominations and events.
type batch struct {
	in scheduling.Input
	// claimsByPool are each pool's NodeClaims, which its limits are
	// charged for, deleting or not.
	claimsByPool map[string][]*v1.NodeClaim
	// launching are the nodes whose claims still hold the pods nominated
	// to them, by claim name; claimOf maps the name the core knows such a
	// node by (the Node's, once it has joined) to its claim.
	launching map[string]*scheduling.Node
	claimOf   map[string]string
	// budgets and pools are those of the pools that can launch.
	budgets map[string]*launch.Budget
	pools   map[string]*v1.NodePool
	// problems say why pools were left out, for the pods that wait.
	problems []string
}

// newBatch describes the snapshot's nodes to the core, as of now.
func newBatch(snap *state.Snapshot, now time.Time) *batch {
	b := &batch{
		in: scheduling.Input{
			DaemonSets:             snap.DaemonSets,
			PersistentVolumeClaims: snap.PersistentVolumeClaims, PersistentVolumes: snap.PersistentVolumes,
			StorageClasses: snap.StorageClasses, Namespaces: snap.Namespaces,
		},
		claimsByPool: map[string][]*v1.NodeClaim{},
		launching:    map[string]*scheduling.Node{},
		claimOf:      map[string]string{},
		budgets:      map[string]*launch.Budget{},
		pools:        map[string]*v1.NodePool{},
	}
	for _, n := range snap.Nodes {
		if n.NodeClaim != nil {
			pool := n.NodePool()
			b.claimsByPool[pool] = append(b.claimsByPool[pool], n.NodeClaim)
		}
		if n.Deleting() {
			continue
		}
		node := n.SchedulingNode()
		b.in.Nodes = append(b.in.Nodes, node)
		if n.NodeClaim != nil && state.HoldsNominations(n.NodeClaim, now) {
			b.launching[n.NodeClaim.Name] = node
			b.claimOf[node.Name] = n.NodeClaim.Name
		}
	}
	return b
}

// keepNominated puts each pending pod on the launching node it was
// nominated to while it still fits there, and leaves the others to the
// core. Nominations of pods that went elsewhere are forgotten.
func (p *Provisioner) keepNominated(b *batch, pending []*corev1.Pod) {
	nominations := map[types.UID]string{}
	used := map[string]corev1.ResourceList{} // by claim, summed once per batch
	for _, pod := range pending {
		claim, ok := p.nominations[pod.UID]
		if node := b.launching[claim]; ok && node != nil {
			if used[claim] == nil {
				used[claim] = requestsOf(node.Pods)
			}
			if want := requestsOf([]*corev1.Pod{pod}); fits(node.Allocatable, used[claim], want) {
				addInto(used[claim], want)
				node.Pods = append(node.Pods, pod)
				nominations[pod.UID] = claim
				continue
			}
		}
		b.in.Pods = append(b.in.Pods, pod)
	}
	p.nominations = nominations
}

// addNodePools offers the core every pool that is not being deleted and
// whose instance types the provider lists, with the room its limits leave.
func (p *Provisioner) addNodePools(ctx context.Context, b *batch, pools []*v1.NodePool) {
	for _, pool := range pools {
		if pool.DeletionTimestamp != nil {
			continue
		}
		its, err := p.provider.GetInstanceTypes(ctx, pool)
		if err != nil {
			// One pool that cannot launch must not hold up the others.
			b.problems = append(b.problems, fmt.Sprintf("NodePool %s cannot launch: %v", pool.Name, err))
			p.recorder.Warning(pool, events.NodeClassNotReady, "Provision", "Cannot list the instance types of NodePool %s: %v", pool.Name, err)
			log.FromContext(ctx).Error(err, "list instance types; the pool is left out of this batch", "nodePool", pool.Name)
			continue
		}
		budget := launch.NewBudget(pool, its, b.claimsByPool[pool.Name])
		b.budgets[pool.Name], b.pools[pool.Name] = budget, pool
		b.in.NodePools = append(b.in.NodePools, &scheduling.NodePool{NodePool: pool, InstanceTypes: its, Remaining: budget.Remaining()})
	}
}

// solve runs the core on the batch.
func (p *Provisioner) solve(ctx context.Context, b *batch) (Report, *scheduling.Result) {
	began := p.clock.Now()
	result := scheduling.Solve(b.in)
	report := Report{PricePerHour: result.PricePerHour, SolveDuration: p.clock.Since(began)}
	metrics.SolveDuration.Observe(report.SolveDuration.Seconds())
	for _, w := range result.Warnings {
		log.FromContext(ctx).V(1).Info("scheduling warning", "warning", w)
	}
	return report, result
}

// toCreate is a NodeClaim to create for a decision of the core.
type toCreate struct {
	object   *v1.NodeClaim
	decision *scheduling.NewNodeClaim
	summary  string
}

// admit keeps the core's new NodeClaims that their pools' limits allow,
// charging each pool as it goes; the pods of the others are unschedulable.
func (p *Provisioner) admit(b *batch, result *scheduling.Result) []*toCreate {
	var creates []*toCreate
	for _, decision := range result.NodeClaims {
		pool := b.pools[decision.NodePool]
		candidates, ok := b.budgets[decision.NodePool].Admit(decision)
		if !ok {
			for _, pod := range decision.Pods {
				result.Unschedulable = append(result.Unschedulable, scheduling.Unschedulable{Pod: pod,
					Reason: fmt.Sprintf("NodePool %s has reached its limits (%s)", pool.Name, describeLimits(pool))})
			}
			p.recorder.Warning(pool, events.LimitReached, "Provision", "NodePool %s has reached its limits (%s); %d pods wait", pool.Name, describeLimits(pool), len(decision.Pods))
			continue
		}
		creates = append(creates, &toCreate{object: launch.NewNodeClaim(pool, decision, candidates), decision: decision, summary: describeCandidates(candidates)})
	}
	return creates
}

// createAll creates the NodeClaims in parallel, and returns those it
// created, in order, with the errors of the others.
func (p *Provisioner) createAll(ctx context.Context, creates []*toCreate) ([]*toCreate, error) {
	errs := make([]error, len(creates))
	made := make([]bool, len(creates))
	workqueue.ParallelizeUntil(ctx, 16, len(creates), func(i int) {
		c := creates[i]
		if err := p.client.Create(ctx, c.object); err != nil {
			errs[i] = fmt.Errorf("create NodeClaim for %d pods in NodePool %s: %w", len(c.decision.Pods), c.decision.NodePool, err)
			return
		}
		p.cluster.Created(c.object)
		made[i] = true
	})
	var created []*toCreate
	for i, c := range creates {
		if made[i] { // not made: failed, or never tried because ctx ended
			created = append(created, c)
		}
	}
	return created, errors.Join(errs...)
}

// nominateToCreated nominates the pods of each created NodeClaim to it, and
// returns the claims.
func (p *Provisioner) nominateToCreated(ctx context.Context, created []*toCreate) []*v1.NodeClaim {
	var out []*v1.NodeClaim
	for _, c := range created {
		out = append(out, c.object)
		metrics.NodeClaimsCreated.WithLabelValues(c.decision.NodePool).Inc()
		log.FromContext(ctx).Info("created NodeClaim", "nodeClaim", c.object.Name, "nodePool", c.decision.NodePool,
			"instanceTypes", c.summary, "pods", len(c.decision.Pods), "for", podNames(c.decision.Pods))
		for _, pod := range c.decision.Pods {
			p.nominations[pod.UID] = c.object.Name
			p.recorder.Normal(pod, events.Nominated, "Provision", "Pod should schedule on NodeClaim %s, launching %s", c.object.Name, c.summary)
		}
	}
	return out
}

// nominateToLaunching nominates the pods the core placed on launching
// nodes to their claims. Pods placed on nodes that are up need no
// nomination: kube-scheduler will bind them.
func (p *Provisioner) nominateToLaunching(b *batch, placed []scheduling.ExistingPlacement) {
	for _, pl := range placed {
		if claim, ok := b.claimOf[pl.Node]; ok {
			p.nominations[pl.Pod.UID] = claim
			p.recorder.Normal(pl.Pod, events.Nominated, "Provision", "Pod should schedule on NodeClaim %s, which is launching", claim)
		}
	}
}

// explainUnschedulable tells each pod that gets no node why, with the
// problems of the pools left out.
func (p *Provisioner) explainUnschedulable(b *batch, unschedulable []scheduling.Unschedulable) {
	for _, u := range unschedulable {
		reason := u.Reason
		for _, problem := range b.problems {
			reason += "; " + problem
		}
		if len(b.pools) == 0 && len(b.problems) == 0 {
			reason = "no NodePool exists; create one so that Tailor can launch nodes"
		}
		p.recorder.Warning(u.Pod, events.FailedProvisioning, "Provision", "Tailor cannot launch a node for this pod: %s", reason)
	}
}

// finish logs and keeps the report of a batch that had pending pods.
func (p *Provisioner) finish(ctx context.Context, report Report) {
	metrics.UnschedulablePods.Set(float64(len(report.Unschedulable)))
	if len(report.NodeClaims) > 0 || len(report.Unschedulable) > 0 {
		log.FromContext(ctx).Info("provisioned", "pendingPods", report.PendingPods, "nodeClaims", len(report.NodeClaims),
			"unschedulable", len(report.Unschedulable), "pricePerHour", fmt.Sprintf("%.4f", report.PricePerHour),
			"solve", report.SolveDuration.String(), "decided", report.DecisionDuration.String(), "created", report.Duration.String())
	}
	p.mu.Lock()
	p.last = report
	p.mu.Unlock()
}

// requestsOf sums the pods' requests, counting each pod as one of the
// "pods" resource.
func requestsOf(pods []*corev1.Pod) corev1.ResourceList {
	out := corev1.ResourceList{corev1.ResourcePods: *resource.NewQuantity(int64(len(pods)), resource.DecimalSI)}
	for _, pod := range pods {
		addInto(out, resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{}))
	}
	return out
}

func addInto(into, list corev1.ResourceList) {
	for name, q := range list {
		sum := into[name]
		sum.Add(q)
		into[name] = sum
	}
}

// fits reports whether want fits on a node with allocatable next to used.
// kube-scheduler places pods where it likes, so a new node may fill up with
// pods meant for others; a pod whose nominated node has no room left is
// decided afresh at once.
func fits(allocatable, used, want corev1.ResourceList) bool {
	for name, q := range want {
		have, ok := allocatable[name]
		if !ok {
			continue
		}
		total := used[name]
		total.Add(q)
		if total.Cmp(have) > 0 {
			return false
		}
	}
	return true
}

func describeLimits(pool *v1.NodePool) string {
	s := ""
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, launch.ResourceNodes} {
		if q, ok := pool.Spec.Limits[name]; ok {
			if s != "" {
				s += ", "
			}
			s += fmt.Sprintf("%s %s", name, q.String())
		}
	}
	if s == "" {
		s = "see spec.limits"
	}
	return s
}
