package lifecycle

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	v1 "github.com/tailor-sh/tailor/api/v1"
)

func TestNotInitialized(t *testing.T) {
	startup := corev1.Taint{Key: "cni.example.com/not-ready", Effect: corev1.TaintEffectNoSchedule}
	claim := &v1.NodeClaim{Spec: v1.NodeClaimSpec{
		StartupTaints: []corev1.Taint{startup},
		Resources: v1.ResourceRequirements{Requests: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("1"), "nvidia.com/gpu": resource.MustParse("1"),
		}},
	}}
	ready := corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue}
	node := func(mutate func(*corev1.Node)) *corev1.Node {
		n := &corev1.Node{Status: corev1.NodeStatus{
			Conditions:  []corev1.NodeCondition{ready},
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), "nvidia.com/gpu": resource.MustParse("1")},
		}}
		if mutate != nil {
			mutate(n)
		}
		return n
	}
	for _, tc := range []struct {
		name string
		node *corev1.Node
		want string
	}{
		{"initialized", node(nil), ""},
		{"not ready", node(func(n *corev1.Node) { n.Status.Conditions[0].Status = corev1.ConditionFalse }), "not Ready"},
		{"startup taint", node(func(n *corev1.Node) { n.Spec.Taints = []corev1.Taint{startup} }), "startup taint"},
		{"unregistered", node(func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: v1.TaintKeyUnregistered, Effect: corev1.TaintEffectNoExecute}}
		}), "unregistered"},
		{"GPU not yet advertised", node(func(n *corev1.Node) { delete(n.Status.Allocatable, "nvidia.com/gpu") }), "nvidia.com/gpu"},
	} {
		got := notInitialized(claim, tc.node)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: notInitialized = %q, want %q", tc.name, got, tc.want)
		}
	}
}
