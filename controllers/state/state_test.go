package state

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	v1 "github.com/tailor-sh/tailor/api/v1"
)

func TestProvisionable(t *testing.T) {
	unschedulable := corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable}
	pod := func(mutate func(*corev1.Pod)) *corev1.Pod {
		p := &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{unschedulable}}}
		if mutate != nil {
			mutate(p)
		}
		return p
	}
	now := metav1.Now()
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		want bool
	}{
		{"unschedulable", pod(nil), true},
		{"not yet tried", pod(func(p *corev1.Pod) { p.Status.Conditions = nil }), false},
		{"scheduling gated", pod(func(p *corev1.Pod) { p.Status.Conditions[0].Reason = corev1.PodReasonSchedulingGated }), false},
		{"bound", pod(func(p *corev1.Pod) { p.Spec.NodeName = "n" }), false},
		{"nominated by preemption", pod(func(p *corev1.Pod) { p.Status.NominatedNodeName = "n" }), false},
		{"being deleted", pod(func(p *corev1.Pod) { p.DeletionTimestamp = &now }), false},
		{"finished", pod(func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }), false},
		{"mirror pod", pod(func(p *corev1.Pod) { p.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "x"} }), false},
		{"DaemonSet pod", pod(func(p *corev1.Pod) {
			p.OwnerReferences = []metav1.OwnerReference{{Kind: "DaemonSet", Name: "ds", Controller: ptr.To(true)}}
		}), false},
		{"ReplicaSet pod", pod(func(p *corev1.Pod) {
			p.OwnerReferences = []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "rs", Controller: ptr.To(true)}}
		}), true},
	} {
		if got := Provisionable(tc.pod); got != tc.want {
			t.Errorf("%s: Provisionable = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestSchedulingNodeDescribesANodeAsItWillBe(t *testing.T) {
	startup := corev1.Taint{Key: "cni.example.com/not-ready", Effect: corev1.TaintEffectNoSchedule}
	user := corev1.Taint{Key: "team", Value: "a", Effect: corev1.TaintEffectNoSchedule}
	claim := &v1.NodeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "c1", Labels: map[string]string{v1.LabelNodePool: "p"}},
		Spec: v1.NodeClaimSpec{
			Taints: []corev1.Taint{user}, StartupTaints: []corev1.Taint{startup},
			Requirements: []v1.NodeSelectorRequirementWithMinValues{
				{Key: corev1.LabelTopologyZone, Operator: corev1.NodeSelectorOpIn, Values: []string{"a"}},
				{Key: corev1.LabelInstanceTypeStable, Operator: corev1.NodeSelectorOpIn, Values: []string{"m5.large", "m5.xlarge"}},
			},
			Resources: v1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}},
		},
	}

	launching := (&StateNode{NodeClaim: claim}).SchedulingNode()
	if launching.Labels[corev1.LabelTopologyZone] != "a" || launching.Labels[corev1.LabelHostname] != "c1" || launching.Labels[v1.LabelNodePool] != "p" {
		t.Errorf("labels of a launching claim: %v", launching.Labels)
	}
	if _, ok := launching.Labels[corev1.LabelInstanceTypeStable]; ok {
		t.Error("an undecided instance type became a label")
	}
	if launching.Allocatable.Cpu().String() != "1" {
		t.Errorf("before launch, room is what the pods asked for; got %v", launching.Allocatable)
	}

	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "c1", Labels: map[string]string{}},
		Spec: corev1.NodeSpec{Taints: []corev1.Taint{
			{Key: v1.TaintKeyUnregistered, Effect: corev1.TaintEffectNoExecute},
			{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoSchedule},
			startup, user,
		}},
	}
	joining := (&StateNode{NodeClaim: claim, Node: node}).SchedulingNode()
	if len(joining.Taints) != 1 || joining.Taints[0].Key != user.Key {
		t.Errorf("a joining node keeps only its lasting taints; got %v", joining.Taints)
	}
	node.Labels[v1.LabelNodeInitialized] = "true"
	if ready := (&StateNode{NodeClaim: claim, Node: node}).SchedulingNode(); len(ready.Taints) != 4 {
		t.Errorf("an initialized node is taken as it is; got taints %v", ready.Taints)
	}
}
