package main

import (
	"fmt"
	"math/rand/v2"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	tailorv1 "github.com/tailor-sh/tailor/api/v1"
)

// generate makes n pods in Deployments of 50 to 500 replicas. The random
// draws do not depend on the scheduler, so both get the same pods; only the
// capacity-type label key differs (each scheduler's own key).
//
// resources: cpu and memory requests only.
// mixed: each Deployment gets, at random, one of: nothing, nodeSelector
// arch=arm64, nodeSelector capacity-type=on-demand, nodeSelector
// zone=us-west-2b, or required pod anti-affinity on hostname against its own
// app label (then at most 20 replicas).
func generate(workload string, n int, seed uint64, karpenter bool) []*corev1.Pod {
	rng := rand.New(rand.NewPCG(seed, seed))
	cpus := []string{"100m", "250m", "500m", "1", "1500m", "2", "4"}
	mems := []string{"128Mi", "512Mi", "1Gi", "2Gi", "4Gi", "8Gi"}
	capacityTypeKey := tailorv1.LabelCapacityType
	if karpenter {
		capacityTypeKey = karpv1.CapacityTypeLabelKey
	}
	var out []*corev1.Pod
	for d := 0; len(out) < n; d++ {
		replicas := min(50+rng.IntN(451), n-len(out))
		cpu, mem := resource.MustParse(cpus[rng.IntN(len(cpus))]), resource.MustParse(mems[rng.IntN(len(mems))])
		app := fmt.Sprintf("deploy-%d", d)
		var nodeSelector map[string]string
		var affinity *corev1.Affinity
		if workload == "mixed" {
			switch rng.IntN(5) {
			case 1:
				nodeSelector = map[string]string{corev1.LabelArchStable: "arm64"}
			case 2:
				nodeSelector = map[string]string{capacityTypeKey: "on-demand"}
			case 3:
				nodeSelector = map[string]string{corev1.LabelTopologyZone: "us-west-2b"}
			case 4:
				replicas = min(replicas, 20)
				affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
					RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
						TopologyKey:   corev1.LabelHostname,
						LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
					}},
				}}
			}
		}
		for i := 0; i < replicas; i++ {
			name := fmt.Sprintf("%s-%d", app, i)
			out = append(out, &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{
					Name: name, Namespace: "default",
					UID:    types.UID(fmt.Sprintf("00000000-0000-0000-%04d-%012d", d%10000, i)),
					Labels: map[string]string{"app": app},
				},
				Spec: corev1.PodSpec{
					NodeSelector: nodeSelector,
					Affinity:     affinity,
					Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
						corev1.ResourceCPU: cpu, corev1.ResourceMemory: mem,
					}}}},
				},
				Status: corev1.PodStatus{Phase: corev1.PodPending},
			})
		}
	}
	return out
}
