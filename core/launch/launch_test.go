package launch

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/core/instancetype"
	"github.com/tailor-sh/tailor/core/scheduling"
)

func instanceType(name, cpu string) *instancetype.InstanceType {
	return &instancetype.InstanceType{Name: name, Capacity: corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse("8Gi"),
	}}
}

func claimFor(types ...string) *v1.NodeClaim {
	return &v1.NodeClaim{Spec: v1.NodeClaimSpec{Requirements: []v1.NodeSelectorRequirementWithMinValues{{
		Key: corev1.LabelInstanceTypeStable, Operator: corev1.NodeSelectorOpIn, Values: types,
	}}}}
}

func TestBudgetChargesTheMostAClaimCanBecome(t *testing.T) {
	small, large := instanceType("small", "2"), instanceType("large", "8")
	its := []*instancetype.InstanceType{small, large}
	launched := claimFor("small", "large")
	launched.Status.Capacity = small.Capacity
	pool := func(limits corev1.ResourceList) *v1.NodePool {
		return &v1.NodePool{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: v1.NodePoolSpec{Limits: limits}}
	}
	cpu := func(s string) corev1.ResourceList {
		return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(s)}
	}
	for _, tc := range []struct {
		name          string
		limits        corev1.ResourceList
		claims        []*v1.NodeClaim
		candidates    []*instancetype.InstanceType
		wantAdmitted  bool
		wantKept      []string
		wantRemaining string // cpu left after admission
	}{
		{name: "no limits admits everything", candidates: its, wantAdmitted: true, wantKept: []string{"small", "large"}},
		{name: "an unlaunched claim counts as its largest candidate", limits: cpu("10"), claims: []*v1.NodeClaim{claimFor("small", "large")},
			candidates: its, wantAdmitted: true, wantKept: []string{"small"}, wantRemaining: "0"},
		{name: "a launched claim counts as its capacity", limits: cpu("10"), claims: []*v1.NodeClaim{launched},
			candidates: its, wantAdmitted: true, wantKept: []string{"small", "large"}, wantRemaining: "0"},
		{name: "candidates over the limit are dropped", limits: cpu("4"), candidates: its, wantAdmitted: true, wantKept: []string{"small"}, wantRemaining: "2"},
		{name: "nothing fits", limits: cpu("1"), candidates: its, wantAdmitted: false},
		{name: "node count limit", limits: corev1.ResourceList{"nodes": resource.MustParse("1")}, claims: []*v1.NodeClaim{launched}, candidates: its, wantAdmitted: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := NewBudget(pool(tc.limits), its, tc.claims)
			decision := &scheduling.NewNodeClaim{}
			for _, it := range tc.candidates {
				decision.Candidates = append(decision.Candidates, scheduling.Candidate{InstanceType: it})
			}
			kept, ok := b.Admit(decision)
			if ok != tc.wantAdmitted {
				t.Fatalf("admitted = %v, want %v", ok, tc.wantAdmitted)
			}
			var names []string
			for _, c := range kept {
				names = append(names, c.InstanceType.Name)
			}
			if ok && len(names) != len(tc.wantKept) {
				t.Fatalf("kept %v, want %v", names, tc.wantKept)
			}
			for i := range names {
				if names[i] != tc.wantKept[i] {
					t.Fatalf("kept %v, want %v", names, tc.wantKept)
				}
			}
			if tc.wantRemaining != "" {
				if got := b.remaining[corev1.ResourceCPU]; got.Cmp(resource.MustParse(tc.wantRemaining)) != 0 {
					t.Errorf("cpu left %s, want %s", got.String(), tc.wantRemaining)
				}
			}
		})
	}
}
