package provisioning

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestFitsCountsPodsAndRequests(t *testing.T) {
	pod := func(cpu string) *corev1.Pod {
		return &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)},
		}}}}}
	}
	allocatable := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourcePods: resource.MustParse("3")}
	used := requestsOf([]*corev1.Pod{pod("1"), pod("500m")})
	if !fits(allocatable, used, requestsOf([]*corev1.Pod{pod("500m")})) {
		t.Error("500m does not fit next to 1.5 of 2 cpu")
	}
	if fits(allocatable, used, requestsOf([]*corev1.Pod{pod("600m")})) {
		t.Error("600m fits next to 1.5 of 2 cpu")
	}
	addInto(used, requestsOf([]*corev1.Pod{pod("100m")}))
	if fits(allocatable, used, requestsOf([]*corev1.Pod{pod("100m")})) {
		t.Error("a fourth pod fits on a node of 3 pods")
	}
}
