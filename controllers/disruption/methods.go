package disruption

import (
	"cmp"
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	resourcehelper "k8s.io/component-helpers/resource"
	"sigs.k8s.io/controller-runtime/pkg/log"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/controllers/events"
	"github.com/tailor-sh/tailor/controllers/state"
	coredisruption "github.com/tailor-sh/tailor/core/disruption"
)

// maxMultiNode is the most nodes one consolidation takes together.
const maxMultiNode = 50

// maxPairCandidates bounds the pairs a search tries to those of the
// emptiest nodes: 25 nodes make 300 pairs.
const maxPairCandidates = 25

// researchEvery is how often a search that found nothing is repeated
// though nothing it looks at changed: prices and capacity change too.
const researchEvery = 5 * time.Minute

// fruitless is a search that found nothing.
type fruitless struct {
	key uint64
	at  time.Time
}

// available reports whether a node can be looked at at all: its pool is
// known, it is initialized and nothing is taking it away already.
func available(v *view, n *state.StateNode) (*v1.NodePool, bool) {
	pool := v.pools[n.NodePool()]
	return pool, pool != nil && n.Initialized() && !n.Deleting() && !v.busy[n.NodeClaim.Name]
}

// removeEmpty deletes nodes that have run no pod that would have to move
// for the pool's consolidateAfter.
func (c *Controller) removeEmpty(ctx context.Context, v *view) error {
	for _, n := range v.sorted {
		pool, ok := available(v, n)
		if !ok || len(v.movable(n)) > 0 || !c.settled(v, n, pool) {
			continue
		}
		if why := blocked(v, n, v1.DisruptionReasonEmpty); why != "" {
			c.stay(ctx, n, v1.DisruptionReasonEmpty, why)
			continue
		}
		if c.allowance(v, pool, v1.DisruptionReasonEmpty) <= 0 {
			c.stay(ctx, n, v1.DisruptionReasonEmpty, budgetExhausted(v, pool, v1.DisruptionReasonEmpty))
			continue
		}
		cand := c.candidate(v, n)
		d := coredisruption.Decision{Action: coredisruption.ActionDelete, Candidates: []*coredisruption.Candidate{cand}, PricePerHour: cand.Price}
		after, _ := consolidateAfter(pool)
		if err := c.execute(ctx, v, v1.DisruptionReasonEmpty, fmt.Sprintf("no pod to move for %s, the consolidateAfter", after), d); err != nil {
			return err
		}
	}
	return nil
}

func budgetExhausted(v *view, pool *v1.NodePool, reason v1.DisruptionReason) string {
	return fmt.Sprintf("NodePool %s's budgets allow no more %s disruptions now (%d of its %d nodes are being disrupted)", pool.Name, reason, v.disrupting[pool.Name], v.total[pool.Name])
}

// replaceExpired replaces nodes older than the pool's expireAfter.
func (c *Controller) replaceExpired(ctx context.Context, v *view) error {
	return c.replace(ctx, v, v1.DisruptionReasonExpired, func(n *state.StateNode, pool *v1.NodePool) string {
		expireAfter := pool.Spec.Template.Spec.ExpireAfter
		if expireAfter.IsNever() {
			return ""
		}
		if created := n.NodeClaim.CreationTimestamp.Time; v.now.Sub(created) >= *expireAfter.Duration {
			return fmt.Sprintf("launched %s; NodePool %s's expireAfter is %s", created.UTC().Format(time.RFC3339), pool.Name, expireAfter)
		}
		return ""
	})
}

// replaceDrifted replaces nodes that no longer match their pool or node
// class.
func (c *Controller) replaceDrifted(ctx context.Context, v *view) error {
	return c.replace(ctx, v, v1.DisruptionReasonDrifted, func(n *state.StateNode, pool *v1.NodePool) string {
		return c.drifted(ctx, v, n, pool)
	})
}

// replace replaces, within budgets, the nodes for which why says why: one
// per pass, so that each decision sees the cluster the last one left, and
// none while nodes are launching for pending pods.
func (c *Controller) replace(ctx context.Context, v *view, reason v1.DisruptionReason, why func(*state.StateNode, *v1.NodePool) string) error {
	if v.settling {
		return nil
	}
	for _, n := range v.sorted {
		pool, ok := available(v, n)
		if !ok {
			continue
		}
		because := why(n, pool)
		if because == "" {
			c.markBlocked(ctx, n.NodeClaim, reason, "")
			continue
		}
		if b := blocked(v, n, reason); b != "" {
			c.stay(ctx, n, reason, fmt.Sprintf("%s (%s)", b, because))
			c.markBlocked(ctx, n.NodeClaim, reason, b)
			continue
		}
		c.markBlocked(ctx, n.NodeClaim, reason, "")
		if c.allowance(v, pool, reason) <= 0 {
			c.stay(ctx, n, reason, budgetExhausted(v, pool, reason))
			continue
		}
		cand := c.candidate(v, n)
		d := coredisruption.Replace(c.input(v, []*coredisruption.Candidate{cand}), []*coredisruption.Candidate{cand})
		if d.Action == coredisruption.ActionNone {
			c.stay(ctx, n, reason, d.Why)
			continue
		}
		return c.execute(ctx, v, reason, because, d)
	}
	return nil
}

// proposal is a consolidation decision waiting for its validation.
type proposal struct {
	pool       string
	candidates []string // NodeClaim names
	at         time.Time
	describe   string
}

// consolidate finds the consolidation that saves most, proposes it, and
// carries it out once it is still sound after the validation delay.
func (c *Controller) consolidate(ctx context.Context, v *view) error {
	logger := log.FromContext(ctx)
	for _, cmd := range c.commands {
		if cmd.reason == v1.DisruptionReasonUnderutilized {
			return nil // one at a time: the next decision needs the cluster it leaves
		}
	}
	if v.settling {
		return nil // nodes are launching for pending pods; judge the cluster once they have landed
	}
	if p := c.proposal; p != nil {
		if v.now.Sub(p.at) < c.opts.ValidationDelay {
			return nil
		}
		c.proposal = nil
		d, why := c.revalidate(v, p)
		if why != "" {
			logger.Info("consolidation dropped at validation", "decision", p.describe, "why", why)
			if pool := v.pools[p.pool]; pool != nil {
				c.recorder.Normal(pool, events.DisruptionBlocked, "Consolidate", "Dropped after validation: %s (%s)", p.describe, why)
			}
			return nil
		}
		return c.execute(ctx, v, v1.DisruptionReasonUnderutilized, "validated after "+c.opts.ValidationDelay.String(), d)
	}
	for _, pool := range v.snap.NodePools {
		if v.pools[pool.Name] == nil || pool.Spec.Disruption.ConsolidationPolicy != v1.ConsolidationPolicyWhenEmptyOrUnderutilized {
			continue
		}
		cands, nodes := c.consolidationCandidates(ctx, v, pool)
		if len(cands) == 0 {
			continue
		}
		allowed := c.allowance(v, pool, v1.DisruptionReasonUnderutilized)
		if allowed <= 0 {
			for _, n := range nodes {
				c.stay(ctx, n, v1.DisruptionReasonUnderutilized, budgetExhausted(v, pool, v1.DisruptionReasonUnderutilized))
			}
			continue
		}
		key := c.searchKey(v, cands, allowed)
		if last, ok := c.fruitless[pool.Name]; ok && last.key == key && v.now.Sub(last.at) < researchEvery {
			continue // nothing it looks at changed since the last search found nothing
		}
		d, chosen, whys := c.search(v, pool, cands, allowed)
		if d.Action == coredisruption.ActionNone {
			c.fruitless[pool.Name] = fruitless{key: key, at: v.now}
			for i, n := range nodes {
				c.stay(ctx, n, v1.DisruptionReasonUnderutilized, whys[i])
			}
			continue
		}
		delete(c.fruitless, pool.Name)
		p := &proposal{pool: pool.Name, at: v.now, describe: d.Describe()}
		for _, i := range chosen {
			p.candidates = append(p.candidates, nodes[i].NodeClaim.Name)
		}
		c.proposal = p
		logger.Info("consolidation proposed; deciding again after the validation delay", "decision", p.describe, "delay", c.opts.ValidationDelay.String())
		return nil
	}
	return nil
}

// search returns the consolidation of the pool's candidates that saves
// most: as many nodes together as the budget allows (a prefix of the
// candidates that can go, found by bisection), or any one node alone, or,
// when neither can, any two of the emptiest nodes.
// Of equal savings, the one that moves fewer pods wins, then a deletion
// over a replacement. chosen are the indexes of the candidates it takes;
// whys say why each candidate alone would stay, when none can go.
func (c *Controller) search(v *view, pool *v1.NodePool, cands []*coredisruption.Candidate, allowed int) (best coredisruption.Decision, chosen []int, whys []string) {
	threshold := minSavings(pool)
	consolidate := func(set []*coredisruption.Candidate) coredisruption.Decision {
		return coredisruption.Consolidate(c.input(v, set), set, threshold)
	}
	best.Action = coredisruption.ActionNone
	better := func(d coredisruption.Decision) bool {
		if d.Action == coredisruption.ActionNone {
			return false
		}
		if best.Action == coredisruption.ActionNone {
			return true
		}
		const cent = 0.0001 // prices differ by float rounding only below this
		if diff := d.Savings() - best.Savings(); diff > cent || diff < -cent {
			return diff > 0
		}
		if len(d.Moved) != len(best.Moved) {
			return len(d.Moved) < len(best.Moved)
		}
		return d.Action == coredisruption.ActionDelete && best.Action != coredisruption.ActionDelete
	}
	if most := min(len(cands), allowed, maxMultiNode); most >= 2 {
		for lo, hi := 2, most; lo <= hi; {
			mid := (lo + hi) / 2
			if d := consolidate(cands[:mid]); d.Action != coredisruption.ActionNone {
				if better(d) {
					best, chosen = d, nil
					for i := range mid {
						chosen = append(chosen, i)
					}
				}
				lo = mid + 1
			} else {
				hi = mid - 1
			}
		}
	}
	whys = make([]string, len(cands))
	for i, cand := range cands {
		d := consolidate([]*coredisruption.Candidate{cand})
		whys[i] = d.Why
		if better(d) {
			best, chosen = d, []int{i}
		}
	}
	if best.Action != coredisruption.ActionNone || allowed < 2 {
		return best, chosen, whys
	}
	// No prefix and no single node can go: try each pair of the emptiest
	// nodes, which two half-empty nodes of different shapes need.
	n := min(len(cands), maxPairCandidates)
	for i := range n {
		for j := i + 1; j < n; j++ {
			if d := consolidate([]*coredisruption.Candidate{cands[i], cands[j]}); better(d) {
				best, chosen = d, []int{i, j}
			}
		}
	}
	return best, chosen, whys
}

// revalidate decides a proposal again on the cluster as it is now. It
// returns why the proposal no longer holds, or the decision to carry out.
func (c *Controller) revalidate(v *view, p *proposal) (coredisruption.Decision, string) {
	pool := v.pools[p.pool]
	if pool == nil || pool.Spec.Disruption.ConsolidationPolicy != v1.ConsolidationPolicyWhenEmptyOrUnderutilized {
		return coredisruption.Decision{}, "the NodePool no longer allows consolidation"
	}
	var cands []*coredisruption.Candidate
	for _, name := range p.candidates {
		n := v.nodes[name]
		if n == nil {
			return coredisruption.Decision{}, fmt.Sprintf("NodeClaim %s is gone", name)
		}
		if _, ok := available(v, n); !ok || !c.settled(v, n, pool) {
			return coredisruption.Decision{}, fmt.Sprintf("the pods of NodeClaim %s changed", name)
		}
		if why := blocked(v, n, v1.DisruptionReasonUnderutilized); why != "" {
			return coredisruption.Decision{}, why
		}
		cands = append(cands, c.candidate(v, n))
	}
	if allowed := c.allowance(v, pool, v1.DisruptionReasonUnderutilized); allowed < len(cands) {
		return coredisruption.Decision{}, budgetExhausted(v, pool, v1.DisruptionReasonUnderutilized)
	}
	d := coredisruption.Consolidate(c.input(v, cands), cands, minSavings(pool))
	if d.Action == coredisruption.ActionNone {
		return d, d.Why
	}
	return d, ""
}

// consolidationCandidates returns the pool's nodes that consolidation may
// judge, emptiest first: by the larger of the shares of cpu and memory their
// pods request, then the most expensive.
func (c *Controller) consolidationCandidates(ctx context.Context, v *view, pool *v1.NodePool) ([]*coredisruption.Candidate, []*state.StateNode) {
	var cands []*coredisruption.Candidate
	var nodes []*state.StateNode
	for _, n := range v.sorted {
		if n.NodePool() != pool.Name {
			continue
		}
		if _, ok := available(v, n); !ok || !c.settled(v, n, pool) {
			continue
		}
		if why := blocked(v, n, v1.DisruptionReasonUnderutilized); why != "" {
			c.stay(ctx, n, v1.DisruptionReasonUnderutilized, why)
			continue
		}
		cands, nodes = append(cands, c.candidate(v, n)), append(nodes, n)
	}
	order := make([]int, len(cands))
	for i := range order {
		order[i] = i
	}
	used := make([]float64, len(cands))
	for i, n := range nodes {
		used[i] = utilization(n.Node.Status.Allocatable, cands[i].Pods)
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return cmp.Or(cmp.Compare(used[a], used[b]), cmp.Compare(cands[b].Price, cands[a].Price))
	})
	sortedCands, sortedNodes := make([]*coredisruption.Candidate, len(order)), make([]*state.StateNode, len(order))
	for i, j := range order {
		sortedCands[i], sortedNodes[i] = cands[j], nodes[j]
	}
	return sortedCands, sortedNodes
}

// utilization is the larger of the shares of the node's cpu and memory that
// the pods request.
func utilization(allocatable corev1.ResourceList, pods []*corev1.Pod) float64 {
	requests := corev1.ResourceList{}
	for _, pod := range pods {
		for name, q := range resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{}) {
			sum := requests[name]
			sum.Add(q)
			requests[name] = sum
		}
	}
	most := 0.0
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		have := allocatable[name]
		want := requests[name]
		if have.IsZero() {
			continue
		}
		most = max(most, want.AsApproximateFloat64()/have.AsApproximateFloat64())
	}
	return most
}

// searchKey identifies what a search looked at: the candidates and the
// pods of every node.
func (c *Controller) searchKey(v *view, cands []*coredisruption.Candidate, allowed int) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(strconv.Itoa(allowed)))
	for _, cand := range cands {
		_, _ = h.Write([]byte(cand.Name))
	}
	for _, n := range v.sorted {
		_, _ = h.Write([]byte(n.NodeClaim.Name + strconv.FormatUint(c.podsSince[n.NodeClaim.Name].hash, 36)))
	}
	for _, pool := range v.snap.NodePools {
		_, _ = h.Write([]byte(pool.ResourceVersion))
	}
	return h.Sum64()
}
