package disruption

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/sets"

	corev1 "k8s.io/api/core/v1"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/core/instancetype"
	"github.com/tailor-sh/tailor/core/requirements"
	"github.com/tailor-sh/tailor/core/scheduling"
)

// Candidate is a node that disruption may take away.
type Candidate struct {
	// Name is the node's name, as in scheduling.Input.Nodes.
	Name string
	// NodePool is the name of the pool the node belongs to.
	NodePool string
	// InstanceType, Zone and CapacityType identify the node's offering.
	InstanceType, Zone, CapacityType string
	// Price is what the node costs per hour.
	Price float64
	// Pods are the pods that must find another node if this one goes:
	// its pods less DaemonSet, static and finished pods.
	Pods []*corev1.Pod
}

// Action is what a decision does to its candidates.
type Action string

// Actions.
const (
	// ActionNone leaves the candidates alone; Decision.Why says why.
	ActionNone Action = "None"
	// ActionDelete removes the candidates: their pods fit on other nodes.
	ActionDelete Action = "Delete"
	// ActionReplace launches Decision.Replacements, waits for them, then
	// removes the candidates.
	ActionReplace Action = "Replace"
)

// Decision is what to do with a set of candidates.
type Decision struct {
	Action     Action
	Candidates []*Candidate
	// Replacements are the nodes to launch before the candidates go, each
	// with its candidate instance types, cheapest first.
	Replacements []*scheduling.NewNodeClaim
	// Moved are the pods that change nodes.
	Moved []*corev1.Pod
	// PricePerHour is what the candidates cost now; NewPricePerHour what
	// the replacements will cost at their cheapest candidates.
	PricePerHour, NewPricePerHour float64
	// Why explains ActionNone in words a person can act on.
	Why string
}

// Savings is the price per hour the decision saves.
func (d *Decision) Savings() float64 { return d.PricePerHour - d.NewPricePerHour }

// Consolidate decides whether the candidates can go, together, to make the
// cluster cheaper: deleted when their pods fit on the other nodes, or
// replaced by no more and cheaper nodes. in describes the rest of the cluster:
// its Nodes must include the candidates (they are taken out here), and its
// Pods are ignored. minSavings is the fraction of the candidates' price the
// decision must save. A replacement keeps only the instance types that save
// that much, and never the very offering a lone candidate runs on, so that
// consolidation never churns a node for nothing.
func Consolidate(in scheduling.Input, candidates []*Candidate, minSavings float64) Decision {
	d, result := simulate(in, candidates)
	if d.Action == ActionNone {
		return d
	}
	if len(result.NodeClaims) == 0 {
		d.Action = ActionDelete
		return d
	}
	if len(result.NodeClaims) > len(candidates) {
		return none(d, fmt.Sprintf("their pods would need %d new nodes", len(result.NodeClaims)))
	}
	ceiling := d.PricePerHour * (1 - minSavings)
	if result.PricePerHour > ceiling+1e-9 {
		if result.PricePerHour >= d.PricePerHour-1e-9 {
			return none(d, fmt.Sprintf("the cheapest nodes that hold their pods cost $%.4f/h, no less than $%.4f/h now", result.PricePerHour, d.PricePerHour))
		}
		return none(d, fmt.Sprintf("a replacement would save $%.4f/h of $%.4f/h (%.0f%%), less than the NodePool's minSavingsPercent of %.0f%%",
			d.PricePerHour-result.PricePerHour, d.PricePerHour, 100*(d.PricePerHour-result.PricePerHour)/d.PricePerHour, 100*minSavings))
	}
	// Each replacement may launch any candidate up to its share of the
	// ceiling, so that whatever the cloud has capacity for, the whole saves
	// at least minSavings. The epsilon absorbs float rounding of sums.
	scale := ceiling / result.PricePerHour
	for _, replacement := range result.NodeClaims {
		most := replacement.Price() * scale
		if !restrict(replacement, candidates, most) {
			return none(d, fmt.Sprintf("no offering but its own (%s %s in %s) costs less than $%.4f/h", candidates[0].InstanceType, candidates[0].CapacityType, candidates[0].Zone, most))
		}
		d.NewPricePerHour += replacement.Price()
	}
	d.Action = ActionReplace
	d.Replacements = result.NodeClaims
	return d
}

// Replace decides the nodes to launch so that the candidates can go however
// much it costs: they have drifted or expired. Pods that no other node could
// hold make the decision ActionNone, so that no pod is left without a node
// it could run on.
func Replace(in scheduling.Input, candidates []*Candidate) Decision {
	d, result := simulate(in, candidates)
	if d.Action == ActionNone {
		return d
	}
	d.Action = ActionDelete
	if len(result.NodeClaims) > 0 {
		d.Action = ActionReplace
		d.Replacements = result.NodeClaims
		d.NewPricePerHour = result.PricePerHour
	}
	return d
}

// simulate takes the candidates out of the cluster and places their pods.
// It returns ActionNone when a pod could not be placed.
func simulate(in scheduling.Input, candidates []*Candidate) (Decision, *scheduling.Result) {
	d := Decision{Action: ActionReplace, Candidates: candidates}
	gone := sets.New[string]()
	in.Pods = nil
	for _, c := range candidates {
		gone.Insert(c.Name)
		d.PricePerHour += c.Price
		in.Pods = append(in.Pods, c.Pods...)
	}
	d.Moved = in.Pods
	in.Nodes = slices.DeleteFunc(slices.Clone(in.Nodes), func(n *scheduling.Node) bool { return gone.Has(n.Name) })
	in.LowerBound = false
	result := scheduling.Solve(in)
	if len(result.Unschedulable) > 0 {
		u := result.Unschedulable[0]
		why := fmt.Sprintf("pod %s/%s could run on no other node: %s", u.Pod.Namespace, u.Pod.Name, u.Reason)
		if n := len(result.Unschedulable); n > 1 {
			why += fmt.Sprintf(" (and %d more pods)", n-1)
		}
		return none(d, why), result
	}
	return d, result
}

func none(d Decision, why string) Decision {
	d.Action, d.Why, d.Replacements, d.NewPricePerHour = ActionNone, why, nil, 0
	return d
}

// restrict narrows a replacement so that whatever the cloud launches costs
// at most most and is not the offering a lone candidate runs on. The cloud
// may combine any allowed instance type with any allowed zone and capacity
// type, so the zones and capacity types are those of the candidates that
// save, and an instance type stays only if every offering it has in them
// saves. It reports false when nothing is left.
func restrict(replacement *scheduling.NewNodeClaim, candidates []*Candidate, most float64) bool {
	const epsilon = 1e-9 // float rounding of sums of prices
	var zones, capacityTypes []string
	for _, c := range replacement.Candidates {
		if c.Offering.Price > most+epsilon {
			continue
		}
		if !slices.Contains(zones, c.Offering.Zone) {
			zones = append(zones, c.Offering.Zone)
		}
		if !slices.Contains(capacityTypes, c.Offering.CapacityType) {
			capacityTypes = append(capacityTypes, c.Offering.CapacityType)
		}
	}
	allowed := func(o instancetype.Offering) bool {
		return slices.Contains(zones, o.Zone) && slices.Contains(capacityTypes, o.CapacityType)
	}
	own := func(c scheduling.Candidate) bool {
		if len(candidates) != 1 {
			return false
		}
		o := candidates[0]
		return o.InstanceType == c.InstanceType.Name && slices.Contains(zones, o.Zone) && slices.Contains(capacityTypes, o.CapacityType)
	}
	replacement.Candidates = slices.DeleteFunc(slices.Clone(replacement.Candidates), func(c scheduling.Candidate) bool {
		if own(c) {
			return true
		}
		for _, o := range c.InstanceType.Offerings {
			if allowed(o) && o.Price > most+epsilon {
				return true
			}
		}
		return !allowed(c.Offering)
	})
	if len(replacement.Candidates) == 0 {
		return false
	}
	replacement.Requirements = replacement.Requirements.Merge(requirements.NewRequirements(
		requirements.MustNew(corev1.LabelTopologyZone, requirements.OpIn, zones...),
		requirements.MustNew(v1.LabelCapacityType, requirements.OpIn, capacityTypes...)))
	return true
}

// Describe says what the decision does, for events and logs.
func (d *Decision) Describe() string {
	names := make([]string, len(d.Candidates))
	for i, c := range d.Candidates {
		names[i] = c.Name
	}
	switch d.Action {
	case ActionDelete:
		if len(d.Moved) == 0 {
			return fmt.Sprintf("delete %s, saving $%.4f/h; no pod has to move", strings.Join(names, ", "), d.Savings())
		}
		return fmt.Sprintf("delete %s, saving $%.4f/h and moving %d pods to other nodes", strings.Join(names, ", "), d.Savings(), len(d.Moved))
	case ActionReplace:
		change := fmt.Sprintf("saving $%.4f/h", d.Savings())
		if d.Savings() < 0 {
			change = fmt.Sprintf("costing $%.4f/h more", -d.Savings())
		}
		var types []string
		for _, r := range d.Replacements {
			if len(r.Candidates) > 0 {
				c := r.Candidates[0]
				types = append(types, fmt.Sprintf("%s %s in %s", c.InstanceType.Name, c.Offering.CapacityType, c.Offering.Zone))
			}
		}
		return fmt.Sprintf("replace %s ($%.4f/h) by %s ($%.4f/h), %s and moving %d pods",
			strings.Join(names, ", "), d.PricePerHour, strings.Join(types, ", "), d.NewPricePerHour, change, len(d.Moved))
	}
	return fmt.Sprintf("leave %s: %s", strings.Join(names, ", "), d.Why)
}
