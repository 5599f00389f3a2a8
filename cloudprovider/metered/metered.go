// Package metered wraps a CloudProvider so that every call is paced by one
// client-side rate limiter, measured (latency and errors, as Prometheus
// metrics), and retried with jittered exponential backoff when it fails with
// a RetryableError, and so that launches stop for a while when the cloud
// keeps failing them. Every controller uses the one wrapped provider, so
// they share the limiter and the circuit, and never see which cloud is
// behind it.
package metered

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/time/rate"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/clock"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/cloudprovider"
	"github.com/tailor-sh/tailor/core/instancetype"
	"github.com/tailor-sh/tailor/metrics"
)

// DefaultBackoff retries a throttled or failed call four more times over
// about 1.5 seconds: long enough to ride out a burst of throttling, short
// enough that a reconcile does not hold a worker for long.
var DefaultBackoff = wait.Backoff{Duration: 100 * time.Millisecond, Factor: 2, Jitter: 0.2, Steps: 5}

// Defaults of the rate limiter: a cloud API's own limits are per account
// and per region, typically tens of calls per second; Tailor keeps well
// under them so that throttling stays the exception.
const (
	DefaultQPS   = 20
	DefaultBurst = 40
)

// Provider is a CloudProvider that paces, measures and retries the one it
// wraps.
type Provider struct {
	cloudprovider.CloudProvider
	Backoff wait.Backoff
	// Limiter paces every call, retries included.
	Limiter *rate.Limiter
	circuit *circuit
}

// Options tune the wrapper; zero values mean the defaults.
type Options struct {
	QPS              float64
	Burst            int
	CircuitThreshold int
	CircuitCooldown  time.Duration
	Clock            clock.PassiveClock
}

var _ cloudprovider.CloudProvider = (*Provider)(nil)

// New wraps p.
func New(p cloudprovider.CloudProvider, opts Options) *Provider {
	if opts.QPS <= 0 {
		opts.QPS, opts.Burst = DefaultQPS, DefaultBurst
	}
	if opts.CircuitThreshold <= 0 {
		opts.CircuitThreshold = DefaultCircuitThreshold
	}
	if opts.CircuitCooldown <= 0 {
		opts.CircuitCooldown = DefaultCircuitCooldown
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	return &Provider{
		CloudProvider: p, Backoff: DefaultBackoff,
		Limiter: rate.NewLimiter(rate.Limit(opts.QPS), max(opts.Burst, 1)),
		circuit: &circuit{clock: opts.Clock, threshold: opts.CircuitThreshold, cooldown: opts.CircuitCooldown},
	}
}

// Healthy returns nil, or why launches are paused; the NodePool status
// shows it as the CloudProviderHealthy condition.
func (p *Provider) Healthy() error { return p.circuit.healthy() }

// call runs fn, retrying it while it fails with a RetryableError, and
// records its latency and final error.
func call[T any](ctx context.Context, p *Provider, method string, fn func() (T, error)) (T, error) {
	start := time.Now()
	var (
		out     T
		lastErr error
	)
	err := wait.ExponentialBackoffWithContext(ctx, p.Backoff, func(ctx context.Context) (bool, error) {
		if err := p.Limiter.Wait(ctx); err != nil {
			return false, err
		}
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

// Create launches an instance, unless the circuit has paused launches; see
// cloudprovider.CloudProvider.
func (p *Provider) Create(ctx context.Context, nodeClaim *v1.NodeClaim) (*v1.NodeClaim, error) {
	if err := p.circuit.allow(); err != nil {
		return nil, fmt.Errorf("cloud provider %s: %w", p.Name(), err)
	}
	out, err := call(ctx, p, "Create", func() (*v1.NodeClaim, error) { return p.CloudProvider.Create(ctx, nodeClaim) })
	p.circuit.record(err)
	return out, err
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
