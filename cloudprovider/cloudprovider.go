// Package cloudprovider defines what Tailor needs from a cloud: the
// CloudProvider interface that every provider (the simulated cloud, AWS, GCP)
// implements, the errors it reports, and the model of instance types and
// their offerings that the scheduling core prices and fits pods against.
//
// Nothing above this package knows which cloud it talks to. Providers live in
// the packages below it.
package cloudprovider

import (
	"context"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/core/instancetype"
)

// CloudProvider launches, finds and terminates instances for NodeClaims and
// describes the instance types a NodePool may use.
//
// Implementations must be safe for concurrent use. Every method may be called
// again after a crash of the controller at any point, so each must be
// idempotent with respect to the NodeClaim it is given:
//
//   - Create launches at most one instance per NodeClaim name, ever. Called
//     again for a NodeClaim whose instance already exists (because the
//     controller crashed before recording the result), it returns that
//     instance instead of launching another. It returns the NodeClaim
//     hydrated with status.providerID, status.capacity, status.allocatable,
//     status.imageID and the labels of the chosen instance type, zone and
//     capacity type. It fails with an InsufficientCapacityError when no
//     offering the NodeClaim allows has capacity, and with a
//     NodeClassNotReadyError when the node class cannot be used yet.
//   - Delete terminates the instance of the NodeClaim (found by
//     status.providerID). It returns a NodeClaimNotFoundError once the
//     instance is gone, so callers call it until they see that error.
//   - Get returns the instance with the given provider ID as a NodeClaim, or
//     a NodeClaimNotFoundError.
//   - List returns every instance that this cluster's Tailor launched,
//     including those whose NodeClaim was lost; garbage collection relies
//     on it to find leaks. Another cluster's instances are never listed.
//     Each carries the name and UID of the NodeClaim it was launched for,
//     so that an instance is matched to its NodeClaim by identity, never by
//     a name that a later NodeClaim may reuse.
//   - GetInstanceTypes returns every instance type the NodePool's node class
//     can launch, including types whose offerings are all unavailable right
//     now (their Available flags say so), so that callers can explain why a
//     type was not chosen.
//   - IsDrifted returns a non-empty DriftReason when the NodeClaim's
//     instance no longer matches its node class.
//   - Name is a short, stable identifier such as "sim", "aws" or "gcp".
type CloudProvider interface {
	Create(ctx context.Context, nodeClaim *v1.NodeClaim) (*v1.NodeClaim, error)
	Delete(ctx context.Context, nodeClaim *v1.NodeClaim) error
	Get(ctx context.Context, providerID string) (*v1.NodeClaim, error)
	List(ctx context.Context) ([]*v1.NodeClaim, error)
	GetInstanceTypes(ctx context.Context, nodePool *v1.NodePool) ([]*instancetype.InstanceType, error)
	IsDrifted(ctx context.Context, nodeClaim *v1.NodeClaim) (DriftReason, error)
	Name() string
}

// HealthReporter is implemented by a CloudProvider that can tell that it is
// failing: Healthy returns nil, or why launches are paused. NodePools show it
// as their CloudProviderHealthy condition.
type HealthReporter interface {
	Healthy() error
}

// DriftReason says why an instance no longer matches its node class, for
// example "ImageChanged". Empty means not drifted.
type DriftReason string
