package status

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/tailor-sh/tailor/api/v1"
	fakecloud "github.com/tailor-sh/tailor/cloudprovider/fake"
	"github.com/tailor-sh/tailor/controllers/controllertest"
	"github.com/tailor-sh/tailor/core/instancetype"
	"github.com/tailor-sh/tailor/core/requirements"
)

func requirement(key string, op corev1.NodeSelectorOperator, values ...string) v1.NodeSelectorRequirementWithMinValues {
	return v1.NodeSelectorRequirementWithMinValues{Key: key, Operator: op, Values: values}
}

// armType is an arm64 type sold in zone b only.
func armType() *instancetype.InstanceType {
	it := fakecloud.InstanceType("arm", "4", "16Gi", 0.2, "b")
	it.Requirements = requirements.Requirements{
		corev1.LabelInstanceTypeStable: requirements.MustNew(corev1.LabelInstanceTypeStable, requirements.OpIn, "arm"),
		corev1.LabelArchStable:         requirements.MustNew(corev1.LabelArchStable, requirements.OpIn, "arm64"),
		corev1.LabelOSStable:           requirements.MustNew(corev1.LabelOSStable, requirements.OpIn, "linux"),
	}
	return it
}

// TestReconcileNoInstanceType: a pool whose requirements no instance type of
// its node class satisfies is not Ready, and says which requirement rules
// everything out, in the condition and in one event; its node class still
// is Ready.
func TestReconcileNoInstanceType(t *testing.T) {
	for _, tc := range []struct {
		name  string
		types []*instancetype.InstanceType // the fixture's small and large when nil
		reqs  []v1.NodeSelectorRequirementWithMinValues
		// labels are the template's labels.
		labels map[string]string
		// want is what Ready's message must hold; "" means Ready is True.
		want string
	}{
		{name: "an instance type some type has", reqs: []v1.NodeSelectorRequirementWithMinValues{
			requirement(corev1.LabelInstanceTypeStable, corev1.NodeSelectorOpIn, "small", "x9.huge"),
		}},
		{name: "custom labels are the pool's to set", labels: map[string]string{"team": "data"}, reqs: []v1.NodeSelectorRequirementWithMinValues{
			requirement("example.com/tier", corev1.NodeSelectorOpIn, "batch"),
		}},
		{name: "an instance type no type has", reqs: []v1.NodeSelectorRequirementWithMinValues{
			requirement(corev1.LabelArchStable, corev1.NodeSelectorOpIn, "amd64"),
			requirement(corev1.LabelInstanceTypeStable, corev1.NodeSelectorOpIn, "x9.huge"),
		}, want: "no instance type has node.kubernetes.io/instance-type In [x9.huge]"},
		{name: "a zone no type is sold in", reqs: []v1.NodeSelectorRequirementWithMinValues{
			requirement(corev1.LabelTopologyZone, corev1.NodeSelectorOpIn, "b", "c"),
		}, want: "no instance type has topology.kubernetes.io/zone In [b c]"},
		{name: "a capacity type no type is sold as", reqs: []v1.NodeSelectorRequirementWithMinValues{
			requirement(v1.LabelCapacityType, corev1.NodeSelectorOpIn, v1.CapacityTypeReserved),
		}, want: "no instance type has tailor.sh/capacity-type In [reserved]"},
		{name: "a template label on a well-known key", labels: map[string]string{corev1.LabelArchStable: "arm64"},
			want: "no instance type has kubernetes.io/arch In [arm64]"},
		{name: "two requirements no type meets together", types: []*instancetype.InstanceType{fakecloud.InstanceType("small", "2", "8Gi", 0.1, "a"), armType()},
			reqs: []v1.NodeSelectorRequirementWithMinValues{
				requirement(corev1.LabelArchStable, corev1.NodeSelectorOpIn, "arm64"),
				requirement(corev1.LabelTopologyZone, corev1.NodeSelectorOpIn, "a"),
			}, want: "no instance type has both kubernetes.io/arch In [arm64] and topology.kubernetes.io/zone In [a]"},
		{name: "requirements that contradict each other", reqs: []v1.NodeSelectorRequirementWithMinValues{
			requirement(corev1.LabelInstanceTypeStable, corev1.NodeSelectorOpIn, "small"),
			requirement(corev1.LabelInstanceTypeStable, corev1.NodeSelectorOpNotIn, "small"),
		}, want: "the requirements on node.kubernetes.io/instance-type allow no value"},
		{name: "more values asked for than there are", reqs: []v1.NodeSelectorRequirementWithMinValues{
			{Key: corev1.LabelInstanceTypeStable, Operator: corev1.NodeSelectorOpExists, MinValues: ptr.To(3)},
		}, want: "node.kubernetes.io/instance-type has minValues 3, but the instance types that meet the pool's requirements have only 2 values of it (large, small)"},
		{name: "a node class that offers nothing", types: []*instancetype.InstanceType{},
			want: "the node class offers no instance types"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, pool("types", func(np *v1.NodePool) {
				np.Spec.Template.Spec.Requirements = tc.reqs
				np.Spec.Template.ObjectMeta.Labels = tc.labels
			}))
			if tc.types != nil {
				f.cloud.InstanceTypes = tc.types
			}
			recorder, log := controllertest.NewLog()
			f.c.WithRecorder(recorder)
			_, np := f.reconcile(t, "types")
			ready := apimeta.FindStatusCondition(np.Status.Conditions, v1.ConditionReady)
			classReady := apimeta.FindStatusCondition(np.Status.Conditions, v1.ConditionNodeClassReady)
			if ready == nil || classReady == nil {
				t.Fatalf("conditions %v lack Ready or NodeClassReady", np.Status.Conditions)
			}
			if classReady.Status != metav1.ConditionTrue {
				t.Errorf("NodeClassReady = %s/%s, want True: the node class listed its types", classReady.Status, classReady.Reason)
			}
			if tc.want == "" {
				if ready.Status != metav1.ConditionTrue {
					t.Errorf("Ready = %s/%s %q, want True", ready.Status, ready.Reason, ready.Message)
				}
				if got := log.Events(); len(got) != 0 {
					t.Errorf("events %v, want none", got)
				}
				return
			}
			if ready.Status != metav1.ConditionFalse || ready.Reason != "NoInstanceType" || !strings.Contains(ready.Message, tc.want) {
				t.Errorf("Ready = %s/%s %q, want False/NoInstanceType saying %q", ready.Status, ready.Reason, ready.Message, tc.want)
			}
			if ready.ObservedGeneration != 3 {
				t.Errorf("Ready observed generation %d, want the pool's, 3", ready.ObservedGeneration)
			}
			if !log.Has("types", "NoInstanceType", tc.want) {
				t.Errorf("events %v, want a NoInstanceType warning saying %q", log.Events(), tc.want)
			}
			// The condition, not a stream of events, says it lasts.
			f.reconcile(t, "types")
			if got := log.Find("types", "NoInstanceType"); len(got) != 1 {
				t.Errorf("%d NoInstanceType events after two passes, want 1: %v", len(got), got)
			}
		})
	}
}

// TestReconcileNoInstanceTypeClears: once the requirements are fixed, the
// pool is Ready again.
func TestReconcileNoInstanceTypeClears(t *testing.T) {
	f := newFixture(t, pool("fixed", func(np *v1.NodePool) {
		np.Spec.Template.Spec.Requirements = []v1.NodeSelectorRequirementWithMinValues{requirement(corev1.LabelInstanceTypeStable, corev1.NodeSelectorOpIn, "x9.huge")}
	}))
	if _, np := f.reconcile(t, "fixed"); apimeta.IsStatusConditionTrue(np.Status.Conditions, v1.ConditionReady) {
		t.Fatalf("a pool of x9.huge only is Ready")
	}
	np := &v1.NodePool{}
	if err := f.client.Get(context.Background(), client.ObjectKey{Name: "fixed"}, np); err != nil {
		t.Fatal(err)
	}
	np.Spec.Template.Spec.Requirements[0].Values = []string{"large"}
	if err := f.client.Update(context.Background(), np); err != nil {
		t.Fatal(err)
	}
	if _, np := f.reconcile(t, "fixed"); !apimeta.IsStatusConditionTrue(np.Status.Conditions, v1.ConditionReady) {
		t.Errorf("Ready = %v after the fix, want True", apimeta.FindStatusCondition(np.Status.Conditions, v1.ConditionReady))
	}
}
