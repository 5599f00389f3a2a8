package scheduling

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/tailor-sh/tailor/core/requirements"
)

// poolFit is a pool that can hold a class, with the requirements its new
// nodes must meet.
type poolFit struct {
	pool *pool
	reqs requirements.Requirements
}

// zonePart is the pods of a class that go to one pool, in one zone when the
// class spreads over zones.
type zonePart struct {
	pending *pending
	pool    *pool
	reqs    requirements.Requirements
}

// launchPlan is where the decision may launch nodes for each class: the
// first pool that can hold it, and the zones that pool can launch in for it.
type launchPlan []plannedLaunch

type plannedLaunch struct {
	// classes are the classes that would launch there.
	classes []*pending
	fit     poolFit
	zones   []string
}

// plan finds, before any class is assigned, the zones where new nodes may
// appear: a zone spread counts every zone with a node that its pods' node
// affinity (and, with nodeTaintsPolicy Honor, tolerations) allows, including
// nodes launched for other pods in this decision.
func (s *solver) plan(classes []*pending) launchPlan {
	spreads := false
	for _, c := range classes {
		spreads = spreads || c.zoneSpread > 0 && c.left() > 0
	}
	if !spreads {
		return nil
	}
	var out launchPlan
	seen := map[string]int{}
	for _, c := range classes {
		if c.left() == 0 || c.err != nil {
			continue
		}
		for _, p := range s.poolsFor(c) {
			if reqs, _ := s.fit(c, p); reqs != nil {
				key := p.name + "\x00" + reqs.String()
				if i, ok := seen[key]; ok {
					out[i].classes = append(out[i].classes, c)
				} else {
					seen[key] = len(out)
					out = append(out, plannedLaunch{classes: []*pending{c}, fit: poolFit{p, reqs}, zones: p.zones(reqs, c.requests)})
				}
				if c.zoneSpread == 0 || c.zoneSpreadSoft {
					break // a spread that refuses pods may use every pool
				}
			}
		}
	}
	return out
}

// domainsFor are the zones where nodes launched for other classes would
// count in c's zone spread.
func (lp launchPlan) domainsFor(c *pending) []string {
	if c.zoneSpread == 0 || c.zoneSpreadSoft {
		return nil
	}
	var out []string
	for _, l := range lp {
		if len(l.classes) == 1 && l.classes[0] == c || c.zoneSpreadHonorsTaints && !tolerates(c.tolerations, l.fit.pool.taints) {
			continue
		}
		for _, zone := range l.zones {
			if !slices.Contains(out, zone) && (!c.zoneSpreadHonorsAffinity || anyInZone(c.affinityTerms, []requirements.Requirements{l.fit.reqs}, zone)) {
				out = append(out, zone)
			}
		}
	}
	return out
}

// spreadOverZones splits a class whose pods spread over zones into one part
// per zone. Each pod goes to the zone with the fewest of the spread's pods
// so far, counting those already on existing nodes, so the zones end as
// even as they can be and every zone's skew stays within the class's
// maxSkew. The zones are those of the first pool that can hold the class;
// when the skew would leave pods out there (minDomains above its zones, or
// eligible zones it cannot launch in with fewer of the pods), the zones of
// every pool that can hold it, each zone from the first pool that launches
// there. Other classes go whole to the first pool.
func (s *solver) spreadOverZones(c *pending, fits []poolFit, domains []string) []zonePart {
	first := fits[0]
	if c.zoneSpread == 0 {
		return []zonePart{{c, first.pool, first.reqs}}
	}
	if c.together && c.zoneSpreadSoft {
		return s.toEmptiestZone(c, first)
	}
	counts := spreadCounts(c, domains)
	zones := first.pool.zones(first.reqs, c.requests)
	// from is the pool (and requirements) each zone's part launches from.
	from := map[string]poolFit{}
	for _, zone := range zones {
		from[zone] = first
	}
	otherZones := slices.ContainsFunc(slices.Collect(maps.Keys(counts)), func(z string) bool { return !slices.Contains(zones, z) })
	if len(zones) == 0 || len(zones) == 1 && c.zoneMinDomains <= 1 && !otherZones {
		if len(zones) == 1 {
			s.shareSpread(c, zones, []int{int(c.left())}, map[string]poolFit{zones[0]: first})
		}
		return []zonePart{{c, first.pool, first.reqs}}
	}
	skew := s.tightestSkew(c)
	d := c.distribute(zones, counts, skew)
	if d.placed < int(c.left()) && len(fits) > 1 {
		zones, d = c.widen(fits[1:], zones, from, counts, skew, d)
	}
	left := c.take(c.left())
	reason := spreadRefusal(c, zones, d)
	for _, pod := range left[d.placed:] {
		s.result.Unschedulable = append(s.result.Unschedulable, Unschedulable{Pod: pod, Reason: reason})
	}
	left = left[:d.placed]
	s.shareSpread(c, zones, d.share, from)
	return splitByZone(c, left, zones, d.share, from)
}

// toEmptiestZone sends a class whose pods all share one node and spread
// softly to the emptiest zone of the first pool, counted for the others.
func (s *solver) toEmptiestZone(c *pending, first poolFit) []zonePart {
	zones := first.pool.zones(first.reqs, c.requests)
	if len(zones) == 0 {
		return []zonePart{{c, first.pool, first.reqs}}
	}
	emptiest := slices.MinFunc(zones, func(a, b string) int { return cmp.Compare(c.zoneCounts[a], c.zoneCounts[b]) })
	s.shareSpread(c, []string{emptiest}, []int{int(c.left())}, map[string]poolFit{emptiest: first})
	return []zonePart{{c, first.pool, first.reqs.Merge(requirements.NewRequirements(requirements.MustNew(corev1.LabelTopologyZone, requirements.OpIn, emptiest)))}}
}

// spreadCounts are the spread's pods per zone, counting every eligible zone:
// those with existing nodes, and the domains where nodes launched for other
// classes would count.
func spreadCounts(c *pending, domains []string) map[string]int {
	counts := maps.Clone(c.zoneCounts)
	if counts == nil {
		counts = map[string]int{}
	}
	for _, zone := range domains {
		if _, ok := counts[zone]; !ok {
			counts[zone] = 0
		}
	}
	return counts
}

// tightestSkew is the smallest maxSkew of the spreads that refuse pods over
// the same pods as c's: pods of another spread with a smaller maxSkew would
// find their zones skewed by c's otherwise.
func (s *solver) tightestSkew(c *pending) int32 {
	skew := c.zoneSpread
	for _, o := range s.classes {
		if o.zoneSpread > 0 && !o.zoneSpreadSoft && !o.zoneAntiAffinity && o.pods[0].Namespace == c.pods[0].Namespace &&
			o.zoneSpreadSelector.String() == c.zoneSpreadSelector.String() {
			skew = min(skew, o.zoneSpread)
		}
	}
	return skew
}

// widen adds the zones of the other pools that can hold the class (each
// zone from the first that launches there, recorded in from) and keeps the
// wider zones if they place more pods than d.
func (c *pending) widen(others []poolFit, zones []string, from map[string]poolFit, counts map[string]int, skew int32, d distribution) ([]string, distribution) {
	union := slices.Clone(zones)
	for _, f := range others {
		for _, zone := range f.pool.zones(f.reqs, c.requests) {
			if _, ok := from[zone]; !ok {
				from[zone] = f
				union = append(union, zone)
			}
		}
	}
	slices.Sort(union)
	if wider := c.distribute(union, counts, skew); wider.placed > d.placed {
		return union, wider
	}
	return zones, d
}

// spreadRefusal says why the pods the distribution leaves out cannot go.
func spreadRefusal(c *pending, zones []string, d distribution) string {
	if c.zoneAntiAffinity {
		return fmt.Sprintf("its required pod anti-affinity allows one of its pods per zone, and every zone its pods can go to (%s) has one", strings.Join(zones, ", "))
	}
	if !d.capped {
		return fmt.Sprintf("its topology spread over zones counts zone %s, where its pods cannot go (no NodePool launches there for them, or pod anti-affinity keeps them out), with %d of its pods, so the zones they can go to (%s) may hold at most %d, and they are full",
			d.floorZone, d.floor, strings.Join(zones, ", "), d.floor+int(c.zoneSpread))
	}
	return fmt.Sprintf("its topology spread over zones needs minDomains %d but its pods can go to %d zones (%s), so each zone may hold at most maxSkew %d of them, and they are full",
		c.zoneMinDomains, len(zones), strings.Join(zones, ", "), c.zoneSpread)
}

// splitByZone makes a part of the class for each zone with a share of its
// pods, in order, pinned to that zone on the pool it launches from.
func splitByZone(c *pending, pods []*corev1.Pod, zones []string, share []int, from map[string]poolFit) []zonePart {
	var parts []zonePart
	next := 0
	for i, zone := range zones {
		if share[i] == 0 {
			continue
		}
		class := *c.podClass
		class.pods, class.origin = pods[next:next+share[i]], c.root()
		next += share[i]
		f := from[zone]
		zoneReqs := f.reqs.Merge(requirements.NewRequirements(requirements.MustNew(corev1.LabelTopologyZone, requirements.OpIn, zone)))
		parts = append(parts, zonePart{&pending{podClass: &class}, f.pool, zoneReqs})
	}
	return parts
}

// distribution is how many of a class's pods each zone takes.
type distribution struct {
	share  []int
	placed int
	// capped is set when minDomains exceeds the zones, so the minimum the
	// skew is measured against is zero; otherwise floor is the fewest of
	// the spread's pods in an eligible zone the pods cannot go to.
	capped    bool
	floor     int
	floorZone string
}

// distribute sends the class's pods one at a time to the zone with the
// fewest of the spread's pods, as long as the skew against the emptiest
// eligible zone (counts holds every eligible zone) stays within maxSkew;
// a soft spread refuses no pod.
func (c *pending) distribute(zones []string, counts map[string]int, maxSkew int32) distribution {
	d := distribution{share: make([]int, len(zones)), floor: math.MaxInt}
	count := make([]int, len(zones))
	for i, zone := range zones {
		count[i] = counts[zone]
	}
	eligible := len(zones)
	for zone := range counts {
		if !slices.Contains(zones, zone) {
			eligible++
		}
	}
	// With fewer eligible zones than minDomains, kube-scheduler takes the
	// minimum as zero.
	if int(c.zoneMinDomains) > eligible {
		d.capped, d.floor = true, 0
	}
	for _, zone := range slices.Sorted(maps.Keys(counts)) {
		if n := counts[zone]; !slices.Contains(zones, zone) && n < d.floor {
			d.floor, d.floorZone = n, zone
		}
	}
	for range c.left() {
		emptiest := 0
		for i := range zones {
			if count[i] < count[emptiest] {
				emptiest = i
			}
		}
		if !c.zoneSpreadSoft && count[emptiest]+1-min(d.floor, count[emptiest]) > int(maxSkew) {
			break
		}
		count[emptiest]++
		d.share[emptiest]++
		d.placed++
	}
	return d
}

// shareSpread counts the pods a class just sent to each zone in the zone
// spreads of the other classes whose selectors match them, so that a spread
// over several Deployments (one selector, several shapes) stays even across
// all of them, on the nodes each spread counts.
func (s *solver) shareSpread(c *pending, zones []string, share []int, from map[string]poolFit) {
	pod := c.pods[0]
	for _, o := range s.classes {
		if o.podClass == c.podClass || o.zoneSpread == 0 || o.zoneAntiAffinity || o.pods[0].Namespace != pod.Namespace ||
			!o.zoneSpreadSelector.Matches(labels.Set(pod.Labels)) {
			continue
		}
		if o.zoneCounts == nil {
			o.zoneCounts = map[string]int{}
		}
		for i, zone := range zones {
			// A spread counts only the nodes its pods may use (honouring
			// node affinity) and tolerate (honouring taints).
			f := from[zone]
			if o.zoneSpreadHonorsTaints && !tolerates(o.tolerations, f.pool.taints) {
				continue
			}
			if !o.zoneSpreadHonorsAffinity || anyInZone(o.affinityTerms, []requirements.Requirements{f.reqs}, zone) {
				o.zoneCounts[zone] += share[i]
			}
		}
	}
}

// anyInZone reports whether a node in zone can meet one of the terms of a
// and one of b.
func anyInZone(a, b []requirements.Requirements, zone string) bool {
	inZone := requirements.NewRequirements(requirements.MustNew(corev1.LabelTopologyZone, requirements.OpIn, zone))
	for _, y := range b {
		y = y.Merge(inZone)
		if y.Unsatisfiable() != "" {
			continue
		}
		for _, x := range a {
			if x.Intersects(y) == nil {
				return true
			}
		}
	}
	return false
}

// joinZoneSpreads gives a class without a zone spread of its own, whose
// pods another pending class's zone spread counts (in its namespace), a
// soft spread with the same selector: its pods then go to the emptiest
// zones too, and count where they go, so the other class's pods do not
// end skewed by where these land.
func joinZoneSpreads(classes []*podClass) {
	for _, c := range classes {
		if c.zoneSpread != 0 || c.err != nil {
			continue
		}
		pod := c.pods[0] // it answers for the class: see classify
		for _, o := range classes {
			if o == c || o.zoneSpread == 0 || o.zoneSpreadSoft || o.zoneAntiAffinity || o.err != nil || o.pods[0].Namespace != pod.Namespace {
				continue
			}
			if !o.zoneSpreadSelector.Matches(labels.Set(pod.Labels)) {
				continue
			}
			c.zoneSpread, c.zoneSpreadSelector, c.zoneSpreadSoft, c.zoneMinDomains = o.zoneSpread, o.zoneSpreadSelector, true, 1
			c.zoneSpreadHonorsAffinity, c.zoneSpreadHonorsTaints = o.zoneSpreadHonorsAffinity, o.zoneSpreadHonorsTaints
			break
		}
	}
}

// spreadRank orders classes for assignment: without a zone spread, with a
// soft one, with one that refuses pods.
func spreadRank(c *pending) int {
	switch {
	case c.zoneSpread == 0:
		return 0
	case c.zoneSpreadSoft:
		return 1
	}
	return 2
}

// orderSpreads reorders the classes whose zone spreads refuse pods (the
// last of order) so that a class whose pods another's spread counts, while
// its own spread does not count the other's, comes first: the wider spread
// then balances around the narrower one's pods, and both end even. Where
// two spreads count each other, a class held to one zone goes first, and
// otherwise the original order stays.
func orderSpreads(order []*pending) []*pending {
	first := slices.IndexFunc(order, func(c *pending) bool { return spreadRank(c) == 2 })
	if first < 0 || len(order)-first < 2 {
		return order
	}
	hard := order[first:]
	counts := func(y, x *pending) bool { // y's spread counts x's pods
		return y.pods[0].Namespace == x.pods[0].Namespace && y.zoneSpreadSelector.Matches(labels.Set(x.pods[0].Labels))
	}
	// x precedes y when y's spread counts x's pods and not the other way
	// round, or both count each other and only x is held to one zone: it
	// cannot move, y can balance around it.
	precedes := func(x, y *pending) bool {
		if !counts(y, x) {
			return false
		}
		return !counts(x, y) || oneZone(x) && !oneZone(y)
	}
	before := make([]int, len(hard)) // how many must come before each
	for i, y := range hard {
		for j, x := range hard {
			if i != j && precedes(x, y) {
				before[i]++
			}
			if j <= i || x.zoneAntiAffinity || y.zoneAntiAffinity || !counts(x, y) || !counts(y, x) {
				continue
			}
			// Two spreads that count each other's pods, over the same
			// pods but each counting other zones, or with other
			// selectors: whichever kube-scheduler binds last may find its
			// skew broken by the other's pods.
			if x.zoneSpreadSelector.String() == y.zoneSpreadSelector.String() &&
				(x.zoneMinDomains != y.zoneMinDomains || x.zoneSpreadHonorsAffinity && describeTerms(x.affinityTerms) != describeTerms(y.affinityTerms)) {
				what := "a topology spread on zones over the same pods as another pending class's (%s), with other node affinity or minDomains"
				y.ignored = append(y.ignored, fmt.Sprintf(what, x.pods[0].Name))
				x.ignored = append(x.ignored, fmt.Sprintf(what, y.pods[0].Name))
			}
			if x.zoneSpreadSelector.String() != y.zoneSpreadSelector.String() {
				what := "a topology spread on zones whose pods another pending class's spread, with another selector, counts (%s)"
				y.ignored = append(y.ignored, fmt.Sprintf(what, x.pods[0].Name))
				x.ignored = append(x.ignored, fmt.Sprintf(what, y.pods[0].Name))
			}
		}
	}
	out := slices.Clone(order[:first])
	done := make([]bool, len(hard))
	for len(out) < len(order) {
		next := -1
		for i := range hard {
			if !done[i] && before[i] == 0 {
				next = i
				break
			}
		}
		if next < 0 {
			// A cycle (each spread counting the next one's pods): break it
			// at the first, whose pods may then find their skew broken.
			for i := range hard {
				if !done[i] {
					next = i
					break
				}
			}
			hard[next].ignored = append(hard[next].ignored, "a topology spread on zones in a cycle of spreads that count each other's pods")
		}
		done[next] = true
		out = append(out, hard[next])
		for i, y := range hard {
			if !done[i] && precedes(hard[next], y) {
				before[i]--
			}
		}
	}
	return out
}

// oneZone reports whether the class's node constraints allow one zone only.
func oneZone(c *pending) bool {
	for _, t := range c.terms {
		if zone := t.Get(corev1.LabelTopologyZone); zone == nil || !zone.Finite() || zone.Len() != 1 {
			return false
		}
	}
	return len(c.terms) > 0
}

// settleSpreads checks every zone spread that refuses pods against the
// decision as it ended up, where pods that could not be placed after all
// (a pool's limits, for one) may have left a zone emptier than planned:
// for each zone holding the class's pods on new nodes, the spread's pods
// there may exceed the emptiest eligible zone by maxSkew at most. Pods
// beyond that are taken off their new nodes (a node left with none is not
// launched) and reported, so that no node is launched for a pod that
// kube-scheduler would refuse there.
func (s *solver) settleSpreads(classes []*podClass) {
	onNew := map[*podClass]bool{}
	for _, part := range s.partOf {
		onNew[part.root()] = true
	}
	// Nodes that lose pods are sized again, which may move one that is
	// not pinned to a zone to another zone: settle again then, twice at
	// most.
	for range 2 {
		for changed := true; changed; {
			changed = false
			for _, c := range classes {
				if c.zoneSpread == 0 || c.zoneSpreadSoft || c.zoneAntiAffinity || c.err != nil || !onNew[c] {
					continue
				}
				changed = s.settleSpread(c) || changed
			}
			changed = s.settleAffinity() || changed
		}
		s.result.NodeClaims = slices.DeleteFunc(s.result.NodeClaims, func(nc *NewNodeClaim) bool { return len(nc.Pods) == 0 })
		if !s.resize() {
			break
		}
	}
}

// settleAffinity takes off their new nodes the pods whose required pod
// affinity relied on pods that, in the end, did not go where planned: a
// zone pin next to pending pods none of which landed in that zone, or a
// node shared with pending pods none of which is on it.
func (s *solver) settleAffinity() bool {
	inZone := map[string]map[*podClass]bool{}
	for _, nc := range s.result.NodeClaims {
		if len(nc.Pods) == 0 {
			continue
		}
		zone := claimZone(nc)
		if inZone[zone] == nil {
			inZone[zone] = map[*podClass]bool{}
		}
		for _, p := range nc.Pods {
			if part := s.partOf[p]; part != nil {
				inZone[zone][part.root()] = true
			}
		}
	}
	anyOf := func(targets []*pending, on map[*podClass]bool) bool {
		return slices.ContainsFunc(targets, func(t *pending) bool { return on[t.root()] })
	}
	changed := false
	for _, nc := range s.result.NodeClaims {
		onNode := map[*podClass]bool{}
		for _, p := range nc.Pods {
			if part := s.partOf[p]; part != nil {
				onNode[part.root()] = true
			}
		}
		zone := claimZone(nc)
		for i := len(nc.Pods) - 1; i >= 0; i-- {
			part := s.partOf[nc.Pods[i]]
			if part == nil {
				continue
			}
			reason := ""
			for _, needs := range part.needs {
				if !anyOf(needs, inZone[zone]) {
					reason = fmt.Sprintf("its required pod affinity needs pods that are pending too in zone %s, and none of them could be placed there", zone)
				}
			}
			for _, with := range part.hostWith {
				if !anyOf(with.targets, onNode) {
					reason = fmt.Sprintf("its required pod affinity needs it on the node of a pod matching %s, and those pods could not be placed", with.selector)
				}
			}
			if reason != "" {
				s.takeOff(nc, i, reason)
				changed = true
			}
		}
	}
	return changed
}

// takeOff takes the i-th pod off a new node and reports it unschedulable.
func (s *solver) takeOff(nc *NewNodeClaim, i int, reason string) {
	pod := nc.Pods[i]
	if part := s.partOf[pod]; part != nil {
		part.onNewNodes--
	}
	delete(s.partOf, pod)
	nc.Pods = slices.Delete(nc.Pods, i, i+1)
	if l, ok := s.launches[nc]; ok {
		l.shrunk = true
		s.launches[nc] = l
	}
	s.result.Unschedulable = append(s.result.Unschedulable, Unschedulable{Pod: pod, Reason: reason})
}

func (s *solver) settleSpread(c *podClass) bool {
	namespace := c.pods[0].Namespace
	counted := func(p *corev1.Pod) bool {
		return p.Namespace == namespace && c.zoneSpreadSelector.Matches(labels.Set(p.Labels))
	}
	counts := map[string]int{}
	for _, r := range s.rooms {
		zone, ok := r.node.Labels[corev1.LabelTopologyZone]
		if !ok || c.zoneSpreadHonorsAffinity && !matchesAnyTerm(c.affinityTerms, r.node.Labels) ||
			c.zoneSpreadHonorsTaints && !tolerates(c.tolerations, r.node.Taints) {
			continue
		}
		counts[zone] += 0
		for _, p := range r.pods {
			if counted(p) {
				counts[zone]++
			}
		}
	}
	own := map[string][]*NewNodeClaim{}
	for _, nc := range s.result.NodeClaims {
		if len(nc.Pods) == 0 {
			continue // taken off already: it will not be launched
		}
		zone := claimZone(nc)
		if zone == "" || c.zoneSpreadHonorsAffinity && !anyInZone(c.affinityTerms, []requirements.Requirements{nc.Requirements}, zone) ||
			c.zoneSpreadHonorsTaints && !tolerates(c.tolerations, nc.Taints) {
			continue
		}
		counts[zone] += 0
		mine := false
		for _, p := range nc.Pods {
			if counted(p) {
				counts[zone]++
			}
			if part := s.partOf[p]; part != nil && part.root() == c {
				mine = true
			}
		}
		if mine {
			own[zone] = append(own[zone], nc)
		}
	}
	least := math.MaxInt
	for _, n := range counts {
		least = min(least, n)
	}
	if int(c.zoneMinDomains) > len(counts) {
		least = 0
	}
	changed := false
	for _, zone := range slices.Sorted(maps.Keys(own)) {
		for _, nc := range own[zone] {
			for i := len(nc.Pods) - 1; i >= 0 && counts[zone]-least > int(c.zoneSpread); i-- {
				if part := s.partOf[nc.Pods[i]]; part == nil || part.root() != c {
					continue
				}
				s.takeOff(nc, i, fmt.Sprintf("its topology spread over zones allows at most %d of its pods above the emptiest zone, and the other zones got fewer nodes than planned (NodePool limits, or pods that found no place)", c.zoneSpread))
				counts[zone]--
				changed = true
			}
		}
	}
	return changed
}

// claimZone is the zone a new node will be in: the one its requirements
// allow, or else that of its cheapest candidate's offering.
func claimZone(nc *NewNodeClaim) string {
	if zone := nc.Requirements.Get(corev1.LabelTopologyZone); zone != nil && zone.Finite() && zone.Len() == 1 {
		return zone.Values()[0]
	}
	if len(nc.Candidates) > 0 {
		return nc.Candidates[0].Offering.Zone
	}
	return ""
}
