package provisioning

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/tailor-sh/tailor/core/scheduling"
)

// describeCandidates says what a claim may become, for events and logs:
// "m6i.large ($0.0960/h) or 12 other types".
func describeCandidates(candidates []scheduling.Candidate) string {
	if len(candidates) == 0 {
		return "no instance type"
	}
	first := fmt.Sprintf("%s ($%.4f/h)", candidates[0].InstanceType.Name, candidates[0].Offering.Price)
	switch len(candidates) {
	case 1:
		return first
	case 2:
		return first + " or " + candidates[1].InstanceType.Name
	}
	return fmt.Sprintf("%s or %d other types", first, len(candidates)-1)
}

// podNames lists up to five pods, for log lines.
func podNames(pods []*corev1.Pod) string {
	names := make([]string, 0, min(len(pods), 5))
	for _, p := range pods[:min(len(pods), 5)] {
		names = append(names, p.Namespace+"/"+p.Name)
	}
	if len(pods) > 5 {
		names = append(names, fmt.Sprintf("and %d more", len(pods)-5))
	}
	return strings.Join(slices.Clip(names), ", ")
}
