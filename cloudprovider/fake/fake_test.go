package fake

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/cloudprovider"
	"github.com/tailor-sh/tailor/core/instancetype"
)

func TestCreateIsIdempotentAndDeleteReportsNotFound(t *testing.T) {
	ctx := context.Background()
	c := &CloudProvider{InstanceTypes: []*instancetype.InstanceType{InstanceType("big", "8", "32Gi", 0.4, "a"), InstanceType("small", "2", "8Gi", 0.1, "a", "b")}}
	claim := &v1.NodeClaim{ObjectMeta: metav1.ObjectMeta{Name: "c1"}, Spec: v1.NodeClaimSpec{
		Requirements: []v1.NodeSelectorRequirementWithMinValues{{Key: v1.LabelCapacityType, Operator: corev1.NodeSelectorOpIn, Values: []string{v1.CapacityTypeOnDemand}}},
	}}
	first, err := c.Create(ctx, claim)
	if err != nil {
		t.Fatal(err)
	}
	if got := first.Labels[corev1.LabelInstanceTypeStable]; got != "small" {
		t.Errorf("launched %s, want the cheapest type, small", got)
	}
	again, err := c.Create(ctx, claim)
	if err != nil || again.Status.ProviderID != first.Status.ProviderID {
		t.Errorf("second Create = %v, %v; want the first instance %s", again.Status.ProviderID, err, first.Status.ProviderID)
	}
	if list, _ := c.List(ctx); len(list) != 1 {
		t.Errorf("%d instances after two Creates of one claim, want 1", len(list))
	}
	if err := c.Delete(ctx, first); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, first); !cloudprovider.IsNodeClaimNotFound(err) {
		t.Errorf("second Delete = %v, want NodeClaimNotFound", err)
	}
	if _, err := c.Get(ctx, first.Status.ProviderID); !cloudprovider.IsNodeClaimNotFound(err) {
		t.Errorf("Get after Delete = %v, want NodeClaimNotFound", err)
	}
}

func TestCreateReportsInsufficientCapacity(t *testing.T) {
	it := InstanceType("small", "2", "8Gi", 0.1, "a")
	for i := range it.Offerings {
		it.Offerings[i].Available = false
	}
	c := &CloudProvider{InstanceTypes: []*instancetype.InstanceType{it}}
	_, err := c.Create(context.Background(), &v1.NodeClaim{ObjectMeta: metav1.ObjectMeta{Name: "c1"}})
	if !cloudprovider.IsInsufficientCapacity(err) {
		t.Errorf("Create = %v, want insufficient capacity", err)
	}
}
