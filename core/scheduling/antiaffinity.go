package scheduling

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/tailor-sh/tailor/core/requirements"
)

// repelled colours the classes so that two whose pods may not share a node
// (required anti-affinity on hostnames, in either direction, as
// kube-scheduler checks both; a spread over hostnames that counts the
// other's pods; the same host port) never get the same colour; classes share new nodes only
// within a colour. Classes in no conflict keep colour 0.
func repelled(classes []*pending, ns namespaces) map[*podClass]int {
	var withTerms, withPorts []*pending
	for _, a := range classes {
		if a.left() == 0 {
			continue
		}
		if len(a.hostRepels) > 0 {
			withTerms = append(withTerms, a)
		}
		if len(hostPorts(a.pods[0])) > 0 {
			withPorts = append(withPorts, a)
		}
	}
	if len(withTerms) == 0 && len(withPorts) < 2 {
		return nil
	}
	for _, a := range withPorts {
		if !slices.Contains(withTerms, a) {
			withTerms = append(withTerms, a)
		}
	}
	// Many classes with anti-affinity (a StatefulSet's pods each carry a
	// label of their own, so each is a class) would make the pairwise
	// check quadratic: give each of them nodes of its own instead, which
	// never breaks a rule and costs a little packing.
	if len(withTerms)*len(classes) > maxConflictChecks {
		colors := make(map[*podClass]int, len(withTerms))
		for i, a := range withTerms {
			colors[a.podClass] = i + 1
		}
		return colors
	}
	conflicts := conflicting(classes, withTerms, ns, func(c *pending) []corev1.PodAffinityTerm { return c.hostRepels })
	// Classes that claim the same host port cannot share a node either.
	for i, a := range withPorts {
		ports := hostPorts(a.pods[0])
		for _, b := range withPorts[i+1:] {
			if slices.ContainsFunc(hostPorts(b.pods[0]), func(p string) bool { return slices.Contains(ports, p) }) && !slices.Contains(conflicts[a.podClass], b.podClass) {
				conflicts[a.podClass] = append(conflicts[a.podClass], b.podClass)
				conflicts[b.podClass] = append(conflicts[b.podClass], a.podClass)
			}
		}
	}
	if len(conflicts) == 0 {
		return nil
	}
	colors := map[*podClass]int{}
	for _, c := range classes {
		others := conflicts[c.podClass]
		if len(others) == 0 {
			continue
		}
		used := map[int]bool{}
		for _, o := range others {
			if got, ok := colors[o]; ok {
				used[got] = true
			}
		}
		color := 0
		for used[color] {
			color++
		}
		colors[c.podClass] = color
	}
	return colors
}

// maxConflictChecks bounds the pairs of classes compared for conflicts.
const maxConflictChecks = 1 << 20

// conflicting pairs each class of withTerms with the other classes whose
// pods the terms it gets select, both ways round: the result is symmetric.
func conflicting(classes, withTerms []*pending, ns namespaces, terms func(*pending) []corev1.PodAffinityTerm) map[*podClass][]*podClass {
	conflicts := map[*podClass][]*podClass{}
	seen := map[[2]*podClass]bool{}
	conflict := func(a, b *podClass) {
		if !seen[[2]*podClass{a, b}] {
			seen[[2]*podClass{a, b}], seen[[2]*podClass{b, a}] = true, true
			conflicts[a] = append(conflicts[a], b)
			conflicts[b] = append(conflicts[b], a)
		}
	}
	// A class's pods agree on every label a selector looks at (see
	// classify), so one of them answers for all.
	for _, a := range withTerms {
		namespace := a.pods[0].Namespace
		for _, term := range terms(a) {
			matches := ns.matcher(term, namespace)
			for _, b := range classes {
				if a == b || b.left() == 0 || seen[[2]*podClass{a.podClass, b.podClass}] {
					continue
				}
				if matches(b.pods[b.placed]) {
					conflict(a.podClass, b.podClass)
				}
			}
		}
	}
	return conflicts
}

// requiredAntiAffinity is a pod's required pod anti-affinity terms.
func requiredAntiAffinity(pod *corev1.Pod) []corev1.PodAffinityTerm {
	if a := pod.Spec.Affinity; a != nil && a.PodAntiAffinity != nil {
		return a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution
	}
	return nil
}

// repeller is a running pod's anti-affinity term with the topology domain
// of its node, where the pods the term selects may not go.
type repeller struct {
	key, value string
	matches    func(*corev1.Pod) bool
}

// runningRepellers lists, once per distinct term and domain, the required
// anti-affinity of the pods on existing nodes (those this decision placed
// included) on any key but hostnames: a new node has a hostname of its own.
func (s *solver) runningRepellers(rooms []*room) []repeller {
	seen := map[string]bool{}
	var out []repeller
	for _, r := range rooms {
		for _, p := range r.pods {
			for _, term := range requiredAntiAffinity(p) {
				value, ok := r.node.Labels[term.TopologyKey]
				if term.TopologyKey == corev1.LabelHostname || !ok {
					continue
				}
				raw, err := json.Marshal(term)
				if err != nil {
					continue
				}
				key := p.Namespace + "\x00" + value + "\x00" + string(raw)
				if seen[key] {
					continue
				}
				seen[key] = true
				out = append(out, repeller{key: term.TopologyKey, value: value, matches: s.namespaces.matcher(term, p.Namespace)})
			}
		}
	}
	return out
}

// avoidRepelledDomains keeps a class's new nodes out of the topology domains
// (zones, or any other key but hostnames) where a running pod's required
// anti-affinity repels its pods, or where pods its own required
// anti-affinity selects run: kube-scheduler checks both directions, and a
// node launched there would be of no use to it.
func (s *solver) avoidRepelledDomains(c *pending, rooms []*room, repellers []repeller) {
	pod := c.pods[c.placed]
	avoid := map[string][]string{}
	add := func(key, value string) {
		if !slices.Contains(avoid[key], value) {
			avoid[key] = append(avoid[key], value)
		}
	}
	for _, term := range requiredAntiAffinity(pod) {
		if term.TopologyKey == corev1.LabelHostname {
			continue
		}
		matches := s.namespaces.matcher(term, pod.Namespace)
		for _, r := range rooms {
			if value, ok := r.node.Labels[term.TopologyKey]; ok && slices.ContainsFunc(r.pods, matches) {
				add(term.TopologyKey, value)
			}
		}
	}
	for _, r := range repellers {
		if r.matches(pod) {
			add(r.key, r.value)
		}
	}
	for _, key := range slices.Sorted(maps.Keys(avoid)) {
		values := avoid[key]
		slices.Sort(values)
		c.terms = and(c.terms, []requirements.Requirements{requirements.NewRequirements(requirements.MustNew(key, requirements.OpNotIn, values...))})
		c.avoided = append(c.avoided, fmt.Sprintf("%s %s (pods there repel it or it repels them)", key, strings.Join(values, ", ")))
	}
}

// zoneSeparation keeps classes whose pods repel each other by required
// anti-affinity on zones (in either direction) in different zones. Classes
// are assigned in order: each avoids the zones the classes it conflicts
// with were given before it, and a class that does not spread over zones
// is pinned to its cheapest zone first, so that the later ones know where
// it went.
type zoneSeparation struct {
	conflicts map[*podClass][]*podClass
	zones     map[*podClass][]string
}

func (s *solver) separateZones(classes []*pending) *zoneSeparation {
	z := &zoneSeparation{zones: map[*podClass][]string{}}
	var withTerms []*pending
	for _, c := range classes {
		if c.left() > 0 && c.err == nil && len(requiredAntiAffinity(c.pods[c.placed])) > 0 {
			withTerms = append(withTerms, c)
		}
	}
	if len(withTerms) == 0 {
		return z
	}
	if len(withTerms)*len(classes) > maxConflictChecks {
		for _, c := range withTerms {
			c.ignored = append(c.ignored, "required pod anti-affinity on zones against other pending pods (too many classes to compare)")
		}
		return z
	}
	z.conflicts = conflicting(classes, withTerms, s.namespaces, func(c *pending) []corev1.PodAffinityTerm {
		var zoneTerms []corev1.PodAffinityTerm
		for _, term := range requiredAntiAffinity(c.pods[c.placed]) {
			switch term.TopologyKey {
			case corev1.LabelTopologyZone:
				zoneTerms = append(zoneTerms, term)
			case corev1.LabelHostname:
			default:
				if len(s.namespaces.pendingMatches(term, c.pods[0].Namespace, classes)) > 0 {
					c.ignored = append(c.ignored, "required pod anti-affinity on "+term.TopologyKey+" against other pending pods")
				}
			}
		}
		return zoneTerms
	})
	return z
}

// before narrows a class's zones just before it is assigned: away from the
// zones of the classes it conflicts with that were assigned, and, when
// classes assigned later conflict with it and it does not spread over
// zones, to its cheapest zone.
func (z *zoneSeparation) before(s *solver, c *pending) {
	others := z.conflicts[c.podClass]
	if len(others) == 0 {
		return
	}
	var avoid []string
	later := false
	for _, o := range others {
		zones, assigned := z.zones[o]
		later = later || !assigned
		for _, zone := range zones {
			if !slices.Contains(avoid, zone) {
				avoid = append(avoid, zone)
			}
		}
	}
	if len(avoid) > 0 {
		slices.Sort(avoid)
		c.terms = and(c.terms, []requirements.Requirements{requirements.NewRequirements(requirements.MustNew(corev1.LabelTopologyZone, requirements.OpNotIn, avoid...))})
		c.avoided = append(c.avoided, fmt.Sprintf("zones %s (pending pods going there repel it or it repels them)", strings.Join(avoid, ", ")))
	}
	if _, pinned := s.pinned[c.podClass]; later && (c.zoneSpread == 0 || c.zoneSpreadSoft) && !pinned {
		if zone, ok := s.cheapestZone(c); ok {
			c.terms = and(c.terms, []requirements.Requirements{requirements.NewRequirements(requirements.MustNew(corev1.LabelTopologyZone, requirements.OpIn, zone))})
			s.pinned[c.podClass] = zone
		}
	}
}

// after records the zones a class's new nodes may be in.
func (z *zoneSeparation) after(c *pending, parts []zonePart) {
	if len(z.conflicts[c.podClass]) == 0 {
		return
	}
	zones := z.zones[c.podClass]
	for _, part := range parts {
		for _, zone := range part.pool.zones(part.reqs, c.requests) {
			if !slices.Contains(zones, zone) {
				zones = append(zones, zone)
			}
		}
	}
	z.zones[c.podClass] = zones
}

// placedRepellers index the required anti-affinity of the pods on existing
// nodes (those this decision placed there included) by the topology domain
// of their node, so that checking a pod against a node looks only at the
// pods in that node's domains.
type placedRepellers struct {
	// keys are the topology keys in use.
	keys   []string
	byZone map[[2]string][]func(*corev1.Pod) bool
}

// add indexes the required anti-affinity of a pod on room r.
func (p *placedRepellers) add(ns namespaces, r *room, pod *corev1.Pod) {
	for _, term := range requiredAntiAffinity(pod) {
		value, ok := r.node.Labels[term.TopologyKey]
		if !ok {
			continue // a node without the key is in no domain of it
		}
		if p.byZone == nil {
			p.byZone = map[[2]string][]func(*corev1.Pod) bool{}
		}
		if !slices.Contains(p.keys, term.TopologyKey) {
			p.keys = append(p.keys, term.TopologyKey)
		}
		domain := [2]string{term.TopologyKey, value}
		p.byZone[domain] = append(p.byZone[domain], ns.matcher(term, pod.Namespace))
	}
}

// repel reports whether a pod placed in room r's domains repels pod.
func (p *placedRepellers) repel(r *room, pod *corev1.Pod) bool {
	for _, key := range p.keys {
		value, ok := r.node.Labels[key]
		if !ok {
			continue
		}
		for _, matches := range p.byZone[[2]string{key, value}] {
			if matches(pod) {
				return true
			}
		}
	}
	return false
}
