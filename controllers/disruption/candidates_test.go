package disruption

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/controllers/state"
	"github.com/tailor-sh/tailor/core/requirements"
)

func ownedPod(name string, labels map[string]string, annotations map[string]string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
		Name: name, Namespace: "shop", UID: k8stypes.UID("uid-" + name), Labels: labels, Annotations: annotations,
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs", UID: "rs", Controller: ptr.To(true)}},
	}}
}

func TestBlocked(t *testing.T) {
	web := map[string]string{"app": "web"}
	pdb := func(name string, selector *metav1.LabelSelector, allowed int32) policyv1.PodDisruptionBudget {
		return policyv1.PodDisruptionBudget{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop"},
			Spec:       policyv1.PodDisruptionBudgetSpec{Selector: selector},
			Status:     policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: allowed},
		}
	}
	bare := ownedPod("bare", web, nil)
	bare.OwnerReferences = nil
	for _, tc := range []struct {
		name   string
		pods   []*corev1.Pod
		pdbs   []policyv1.PodDisruptionBudget
		node   map[string]string
		reason v1.DisruptionReason
		// gracePeriod gives the NodeClaim a terminationGracePeriod.
		gracePeriod bool
		want        string
	}{
		{name: "nothing blocks", pods: []*corev1.Pod{ownedPod("a", web, nil)}, reason: v1.DisruptionReasonUnderutilized},
		{name: "a PDB that allows none", pods: []*corev1.Pod{ownedPod("a", web, nil)}, pdbs: []policyv1.PodDisruptionBudget{pdb("web", &metav1.LabelSelector{MatchLabels: web}, 0)},
			reason: v1.DisruptionReasonUnderutilized, want: "PodDisruptionBudget shop/web allows no disruption of pod a"},
		{name: "a PDB that allows one", pods: []*corev1.Pod{ownedPod("a", web, nil)}, pdbs: []policyv1.PodDisruptionBudget{pdb("web", &metav1.LabelSelector{MatchLabels: web}, 1)},
			reason: v1.DisruptionReasonUnderutilized},
		{name: "a PDB of other pods", pods: []*corev1.Pod{ownedPod("a", web, nil)}, pdbs: []policyv1.PodDisruptionBudget{pdb("db", &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}, 0)},
			reason: v1.DisruptionReasonUnderutilized},
		{name: "a PDB with a null selector selects nothing", pods: []*corev1.Pod{ownedPod("a", web, nil)}, pdbs: []policyv1.PodDisruptionBudget{pdb("none", nil, 0)},
			reason: v1.DisruptionReasonUnderutilized},
		{name: "a PDB with an empty selector selects every pod", pods: []*corev1.Pod{ownedPod("a", web, nil)}, pdbs: []policyv1.PodDisruptionBudget{pdb("all", &metav1.LabelSelector{}, 0)},
			reason: v1.DisruptionReasonDrifted, want: "PodDisruptionBudget shop/all"},
		{name: "a do-not-disrupt pod", pods: []*corev1.Pod{ownedPod("a", web, map[string]string{v1.AnnotationDoNotDisrupt: "true"})},
			reason: v1.DisruptionReasonDrifted, want: "pod shop/a is annotated tailor.sh/do-not-disrupt"},
		{name: "a pod no controller would recreate", pods: []*corev1.Pod{bare}, reason: v1.DisruptionReasonUnderutilized, want: "no controller"},
		{name: "with a terminationGracePeriod, expiry goes ahead regardless of pods", pods: []*corev1.Pod{bare, ownedPod("a", web, map[string]string{v1.AnnotationDoNotDisrupt: "true"})},
			pdbs: []policyv1.PodDisruptionBudget{pdb("web", &metav1.LabelSelector{MatchLabels: web}, 0)}, reason: v1.DisruptionReasonExpired, gracePeriod: true},
		{name: "without one, a do-not-disrupt pod holds expiry", pods: []*corev1.Pod{ownedPod("a", web, map[string]string{v1.AnnotationDoNotDisrupt: "true"})},
			reason: v1.DisruptionReasonExpired, want: "pod shop/a is annotated tailor.sh/do-not-disrupt; with no terminationGracePeriod its drain could never finish, so no replacement is launched"},
		{name: "without one, a PDB that allows none holds expiry", pods: []*corev1.Pod{ownedPod("a", web, nil)},
			pdbs: []policyv1.PodDisruptionBudget{pdb("web", &metav1.LabelSelector{MatchLabels: web}, 0)}, reason: v1.DisruptionReasonExpired, want: "allows no disruption of pod a now; with no terminationGracePeriod"},
		{name: "a drifted node's blocking pod with a terminationGracePeriod says nothing of one", pods: []*corev1.Pod{ownedPod("a", web, map[string]string{v1.AnnotationDoNotDisrupt: "true"})},
			reason: v1.DisruptionReasonDrifted, gracePeriod: true, want: "pod shop/a is annotated tailor.sh/do-not-disrupt"},
		{name: "a do-not-disrupt node, even expired", node: map[string]string{v1.AnnotationDoNotDisrupt: "true"}, reason: v1.DisruptionReasonExpired, want: "the node is annotated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := &state.StateNode{
				Node:      &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n", Annotations: tc.node}},
				NodeClaim: &v1.NodeClaim{ObjectMeta: metav1.ObjectMeta{Name: "n"}},
				Pods:      tc.pods,
			}
			if tc.gracePeriod {
				n.NodeClaim.Spec.TerminationGracePeriod = &metav1.Duration{Duration: time.Hour}
			}
			got := blocked(&view{now: time.Now(), pdbs: tc.pdbs}, n, tc.reason)
			if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) ||
				tc.gracePeriod && strings.Contains(got, "no terminationGracePeriod") {
				t.Errorf("blocked = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestViolates(t *testing.T) {
	in := func(key string, values ...string) *requirements.Requirement {
		return requirements.MustNew(key, requirements.OpIn, values...)
	}
	for _, tc := range []struct {
		name     string
		req      *requirements.Requirement
		labels   map[string]string
		launched *requirements.Requirement
		want     bool
	}{
		{"the label still meets it", in("zone", "a", "b"), map[string]string{"zone": "a"}, nil, false},
		{"the label no longer does", in("zone", "b"), map[string]string{"zone": "a"}, nil, true},
		{"no label, launched within it", in("team", "a", "b"), nil, in("team", "a"), false},
		{"no label, launched outside it", in("team", "b"), nil, in("team", "a"), true},
		{"no label, launched allowing more than it now does", in("team", "a"), nil, in("team", "a", "b"), true},
		{"no label, nothing known, absence allowed", requirements.MustNew("gpu", requirements.OpDoesNotExist), nil, nil, false},
		{"no label, nothing known, absence refused", in("team", "a"), nil, nil, true},
		{"no label, launched with an open set: cannot tell", in("team", "a"), nil, requirements.MustNew("team", requirements.OpNotIn, "b"), false},
	} {
		if got := violates(tc.req, tc.labels, tc.launched); got != tc.want {
			t.Errorf("%s: violates = %v, want %v", tc.name, got, tc.want)
		}
	}
}
