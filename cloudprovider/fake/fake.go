// Package fake is an in-memory CloudProvider for the controllers' unit
// tests: it launches the cheapest offering a NodeClaim allows, keeps its
// instances in a map, records every call, and fails the calls a test asks it
// to fail. It follows the CloudProvider contract (idempotent Create per
// NodeClaim, NodeClaimNotFoundError from Delete and Get once an instance is
// gone) so that controllers tested against it behave as against a real
// provider. It is not registered as a provider: nothing but tests uses it.
package fake

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/cloudprovider"
	"github.com/tailor-sh/tailor/core/instancetype"
	"github.com/tailor-sh/tailor/core/requirements"
)

// CloudProvider is an in-memory cloud. Set InstanceTypes before use; the
// zero value has none.
type CloudProvider struct {
	mu sync.Mutex
	// InstanceTypes are what GetInstanceTypes returns and Create launches.
	InstanceTypes []*instancetype.InstanceType
	// CreateErrors are returned, in order, by the next calls of Create.
	CreateErrors []error
	// InstanceTypesError, when set, is returned by GetInstanceTypes.
	InstanceTypesError error
	// Drifted says which provider IDs are drifted, and why.
	Drifted map[string]cloudprovider.DriftReason
	// Calls counts the calls of each method by name.
	Calls map[string]int

	instances map[string]*v1.NodeClaim // by provider ID
	launched  int
}

var _ cloudprovider.CloudProvider = (*CloudProvider)(nil)

// Name returns "fake".
func (c *CloudProvider) Name() string { return "fake" }

func (c *CloudProvider) called(method string) {
	if c.Calls == nil {
		c.Calls = map[string]int{}
	}
	c.Calls[method]++
}

// Create launches the cheapest available offering the NodeClaim allows, or
// returns the instance already launched for the same NodeClaim name.
func (c *CloudProvider) Create(_ context.Context, nodeClaim *v1.NodeClaim) (*v1.NodeClaim, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.called("Create")
	for _, instance := range c.instances {
		if instance.Name == nodeClaim.Name {
			return instance.DeepCopy(), nil
		}
	}
	if len(c.CreateErrors) > 0 {
		err := c.CreateErrors[0]
		c.CreateErrors = c.CreateErrors[1:]
		return nil, err
	}
	it, offering, err := c.choose(nodeClaim)
	if err != nil {
		return nil, err
	}
	c.launched++
	out := nodeClaim.DeepCopy()
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	for k, v := range it.Requirements.Labels() {
		out.Labels[k] = v
	}
	out.Labels[corev1.LabelTopologyZone] = offering.Zone
	out.Labels[v1.LabelCapacityType] = offering.CapacityType
	out.Status.ProviderID = fmt.Sprintf("fake:///%s/i-%d", offering.Zone, c.launched)
	out.Status.Capacity = it.Capacity.DeepCopy()
	out.Status.Allocatable = it.Allocatable()
	if c.instances == nil {
		c.instances = map[string]*v1.NodeClaim{}
	}
	c.instances[out.Status.ProviderID] = out.DeepCopy()
	return out, nil
}

// choose returns the cheapest available offering of a type that the
// NodeClaim's requirements allow and its requests fit.
func (c *CloudProvider) choose(nodeClaim *v1.NodeClaim) (*instancetype.InstanceType, instancetype.Offering, error) {
	reqs, err := instancetype.NodeClaimRequirements(nodeClaim)
	if err != nil {
		return nil, instancetype.Offering{}, err
	}
	var (
		best     *instancetype.InstanceType
		cheapest instancetype.Offering
		tried    []cloudprovider.OfferingKey
	)
	for _, it := range c.InstanceTypes {
		if it.Compatible(reqs) != nil {
			continue
		}
		if _, fits := it.Fits(nodeClaim.Spec.Resources.Requests); !fits {
			continue
		}
		for _, o := range it.Offerings.Compatible(reqs) {
			if !o.Available {
				tried = append(tried, cloudprovider.OfferingKey{InstanceType: it.Name, Zone: o.Zone, CapacityType: o.CapacityType})
				continue
			}
			if best == nil || o.Price < cheapest.Price {
				best, cheapest = it, o
			}
		}
	}
	if best == nil {
		return nil, instancetype.Offering{}, &cloudprovider.InsufficientCapacityError{Offerings: tried}
	}
	return best, cheapest, nil
}

// Delete terminates the NodeClaim's instance, and returns a
// NodeClaimNotFoundError once there is none.
func (c *CloudProvider) Delete(_ context.Context, nodeClaim *v1.NodeClaim) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.called("Delete")
	id := nodeClaim.Status.ProviderID
	if _, ok := c.instances[id]; !ok {
		return &cloudprovider.NodeClaimNotFoundError{ID: id}
	}
	delete(c.instances, id)
	return nil
}

// Get returns the instance with the provider ID.
func (c *CloudProvider) Get(_ context.Context, providerID string) (*v1.NodeClaim, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.called("Get")
	instance, ok := c.instances[providerID]
	if !ok {
		return nil, &cloudprovider.NodeClaimNotFoundError{ID: providerID}
	}
	return instance.DeepCopy(), nil
}

// List returns every instance, in provider ID order.
func (c *CloudProvider) List(context.Context) ([]*v1.NodeClaim, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.called("List")
	out := make([]*v1.NodeClaim, 0, len(c.instances))
	for _, instance := range c.instances {
		out = append(out, instance.DeepCopy())
	}
	slices.SortFunc(out, func(a, b *v1.NodeClaim) int { return strings.Compare(a.Status.ProviderID, b.Status.ProviderID) })
	return out, nil
}

// GetInstanceTypes returns InstanceTypes, or InstanceTypesError.
func (c *CloudProvider) GetInstanceTypes(context.Context, *v1.NodePool) ([]*instancetype.InstanceType, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.called("GetInstanceTypes")
	if c.InstanceTypesError != nil {
		return nil, c.InstanceTypesError
	}
	return slices.Clone(c.InstanceTypes), nil
}

// IsDrifted returns the reason Drifted gives for the NodeClaim's instance.
func (c *CloudProvider) IsDrifted(_ context.Context, nodeClaim *v1.NodeClaim) (cloudprovider.DriftReason, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.called("IsDrifted")
	return c.Drifted[nodeClaim.Status.ProviderID], nil
}

// AddInstance records an instance as if the cloud had launched it, for
// tests of garbage collection and restarts.
func (c *CloudProvider) AddInstance(instance *v1.NodeClaim) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.instances == nil {
		c.instances = map[string]*v1.NodeClaim{}
	}
	c.instances[instance.Status.ProviderID] = instance.DeepCopy()
}

// InstanceType returns an amd64 Linux type with the given cpu and memory,
// no overhead, sold on demand in each zone at price and as spot at 30% of it.
func InstanceType(name, cpu, memory string, price float64, zones ...string) *instancetype.InstanceType {
	it := &instancetype.InstanceType{
		Name: name,
		Requirements: requirements.FromLabels(map[string]string{
			corev1.LabelInstanceTypeStable: name, corev1.LabelArchStable: "amd64", corev1.LabelOSStable: "linux",
		}),
		Capacity: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(memory),
			corev1.ResourcePods: resource.MustParse("110"),
		},
	}
	for _, zone := range zones {
		it.Offerings = append(it.Offerings,
			instancetype.Offering{Zone: zone, CapacityType: v1.CapacityTypeOnDemand, Price: price, Available: true},
			instancetype.Offering{Zone: zone, CapacityType: v1.CapacityTypeSpot, Price: price * 0.3, Available: true})
	}
	return it
}
