package scheduling

import (
	"fmt"
	"math"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"

	"github.com/tailor-sh/tailor/core/instancetype"
	"github.com/tailor-sh/tailor/core/requirements"
)

// room is an existing or launching node with what is still free on it.
type room struct {
	node  *Node
	free  vec
	count map[*podClass]int64
	// ports are the host ports in use, as "protocol/port".
	ports map[string]bool
	// pods are the pods on the node, including those this decision puts
	// there, for the pod-to-pod constraints.
	pods []*corev1.Pod
}

// placeOnExisting fills the free room of existing and launching nodes
// first, since it costs nothing. A pod goes to a node only if kube-scheduler
// would put it there too: resources, node affinity, taints, host ports,
// required (anti-)affinity against the pods already there, and topology
// spread across the nodes that exist.
func (s *solver) placeOnExisting(classes []*podClass, nodes []*Node) []*pending {
	rooms := s.newRooms(nodes)
	s.rooms = rooms
	out := make([]*pending, 0, len(classes))
	for _, c := range classes {
		p := &pending{podClass: c}
		out = append(out, p)
		if c.err == nil && len(rooms) > 0 {
			s.fillRooms(p)
		}
	}
	countZones(classes, rooms)
	repellers := s.runningRepellers(rooms)
	// Zones anti-affinity rules out first, so that a pod affinity pin
	// never picks one of them.
	for _, p := range out {
		if p.left() > 0 && p.err == nil {
			s.avoidRepelledDomains(p, rooms, repellers)
		}
	}
	for _, p := range out {
		if p.left() > 0 && p.err == nil {
			s.resolveAffinity(p, rooms, out)
		}
	}
	refuseUnstartable(out)
	return out
}

// newRooms makes a room of each node, sorted by name, with what its pods
// leave free, the host ports they use and the anti-affinity they hold
// against others.
func (s *solver) newRooms(nodes []*Node) []*room {
	rooms := make([]*room, 0, len(nodes))
	for _, n := range nodes {
		free := s.d.fromList(n.Allocatable, false)
		if _, ok := n.Allocatable[corev1.ResourcePods]; !ok {
			free[dimPods] = math.MaxInt32
		}
		free.sub(usedBy(s.d, n.Pods))
		r := &room{node: n, free: free, count: map[*podClass]int64{}, ports: map[string]bool{}, pods: slices.Clone(n.Pods)}
		for _, pod := range n.Pods {
			for _, key := range hostPorts(pod) {
				r.ports[key] = true
			}
			s.repellers.add(s.namespaces, r, pod)
		}
		rooms = append(rooms, r)
	}
	slices.SortFunc(rooms, func(a, b *room) int { return strings.Compare(a.node.Name, b.node.Name) })
	return rooms
}

// fillRooms places the class's pods on the rooms in order, each as full as
// kube-scheduler would let it get.
func (s *solver) fillRooms(p *pending) {
	podToPod := hasPodConstraints(p.pods[0]) || len(s.repellers.keys) > 0
	for _, r := range s.rooms {
		for p.left() > 0 {
			n := s.roomTakes(p, r, podToPod)
			if n <= 0 {
				break
			}
			s.placeInRoom(p, r, n)
		}
	}
}

// roomTakes is how many of the class's pods may go to the room next. When
// the pods constrain each other (podToPod), each changes what the next may
// do, so they go one at a time.
func (s *solver) roomTakes(p *pending, r *room, podToPod bool) int64 {
	c, pod := p.podClass, p.pods[0]
	if !tolerates(c.tolerations, r.node.Taints) || !matchesAnyTerm(c.terms, r.node.Labels) || !r.portsFree(pod) {
		return 0
	}
	n := min(p.left(), r.free.times(c.requests))
	if c.perNodeLimit > 0 {
		n = min(n, c.perNodeLimit-r.count[c])
	}
	if podToPod {
		if n > 0 && !s.podToPodAllows(c, pod, r, s.rooms) {
			n = 0
		}
		n = min(n, 1)
	}
	return n
}

// placeInRoom places the class's next n pods in the room, and records what
// they take there.
func (s *solver) placeInRoom(p *pending, r *room, n int64) {
	r.free.addTimes(p.requests, -n)
	r.count[p.podClass] += n
	for _, placed := range p.take(n) {
		s.result.Existing = append(s.result.Existing, ExistingPlacement{Pod: placed, Node: r.node.Name})
		r.pods = append(r.pods, placed)
		for _, key := range hostPorts(placed) {
			r.ports[key] = true
		}
		s.repellers.add(s.namespaces, r, placed)
	}
}

// refuseUnstartable sets the error of each class pinned next to pending pods
// it needs, when none of them can start first. A class can run only once one
// of them can: pods that cannot be placed, or that need it back (neither
// side can start), would leave it alone next to nothing it needs.
func refuseUnstartable(classes []*pending) {
	canStart := map[*pending]bool{}
	for changed := true; changed; {
		changed = false
		for _, p := range classes {
			if canStart[p] || p.err != nil {
				continue
			}
			ready := true
			for _, targets := range p.needs {
				ready = ready && slices.ContainsFunc(targets, func(t *pending) bool { return canStart[t] })
			}
			if ready {
				canStart[p], changed = true, true
			}
		}
	}
	for _, p := range classes {
		if p.err == nil && !canStart[p] {
			for _, targets := range p.needs {
				if !slices.ContainsFunc(targets, func(t *pending) bool { return canStart[t] }) {
					p.err = fmt.Errorf("its required pod affinity needs pods that are pending too and cannot run before it does (%s)", targets[0].describe())
					break
				}
			}
		}
	}
}

// resolveAffinity turns a class's required pod affinity into what new nodes
// must meet, from where the pods it needs run: on zones, the zones of the
// nodes that run them; on hostnames, nothing a new node can meet, since the
// pods it needs are on other nodes. When the pods it needs are pending in
// this decision too (its own pods included, when none runs yet), both are
// pinned to the one zone where the pods it needs are cheapest to run.
func (s *solver) resolveAffinity(c *pending, rooms []*room, classes []*pending) {
	pod := c.pods[0]
	for _, term := range c.podAffinity {
		zones, running := runningZones(rooms, s.namespaces.matcher(term, pod.Namespace))
		selector := metav1.FormatLabelSelector(term.LabelSelector)
		var targets []*pending // the pending pods it selects, when none runs
		if running == 0 {
			targets = s.namespaces.pendingMatches(term, pod.Namespace, classes)
		}
		switch {
		case term.TopologyKey != corev1.LabelTopologyZone && term.TopologyKey != corev1.LabelHostname:
			c.ignored = append(c.ignored, "required pod affinity on "+term.TopologyKey)
		case running == 0 && term.TopologyKey == corev1.LabelTopologyZone && len(targets) == 0:
			c.err = fmt.Errorf("its required pod affinity needs a pod matching %s in the same zone, and none runs", selector)
		case running == 0 && term.TopologyKey == corev1.LabelTopologyZone:
			if err := s.pinWithPending(c, targets, selector); err != nil {
				c.err = err
			}
		case running == 0 && slices.Equal(targets, []*pending{c}):
			// Only its own pods: the first may go anywhere, the rest must
			// follow it.
			c.together = true
		case running == 0 && len(targets) > 0:
			// It shares new nodes with them, if they go to nodes it can
			// share (see assign); otherwise it waits for them to run.
			others := slices.DeleteFunc(slices.Clone(targets), func(t *pending) bool { return t == c })
			c.hostWith = append(c.hostWith, hostTargets{targets: others, selector: selector})
		case running == 0:
			c.err = fmt.Errorf("its required pod affinity needs a pod matching %s on the same %s, and none runs", selector, term.TopologyKey)
		case term.TopologyKey == corev1.LabelHostname:
			c.err = fmt.Errorf("its required pod affinity needs it on a node that runs a pod matching %s, and those %d nodes have no room for it; a new node would run none", selector, running)
		case len(zones) == 0:
			c.err = fmt.Errorf("its required pod affinity needs the zone of the pods matching %s, and their nodes have no %s label", selector, corev1.LabelTopologyZone)
		default:
			slices.Sort(zones)
			c.terms = and(c.terms, []requirements.Requirements{requirements.NewRequirements(
				requirements.MustNew(corev1.LabelTopologyZone, requirements.OpIn, zones...))})
		}
	}
}

// runningZones counts the rooms that run a pod that matches, and lists
// their zones.
func runningZones(rooms []*room, matches func(*corev1.Pod) bool) (zones []string, running int) {
	for _, r := range rooms {
		if !slices.ContainsFunc(r.pods, matches) {
			continue
		}
		running++
		if zone, ok := r.node.Labels[corev1.LabelTopologyZone]; ok && !slices.Contains(zones, zone) {
			zones = append(zones, zone)
		}
	}
	return zones, running
}

// pinWithPending pins a class with zone affinity to pending pods, and those
// pods, to one zone: the zone one of them is pinned to already, or the
// cheapest for the first of them. It fails when they cannot all follow one
// pin. A class that is not among its targets needs one of them placed.
func (s *solver) pinWithPending(c *pending, targets []*pending, selector string) error {
	group := append(slices.Clone(targets), c)
	// Pods that spread over zones cannot all follow one pin; and a class
	// already pinned elsewhere sets the zone for the rest.
	zone, spread, conflict := "", false, false
	for _, t := range group {
		spread = spread || t.zoneSpread != 0 && !t.zoneSpreadSoft
		if pinned, ok := s.pinned[t.podClass]; ok {
			conflict = conflict || zone != "" && zone != pinned
			zone = pinned
		}
	}
	if spread || conflict {
		return fmt.Errorf("its required pod affinity needs a pod matching %s in the same zone, and those pods are pending too; it is decided again once they run", selector)
	}
	if zone == "" {
		var ok bool
		if zone, ok = s.cheapestZone(targets[0]); !ok {
			return fmt.Errorf("its required pod affinity needs a pod matching %s in the same zone, and no NodePool can launch a node for those pods", selector)
		}
	}
	if !slices.Contains(targets, c) {
		// Its first pod cannot start the group: it needs them.
		c.needs = append(c.needs, targets)
	}
	pin := []requirements.Requirements{requirements.NewRequirements(requirements.MustNew(corev1.LabelTopologyZone, requirements.OpIn, zone))}
	for _, t := range group {
		if _, ok := s.pinned[t.podClass]; !ok {
			t.terms = and(t.terms, pin)
			s.pinned[t.podClass] = zone
		}
	}
	return nil
}

// cheapestZone is the zone of the cheapest offering, in the first pool that
// can hold the class, of an instance type that holds one of its pods.
func (s *solver) cheapestZone(c *pending) (string, bool) {
	for _, p := range s.poolsFor(c) {
		reqs, _ := s.fit(c, p)
		if reqs == nil {
			continue
		}
		best, found := instancetype.Offering{}, false
		for _, t := range p.types {
			if t.it.Compatible(reqs) != nil {
				continue
			}
			if _, ok := t.free.fits(c.requests); !ok {
				continue
			}
			if o, ok := t.offerings.Compatible(reqs).Cheapest(); ok && (!found || o.Price < best.Price) {
				best, found = o, true
			}
		}
		if found {
			return best.Zone, true
		}
	}
	return "", false
}

// countZones records, for each class that spreads over zones, how many of
// the pods its spread counts are in each zone after the placements on
// existing nodes, as kube-scheduler will count them: on nodes the class may
// use, in its namespace.
func countZones(classes []*podClass, rooms []*room) {
	for _, c := range classes {
		if c.zoneSpread == 0 || len(c.pods) == 0 {
			continue
		}
		c.zoneCounts = map[string]int{}
		namespace := c.pods[0].Namespace
		for _, r := range rooms {
			zone, ok := r.node.Labels[corev1.LabelTopologyZone]
			if !ok || c.zoneSpreadHonorsAffinity && !matchesAnyTerm(c.affinityTerms, r.node.Labels) ||
				c.zoneSpreadHonorsTaints && !tolerates(c.tolerations, r.node.Taints) {
				continue
			}
			// An eligible zone counts even with none of the pods: it
			// can be the minimum the skew is measured against.
			if _, seen := c.zoneCounts[zone]; !seen {
				c.zoneCounts[zone] = 0
			}
			for _, p := range r.pods {
				if p.Namespace == namespace && c.zoneSpreadSelector.Matches(labels.Set(p.Labels)) {
					c.zoneCounts[zone]++
				}
			}
		}
	}
}

func hostPorts(pod *corev1.Pod) []string {
	var out []string
	for _, containers := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range containers {
			for _, port := range c.Ports {
				if port.HostPort > 0 {
					protocol := port.Protocol
					if protocol == "" {
						protocol = corev1.ProtocolTCP
					}
					// Host IPs are ignored: treating every address as the
					// wildcard is stricter than kube-scheduler, never looser.
					out = append(out, fmt.Sprintf("%s/%d", protocol, port.HostPort))
				}
			}
		}
	}
	return out
}

func (r *room) portsFree(pod *corev1.Pod) bool {
	for _, key := range hostPorts(pod) {
		if r.ports[key] {
			return false
		}
	}
	return true
}

func hasPodConstraints(pod *corev1.Pod) bool {
	if len(pod.Spec.TopologySpreadConstraints) > 0 {
		return true
	}
	a := pod.Spec.Affinity
	return a != nil && (a.PodAffinity != nil && len(a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution) > 0 ||
		a.PodAntiAffinity != nil && len(a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) > 0)
}

// podToPodAllows checks the constraints between pods: the pod's required
// affinity and anti-affinity, the anti-affinity of pods already placed, and
// the pod's DoNotSchedule topology spread.
func (s *solver) podToPodAllows(c *podClass, pod *corev1.Pod, r *room, rooms []*room) bool {
	sameDomain := func(key string, other *room) bool {
		v, ok := r.node.Labels[key]
		w, ok2 := other.node.Labels[key]
		return ok && ok2 && v == w
	}
	if a := pod.Spec.Affinity; a != nil {
		if a.PodAntiAffinity != nil {
			for _, term := range a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
				matches := s.namespaces.matcher(term, pod.Namespace)
				for _, other := range rooms {
					if sameDomain(term.TopologyKey, other) && slices.ContainsFunc(other.pods, matches) {
						return false
					}
				}
			}
		}
		if a.PodAffinity != nil {
			terms := a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution
			// As kube-scheduler: with no pod anywhere matching any of the
			// terms, a pod that matches all of them may start the group.
			first, anyMatch := true, false
			for _, term := range terms {
				matches := s.namespaces.matcher(term, pod.Namespace)
				first = first && matches(pod)
				for _, other := range rooms {
					anyMatch = anyMatch || slices.ContainsFunc(other.pods, matches)
				}
			}
			for _, term := range terms {
				if _, ok := r.node.Labels[term.TopologyKey]; !ok {
					return false // even for the first pod
				}
			}
			if !(first && !anyMatch) {
				for _, term := range terms {
					matches := s.namespaces.matcher(term, pod.Namespace)
					if !slices.ContainsFunc(rooms, func(other *room) bool {
						return sameDomain(term.TopologyKey, other) && slices.ContainsFunc(other.pods, matches)
					}) {
						return false
					}
				}
			}
		}
	}
	// Pods already placed may repel this one.
	if s.repellers.repel(r, pod) {
		return false
	}
	for _, spread := range pod.Spec.TopologySpreadConstraints {
		if spread.WhenUnsatisfiable != corev1.DoNotSchedule {
			continue
		}
		if !spreadAllows(c, pod, spread, r, rooms) {
			return false
		}
	}
	return true
}

// spreadAllows applies kube-scheduler's skew rule over the nodes that exist:
// the domain's count of matching pods (the selector with matchLabelKeys),
// plus this pod if it matches, less the smallest count among the domains of
// the nodes the policies count (by default those the pod's node affinity
// allows, tainted or not), must not exceed maxSkew.
func spreadAllows(c *podClass, pod *corev1.Pod, spread corev1.TopologySpreadConstraint, r *room, rooms []*room) bool {
	domain, ok := r.node.Labels[spread.TopologyKey]
	if !ok {
		return false // kube-scheduler: the node lacks the topology label
	}
	selector, err := spreadSelector(pod, spread)
	if err != nil {
		return false
	}
	honorAffinity := ptr.Deref(spread.NodeAffinityPolicy, corev1.NodeInclusionPolicyHonor) == corev1.NodeInclusionPolicyHonor
	honorTaints := ptr.Deref(spread.NodeTaintsPolicy, corev1.NodeInclusionPolicyIgnore) == corev1.NodeInclusionPolicyHonor
	counts := map[string]int{}
	for _, other := range rooms {
		value, ok := other.node.Labels[spread.TopologyKey]
		if !ok || honorAffinity && !matchesAnyTerm(c.affinityTerms, other.node.Labels) || honorTaints && !tolerates(c.tolerations, other.node.Taints) {
			continue
		}
		if _, seen := counts[value]; !seen {
			counts[value] = 0
		}
		for _, p := range other.pods {
			if p.Namespace == pod.Namespace && spread.LabelSelector != nil && selector.Matches(labels.Set(p.Labels)) {
				counts[value]++
			}
		}
	}
	least := math.MaxInt
	for _, n := range counts {
		least = min(least, n)
	}
	if spread.MinDomains != nil && int(*spread.MinDomains) > len(counts) {
		least = 0
	}
	self := 0
	if spread.LabelSelector != nil && selector.Matches(labels.Set(pod.Labels)) {
		self = 1
	}
	return counts[domain]+self-least <= int(spread.MaxSkew)
}
