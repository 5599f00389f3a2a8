package drain

import (
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	v1 "github.com/tailor-sh/tailor/api/v1"
)

func TestPlanOrdersAndSkipsPods(t *testing.T) {
	now := time.Unix(1000, 0)
	pod := func(name string, mutate func(*corev1.Pod)) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}
		if mutate != nil {
			mutate(p)
		}
		return p
	}
	ds := func(p *corev1.Pod) {
		p.OwnerReferences = []metav1.OwnerReference{{Kind: "DaemonSet", Name: "ds", Controller: ptr.To(true)}}
	}
	crit := func(p *corev1.Pod) { p.Spec.PriorityClassName = "system-node-critical" }
	plan := NewPlan([]*corev1.Pod{
		pod("app", nil),
		pod("agent", ds),
		pod("dns", crit),
		pod("cni", func(p *corev1.Pod) { ds(p); crit(p) }),
		pod("pinned", func(p *corev1.Pod) { p.Annotations = map[string]string{v1.AnnotationDoNotDisrupt: "true"} }),
		pod("done", func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }),
		pod("static", func(p *corev1.Pod) { p.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "x"} }),
		pod("tolerant-agent", func(p *corev1.Pod) {
			ds(p)
			p.Spec.Tolerations = []corev1.Toleration{{Key: v1.TaintKeyDisrupted, Operator: corev1.TolerationOpExists}}
		}),
		pod("tolerates-everything", func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}}
		}),
		pod("stuck", func(p *corev1.Pod) { p.DeletionTimestamp = &metav1.Time{Time: now.Add(-2 * time.Minute)} }),
	}, now)
	names := func(pods []*corev1.Pod) []string {
		var out []string
		for _, p := range pods {
			out = append(out, p.Name)
		}
		return out
	}
	want := [4][]string{{"app", "tolerates-everything"}, {"agent"}, {"dns"}, {"cni"}}
	for i, tier := range plan.Tiers {
		if got := names(tier); !slices.Equal(got, want[i]) {
			t.Errorf("tier %d = %v, want %v", i, got, want[i])
		}
	}
	if got := names(plan.Blocked); len(got) != 1 || got[0] != "pinned" {
		t.Errorf("blocked = %v, want [pinned]", got)
	}
	if got := names(plan.Next()); !slices.Equal(got, want[0]) {
		t.Errorf("next = %v, want the ordinary pods first", got)
	}
	if (Plan{}).Empty() != true || plan.Empty() {
		t.Error("Empty is wrong")
	}
}
