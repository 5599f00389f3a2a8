package scheduling

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/core/requirements"
)

// maxCandidates is how many instance types a new node lists at most, enough
// for the cloud to fall back when the cheapest has no capacity.
const maxCandidates = 60

// Solve decides where the pods go. It never fails: whatever cannot be
// placed is reported in Result.Unschedulable with the reason.
func Solve(in Input) *Result {
	d := newDims()
	classes := classify(d, in.Pods)
	pools := preparePools(d, in.NodePools, in.DaemonSets)
	for _, c := range classes {
		c.requests = d.resize(c.requests)
	}
	s := &solver{d: d, pools: pools, result: &Result{}}
	for _, c := range classes {
		for _, what := range c.ignored {
			s.result.Warnings = append(s.result.Warnings, fmt.Sprintf("%s: %s is not yet taken into account", c.describe(), what))
		}
	}
	remaining := s.placeOnExisting(classes, in.Nodes)
	groups := s.assign(remaining)
	for _, g := range groups {
		s.pack(g)
	}
	for _, nc := range s.result.NodeClaims {
		s.result.PricePerHour += nc.Price()
	}
	s.result.LowerBound, s.result.LowerBoundError = lowerBound(d, pools, remaining)
	return s.result
}

type solver struct {
	d      *dims
	pools  []*pool
	result *Result
}

// pending is a class with the number of its pods still to place.
type pending struct {
	*podClass
	// placed counts the pods already placed, which are the first ones.
	placed int
	// onNewNodes counts those placed on new nodes.
	onNewNodes int64
}

func (p *pending) left() int64 { return int64(len(p.pods) - p.placed) }

func (p *pending) take(n int64) []*corev1.Pod {
	out := p.pods[p.placed : p.placed+int(n)]
	p.placed += int(n)
	return out
}

// placeOnExisting fills the free room of existing and launching nodes
// first, since it costs nothing.
func (s *solver) placeOnExisting(classes []*podClass, nodes []*Node) []*pending {
	type room struct {
		node  *Node
		free  vec
		count map[*podClass]int64
	}
	rooms := make([]*room, 0, len(nodes))
	for _, n := range nodes {
		free := s.d.fromList(n.Allocatable, false)
		if _, ok := n.Allocatable[corev1.ResourcePods]; !ok {
			free[dimPods] = math.MaxInt32
		}
		free.sub(usedBy(s.d, n.Pods))
		rooms = append(rooms, &room{node: n, free: free, count: map[*podClass]int64{}})
	}
	slices.SortFunc(rooms, func(a, b *room) int { return strings.Compare(a.node.Name, b.node.Name) })
	out := make([]*pending, 0, len(classes))
	for _, c := range classes {
		p := &pending{podClass: c}
		out = append(out, p)
		if c.err != nil {
			continue
		}
		for _, r := range rooms {
			if p.left() == 0 {
				break
			}
			if !tolerates(c.tolerations, r.node.Taints) || !matchesAnyTerm(c.terms, r.node.Labels) {
				continue
			}
			n := min(p.left(), r.free.times(c.requests))
			if c.perNodeLimit > 0 {
				n = min(n, c.perNodeLimit-r.count[c])
			}
			if n <= 0 {
				continue
			}
			r.free.addTimes(c.requests, -n)
			r.count[c] += n
			for _, pod := range p.take(n) {
				s.result.Existing = append(s.result.Existing, ExistingPlacement{Pod: pod, Node: r.node.Name})
			}
		}
	}
	return out
}

func matchesAnyTerm(terms []requirements.Requirements, labels map[string]string) bool {
	for _, t := range terms {
		if t.Matches(labels) {
			return true
		}
	}
	return false
}

// group is the pods of one pool that may share nodes: their requirements,
// merged with the pool's, are the same, so the same instance types and
// offerings serve all of them.
type group struct {
	pool    *pool
	reqs    requirements.Requirements
	types   []*groupType
	classes []*pending
}

// groupType is an instance type of a group with its cheapest offering under
// the group's requirements.
type groupType struct {
	*poolType
	offeringIndex int
	price         float64
}

// assign sends each class to the first pool, by weight, that can hold its
// pods, and groups the classes that can share nodes. Classes no pool can
// hold are reported unschedulable.
func (s *solver) assign(classes []*pending) []*group {
	byKey := map[string]*group{}
	var groups []*group
	for _, c := range classes {
		if c.left() == 0 {
			continue
		}
		if c.err != nil {
			s.unschedulable(c, c.err.Error())
			continue
		}
		var reasons []string
		assigned := false
		for _, p := range s.pools {
			reqs, reason := s.fit(c, p)
			if reqs == nil {
				reasons = append(reasons, reason)
				continue
			}
			key := p.name + "\x00" + reqs.String()
			g, ok := byKey[key]
			if !ok {
				g = &group{pool: p, reqs: reqs}
				for _, t := range p.types {
					if t.it.Compatible(reqs) != nil {
						continue
					}
					offerings := t.offerings.Compatible(reqs)
					cheapest, ok := offerings.Cheapest()
					if !ok {
						continue
					}
					g.types = append(g.types, &groupType{poolType: t, price: cheapest.Price, offeringIndex: slices.Index(t.offerings, cheapest)})
				}
				byKey[key] = g
				groups = append(groups, g)
			}
			g.classes = append(g.classes, c)
			assigned = true
			break
		}
		if !assigned {
			if len(s.pools) == 0 {
				reasons = append(reasons, "there is no NodePool")
			}
			s.unschedulable(c, joinReasons(reasons))
		}
	}
	return groups
}

// fit returns the requirements a node of pool p must meet to hold pods of
// class c, or nil and the reason it cannot.
func (s *solver) fit(c *pending, p *pool) (requirements.Requirements, string) {
	if taint, ok := untolerated(c.tolerations, p.taints); !ok {
		return nil, fmt.Sprintf("NodePool %s has taint %s that the pod does not tolerate", p.name, taint.ToString())
	}
	var reasons []string
	for _, term := range c.terms {
		if err := p.reqs.Compatible(term, func(key string) bool { return v1.WellKnownLabels[key] }); err != nil {
			reasons = append(reasons, fmt.Sprintf("NodePool %s: %v", p.name, err))
			continue
		}
		reqs := p.reqs.Merge(term)
		compatible, largest := 0, s.d.zero()
		for _, t := range p.types {
			if t.it.Compatible(reqs) != nil || len(t.offerings.Compatible(reqs)) == 0 {
				continue
			}
			compatible++
			for i := range largest {
				largest[i] = max(largest[i], t.free[i])
			}
			if _, ok := t.free.fits(c.requests); ok {
				return reqs, ""
			}
		}
		switch {
		case len(p.types) == 0:
			reasons = append(reasons, fmt.Sprintf("NodePool %s has no instance type with an available offering that its requirements allow", p.name))
		case compatible == 0:
			reasons = append(reasons, fmt.Sprintf("no instance type allowed by NodePool %s satisfies %s", p.name, term))
		default:
			// Name the first resource that no compatible type has enough of.
			for i := range c.requests {
				if c.requests[i] > largest[i] {
					reasons = append(reasons, fmt.Sprintf("no instance type allowed by NodePool %s has %s %s; the largest has %s",
						p.name, s.format(i, c.requests[i]), s.d.names[i], s.format(i, largest[i])))
					break
				}
			}
			if len(reasons) == 0 {
				reasons = append(reasons, fmt.Sprintf("no instance type allowed by NodePool %s has room for the pod's requests together", p.name))
			}
		}
	}
	return nil, joinReasons(reasons)
}

func (s *solver) format(dim int, v int64) string {
	switch s.d.names[dim] {
	case corev1.ResourceCPU:
		if v%1000 == 0 {
			return fmt.Sprint(v / 1000)
		}
		return fmt.Sprintf("%dm", v)
	case corev1.ResourceMemory, corev1.ResourceEphemeralStorage:
		return fmt.Sprintf("%.1fGi", float64(v)/(1<<30))
	}
	return fmt.Sprint(v)
}

func (s *solver) unschedulable(c *pending, reason string) {
	for _, pod := range c.take(c.left()) {
		s.result.Unschedulable = append(s.result.Unschedulable, Unschedulable{Pod: pod, Reason: reason})
	}
}

// pack opens nodes for a group's pods, one kind of node at a time: for every
// instance type it fills one node with whole counts of each class, largest
// first, and values the fill at what its pods' resources cost; it opens the
// type whose fill gives the most value per dollar, as many times as the same
// fill still has pods. Valuing the pods rather than counting them is what
// keeps it from Karpenter's trap of piling pods onto ever larger types.
func (s *solver) pack(g *group) {
	if len(g.types) == 0 {
		for _, c := range g.classes {
			s.unschedulable(c, fmt.Sprintf("NodePool %s has no instance type with an available offering for %s", g.pool.name, g.reqs))
		}
		return
	}
	prices := s.resourcePrices(g)
	value := func(c *pending) float64 {
		v := 0.0
		for i, x := range c.requests {
			v += prices[i] * float64(x)
		}
		return v
	}
	classes := slices.Clone(g.classes)
	slices.SortStableFunc(classes, func(a, b *pending) int { return cmp.Compare(value(b), value(a)) })
	values := make([]float64, len(classes))
	for i, c := range classes {
		values[i] = value(c)
	}
	fill := make([]int64, len(classes))
	best := make([]int64, len(classes))
	for {
		left := false
		for _, c := range classes {
			left = left || c.left() > 0
		}
		if !left {
			return
		}
		var (
			bestType  *groupType
			bestScore = -1.0
		)
		for _, t := range g.types {
			if g.pool.remainingNodes == 0 {
				break
			}
			if g.pool.remaining != nil {
				if _, ok := g.pool.remaining.fits(t.capacity); !ok {
					continue
				}
			}
			free := t.free.clone()
			total := 0.0
			for i, c := range classes {
				fill[i] = 0
				if c.left() == 0 {
					continue
				}
				n := min(c.left(), free.times(c.requests))
				if c.perNodeLimit > 0 {
					n = min(n, c.perNodeLimit)
				}
				if n <= 0 {
					continue
				}
				fill[i] = n
				free.addTimes(c.requests, -n)
				total += float64(n) * values[i]
			}
			if total == 0 {
				continue
			}
			score := total / math.Max(t.price, 1e-9)
			if score > bestScore*(1+1e-9) || (math.Abs(score-bestScore) <= bestScore*1e-9 && t.price < bestType.price) {
				bestType, bestScore = t, score
				copy(best, fill)
			}
		}
		if bestType == nil {
			for _, c := range classes {
				if c.left() > 0 {
					s.unschedulable(c, s.limitReason(g))
				}
			}
			return
		}
		// Open as many identical nodes as the fill can be repeated.
		repeat := int64(math.MaxInt64)
		for i, c := range classes {
			if best[i] > 0 {
				repeat = min(repeat, c.left()/best[i])
			}
		}
		repeat = max(repeat, 1)
		for range repeat {
			if !s.openNode(g, bestType, classes, best) {
				break
			}
		}
	}
}

// openNode creates one new node of type t holding fill[i] pods of each
// class, and reports whether the pool's limits allowed it.
func (s *solver) openNode(g *group, t *groupType, classes []*pending, fill []int64) bool {
	p := g.pool
	if p.remainingNodes == 0 {
		return false
	}
	if p.remaining != nil {
		if _, ok := p.remaining.fits(t.capacity); !ok {
			return false
		}
		p.remaining.sub(t.capacity)
	}
	if p.remainingNodes > 0 {
		p.remainingNodes--
	}
	used := t.daemon.clone()
	nc := &NewNodeClaim{NodePool: p.name, Taints: p.taints}
	for i, c := range classes {
		n := min(fill[i], c.left())
		if n == 0 {
			continue
		}
		used.addTimes(c.requests, n)
		nc.Pods = append(nc.Pods, c.take(n)...)
		c.onNewNodes += n
	}
	// Every type of the group that has room for what this node holds is a
	// candidate; the cloud launches the cheapest that has capacity.
	for _, other := range g.types {
		room := other.free.clone()
		room.add(other.daemon)
		if _, ok := room.fits(used); !ok {
			continue
		}
		nc.Candidates = append(nc.Candidates, Candidate{InstanceType: other.it, Offering: other.offerings[other.offeringIndex]})
	}
	slices.SortStableFunc(nc.Candidates, func(a, b Candidate) int {
		return cmp.Or(cmp.Compare(a.Offering.Price, b.Offering.Price), strings.Compare(a.InstanceType.Name, b.InstanceType.Name))
	})
	if len(nc.Candidates) > maxCandidates {
		nc.Candidates = nc.Candidates[:maxCandidates]
	}
	names := make([]string, len(nc.Candidates))
	for i, c := range nc.Candidates {
		names[i] = c.InstanceType.Name
	}
	nc.Requirements = g.reqs.Merge(requirements.NewRequirements(requirements.MustNew(corev1.LabelInstanceTypeStable, requirements.OpIn, names...)))
	nc.Requests = s.d.toList(used)
	s.result.NodeClaims = append(s.result.NodeClaims, nc)
	return true
}

func (s *solver) limitReason(g *group) string {
	if g.pool.remainingNodes == 0 {
		return fmt.Sprintf("NodePool %s has reached its limit on nodes", g.pool.name)
	}
	return fmt.Sprintf("NodePool %s has reached its limits (%s left)", g.pool.name, describeList(s.d.toList(capped(g.pool.remaining))))
}

func capped(v vec) vec {
	out := v.clone()
	for i, x := range out {
		if x == math.MaxInt64 {
			out[i] = 0
		}
	}
	return out
}

func describeList(l corev1.ResourceList) string {
	var parts []string
	for name, q := range l {
		parts = append(parts, fmt.Sprintf("%s %s", name, q.String()))
	}
	slices.Sort(parts)
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ")
}

// resourcePrices estimates what one unit of each resource costs in a
// group's instance types: cpu and memory from a least-squares fit of price
// on allocatable cpu and memory, other resources (GPUs) from what their types
// cost beyond that. These prices value a node's pods, so that the packer
// prefers fills whose resources would cost the most elsewhere.
func (s *solver) resourcePrices(g *group) []float64 {
	prices := make([]float64, len(s.d.names))
	var scc, scm, smm, scp, smp float64
	for _, t := range g.types {
		c, m := float64(t.free[dimCPU]), float64(t.free[dimMemory])
		if hasExtended(t.free) {
			continue
		}
		scc, scm, smm, scp, smp = scc+c*c, scm+c*m, smm+m*m, scp+c*t.price, smp+m*t.price
	}
	det := scc*smm - scm*scm
	if det > 0 {
		prices[dimCPU] = (scp*smm - smp*scm) / det
		prices[dimMemory] = (scc*smp - scm*scp) / det
	}
	if prices[dimCPU] <= 0 || prices[dimMemory] <= 0 {
		// Fall back to the cheapest price per unit of each.
		prices[dimCPU], prices[dimMemory] = math.Inf(1), math.Inf(1)
		for _, t := range g.types {
			prices[dimCPU] = math.Min(prices[dimCPU], t.price/math.Max(float64(t.free[dimCPU]), 1))
			prices[dimMemory] = math.Min(prices[dimMemory], t.price/math.Max(float64(t.free[dimMemory]), 1))
		}
	}
	for i := dimEphemeral + 1; i < len(prices); i++ {
		best := math.Inf(1)
		for _, t := range g.types {
			if t.free[i] <= 0 {
				continue
			}
			rest := t.price - prices[dimCPU]*float64(t.free[dimCPU]) - prices[dimMemory]*float64(t.free[dimMemory])
			best = math.Min(best, math.Max(rest, t.price*0.5)/float64(t.free[i]))
		}
		if !math.IsInf(best, 1) {
			prices[i] = best
		}
	}
	return prices
}

func hasExtended(v vec) bool {
	for i := dimEphemeral + 1; i < len(v); i++ {
		if v[i] > 0 {
			return true
		}
	}
	return false
}
