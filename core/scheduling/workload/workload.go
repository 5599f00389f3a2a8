package workload

import (
	"fmt"
	"math/rand/v2"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/tailor-sh/tailor/api/v1"
)

// Kind names a workload.
type Kind string

const (
	// Resources: cpu and memory requests only, each Deployment's drawn from
	// seven cpu and six memory sizes (so Deployments often share a shape).
	Resources Kind = "resources"
	// Mixed: the shapes of Resources, and each Deployment gets at random one
	// of: nothing, nodeSelector arch=arm64, nodeSelector capacity type
	// on-demand, nodeSelector zone=us-west-2b, or required pod anti-affinity
	// on hostname against its own app label (then at most 20 replicas); with
	// Options.Toleration, also a sixth: a toleration of that taint.
	Mixed Kind = "mixed"
	// Distinct: requests only, and no two Deployments share a shape: cpu is
	// drawn from 100m to 4 in steps of 50m and memory from 128Mi to 8Gi in
	// steps of 64Mi, and a (cpu, memory) pair already used is drawn again.
	Distinct Kind = "distinct"
)

// Kinds are the workloads Deployments makes.
var Kinds = []Kind{Resources, Mixed, Distinct}

// Options says which pods to make.
type Options struct {
	Kind Kind
	// Pods is how many pods to make; the last Deployment is cut short to
	// make exactly this many.
	Pods int
	Seed uint64
	// MaxReplicas is the largest Deployment (uniform from 50 to MaxReplicas;
	// 0 means 500). The core's benchmarks have always used 499, bench/ 500.
	MaxReplicas int
	// CapacityTypeLabel is the label key of Mixed's on-demand selector
	// (v1.LabelCapacityType when empty; bench/ gives Karpenter its own key).
	CapacityTypeLabel string
	// Toleration, when set, adds to Mixed's choices a toleration (operator
	// Exists) of this taint key, for a dedicated NodePool.
	Toleration string
	// Bare pods carry only a name, namespace default and the label
	// app=deploy shared by all of them (a pod with anti-affinity carries its
	// Deployment's name instead, which its selector reads), as the core's
	// benchmarks have always had. Otherwise each pod has a UID, phase
	// Pending and app=<its Deployment>, which Karpenter needs.
	Bare bool
}

var (
	cpus = []string{"100m", "250m", "500m", "1", "1500m", "2", "4"}
	mems = []string{"128Mi", "512Mi", "1Gi", "2Gi", "4Gi", "8Gi"}
)

// Deployments makes the pods of o. Deployment d is named deploy-<d> and its
// pods deploy-<d>-<i>.
func Deployments(o Options) []*corev1.Pod {
	rng := rand.New(rand.NewPCG(o.Seed, o.Seed))
	maxReplicas := o.MaxReplicas
	if maxReplicas == 0 {
		maxReplicas = 500
	}
	capacityTypeKey := o.CapacityTypeLabel
	if capacityTypeKey == "" {
		capacityTypeKey = v1.LabelCapacityType
	}
	choices := 5
	if o.Toleration != "" {
		choices = 6
	}
	used := map[[2]int]bool{}
	var out []*corev1.Pod
	for d := 0; len(out) < o.Pods; d++ {
		replicas := min(50+rng.IntN(maxReplicas-49), o.Pods-len(out))
		var cpu, mem string
		if o.Kind == Distinct {
			for {
				c, m := 100+50*rng.IntN(79), 128+64*rng.IntN(127)
				if !used[[2]int{c, m}] {
					used[[2]int{c, m}] = true
					cpu, mem = fmt.Sprintf("%dm", c), fmt.Sprintf("%dMi", m)
					break
				}
			}
		} else {
			cpu, mem = cpus[rng.IntN(len(cpus))], mems[rng.IntN(len(mems))]
		}
		app := fmt.Sprintf("deploy-%d", d)
		var mutate func(*corev1.Pod)
		if o.Kind == Mixed {
			switch rng.IntN(choices) {
			case 1:
				mutate = func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{corev1.LabelArchStable: "arm64"} }
			case 2:
				mutate = func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{capacityTypeKey: "on-demand"} }
			case 3:
				mutate = func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{corev1.LabelTopologyZone: "us-west-2b"} }
			case 4:
				replicas = min(replicas, 20)
				mutate = func(p *corev1.Pod) {
					p.Labels["app"] = app
					p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
						TopologyKey: corev1.LabelHostname, LabelSelector: selector("app", app),
					}}}}
				}
			case 5:
				mutate = func(p *corev1.Pod) {
					p.Spec.Tolerations = []corev1.Toleration{{Key: o.Toleration, Operator: corev1.TolerationOpExists}}
				}
			}
		}
		for i := range replicas {
			p := newPod(fmt.Sprintf("%s-%d", app, i), cpu, mem)
			if !o.Bare {
				p.UID = types.UID(fmt.Sprintf("00000000-0000-0000-%04d-%012d", d%10000, i))
				p.Labels["app"] = app
				p.Status.Phase = corev1.PodPending
			}
			if mutate != nil {
				mutate(p)
			}
			out = append(out, p)
		}
	}
	return out
}

// newPod is a bare pod: one container with cpu and memory requests, in
// namespace default, labelled app=<name without its trailing digits and
// dashes>.
func newPod(name, cpu, memory string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": strings.TrimRight(name, "-0123456789")}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(memory),
		}}}}},
	}
}

func selector(key, value string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: map[string]string{key: value}}
}

// ExistingNode is a node that already runs pods, described without the
// core's types (this package cannot import them).
type ExistingNode struct {
	Name        string
	Labels      map[string]string
	Allocatable corev1.ResourceList
	Pods        []*corev1.Pod
}

// Topology makes n bare pods in Deployments of 50 to 499 replicas whose pods
// constrain each other: zone spreads (some over a selector two Deployments
// share, some ScheduleAnyway), hostname spreads, zone anti-affinity against
// the previous Deployment and zone affinity to it; and 30 existing nodes
// (4 cpu, 8Gi, 30 pods) over three zones that run four pods each of the same
// apps.
func Topology(n int, seed uint64) ([]*corev1.Pod, []ExistingNode) {
	rng := rand.New(rand.NewPCG(seed, seed))
	cpus := []string{"100m", "250m", "500m", "1", "2"}
	mems := []string{"128Mi", "512Mi", "1Gi", "2Gi", "4Gi"}
	zones := []string{"us-west-2a", "us-west-2b", "us-west-2c"}
	spread := func(key, selectorKey, value string, skew int32, when corev1.UnsatisfiableConstraintAction) corev1.TopologySpreadConstraint {
		return corev1.TopologySpreadConstraint{MaxSkew: skew, TopologyKey: key, WhenUnsatisfiable: when, LabelSelector: selector(selectorKey, value)}
	}
	var out []*corev1.Pod
	for d := 0; len(out) < n; d++ {
		replicas := min(50+rng.IntN(450), n-len(out))
		app, previous := fmt.Sprintf("deploy-%d", d), fmt.Sprintf("deploy-%d", max(d-1, 0))
		tier := fmt.Sprintf("tier-%d", d/2)
		var mutate func(*corev1.Pod)
		switch rng.IntN(6) {
		case 0:
			mutate = func(p *corev1.Pod) {
				p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{spread(corev1.LabelTopologyZone, "app", app, 1, corev1.DoNotSchedule)}
			}
		case 1:
			mutate = func(p *corev1.Pod) {
				p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{spread(corev1.LabelTopologyZone, "tier", tier, 1, corev1.DoNotSchedule)}
			}
		case 2:
			mutate = func(p *corev1.Pod) {
				p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{spread(corev1.LabelTopologyZone, "app", app, 1, corev1.ScheduleAnyway)}
			}
		case 3:
			mutate = func(p *corev1.Pod) {
				p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{spread(corev1.LabelHostname, "app", app, 2, corev1.DoNotSchedule)}
			}
		case 4:
			mutate = func(p *corev1.Pod) {
				p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
					TopologyKey: corev1.LabelTopologyZone, LabelSelector: selector("app", previous),
				}}}}
			}
		case 5:
			mutate = func(p *corev1.Pod) {
				p.Spec.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
					TopologyKey: corev1.LabelTopologyZone, LabelSelector: selector("app", previous),
				}}}}
			}
		}
		cpu, mem := cpus[rng.IntN(len(cpus))], mems[rng.IntN(len(mems))]
		for i := range replicas {
			p := newPod(fmt.Sprintf("%s-%d", app, i), cpu, mem)
			p.Labels["app"], p.Labels["tier"] = app, tier
			mutate(p)
			out = append(out, p)
		}
	}
	var nodes []ExistingNode
	for i := range 30 {
		name := fmt.Sprintf("existing-%d", i)
		app := fmt.Sprintf("deploy-%d", rng.IntN(20))
		var running []*corev1.Pod
		for j := range 4 {
			running = append(running, newPod(fmt.Sprintf("%s-%d", app, j), "500m", "1Gi"))
		}
		nodes = append(nodes, ExistingNode{Name: name, Labels: map[string]string{corev1.LabelTopologyZone: zones[i%3], corev1.LabelHostname: name},
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi"), corev1.ResourcePods: resource.MustParse("30")},
			Pods:        running})
	}
	return out, nodes
}

// DaemonSets are two agents that run on every node, whatever its taints: a
// log agent (100m, 256Mi) and a node exporter (50m, 64Mi).
func DaemonSets() []*appsv1.DaemonSet {
	ds := func(uid int, name, cpu, memory string) *appsv1.DaemonSet {
		p := newPod(name, cpu, memory)
		p.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}}
		return &appsv1.DaemonSet{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "kube-system", UID: types.UID(fmt.Sprintf("00000000-0000-0000-ffff-%012d", uid))},
			Spec: appsv1.DaemonSetSpec{
				Selector: selector("app", name),
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}}, Spec: p.Spec},
			},
		}
	}
	return []*appsv1.DaemonSet{ds(1, "log-agent", "100m", "256Mi"), ds(2, "node-exporter", "50m", "64Mi")}
}
