// Package interruption acts on a cloud's notices that it will take an
// instance away. On each notice it marks the instance's offering
// unavailable, so that nothing launches into it again soon, records the
// notice on the NodeClaim, and deletes the NodeClaim: the lifecycle taints
// and drains the node through the Eviction API, and the provisioner
// launches nodes elsewhere for the pods as they go pending, well within a
// spot instance's two-minute warning. Providers deliver notices through
// cloudprovider.InterruptionSource, whatever their cloud's mechanism.
package interruption

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/cloudprovider"
	"github.com/tailor-sh/tailor/controllers/events"
	"github.com/tailor-sh/tailor/metrics"
)

// DefaultInterval is how often notices are read: a small part of the
// two-minute warning spot instances get.
const DefaultInterval = 2 * time.Second

// Options tune the controller.
type Options struct {
	// Interval between reads of the notices; DefaultInterval when zero.
	Interval time.Duration
	// Clock defaults to the real one.
	Clock clock.WithTicker
}

// Controller handles interruption notices.
type Controller struct {
	client      client.Client
	source      cloudprovider.InterruptionSource
	unavailable *cloudprovider.UnavailableOfferings
	recorder    *events.Recorder
	opts        Options
}

// New returns a controller that reads source's notices.
func New(c client.Client, source cloudprovider.InterruptionSource, unavailable *cloudprovider.UnavailableOfferings, recorder *events.Recorder, opts Options) *Controller {
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	return &Controller{client: c, source: source, unavailable: unavailable, recorder: recorder, opts: opts}
}

// NeedLeaderElection makes only the leader act.
func (c *Controller) NeedLeaderElection() bool { return true }

// Start handles notices every interval until ctx ends.
func (c *Controller) Start(ctx context.Context) error {
	logger := log.FromContext(ctx).WithName("interruption")
	ctx = log.IntoContext(ctx, logger)
	ticker := c.opts.Clock.NewTicker(c.opts.Interval)
	defer ticker.Stop()
	for {
		if err := c.Handle(ctx); err != nil && ctx.Err() == nil {
			logger.Error(err, "handle interruption notices")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C():
		}
	}
}

// Handle reads the notices once and acts on each NodeClaim they name that
// is not already going.
func (c *Controller) Handle(ctx context.Context) error {
	notices, err := c.source.Interruptions(ctx)
	if err != nil {
		return fmt.Errorf("read interruption notices: %w", err)
	}
	if len(notices) == 0 {
		return nil
	}
	claims := &v1.NodeClaimList{}
	if err := c.client.List(ctx, claims); err != nil {
		return fmt.Errorf("list NodeClaims: %w", err)
	}
	byProviderID := map[string]*v1.NodeClaim{}
	for i := range claims.Items {
		if id := claims.Items[i].Status.ProviderID; id != "" {
			byProviderID[id] = &claims.Items[i]
		}
	}
	for _, notice := range notices {
		nc := byProviderID[notice.ProviderID]
		if nc == nil || nc.DeletionTimestamp != nil {
			continue
		}
		if err := c.interrupt(ctx, nc, notice); err != nil {
			return err
		}
	}
	return nil
}

// interrupt marks the offering unavailable, says so, and deletes the
// NodeClaim so that its node is drained while the instance still runs.
func (c *Controller) interrupt(ctx context.Context, nc *v1.NodeClaim, notice cloudprovider.Interruption) error {
	offering := cloudprovider.OfferingKey{
		InstanceType: nc.Labels[corev1.LabelInstanceTypeStable], Zone: nc.Labels[corev1.LabelTopologyZone], CapacityType: nc.Labels[v1.LabelCapacityType],
	}
	c.unavailable.MarkUnavailable(offering)
	when := "soon"
	if !notice.At.IsZero() {
		when = fmt.Sprintf("in %s", notice.At.Sub(c.opts.Clock.Now()).Round(time.Second))
	}
	c.recorder.Warning(nc, events.Interrupted, "Interrupt", "%s: the cloud takes instance %s away %s; draining the node, and offering %s is unavailable for a while",
		notice.Kind, notice.ProviderID, when, offering)
	log.FromContext(ctx).Info("interruption notice", "nodeClaim", nc.Name, "kind", notice.Kind, "at", notice.At, "offering", offering.String())
	if err := c.client.Delete(ctx, nc); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("delete interrupted NodeClaim %s: %w", nc.Name, err)
	}
	metrics.NodeClaimsTerminated.WithLabelValues(nc.Labels[v1.LabelNodePool], "interrupted").Inc()
	return nil
}
