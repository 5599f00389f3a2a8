package scheduling

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
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
	ns := newNamespaces(in.Namespaces)
	running := make([]*corev1.Pod, 0, len(in.Nodes))
	for _, n := range in.Nodes {
		running = append(running, n.Pods...)
	}
	classes := classify(d, in.Pods, newVolumes(in), ns, selectedLabelKeys(in.Pods, running))
	pools, warnings := preparePools(d, in.NodePools, in.DaemonSets)
	for _, c := range classes {
		c.requests = d.resize(c.requests)
	}
	joinZoneSpreads(classes)
	s := &solver{d: d, pools: pools, result: &Result{Warnings: warnings}, pinned: map[*podClass]string{}, namespaces: ns, partOf: map[*corev1.Pod]*pending{}, launches: map[*NewNodeClaim]launch{}}
	remaining := s.placeOnExisting(classes, in.Nodes)
	s.classes = remaining
	groups := s.assign(remaining)
	for _, c := range classes {
		for _, what := range c.ignored {
			s.result.Warnings = append(s.result.Warnings, fmt.Sprintf("%s: %s is not yet taken into account", c.describe(), what))
		}
	}
	for _, g := range groups {
		s.pack(g)
	}
	s.settleSpreads(classes)
	for _, nc := range s.result.NodeClaims {
		s.result.PricePerHour += nc.Price()
	}
	if in.LowerBound {
		var placed []*pending
		for _, g := range groups {
			placed = append(placed, g.classes...)
		}
		s.result.LowerBound, s.result.LowerBoundError = lowerBound(d, pools, placed)
	}
	return s.result
}

type solver struct {
	d      *dims
	pools  []*pool
	result *Result
	// classes are all the classes of the decision, for constraints that
	// span classes.
	classes []*pending
	// pinned are the classes pod affinity pinned to one zone.
	pinned map[*podClass]string
	// namespaces hold the labels that affinity terms' namespaceSelector
	// matches.
	namespaces namespaces
	// rooms are the existing and launching nodes, with the pods this
	// decision placed there.
	rooms []*room
	// repellers index the anti-affinity of the pods in rooms.
	repellers placedRepellers
	// partOf is the part of a class each pod on a new node came from.
	partOf map[*corev1.Pod]*pending
	// launches say which group and instance type each new node was
	// planned as, to size it again if it loses pods.
	launches map[*NewNodeClaim]launch
}

type launch struct {
	group *group
	as    *groupType
	// shrunk is set once the node lost pods.
	shrunk bool
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
	pool *pool
	reqs requirements.Requirements
	// types are what the packer considers; candidates are every type a
	// node may list for the cloud to fall back on.
	types      []*groupType
	candidates []*groupType
	classes    []*pending
	// color keeps classes that may not share a node in different groups.
	color int
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
	colors := repelled(classes, s.namespaces)
	separation := s.separateZones(classes)
	planned := s.plan(classes)
	a := &assignment{s: s, byKey: map[string]*group{}, colors: colors, separation: separation, planned: planned,
		sent: map[*podClass][]*pending{}, whole: map[*podClass]*group{}}
	for _, c := range assignOrder(classes) {
		if c.left() > 0 {
			a.assignClass(c)
		}
	}
	s.dropOrphans(classes, a.groups, a.sent)
	return a.groups
}

// assignment is what assign has decided so far, which the classes assigned
// later build on.
type assignment struct {
	s      *solver
	groups []*group
	byKey  map[string]*group
	// colors keep classes that may not share a node in different groups.
	colors map[*podClass]int
	// separation keeps classes that repel each other by zone apart.
	separation *zoneSeparation
	// planned is where nodes may launch, for the zone spreads.
	planned launchPlan
	// sent are the pods of each class that went to groups; whole are the
	// groups that took a class undivided.
	sent  map[*podClass][]*pending
	whole map[*podClass]*group
}

// assignOrder is the order in which classes are assigned. Classes whose
// pods only count in others' zone spreads go first, so that the spreads
// that refuse pods balance around where they went; classes that must share
// nodes with other pending pods go after those.
func assignOrder(classes []*pending) []*pending {
	order := slices.Clone(classes)
	slices.SortStableFunc(order, func(a, b *pending) int {
		return cmp.Compare(spreadRank(a), spreadRank(b))
	})
	order = orderSpreads(order)
	slices.SortStableFunc(order, func(a, b *pending) int { return cmp.Compare(len(a.hostWith), len(b.hostWith)) })
	return order
}

// assignClass sends the pods a class has left to groups, or reports them
// unschedulable.
func (a *assignment) assignClass(c *pending) {
	s := a.s
	s.refuseIfNeedsUnplaceable(c)
	if c.err != nil {
		s.unschedulable(c, c.err.Error())
		return
	}
	if len(c.hostWith) > 0 {
		a.joinHostGroup(c)
		return
	}
	if c.together && c.zoneSpread > 0 && !c.zoneSpreadSoft && c.left() > 1 {
		s.keepOnlyFirst(c)
	}
	a.separation.before(s, c)
	fits, reasons := s.poolFits(c)
	if len(fits) == 0 {
		a.separation.after(c, nil)
		s.unschedulable(c, s.noPoolReason(c, reasons))
		return
	}
	parts := s.spreadOverZones(c, fits, a.planned.domainsFor(c))
	a.separation.after(c, parts)
	for _, part := range parts {
		a.addPart(c, part)
	}
}

// refuseIfNeedsUnplaceable sets the class's error when it is pinned next to
// pending pods that no pool can hold: it would land alone.
func (s *solver) refuseIfNeedsUnplaceable(c *pending) {
	for _, targets := range c.needs {
		if c.err == nil && !slices.ContainsFunc(targets, s.placeable) {
			c.err = fmt.Errorf("its required pod affinity needs pods that are pending too and cannot be placed (%s)", targets[0].describe())
		}
	}
}

// joinHostGroup sends a class that must share nodes with pending pods to
// the group of those pods, or reports it unschedulable until they run.
func (a *assignment) joinHostGroup(c *pending) {
	a.separation.before(a.s, c)
	g := a.s.hostGroup(c, a.whole, a.colors)
	if g == nil {
		a.separation.after(c, nil)
		a.s.unschedulable(c, fmt.Sprintf("its required pod affinity needs it on the node of a pod matching %s, and those pods are pending too and go to nodes it cannot share; it is decided again once they run", c.hostWith[0].selector))
		return
	}
	g.classes = append(g.classes, c)
	a.sent[c.podClass] = append(a.sent[c.podClass], c)
	a.whole[c.podClass] = g
	a.separation.after(c, []zonePart{{c, g.pool, g.reqs}})
}

// keepOnlyFirst leaves a class only its first pod to launch for, reporting
// the rest: all its pods must share a node, but its spread may not allow
// them in one zone, and kube-scheduler will place the first one first.
func (s *solver) keepOnlyFirst(c *pending) {
	for _, pod := range c.pods[c.placed+1:] {
		s.result.Unschedulable = append(s.result.Unschedulable, Unschedulable{Pod: pod,
			Reason: "its required pod affinity on kubernetes.io/hostname keeps its pods on the first one's node, and its topology spread over zones decides whether more may join it once the first runs"})
	}
	c.pods = c.pods[:c.placed+1]
}

// poolFits are the pools that can hold the class, in the order it prefers
// them: only the first, unless it spreads over zones, which may look past
// it. reasons say why the pools before (or instead of) them cannot.
func (s *solver) poolFits(c *pending) (fits []poolFit, reasons []string) {
	for _, p := range s.poolsFor(c) {
		reqs, reason := s.fit(c, p)
		if reqs == nil {
			reasons = append(reasons, reason)
			continue
		}
		fits = append(fits, poolFit{p, reqs})
		if c.zoneSpread == 0 {
			break
		}
	}
	return fits, reasons
}

// noPoolReason says why no pool can hold a class, from what each pool said.
func (s *solver) noPoolReason(c *pending, reasons []string) string {
	if len(s.pools) == 0 {
		reasons = append(reasons, "there is no NodePool")
	}
	if len(c.avoided) > 0 {
		reasons = append(reasons, "its required pod anti-affinity keeps its new nodes out of "+strings.Join(c.avoided, " and "))
	}
	return joinReasons(reasons)
}

// addPart sends one part of class c to the group of its pool and
// requirements, making that group if it is the first part to go there.
// Classes that may not share a node (different colors), and a class whose
// pods all share one node, get groups of their own.
func (a *assignment) addPart(c *pending, part zonePart) {
	key := part.pool.name + "\x00" + part.reqs.String() + "\x00" + strconv.Itoa(a.colors[c.podClass])
	if c.together {
		key += "\x00" + c.describe() // a node of its own
	}
	g, ok := a.byKey[key]
	if !ok {
		g = newGroup(part.pool, part.reqs, a.colors[c.podClass])
		a.byKey[key] = g
		a.groups = append(a.groups, g)
	}
	g.classes = append(g.classes, part.pending)
	a.sent[c.podClass] = append(a.sent[c.podClass], part.pending)
	if part.pending == c {
		a.whole[c.podClass] = g
	}
}

// newGroup makes an empty group for the nodes of pool p that meet reqs, with
// the instance types that can be such nodes, each at its cheapest offering.
// Without limits, the packer needs only the types no other type beats.
func newGroup(p *pool, reqs requirements.Requirements, color int) *group {
	g := &group{pool: p, reqs: reqs, color: color}
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
	g.candidates = g.types
	if p.remaining == nil && p.remainingNodes < 0 {
		g.types = undominated(slices.Clone(g.types))
	}
	return g
}

// zones are the zones, sorted, where the pool can launch a node that meets
// reqs and holds a pod with the given requests.
func (p *pool) zones(reqs requirements.Requirements, requests vec) []string {
	seen := map[string]bool{}
	var zones []string
	for _, t := range p.types {
		if t.it.Compatible(reqs) != nil {
			continue
		}
		if _, ok := t.free.fits(requests); !ok {
			continue
		}
		for _, o := range t.offerings.Compatible(reqs) {
			if !seen[o.Zone] {
				seen[o.Zone] = true
				zones = append(zones, o.Zone)
			}
		}
	}
	slices.Sort(zones)
	return zones
}

// undominated drops the instance types that another type beats outright: at
// most the same price, at least as much of every resource. The packer would
// never prefer them, and candidate lists want the cheaper one first anyway.
// Of identical types, the first (by name) stays.
func undominated(types []*groupType) []*groupType {
	slices.SortStableFunc(types, func(a, b *groupType) int {
		return cmp.Or(cmp.Compare(a.price, b.price), strings.Compare(a.it.Name, b.it.Name))
	})
	kept := types[:0:0]
	for _, t := range types {
		dominated := false
		for _, k := range kept {
			if k.price <= t.price && k.dominates(t) {
				dominated = true
				break
			}
		}
		if !dominated {
			kept = append(kept, t)
		}
	}
	return kept
}

func (t *groupType) dominates(o *groupType) bool {
	_, ok := t.free.fits(o.free)
	return ok
}

// dropOrphans takes back the pods of classes pinned next to pending pods
// that, in the end, went nowhere: they would land alone, next to nothing
// their pod affinity needs. Their pods wait instead.
func (s *solver) dropOrphans(classes []*pending, groups []*group, sent map[*podClass][]*pending) {
	for changed := true; changed; {
		changed = false
		for _, c := range classes {
			if len(sent[c.podClass]) == 0 {
				continue
			}
			for _, targets := range c.needs {
				if slices.ContainsFunc(targets, func(t *pending) bool { return len(sent[t.podClass]) > 0 }) {
					continue
				}
				dropped := sent[c.podClass]
				delete(sent, c.podClass)
				for _, g := range groups {
					g.classes = slices.DeleteFunc(g.classes, func(p *pending) bool { return slices.Contains(dropped, p) })
				}
				for _, p := range dropped {
					s.unschedulable(p, fmt.Sprintf("its required pod affinity needs pods that are pending too and find no place (%s)", targets[0].describe()))
				}
				changed = true
				break
			}
		}
	}
}

// hostGroup finds the group a class with pod affinity on hostnames to
// pending pods can join: one that took, undivided, a class of every term's
// targets, whose requirements are the ones the class gets from the group's
// pool, and whose pods may share a node with it. Nil when there is none.
func (s *solver) hostGroup(c *pending, whole map[*podClass]*group, colors map[*podClass]int) *group {
	if c.zoneSpread != 0 || c.together {
		return nil
	}
	var found *group
	for i, terms := range c.hostWith {
		var groups []*group
		for _, t := range terms.targets {
			if g := whole[t.podClass]; g != nil && !slices.Contains(groups, g) && (i == 0 || g == found) {
				groups = append(groups, g)
			}
		}
		if len(groups) == 0 {
			return nil
		}
		found = groups[0]
	}
	if found.color != colors[c.podClass] || slices.ContainsFunc(found.classes, func(o *pending) bool { return o.together }) {
		return nil
	}
	// Sharing a node is sharing every topology domain: no required
	// anti-affinity, either way, with the pods already there.
	repels := func(a, b *pending) bool {
		for _, term := range requiredAntiAffinity(a.pods[0]) {
			if s.namespaces.matcher(term, a.pods[0].Namespace)(b.pods[0]) {
				return true
			}
		}
		return false
	}
	for _, o := range found.classes {
		if repels(c, o) || repels(o, c) {
			return nil
		}
	}
	// Every node of the group must meet the class's requirements (its
	// preferences may go).
	if _, ok := untolerated(c.tolerations, found.pool.taints); !ok {
		return nil
	}
	if !slices.ContainsFunc(c.terms, func(term requirements.Requirements) bool {
		return found.reqs.Merge(term).String() == found.reqs.String()
	}) {
		return nil
	}
	return found
}

// placeable reports whether a pool can hold the class's pods.
func (s *solver) placeable(c *pending) bool {
	if c.err != nil {
		return false
	}
	for _, p := range s.poolsFor(c) {
		if reqs, _ := s.fit(c, p); reqs != nil {
			return true
		}
	}
	return false
}

// poolsFor orders the pools for a class: by weight, and among pools of the
// same weight, those whose PreferNoSchedule taints the pods tolerate first,
// since kube-scheduler too prefers nodes without such taints.
func (s *solver) poolsFor(c *pending) []*pool {
	out := slices.Clone(s.pools)
	avoided := func(p *pool) int {
		for _, taint := range p.taints {
			if taint.Effect == corev1.TaintEffectPreferNoSchedule && !tolerates(c.tolerations, []corev1.Taint{{Key: taint.Key, Value: taint.Value, Effect: corev1.TaintEffectNoSchedule}}) {
				return 1
			}
		}
		return 0
	}
	slices.SortStableFunc(out, func(a, b *pool) int {
		if a.weight != b.weight {
			return cmp.Compare(b.weight, a.weight)
		}
		return cmp.Compare(avoided(a), avoided(b))
	})
	return out
}

// fit returns the requirements a node of pool p must meet to hold pods of
// class c, or nil and the reason it cannot.
func (s *solver) fit(c *pending, p *pool) (requirements.Requirements, string) {
	if taint, ok := untolerated(c.tolerations, p.taints); !ok {
		return nil, fmt.Sprintf("NodePool %s has taint %s that the pod does not tolerate", p.name, taint.ToString())
	}
	var reasons []string
	wellKnown := func(key string) bool { return v1.WellKnownLabels[key] }
	for _, term := range c.terms {
		if err := p.reqs.Compatible(term, wellKnown); err != nil {
			reasons = append(reasons, fmt.Sprintf("NodePool %s: %v", p.name, err))
			continue
		}
		reqs := p.reqs.Merge(term)
		// Honour the heaviest preference the pool can meet.
		for _, pref := range c.preferred {
			if reqs.Compatible(pref, wellKnown) != nil {
				continue
			}
			withPref := reqs.Merge(pref)
			if s.anyTypeFits(p, withPref, c.requests) {
				return withPref, ""
			}
		}
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

// anyTypeFits reports whether some type of the pool meets reqs, has an
// offering for them and room for one pod with the given requests.
func (s *solver) anyTypeFits(p *pool, reqs requirements.Requirements, requests vec) bool {
	for _, t := range p.types {
		if t.it.Compatible(reqs) != nil || len(t.offerings.Compatible(reqs)) == 0 {
			continue
		}
		if _, ok := t.free.fits(requests); ok {
			return true
		}
	}
	return false
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
	if len(g.classes) == 1 && g.classes[0].together {
		s.packTogether(g, g.classes[0])
		return
	}
	pk := s.newPacker(g)
	for slices.ContainsFunc(pk.classes, func(c *pending) bool { return c.left() > 0 }) {
		t := pk.pickType()
		if t == nil {
			pk.refuseTheRest()
			return
		}
		before := pk.left()
		s.openNodes(g, t, pk.classes, pk.best, pk.repeats(), pk.rules)
		if pk.left() == before {
			// Never loop on a node that could not be opened.
			for _, c := range pk.classes {
				if c.left() > 0 {
					s.unschedulable(c, fmt.Sprintf("NodePool %s has no instance type it may launch for these pods together with the pods they must share a node with", g.pool.name))
				}
			}
			return
		}
	}
}

// packer packs one group's classes. Its slices are indexed like classes and
// reused from one fill to the next, since pack tries every type for every
// node it opens.
type packer struct {
	s *solver
	g *group
	// classes are the group's classes, most valuable pods first, and
	// values the value of one of their pods (see standaloneValue).
	classes []*pending
	values  []float64
	rules   hostRules
	// fill and alternative are fills being compared; best is the fill of
	// the type pickType chose.
	fill, alternative, best []int64
	free                    vec
	// byValue and byDensity are orders in which to fill a node. byDensity
	// is sorted again for each type, from the order the last type left.
	byValue, byDensity []int
}

// newPacker orders the group's classes by the value of their pods, most
// valuable first, since fills take whole counts in that order.
func (s *solver) newPacker(g *group) *packer {
	value := s.standaloneValue(g)
	classes := slices.Clone(g.classes)
	slices.SortStableFunc(classes, func(a, b *pending) int { return cmp.Compare(value(b), value(a)) })
	pk := &packer{s: s, g: g, classes: classes, values: make([]float64, len(classes)), rules: newHostRules(classes),
		fill: make([]int64, len(classes)), alternative: make([]int64, len(classes)), best: make([]int64, len(classes)),
		free: s.d.zero(), byValue: make([]int, len(classes))}
	for i, c := range classes {
		pk.values[i] = value(c)
	}
	for i := range pk.byValue {
		pk.byValue[i] = i
	}
	pk.byDensity = slices.Clone(pk.byValue)
	return pk
}

// left counts the pods the classes have left.
func (pk *packer) left() int64 {
	n := int64(0)
	for _, c := range pk.classes {
		n += c.left()
	}
	return n
}

// pickType finds the type whose best fill gives the most value per dollar,
// leaving that fill in best; nil when no type takes any pod. A node that
// takes pods others must share a node with, but none of those others,
// would strand them: such fills count only when nothing else fits.
func (pk *packer) pickType() *groupType {
	relaxed := pk.rules == nil
	if t := pk.bestType(relaxed); t != nil || relaxed {
		return t
	}
	return pk.bestType(true)
}

// bestType is pickType's search, with or without fills that strand pods.
func (pk *packer) bestType(relaxed bool) *groupType {
	var (
		bestType  *groupType
		bestScore = -1.0
	)
	for _, t := range pk.g.types {
		if pk.g.pool.remainingNodes == 0 {
			break
		}
		if pk.g.pool.remaining != nil {
			if _, ok := pk.g.pool.remaining.fits(t.capacity); !ok {
				continue
			}
		}
		total := pk.bestFill(t)
		if total == 0 || !relaxed && pk.rules.strands(pk.classes, pk.fill) {
			continue
		}
		score := total / math.Max(t.price, 1e-9)
		if score > bestScore*(1+1e-9) || (math.Abs(score-bestScore) <= bestScore*1e-9 && t.price < bestType.price) {
			bestType, bestScore = t, score
			copy(pk.best, pk.fill)
		}
	}
	return bestType
}

// bestFill fills one node of type t three ways and keeps the best in fill,
// returning its value: the most valuable pods first, the pods that bring
// the most value for the room they take on this type first, and balanced.
func (pk *packer) bestFill(t *groupType) float64 {
	classes, values := pk.classes, pk.values
	total := fillNode(t, classes, values, pk.byValue, pk.free, pk.fill, pk.rules)
	slices.SortStableFunc(pk.byDensity, func(a, b int) int {
		return cmp.Compare(density(classes[b], values[b], t), density(classes[a], values[a], t))
	})
	if other := fillNode(t, classes, values, pk.byDensity, pk.free, pk.alternative, pk.rules); other > total {
		total = other
		copy(pk.fill, pk.alternative)
	}
	if other := fillBalanced(t, classes, values, pk.free, pk.alternative, pk.rules); other > total {
		total = other
		copy(pk.fill, pk.alternative)
	}
	return total
}

// repeats is how many identical nodes the best fill can be opened as: as
// many times as every class in it still has the pods for.
func (pk *packer) repeats() int64 {
	repeat := int64(math.MaxInt64)
	for i, c := range pk.classes {
		if pk.best[i] > 0 {
			repeat = min(repeat, c.left()/pk.best[i])
		}
	}
	return max(repeat, 1)
}

// refuseTheRest reports the pods left once no type takes any: those that
// must share a node with pods that are all placed have no room left there;
// the others hit the pool's limits.
func (pk *packer) refuseTheRest() {
	for _, c := range pk.classes {
		switch {
		case c.left() == 0:
		case len(c.hostWith) > 0 && !slices.ContainsFunc(pk.classes, func(o *pending) bool { return o.left() > 0 && len(o.hostWith) == 0 }):
			pk.s.unschedulable(c, fmt.Sprintf("its required pod affinity needs it on the node of a pod matching %s, and the new nodes for those pods have no room left for it", c.hostWith[0].selector))
		default:
			pk.s.unschedulable(c, pk.s.limitReason(pk.g))
		}
	}
}

// packTogether puts all of a class's pods on one node, the cheapest type
// that holds them, or as many as the largest type holds.
func (s *solver) packTogether(g *group, c *pending) {
	want := c.left()
	if c.perNodeLimit > 0 {
		want = min(want, c.perNodeLimit)
	}
	var best, largest *groupType
	most := int64(0)
	for _, t := range g.types {
		if g.pool.remaining != nil {
			if _, ok := g.pool.remaining.fits(t.capacity); !ok {
				continue
			}
		}
		n := t.free.times(c.requests)
		if n >= want && (best == nil || t.price < best.price) {
			best = t
		}
		if n > most {
			largest, most = t, n
		}
	}
	if best == nil {
		best, want = largest, min(want, most)
	}
	if best == nil || g.pool.remainingNodes == 0 {
		s.unschedulable(c, s.limitReason(g))
		return
	}
	s.openNodes(g, best, []*pending{c}, []int64{want}, 1, nil)
	if c.left() > 0 {
		s.unschedulable(c, fmt.Sprintf("its required pod affinity on %s selects only its own pods, so they all share the first one's node, and no instance type NodePool %s can launch holds more than %d of them",
			corev1.LabelHostname, g.pool.name, want))
	}
}

// candidates lists the group's instance types that have room for used,
// cheapest first, at most maxCandidates of them but always enough to give
// every minValues requirement of the group its number of distinct values.
// When even all of them fall short, it says why.
func (s *solver) candidates(g *group, used vec) ([]Candidate, string) {
	var (
		all   []Candidate
		types []*groupType
	)
	for _, other := range g.candidates {
		room := other.free.clone()
		room.add(other.daemon)
		if _, ok := room.fits(used); !ok {
			continue
		}
		all = append(all, Candidate{InstanceType: other.it, Offering: other.offerings[other.offeringIndex]})
		types = append(types, other)
	}
	order := make([]int, len(all))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return cmp.Or(cmp.Compare(all[a].Offering.Price, all[b].Offering.Price), strings.Compare(all[a].InstanceType.Name, all[b].InstanceType.Name))
	})
	chosen := map[int]bool{}
	for _, key := range g.reqs.Keys() {
		want := g.reqs[key].MinValues
		if want == 0 {
			continue
		}
		seen := map[string]bool{}
		for _, i := range order {
			added := false
			for _, value := range g.valuesOf(types[i], key) {
				if !seen[value] {
					seen[value], added = true, true
				}
			}
			if added {
				chosen[i] = true
			}
			if len(seen) >= want {
				break
			}
		}
		if len(seen) < want {
			return nil, fmt.Sprintf("NodePool %s requires %d distinct values of %s, but the instance types and offerings that can hold the pods have only %d (%s)",
				g.pool.name, want, key, len(seen), strings.Join(slices.Sorted(maps.Keys(seen)), ", "))
		}
	}
	out := make([]Candidate, 0, maxCandidates)
	for _, i := range order {
		if chosen[i] {
			out = append(out, all[i])
		}
	}
	for _, i := range order {
		if len(out) >= maxCandidates {
			break
		}
		if !chosen[i] {
			out = append(out, all[i])
		}
	}
	slices.SortStableFunc(out, func(a, b Candidate) int {
		return cmp.Or(cmp.Compare(a.Offering.Price, b.Offering.Price), strings.Compare(a.InstanceType.Name, b.InstanceType.Name))
	})
	return out, ""
}

// valuesOf are the values of key that nodes of type t in the group can
// have: the type's own label, or for zone and capacity type, those of its
// offerings the group's requirements allow.
func (g *group) valuesOf(t *groupType, key string) []string {
	switch key {
	case corev1.LabelTopologyZone, v1.LabelCapacityType:
		var out []string
		for _, o := range t.offerings.Compatible(g.reqs) {
			value := o.Zone
			if key == v1.LabelCapacityType {
				value = o.CapacityType
			}
			if !slices.Contains(out, value) {
				out = append(out, value)
			}
		}
		return out
	}
	if value, ok := t.it.Requirements.Labels()[key]; ok {
		return []string{value}
	}
	return nil
}

// hostRules lists, for each class being packed, the sets of classes (by
// index) one of which must have pods on its node; nil when no class has
// any.
type hostRules [][][]int

func newHostRules(classes []*pending) hostRules {
	var rules hostRules
	for i, c := range classes {
		for _, term := range c.hostWith {
			var set []int
			for j, o := range classes {
				if slices.ContainsFunc(term.targets, func(t *pending) bool { return t.podClass == o.podClass }) {
					set = append(set, j)
				}
			}
			if rules == nil {
				rules = make(hostRules, len(classes))
			}
			rules[i] = append(rules[i], set)
		}
	}
	return rules
}

// allows reports whether class i may have pods on a node filled so far as
// fill says.
func (h hostRules) allows(i int, fill []int64) bool {
	if h == nil {
		return true
	}
	for _, set := range h[i] {
		if !slices.ContainsFunc(set, func(j int) bool { return fill[j] > 0 }) {
			return false
		}
	}
	return true
}

// strands reports whether a fill takes pods that a class must share a node
// with, without taking its share of that class's pods: the nodes for those
// pods must keep room for all of it, so each takes at least as large a
// part of its pods left as of theirs.
func (h hostRules) strands(classes []*pending, fill []int64) bool {
	for i, sets := range h {
		dependents := classes[i].left()
		if dependents == 0 {
			continue
		}
		for _, set := range sets {
			var taken, left int64
			for _, j := range set {
				taken += fill[j]
				left += classes[j].left()
			}
			// fill[i]/dependents >= taken/left, in whole pods.
			if taken > 0 && fill[i]*left < dependents*taken {
				return true
			}
		}
	}
	return false
}

// order puts the classes that need others' pods after the rest.
func (h hostRules) order(order []int) []int {
	if h == nil {
		return order
	}
	out := make([]int, 0, len(order))
	for _, second := range []bool{false, true} {
		for _, i := range order {
			if (len(h[i]) > 0) == second {
				out = append(out, i)
			}
		}
	}
	return out
}

// fillNode fills one node of type t with whole counts of each class, in the
// given order, into fill, and returns the value of what it holds.
func fillNode(t *groupType, classes []*pending, values []float64, order []int, free vec, fill []int64, rules hostRules) float64 {
	copy(free, t.free)
	clear(fill)
	total := 0.0
	// Classes that need another's pods on their node come second, once
	// those are in.
	for _, i := range rules.order(order) {
		c := classes[i]
		if c.left() == 0 || !rules.allows(i, fill) {
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
	return total
}

// fillBalanced fills one node of type t a few pods at a time, each time
// taking the class that brings the most value for the share of the node's
// remaining room it uses, so that cpu-heavy and memory-heavy pods end up
// together and neither resource is left idle.
func fillBalanced(t *groupType, classes []*pending, values []float64, free vec, fill []int64, rules hostRules) float64 {
	copy(free, t.free)
	clear(fill)
	total := 0.0
	for {
		best, bestDensity := -1, 0.0
		for i, c := range classes {
			left := c.left() - fill[i]
			if left <= 0 || (c.perNodeLimit > 0 && fill[i] >= c.perNodeLimit) || !rules.allows(i, fill) {
				continue
			}
			share := 0.0
			fits := true
			for r, x := range c.requests {
				if x <= 0 {
					continue
				}
				if x > free[r] {
					fits = false
					break
				}
				share = math.Max(share, float64(x)/float64(free[r]))
			}
			if !fits {
				continue
			}
			if d := values[i] / math.Max(share, 1e-12); best < 0 || d > bestDensity {
				best, bestDensity = i, d
			}
		}
		if best < 0 {
			return total
		}
		c := classes[best]
		// Take a quarter of what still fits at once, to keep this fast.
		n := max(1, min(c.left()-fill[best], free.times(c.requests)/4))
		if c.perNodeLimit > 0 {
			n = min(n, c.perNodeLimit-fill[best])
		}
		fill[best] += n
		free.addTimes(c.requests, -n)
		total += float64(n) * values[best]
	}
}

// density is a pod's value per share of type t's room that it takes (its
// largest share over the resources).
func density(c *pending, value float64, t *groupType) float64 {
	share := 0.0
	for r, x := range c.requests {
		if x > 0 && t.free[r] > 0 {
			share = math.Max(share, float64(x)/float64(t.free[r]))
		}
	}
	if share == 0 {
		return 0
	}
	return value / share
}

// openNodes creates up to n new nodes of type t, each holding fill[i] pods
// of each class, as far as the pool's limits allow. The nodes share their
// candidate list and requirements, which callers must not modify.
func (s *solver) openNodes(g *group, t *groupType, classes []*pending, fill []int64, n int64, rules hostRules) {
	used, candidates, lowered, ok := s.nodeCandidates(g, t, classes, fill, rules)
	if !ok {
		return
	}
	if lowered {
		n = 1
	}
	p := g.pool
	reqs := withCandidates(g.reqs, candidates)
	requests := s.d.toList(used)
	for range n {
		if !p.reserve(t.capacity) {
			return
		}
		nc := &NewNodeClaim{NodePool: p.name, Taints: p.taints, Candidates: candidates, Requirements: reqs, Requests: requests}
		for i, c := range classes {
			k := min(fill[i], c.left())
			if k == 0 {
				continue
			}
			for _, pod := range c.take(k) {
				nc.Pods = append(nc.Pods, pod)
				s.partOf[pod] = c
			}
			c.onNewNodes += k
		}
		s.result.NodeClaims = append(s.result.NodeClaims, nc)
		s.launches[nc] = launch{group: g, as: t}
	}
}

// nodeCandidates finds the candidate instance types for a node of type t
// that holds fill, and what it uses. When too few kinds of instance type
// can hold that much for the pool's minValues, it lowers fill (lowered says
// so) until they can; when nothing is left to hold, it reports the class it
// gave up on and returns false.
func (s *solver) nodeCandidates(g *group, t *groupType, classes []*pending, fill []int64, rules hostRules) (used vec, candidates []Candidate, lowered, ok bool) {
	lowering := loweringOrder(classes, rules)
	for {
		used = t.daemon.clone()
		for i, c := range classes {
			used.addTimes(c.requests, min(fill[i], c.left()))
		}
		var short string
		candidates, short = s.candidates(g, used)
		if short == "" {
			return used, candidates, lowered, true
		}
		// Hold less, starting with the largest pods.
		i := -1
		for _, j := range lowering {
			if fill[j] > 0 {
				i = j
				break
			}
		}
		total := int64(0)
		for _, k := range fill {
			total += k
		}
		if total <= 1 {
			if i >= 0 {
				s.unschedulable(classes[i], short)
			}
			return nil, nil, lowered, false
		}
		fill[i]--
		lowered = true
		rules.dropUnsupported(fill)
		if !slices.ContainsFunc(fill, func(n int64) bool { return n > 0 }) {
			s.unschedulable(classes[i], short)
			return nil, nil, lowered, false
		}
	}
}

// loweringOrder is the order in which nodeCandidates lowers a fill: the
// classes that need others' pods before those they need, and otherwise the
// largest pods (classes come largest first).
func loweringOrder(classes []*pending, rules hostRules) []int {
	var lowering []int
	for _, dependents := range []bool{true, false} {
		for i := range classes {
			if (rules != nil && len(rules[i]) > 0) == dependents {
				lowering = append(lowering, i)
			}
		}
	}
	return lowering
}

// dropUnsupported empties the classes of a fill that lost the pods they must
// share their node with, and those that in turn lost theirs.
func (h hostRules) dropUnsupported(fill []int64) {
	for changed := true; changed; {
		changed = false
		for j := range fill {
			if fill[j] > 0 && !h.allows(j, fill) {
				fill[j], changed = 0, true
			}
		}
	}
}

// reserve takes a node of the given capacity off the pool's limits, and
// reports false when they do not allow one.
func (p *pool) reserve(capacity vec) bool {
	if p.remainingNodes == 0 {
		return false
	}
	if p.remaining != nil {
		if _, ok := p.remaining.fits(capacity); !ok {
			return false
		}
		p.remaining.sub(capacity)
	}
	if p.remainingNodes > 0 {
		p.remainingNodes--
	}
	return true
}

// withCandidates adds to a group's requirements that the node be one of the
// candidates' instance types.
func withCandidates(reqs requirements.Requirements, candidates []Candidate) requirements.Requirements {
	names := make([]string, len(candidates))
	for i, c := range candidates {
		names[i] = c.InstanceType.Name
	}
	return reqs.Merge(requirements.NewRequirements(requirements.MustNew(corev1.LabelInstanceTypeStable, requirements.OpIn, names...)))
}

// resize sizes again the new nodes that lost pods: the instance types that
// hold what is left, cheapest first. It reports whether any changed.
func (s *solver) resize() bool {
	changed := false
	for _, nc := range s.result.NodeClaims {
		l, ok := s.launches[nc]
		if !ok || !l.shrunk || len(nc.Pods) == 0 {
			continue
		}
		l.shrunk = false
		s.launches[nc] = l
		used := l.as.daemon.clone()
		for _, pod := range nc.Pods {
			if part := s.partOf[pod]; part != nil {
				used.add(part.requests)
			}
		}
		candidates, short := s.candidates(l.group, used)
		if short != "" || len(candidates) == 0 {
			continue // the planned size still holds them
		}
		nc.Candidates = candidates
		nc.Requirements = withCandidates(l.group.reqs, candidates)
		nc.Requests = s.d.toList(used)
		changed = true
	}
	return changed
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

// standaloneValue values each pod of a class at what it costs when its class
// has nodes to itself: the cheapest price per pod over the group's types.
// A fill that holds pods for less than their standalone cost saves money,
// and the packer takes the fills that save the most per dollar.
func (s *solver) standaloneValue(g *group) func(c *pending) float64 {
	values := map[*pending]float64{}
	for _, c := range g.classes {
		best := math.Inf(1)
		for _, t := range g.types {
			k := t.free.times(c.requests)
			if c.perNodeLimit > 0 {
				k = min(k, c.perNodeLimit)
			}
			if k > 0 {
				best = math.Min(best, t.price/float64(k))
			}
		}
		if math.IsInf(best, 1) {
			best = 0
		}
		values[c] = best
	}
	return func(c *pending) float64 { return values[c] }
}
