package integration

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/tailor-sh/tailor/api/v1"
	simv1 "github.com/tailor-sh/tailor/providers/sim/api/v1"
)

// TestConstraints: pods that need a zone spread, anti-affinity, arm64, a GPU,
// or a pool of one capacity type each get nodes that satisfy them, and
// kube-scheduler agrees by running them there.
func TestConstraints(t *testing.T) {
	parent := newEnv(t)
	parent.startOperator(testOptions)

	for _, tc := range []struct {
		name  string
		pods  int32
		pool  func(*v1.NodePool)
		pod   func(spec *corev1.PodSpec, app string)
		check func(t *testing.T, e *env, pods []corev1.Pod)
	}{{
		name: "zone-spread",
		pods: 6,
		pod: func(spec *corev1.PodSpec, app string) {
			spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{
				MaxSkew: 1, TopologyKey: corev1.LabelTopologyZone, WhenUnsatisfiable: corev1.DoNotSchedule,
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
			}}
		},
		check: func(t *testing.T, e *env, pods []corev1.Pod) {
			perZone := map[string]int{}
			for _, p := range pods {
				perZone[e.node(p.Spec.NodeName).Labels[corev1.LabelTopologyZone]]++
			}
			if len(perZone) < 3 {
				t.Errorf("6 pods spread over %d zones %v, want at least 3", len(perZone), perZone)
			}
			low, high := len(pods), 0
			for _, n := range perZone {
				low, high = min(low, n), max(high, n)
			}
			if high-low > 1 {
				t.Errorf("pods per zone %v: skew %d, want at most 1", perZone, high-low)
			}
		},
	}, {
		name: "anti-affinity",
		pods: 4,
		pod: func(spec *corev1.PodSpec, app string) {
			spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
					TopologyKey:   corev1.LabelHostname,
					LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
				}},
			}}
		},
		check: func(t *testing.T, e *env, pods []corev1.Pod) {
			nodes := map[string]bool{}
			for _, p := range pods {
				nodes[p.Spec.NodeName] = true
			}
			if len(nodes) != len(pods) {
				t.Errorf("%d pods with anti-affinity share %d nodes", len(pods), len(nodes))
			}
		},
	}, {
		name: "arm64",
		pods: 3,
		pod: func(spec *corev1.PodSpec, _ string) {
			spec.NodeSelector[corev1.LabelArchStable] = "arm64"
		},
		check: nodeLabelIs(corev1.LabelArchStable, "arm64"),
	}, {
		name: "gpu",
		pods: 2,
		pool: func(np *v1.NodePool) {
			np.Spec.Template.Spec.Requirements = []v1.NodeSelectorRequirementWithMinValues{
				{Key: v1.LabelInstanceGPUManufacturer, Operator: corev1.NodeSelectorOpIn, Values: []string{"nvidia"}},
			}
		},
		pod: func(spec *corev1.PodSpec, _ string) {
			gpu := corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("1")}
			spec.Containers[0].Resources.Requests["nvidia.com/gpu"] = gpu["nvidia.com/gpu"]
			spec.Containers[0].Resources.Limits = gpu
		},
		check: func(t *testing.T, e *env, pods []corev1.Pod) {
			for _, p := range pods {
				node := e.node(p.Spec.NodeName)
				if gpus := node.Status.Allocatable["nvidia.com/gpu"]; gpus.Value() < 1 {
					t.Errorf("pod %s runs on %s (%s) without a GPU", p.Name, node.Name, node.Labels[corev1.LabelInstanceTypeStable])
				}
			}
		},
	}, {
		name: "spot-only",
		pods: 3,
		pool: func(np *v1.NodePool) {
			np.Spec.Template.Spec.Requirements = append(np.Spec.Template.Spec.Requirements,
				v1.NodeSelectorRequirementWithMinValues{Key: v1.LabelCapacityType, Operator: corev1.NodeSelectorOpIn, Values: []string{v1.CapacityTypeSpot}})
		},
		check: nodeLabelIs(v1.LabelCapacityType, v1.CapacityTypeSpot),
	}, {
		name: "on-demand-only",
		pods: 3,
		pool: func(np *v1.NodePool) {
			np.Spec.Template.Spec.Requirements = append(np.Spec.Template.Spec.Requirements,
				v1.NodeSelectorRequirementWithMinValues{Key: v1.LabelCapacityType, Operator: corev1.NodeSelectorOpIn, Values: []string{v1.CapacityTypeOnDemand}})
		},
		check: nodeLabelIs(v1.LabelCapacityType, v1.CapacityTypeOnDemand),
	}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			pool := e.nodePool(tc.name, simv1.SimNodeClassSpec{}, tc.pool)
			spec := podSpec(pool.Name, "500m", "1Gi")
			if tc.pod != nil {
				tc.pod(&spec, tc.name)
			}
			e.deployment(tc.name, tc.pods, spec)
			pods := e.waitRunning(tc.name, int(tc.pods), 2*time.Minute)
			for _, p := range pods {
				if node := e.node(p.Spec.NodeName); node.Labels[v1.LabelNodePool] != pool.Name {
					t.Errorf("pod %s runs on %s, not on a node of NodePool %s", p.Name, node.Name, pool.Name)
				}
			}
			tc.check(t, e, pods)
		})
	}
}

// nodeLabelIs checks that every pod's node has the label.
func nodeLabelIs(key, value string) func(*testing.T, *env, []corev1.Pod) {
	return func(t *testing.T, e *env, pods []corev1.Pod) {
		for _, p := range pods {
			if got := e.node(p.Spec.NodeName).Labels[key]; got != value {
				t.Errorf("pod %s runs on %s with %s=%q, want %q", p.Name, p.Spec.NodeName, key, got, value)
			}
		}
	}
}
