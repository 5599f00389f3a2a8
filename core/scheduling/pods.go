package scheduling

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	resourcehelper "k8s.io/component-helpers/resource"
	"k8s.io/utils/ptr"

	"github.com/tailor-sh/tailor/core/requirements"
)

// podClass is an equivalence class of pods: every pod in it has the same
// requests and the same scheduling constraints, so whatever holds for one
// holds for all and the solver handles them as a count.
type podClass struct {
	pods     []*corev1.Pod
	requests vec
	// terms are the alternative requirement sets a node must meet: the
	// nodeSelector combined with each OR-term of the required node
	// affinity. One term is always present.
	terms []requirements.Requirements
	// affinityTerms are the terms from the pod's nodeSelector and required
	// node affinity alone: the nodes a topology spread that honours node
	// affinity counts.
	affinityTerms []requirements.Requirements
	// preferred are the preferred node affinity terms, heaviest first.
	// A node that meets one is chosen when the NodePool can make one;
	// otherwise the preference is dropped, as kube-scheduler would.
	preferred   []requirements.Requirements
	tolerations []corev1.Toleration
	// perNodeLimit caps how many pods of the class share a node (1 for
	// pods that repel each other by hostname anti-affinity); 0 means none.
	perNodeLimit int64
	// zoneSpread is the maxSkew of a DoNotSchedule topology spread over
	// zones among the class's own pods; 0 means none.
	zoneSpread int32
	// zoneSpreadSoft is set when the zone spread is a preference
	// (ScheduleAnyway), or when the class has no spread of its own but its
	// pods count in another pending class's: its pods still go to the
	// emptiest zones, but none is refused for the skew.
	zoneSpreadSoft bool
	// zoneSpreadSelector selects the pods the zone spread counts, its
	// matchLabelKeys included.
	zoneSpreadSelector labels.Selector
	// zoneMinDomains is the spread's minDomains; with fewer zones than
	// that, kube-scheduler takes the global minimum as zero, so no zone may
	// hold more than maxSkew of the spread's pods.
	zoneMinDomains int32
	// hostRepels select the pods that may not share a new node with this
	// class's: those of its required pod anti-affinity on hostnames, and
	// those its DoNotSchedule spreads over hostnames count (a new node
	// starts with none of them, and another class's would count against
	// maxSkew). Classes they select get nodes of their own (see repelled).
	hostRepels []corev1.PodAffinityTerm
	// podAffinity are the required pod affinity terms, resolved against
	// the pods that run once existing nodes are filled (see affinity).
	podAffinity []corev1.PodAffinityTerm
	// needs are, per required pod affinity term, the other pending classes
	// the class was pinned to a zone with: one of them must be placed.
	needs [][]*pending
	// hostWith are, per required pod affinity term on hostnames whose pods
	// are all pending, the classes one of which each of its new nodes must
	// also hold.
	hostWith []hostTargets
	// together is set when required pod affinity on hostnames selects the
	// class's own pods and no other: the first may go anywhere and the rest
	// must follow it, so all share one node.
	together bool
	// zoneAntiAffinity is set when a required pod anti-affinity on zones
	// among the class's own pods allows one of them per zone.
	zoneAntiAffinity bool
	// zoneSpreadHonorsAffinity and zoneSpreadHonorsTaints say which nodes'
	// pods the spread counts (nodeAffinityPolicy, default Honor;
	// nodeTaintsPolicy, default Ignore).
	zoneSpreadHonorsAffinity, zoneSpreadHonorsTaints bool
	// zoneCounts are the pods the zone spread counts that are on existing
	// nodes, by zone; new pods go to the zones with the fewest.
	zoneCounts map[string]int
	// avoided says which topology domains pod anti-affinity keeps the
	// class's new nodes out of, for the reason when nothing else is left.
	avoided []string
	// origin is the class this one is a part of, when the pods of a class
	// were split over zones; nil for a class of its own.
	origin *podClass
	// ignored names constraints that the solver does not yet take into
	// account for this class.
	ignored []string
	// err is set when the pod's own constraints are invalid.
	err error
}

// hostTargets are the pending classes a pod affinity term on hostnames
// selects.
type hostTargets struct {
	targets  []*pending
	selector string
}

// classKey is what makes two pods equivalent for scheduling.
type classKey struct {
	Requests     []int64                           `json:"r"`
	NodeSelector map[string]string                 `json:"ns,omitempty"`
	Affinity     *corev1.Affinity                  `json:"a,omitempty"`
	Tolerations  []corev1.Toleration               `json:"t,omitempty"`
	Spread       []corev1.TopologySpreadConstraint `json:"s,omitempty"`
	Labels       map[string]string                 `json:"l,omitempty"`
	Namespace    string                            `json:"n,omitempty"`
	HostPorts    []string                          `json:"h,omitempty"`
	Volumes      string                            `json:"v,omitempty"`
}

// classify groups pods into equivalence classes, in the order their first
// pods appear.
func classify(d *dims, pods []*corev1.Pod, vols *volumes, ns namespaces, selected map[string]bool) []*podClass {
	byKey := map[string]*podClass{}
	var out []*podClass
	for _, pod := range pods {
		requests := d.fromList(resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{}), true)
		requests[dimPods] = 1
		key := classKey{Requests: requests, NodeSelector: pod.Spec.NodeSelector, Affinity: pod.Spec.Affinity,
			Tolerations: pod.Spec.Tolerations, Spread: pod.Spec.TopologySpreadConstraints, Namespace: pod.Namespace, HostPorts: hostPorts(pod)}
		// Of the labels, those some selector looks at: pods that differ in
		// them are counted or repelled differently, and any pod of a class
		// answers for all when a selector is matched against the class.
		// (The others, such as a StatefulSet pod's own name, would make
		// every pod a class.)
		for k, v := range pod.Labels {
			if selected[k] {
				if key.Labels == nil {
					key.Labels = map[string]string{}
				}
				key.Labels[k] = v
			}
		}
		var volumeTerms []requirements.Requirements
		var volumeErr error
		if vols != nil {
			volumeTerms, volumeErr = vols.terms(pod)
			if volumeErr != nil {
				key.Volumes = volumeErr.Error()
			} else {
				key.Volumes = describeTerms(volumeTerms)
			}
		}
		raw, err := json.Marshal(key)
		if err != nil {
			raw = []byte(string(pod.UID) + pod.Namespace + "/" + pod.Name)
		}
		if c, ok := byKey[string(raw)]; ok {
			c.pods = append(c.pods, pod)
			continue
		}
		c := newPodClass(pod, requests, ns)
		if c.err == nil && volumeErr != nil {
			c.err = volumeErr
		}
		if c.err == nil && volumeTerms != nil {
			c.terms = and(c.terms, volumeTerms)
		}
		byKey[string(raw)] = c
		out = append(out, c)
	}
	// Dimensions may have grown after early classes were made.
	for _, c := range out {
		c.requests = d.resize(c.requests)
	}
	return out
}

// newPodClass makes the class of a pod from its constraints. When they are
// invalid, it stops at the first problem and sets err.
func newPodClass(pod *corev1.Pod, requests vec, ns namespaces) *podClass {
	c := &podClass{pods: []*corev1.Pod{pod}, requests: requests, tolerations: pod.Spec.Tolerations}
	if c.terms, c.err = nodeTerms(pod); c.err != nil {
		return c
	}
	c.affinityTerms = c.terms
	c.preferred = preferredNodeTerms(pod)
	if a := pod.Spec.Affinity; a != nil {
		if a.PodAntiAffinity != nil {
			for _, term := range a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
				c.addAntiAffinity(pod, term, ns)
			}
		}
		if a.PodAffinity != nil {
			c.podAffinity = a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution
		}
	}
	c.addTopologySpreads(pod, ns)
	if len(hostPorts(pod)) > 0 {
		// Two pods of the class would claim the same host port.
		c.limitPerNode(1)
	}
	return c
}

// nodeTerms are the alternative requirement sets a node must meet for the
// pod: its nodeSelector combined with each OR-term of its required node
// affinity that a node can match by labels.
func nodeTerms(pod *corev1.Pod) ([]requirements.Requirements, error) {
	base := requirements.FromLabels(pod.Spec.NodeSelector)
	var nodeAffinity *corev1.NodeSelector
	if a := pod.Spec.Affinity; a != nil && a.NodeAffinity != nil {
		nodeAffinity = a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution
	}
	if nodeAffinity == nil || len(nodeAffinity.NodeSelectorTerms) == 0 {
		return []requirements.Requirements{base}, nil
	}
	var terms []requirements.Requirements
	for _, term := range nodeAffinity.NodeSelectorTerms {
		if len(term.MatchExpressions) == 0 && len(term.MatchFields) == 0 {
			continue // an empty term matches no node
		}
		if len(term.MatchFields) > 0 {
			// matchFields can only name metadata.name, which no new
			// node has yet.
			continue
		}
		reqs, err := requirements.FromNodeSelector(term.MatchExpressions)
		if err != nil {
			return terms, fmt.Errorf("invalid node affinity: %w", err)
		}
		terms = append(terms, base.Merge(reqs))
	}
	if len(terms) == 0 {
		return nil, fmt.Errorf("its required node affinity has no term that a node can match by labels (empty terms match no node; matchFields only names existing nodes)")
	}
	return terms, nil
}

// preferredNodeTerms are the pod's preferred node affinity terms that a new
// node can meet by labels, heaviest first.
func preferredNodeTerms(pod *corev1.Pod) []requirements.Requirements {
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil {
		return nil
	}
	var out []requirements.Requirements
	preferred := slices.Clone(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution)
	slices.SortStableFunc(preferred, func(x, y corev1.PreferredSchedulingTerm) int { return int(y.Weight) - int(x.Weight) })
	for _, term := range preferred {
		if reqs, err := requirements.FromNodeSelector(term.Preference.MatchExpressions); err == nil && len(term.Preference.MatchFields) == 0 {
			out = append(out, reqs)
		}
	}
	return out
}

// addAntiAffinity takes in one term of the pod's required pod
// anti-affinity. Terms against other pods are handled across classes (see
// repelled, avoidRepelledDomains and separateZones); the class keeps what
// applies among its own pods.
func (c *podClass) addAntiAffinity(pod *corev1.Pod, term corev1.PodAffinityTerm, ns namespaces) {
	switch {
	case term.TopologyKey == corev1.LabelHostname:
		// Its own pods repel each other; other classes' pods
		// it repels get nodes of their own (see repelled).
		c.hostRepels = append(c.hostRepels, term)
		if ns.selectsItself(pod, term) {
			c.limitPerNode(1)
		}
	case term.TopologyKey == corev1.LabelTopologyZone && ns.selectsItself(pod, term):
		selector, err := metav1.LabelSelectorAsSelector(term.LabelSelector)
		if err != nil {
			c.ignored = append(c.ignored, "required pod anti-affinity with an invalid label selector")
			return
		}
		// One of its pods per zone, existing ones included: a
		// zone spread of maxSkew 1 whose global minimum is zero.
		c.limitPerNode(1)
		c.zoneAntiAffinity = true
		c.zoneSpread, c.zoneSpreadSelector, c.zoneMinDomains = 1, selector, math.MaxInt32
		c.zoneSpreadHonorsAffinity, c.zoneSpreadHonorsTaints = false, false
	case term.TopologyKey == corev1.LabelTopologyZone:
		// Against other pods: see avoidRepelledDomains for
		// running ones and separateZones for pending ones.
	case ns.selectsItself(pod, term):
		c.ignored = append(c.ignored, "required pod anti-affinity on "+term.TopologyKey+" among its own pods")
	default:
		// Against other pods: running ones are avoided (see
		// avoidRepelledDomains); pending ones are reported by
		// separateZones.
	}
}

// addTopologySpreads takes in the pod's topology spreads: those that
// refuse pods (DoNotSchedule) one by one, and then, if none spreads over
// zones, the first preferred spread over zones among its own pods.
func (c *podClass) addTopologySpreads(pod *corev1.Pod, ns namespaces) {
	var preferredZoneSpread *corev1.TopologySpreadConstraint
	for _, s := range pod.Spec.TopologySpreadConstraints {
		if s.WhenUnsatisfiable != corev1.DoNotSchedule {
			// A preference: spread over zones where it costs no pod its
			// place; other keys are left to kube-scheduler's scoring.
			if s.TopologyKey == corev1.LabelTopologyZone && preferredZoneSpread == nil && ns.selectsItself(pod, corev1.PodAffinityTerm{LabelSelector: s.LabelSelector}) {
				preferredZoneSpread = &s
			}
			continue
		}
		c.addRequiredSpread(pod, s, ns.selectsItself(pod, corev1.PodAffinityTerm{LabelSelector: s.LabelSelector}))
	}
	if c.zoneSpread == 0 && preferredZoneSpread != nil {
		if selector, err := spreadSelector(pod, *preferredZoneSpread); err == nil {
			c.setZoneSpread(*preferredZoneSpread, selector)
			c.zoneSpreadSoft, c.zoneMinDomains = true, 1
		}
	}
}

// addRequiredSpread takes in one DoNotSchedule topology spread; self says
// whether it counts the pod's own pods.
func (c *podClass) addRequiredSpread(pod *corev1.Pod, s corev1.TopologySpreadConstraint, self bool) {
	switch {
	case s.TopologyKey == corev1.LabelHostname:
		// No node may hold more than maxSkew above the emptiest one,
		// and a new node starts empty.
		if self {
			c.limitPerNode(int64(s.MaxSkew))
		}
		if term, ok := spreadTerm(pod, s); ok {
			c.hostRepels = append(c.hostRepels, term)
		} else {
			c.ignored = append(c.ignored, "topology spread with an invalid label selector")
		}
	case self && s.TopologyKey == corev1.LabelTopologyZone && c.zoneAntiAffinity:
		// One pod per zone already spreads them as evenly as can be,
		// if the spread counts the same pods.
		if selector, err := spreadSelector(pod, s); err != nil || selector.String() != c.zoneSpreadSelector.String() {
			c.ignored = append(c.ignored, "topology spread on zones next to zone anti-affinity with another selector")
		}
	case self && s.TopologyKey == corev1.LabelTopologyZone:
		selector, err := spreadSelector(pod, s)
		if err != nil {
			c.ignored = append(c.ignored, "topology spread with an invalid label selector")
			return
		}
		if c.zoneSpread != 0 {
			// A second spread over zones: over the same pods, the
			// tighter one holds both.
			if selector.String() != c.zoneSpreadSelector.String() || ptr.Deref(s.MinDomains, 1) != c.zoneMinDomains {
				c.ignored = append(c.ignored, "a second topology spread on zones with another selector or minDomains")
			}
			c.zoneSpread = min(c.zoneSpread, s.MaxSkew)
			return
		}
		c.setZoneSpread(s, selector)
		c.zoneMinDomains = ptr.Deref(s.MinDomains, 1)
	default:
		if s.TopologyKey == corev1.LabelTopologyZone {
			c.ignored = append(c.ignored, "topology spread on zones that does not count its own pods")
		} else {
			c.ignored = append(c.ignored, "topology spread on "+s.TopologyKey)
		}
	}
}

// setZoneSpread makes s the class's spread over zones: its maxSkew, the pods
// it counts, and on which nodes (nodeAffinityPolicy, default Honor;
// nodeTaintsPolicy, default Ignore).
func (c *podClass) setZoneSpread(s corev1.TopologySpreadConstraint, selector labels.Selector) {
	c.zoneSpread, c.zoneSpreadSelector = s.MaxSkew, selector
	c.zoneSpreadHonorsAffinity = ptr.Deref(s.NodeAffinityPolicy, corev1.NodeInclusionPolicyHonor) == corev1.NodeInclusionPolicyHonor
	c.zoneSpreadHonorsTaints = ptr.Deref(s.NodeTaintsPolicy, corev1.NodeInclusionPolicyIgnore) == corev1.NodeInclusionPolicyHonor
}

// selectedLabelKeys are the label keys that some selector of the pods'
// affinity, anti-affinity or topology spread looks at (matchLabelKeys
// included): pods that differ only in other labels are equivalent.
func selectedLabelKeys(pods ...[]*corev1.Pod) map[string]bool {
	keys := map[string]bool{}
	addSelector := func(s *metav1.LabelSelector) {
		if s == nil {
			return
		}
		for k := range s.MatchLabels {
			keys[k] = true
		}
		for _, e := range s.MatchExpressions {
			keys[e.Key] = true
		}
	}
	addTerms := func(terms []corev1.PodAffinityTerm) {
		for _, t := range terms {
			addSelector(t.LabelSelector)
		}
	}
	for _, list := range pods {
		for _, pod := range list {
			if a := pod.Spec.Affinity; a != nil {
				if a.PodAffinity != nil {
					addTerms(a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution)
				}
				if a.PodAntiAffinity != nil {
					addTerms(a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution)
				}
			}
			for _, s := range pod.Spec.TopologySpreadConstraints {
				addSelector(s.LabelSelector)
				for _, k := range s.MatchLabelKeys {
					keys[k] = true
				}
			}
		}
	}
	return keys
}

// spreadSelector is a spread's label selector with its matchLabelKeys: the
// pod's own values of those keys, as kube-scheduler adds them.
func spreadSelector(pod *corev1.Pod, s corev1.TopologySpreadConstraint) (labels.Selector, error) {
	selector, err := metav1.LabelSelectorAsSelector(s.LabelSelector)
	if err != nil {
		return nil, err
	}
	for _, key := range s.MatchLabelKeys {
		value, ok := pod.Labels[key]
		if !ok {
			continue
		}
		r, err := labels.NewRequirement(key, selection.Equals, []string{value})
		if err != nil {
			return nil, err
		}
		selector = selector.Add(*r)
	}
	return selector, nil
}

// spreadTerm is the pods a spread counts as an affinity term: its label
// selector narrowed by matchLabelKeys, in the pod's namespace.
func spreadTerm(pod *corev1.Pod, s corev1.TopologySpreadConstraint) (corev1.PodAffinityTerm, bool) {
	if s.LabelSelector == nil {
		return corev1.PodAffinityTerm{}, false
	}
	selector := s.LabelSelector.DeepCopy()
	for _, key := range s.MatchLabelKeys {
		if value, ok := pod.Labels[key]; ok {
			selector.MatchExpressions = append(selector.MatchExpressions, metav1.LabelSelectorRequirement{Key: key, Operator: metav1.LabelSelectorOpIn, Values: []string{value}})
		}
	}
	if _, err := metav1.LabelSelectorAsSelector(selector); err != nil {
		return corev1.PodAffinityTerm{}, false
	}
	return corev1.PodAffinityTerm{LabelSelector: selector, TopologyKey: s.TopologyKey}, true
}

// root is the class a part belongs to.
func (c *podClass) root() *podClass {
	if c.origin != nil {
		return c.origin
	}
	return c
}

// limitPerNode lowers the number of the class's pods that may share a node.
func (c *podClass) limitPerNode(n int64) {
	if c.perNodeLimit == 0 || n < c.perNodeLimit {
		c.perNodeLimit = max(n, 1)
	}
}

// describe names a class for messages: its first pod, and how many more.
func (c *podClass) describe() string {
	name := c.pods[0].Namespace + "/" + c.pods[0].Name
	if len(c.pods) > 1 {
		return fmt.Sprintf("%s (and %d like it)", name, len(c.pods)-1)
	}
	return name
}

func joinReasons(reasons []string) string { return strings.Join(reasons, "; ") }
