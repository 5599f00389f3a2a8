// Package garbagecollection reconciles the cloud with the cluster on a
// timer: an instance that no NodeClaim accounts for (leaked, say by a claim
// whose finalizer was removed by hand) is terminated after a grace period, a
// NodeClaim whose instance has vanished is deleted, and a Node left holding
// Tailor's finalizer without a NodeClaim is released.
package garbagecollection

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/cloudprovider"
	"github.com/tailor-sh/tailor/controllers/events"
	"github.com/tailor-sh/tailor/metrics"
)

// Defaults of Options.
const (
	DefaultInterval = 30 * time.Second
	// DefaultGracePeriod covers the time between a launch and the moment the
	// launching NodeClaim's status records it, and informer lag.
	DefaultGracePeriod = time.Minute
)

// Options tune the collector.
type Options struct {
	Interval    time.Duration
	GracePeriod time.Duration
	// Clock paces the passes and tells the age of instances and
	// NodeClaims; nil means the real one. Tests set a fake one.
	Clock clock.WithTicker
}

// Collector is a controller-runtime Runnable that runs on the leader.
type Collector struct {
	client   client.Client
	provider cloudprovider.CloudProvider
	recorder *events.Recorder
	opts     Options
}

// New returns a collector.
func New(c client.Client, provider cloudprovider.CloudProvider, recorder *events.Recorder, opts Options) *Collector {
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.GracePeriod <= 0 {
		opts.GracePeriod = DefaultGracePeriod
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	return &Collector{client: c, provider: provider, recorder: recorder, opts: opts}
}

// NeedLeaderElection makes only the leader collect.
func (g *Collector) NeedLeaderElection() bool { return true }

// Start collects every interval until ctx ends.
func (g *Collector) Start(ctx context.Context) error {
	logger := log.FromContext(ctx).WithName("garbage-collection")
	ctx = log.IntoContext(ctx, logger)
	ticker := g.opts.Clock.NewTicker(g.opts.Interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C():
			if err := g.Collect(ctx); err != nil && ctx.Err() == nil {
				logger.Error(err, "garbage collection failed")
			}
		}
	}
}

// Collect runs one pass.
func (g *Collector) Collect(ctx context.Context) error {
	logger := log.FromContext(ctx)
	instances, err := g.provider.List(ctx)
	if err != nil {
		return fmt.Errorf("list instances: %w", err)
	}
	claims := &v1.NodeClaimList{}
	if err := g.client.List(ctx, claims); err != nil {
		return err
	}
	byName := map[string]*v1.NodeClaim{}
	byUID := map[types.UID]*v1.NodeClaim{}
	byProviderID := map[string]*v1.NodeClaim{}
	for i := range claims.Items {
		nc := &claims.Items[i]
		byName[nc.Name], byUID[nc.UID] = nc, nc
		if nc.Status.ProviderID != "" {
			byProviderID[nc.Status.ProviderID] = nc
		}
	}
	running := map[string]bool{}
	for _, instance := range instances {
		running[instance.Status.ProviderID] = true
		if byProviderID[instance.Status.ProviderID] != nil || accountedFor(instance, byUID, byName) {
			continue
		}
		if g.opts.Clock.Since(instance.CreationTimestamp.Time) < g.opts.GracePeriod {
			continue
		}
		logger.Info("terminating a leaked instance that no NodeClaim accounts for", "providerID", instance.Status.ProviderID, "nodeClaim", instance.Name)
		if err := g.provider.Delete(ctx, instance); err != nil {
			if !cloudprovider.IsNodeClaimNotFound(err) {
				logger.Error(err, "terminate leaked instance", "providerID", instance.Status.ProviderID)
			}
			continue
		}
		metrics.NodeClaimsTerminated.WithLabelValues(instance.Labels[v1.LabelNodePool], "leaked").Inc()
	}
	for _, nc := range byProviderID {
		if running[nc.Status.ProviderID] || nc.DeletionTimestamp != nil || g.opts.Clock.Since(nc.CreationTimestamp.Time) < g.opts.GracePeriod {
			continue
		}
		if !apimeta.IsStatusConditionTrue(nc.Status.Conditions, v1.ConditionLaunched) {
			continue
		}
		// List may lag behind a launch; ask for this one instance.
		if _, err := g.provider.Get(ctx, nc.Status.ProviderID); !cloudprovider.IsNodeClaimNotFound(err) {
			continue
		}
		logger.Info("deleting a NodeClaim whose instance is gone", "nodeClaim", nc.Name, "providerID", nc.Status.ProviderID)
		g.recorder.Warning(nc, events.GarbageCollected, "GarbageCollect", "Instance %s no longer exists; deleting the NodeClaim", nc.Status.ProviderID)
		if err := g.client.Delete(ctx, nc); client.IgnoreNotFound(err) != nil {
			logger.Error(err, "delete NodeClaim", "nodeClaim", nc.Name)
			continue
		}
		metrics.NodeClaimsTerminated.WithLabelValues(nc.Labels[v1.LabelNodePool], "instance_gone").Inc()
	}
	return g.releaseNodes(ctx, byProviderID)
}

// accountedFor reports whether a NodeClaim owns the instance, launched but
// not yet recorded in its status: the one with the instance's NodeClaim UID.
// A name alone proves nothing, since a later NodeClaim may reuse it; only an
// instance that carries no UID (launched by an older Tailor) is matched by
// name.
func accountedFor(instance *v1.NodeClaim, byUID map[types.UID]*v1.NodeClaim, byName map[string]*v1.NodeClaim) bool {
	if instance.UID != "" {
		return byUID[instance.UID] != nil
	}
	return byName[instance.Name] != nil
}

// releaseNodes removes Tailor's finalizer from deleted Nodes that no
// NodeClaim will finalize.
func (g *Collector) releaseNodes(ctx context.Context, claims map[string]*v1.NodeClaim) error {
	nodes := &corev1.NodeList{}
	if err := g.client.List(ctx, nodes); err != nil {
		return err
	}
	for i := range nodes.Items {
		node := &nodes.Items[i]
		if node.DeletionTimestamp == nil || !controllerutil.ContainsFinalizer(node, v1.TerminationFinalizer) || claims[node.Spec.ProviderID] != nil {
			continue
		}
		patch := client.MergeFromWithOptions(node.DeepCopy(), client.MergeFromWithOptimisticLock{})
		controllerutil.RemoveFinalizer(node, v1.TerminationFinalizer)
		if err := g.client.Patch(ctx, node, patch); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("release Node %s: %w", node.Name, err)
		}
	}
	return nil
}
