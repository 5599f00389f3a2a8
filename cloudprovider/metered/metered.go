// Package metered wraps a CloudProvider so that every call is measured
// (latency and errors, as Prometheus metrics) and calls that fail with a
// RetryableError are retried with exponential backoff. Controllers use the
// wrapped provider and never see which cloud is behind it.
package metered

import (
	"context"
	"errors"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/cloudprovider"
	"github.com/tailor-sh/tailor/core/instancetype"
	"github.com/tailor-sh/tailor/metrics"
)

// DefaultBackoff retries a throttled or failed call four more times over
// about 1.5 seconds: long enough to ride out a burst of throttling, short
// enough that a reconcile does not hold a worker for long.
var DefaultBackoff = wait.Backoff{Duration: 100 * time.Millisecond, Factor: 2, Jitter: 0.2, Steps: 5}

// Provider is a CloudProvider that measures and retries the one it wraps.
type Provider struct {
	cloudprovider.CloudProvider
	Backoff wait.Backoff
}

var _ cloudprovider.CloudProvider = (*Provider)(nil)

// New wraps p.
func New(p cloudprovider.CloudProvider) *Provider {
	return &Provider{CloudProvider: p, Backoff: DefaultBackoff}
}

// call runs fn, retrying it while it fails with a RetryableError, and
// records its latency and final error.
func call[T any](ctx context.Context, p *Provider, method string, fn func() (T, error)) (T, error) {
	start := time.Now()
	var (
		out     T
		lastErr error
	)
	err := wait.ExponentialBackoffWithContext(ctx, p.Backoff, func(context.Context) (bool, error) {
		out, lastErr = fn()
		if lastErr != nil && cloudprovider.IsRetryable(lastErr) {
			return false, nil
		}
		return true, lastErr
	})
	if err != nil && lastErr != nil && (wait.Interrupted(err) || errors.Is(err, context.Canceled)) {
		err = lastErr // out of retries: report what the cloud said
	}
	name := p.Name()
	metrics.CloudCallDuration.WithLabelValues(name, method).Observe(time.Since(start).Seconds())
	if err != nil {
		metrics.CloudCallErrors.WithLabelValues(name, method, errorKind(err)).Inc()
	}
	return out, err
}

func errorKind(err error) string {
	switch {
	case cloudprovider.IsInsufficientCapacity(err):
		return "insufficient_capacity"
	case cloudprovider.IsNodeClaimNotFound(err):
		return "not_found"
	case cloudprovider.IsNodeClassNotReady(err):
		return "nodeclass_not_ready"
	case cloudprovider.IsRetryable(err):
		return "retryable"
	}
	return "other"
}

// Create launches an instance; see cloudprovider.CloudProvider.
func (p *Provider) Create(ctx context.Context, nodeClaim *v1.NodeClaim) (*v1.NodeClaim, error) {
	return call(ctx, p, "Create", func() (*v1.NodeClaim, error) { return p.CloudProvider.Create(ctx, nodeClaim) })
}

// Delete terminates an instance; see cloudprovider.CloudProvider.
func (p *Provider) Delete(ctx context.Context, nodeClaim *v1.NodeClaim) error {
	_, err := call(ctx, p, "Delete", func() (struct{}, error) { return struct{}{}, p.CloudProvider.Delete(ctx, nodeClaim) })
	return err
}

// Get finds an instance; see cloudprovider.CloudProvider.
func (p *Provider) Get(ctx context.Context, providerID string) (*v1.NodeClaim, error) {
	return call(ctx, p, "Get", func() (*v1.NodeClaim, error) { return p.CloudProvider.Get(ctx, providerID) })
}

// List lists instances; see cloudprovider.CloudProvider.
func (p *Provider) List(ctx context.Context) ([]*v1.NodeClaim, error) {
	return call(ctx, p, "List", func() ([]*v1.NodeClaim, error) { return p.CloudProvider.List(ctx) })
}

// GetInstanceTypes lists instance types; see cloudprovider.CloudProvider.
func (p *Provider) GetInstanceTypes(ctx context.Context, nodePool *v1.NodePool) ([]*instancetype.InstanceType, error) {
	return call(ctx, p, "GetInstanceTypes", func() ([]*instancetype.InstanceType, error) {
		return p.CloudProvider.GetInstanceTypes(ctx, nodePool)
	})
}

// IsDrifted checks drift; see cloudprovider.CloudProvider.
func (p *Provider) IsDrifted(ctx context.Context, nodeClaim *v1.NodeClaim) (cloudprovider.DriftReason, error) {
	return call(ctx, p, "IsDrifted", func() (cloudprovider.DriftReason, error) { return p.CloudProvider.IsDrifted(ctx, nodeClaim) })
}
