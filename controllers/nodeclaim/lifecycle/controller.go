package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/cloudprovider"
	"github.com/tailor-sh/tailor/controllers/events"
	"github.com/tailor-sh/tailor/controllers/state"
	"github.com/tailor-sh/tailor/metrics"
)

// Defaults of Options.
const (
	DefaultLaunchTimeout       = 5 * time.Minute
	DefaultRegistrationTimeout = 15 * time.Minute
)

// Options tune the controller.
type Options struct {
	// LaunchTimeout is how long a claim may try to launch before it is
	// deleted.
	LaunchTimeout time.Duration
	// RegistrationTimeout is how long a claim may wait, from creation, for
	// its Node to join.
	RegistrationTimeout time.Duration
	// MaxConcurrentReconciles bounds parallel launches; cloud calls are
	// slow, so it is high.
	MaxConcurrentReconciles int
	// Clock tells the age of claims against the timeouts and the time a
	// drain has taken; nil means the real one. Tests set a fake one to step
	// past the deadlines.
	Clock clock.WithTicker
}

// Controller reconciles NodeClaims through their lifecycle.
type Controller struct {
	client client.Client
	// apiReader reads from the API server, bypassing the cache.
	apiReader   client.Reader
	provider    cloudprovider.CloudProvider
	unavailable *cloudprovider.UnavailableOfferings
	recorder    *events.Recorder
	opts        Options
	drainer     *Drainer
}

// New returns the controller; apiReader reads past the cache, and
// unavailable is the offering cache the provider reads.
func New(c client.Client, apiReader client.Reader, provider cloudprovider.CloudProvider, unavailable *cloudprovider.UnavailableOfferings, recorder *events.Recorder, opts Options) *Controller {
	if opts.LaunchTimeout <= 0 {
		opts.LaunchTimeout = DefaultLaunchTimeout
	}
	if opts.RegistrationTimeout <= 0 {
		opts.RegistrationTimeout = DefaultRegistrationTimeout
	}
	if opts.MaxConcurrentReconciles <= 0 {
		opts.MaxConcurrentReconciles = 64
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	return &Controller{client: c, apiReader: apiReader, provider: provider, unavailable: unavailable, recorder: recorder, opts: opts,
		drainer: &Drainer{Client: c, Recorder: recorder, Clock: opts.Clock}}
}

// SetupWithManager registers the controller: it watches NodeClaims, and
// Nodes for the claims whose instances they are.
func (c *Controller) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("nodeclaim.lifecycle").
		For(&v1.NodeClaim{}).
		Watches(&corev1.Node{}, handler.EnqueueRequestsFromMapFunc(c.claimsOfNode)).
		WithOptions(controller.Options{MaxConcurrentReconciles: c.opts.MaxConcurrentReconciles}).
		Complete(c)
}

// claimsOfNode maps a Node to the NodeClaim with its provider ID.
func (c *Controller) claimsOfNode(ctx context.Context, obj client.Object) []reconcile.Request {
	node := obj.(*corev1.Node)
	if node.Spec.ProviderID == "" {
		return nil
	}
	claims := &v1.NodeClaimList{}
	if err := c.client.List(ctx, claims, client.MatchingFields{state.FieldNodeClaimProviderID: node.Spec.ProviderID}); err != nil {
		return nil
	}
	out := make([]reconcile.Request, 0, len(claims.Items))
	for _, nc := range claims.Items {
		out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Name: nc.Name}})
	}
	return out
}

// Reconcile moves one NodeClaim forward. A write that lost a race with
// another writer is tried again shortly, without an error: it is expected.
func (c *Controller) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	result, err := c.reconcile(ctx, req)
	if apierrors.IsConflict(err) {
		log.FromContext(ctx).V(1).Info("conflict; trying again", "error", err.Error())
		return reconcile.Result{RequeueAfter: 100 * time.Millisecond}, nil
	}
	return result, err
}

func (c *Controller) reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	nc := &v1.NodeClaim{}
	if err := c.client.Get(ctx, req.NamespacedName, nc); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	ctx = log.IntoContext(ctx, log.FromContext(ctx).WithValues("nodeClaim", nc.Name, "nodePool", nc.Labels[v1.LabelNodePool]))
	if nc.DeletionTimestamp != nil {
		return c.finalize(ctx, nc)
	}
	if !controllerutil.ContainsFinalizer(nc, v1.TerminationFinalizer) {
		patch := lockedPatch(nc)
		controllerutil.AddFinalizer(nc, v1.TerminationFinalizer)
		if err := c.client.Patch(ctx, nc, patch); err != nil {
			return reconcile.Result{}, client.IgnoreNotFound(err)
		}
	}
	if gone, err := c.nodeGone(ctx, nc); gone || err != nil {
		return reconcile.Result{}, err
	}
	before := nc.DeepCopy()
	var (
		result reconcile.Result
		err    error
	)
	for _, step := range []func(context.Context, *v1.NodeClaim) (reconcile.Result, error){c.launch, c.register, c.initialize} {
		result, err = step(ctx, nc)
		if err != nil || !result.IsZero() {
			break
		}
	}
	setReady(nc)
	// Liveness watches launch and registration; a registered node that
	// never gets ready is waited for on its Node's events, not polled.
	if !apimeta.IsStatusConditionTrue(nc.Status.Conditions, v1.ConditionRegistered) {
		if gone, liveErr := c.liveness(ctx, nc); gone || liveErr != nil {
			return reconcile.Result{}, liveErr
		} else if wait := c.untilTimeout(nc); result.RequeueAfter == 0 || wait < result.RequeueAfter {
			result.RequeueAfter = wait
		}
	}
	if !equality.Semantic.DeepEqual(before.Status, nc.Status) {
		if patchErr := c.client.Status().Patch(ctx, nc, client.MergeFrom(before)); patchErr != nil {
			return reconcile.Result{}, errors.Join(err, client.IgnoreNotFound(patchErr))
		}
	}
	return result, err
}

// setCondition sets a condition, stamped with the claim's generation.
func setCondition(nc *v1.NodeClaim, conditionType string, status metav1.ConditionStatus, reason, message string) {
	apimeta.SetStatusCondition(&nc.Status.Conditions, metav1.Condition{
		Type: conditionType, Status: status, Reason: reason, Message: message, ObservedGeneration: nc.Generation,
	})
}

// setReady sets Ready from Launched, Registered and Initialized.
func setReady(nc *v1.NodeClaim) {
	for _, t := range []string{v1.ConditionLaunched, v1.ConditionRegistered, v1.ConditionInitialized} {
		cond := apimeta.FindStatusCondition(nc.Status.Conditions, t)
		if cond == nil || cond.Status != metav1.ConditionTrue {
			reason, message := "Awaiting"+t, "waiting to be "+t
			if cond != nil {
				reason, message = cond.Reason, cond.Message
			}
			setCondition(nc, v1.ConditionReady, metav1.ConditionFalse, reason, message)
			return
		}
	}
	setCondition(nc, v1.ConditionReady, metav1.ConditionTrue, "Ready", "")
}

// observePhase records the time from creation to a phase once.
func (c *Controller) observePhase(nc *v1.NodeClaim, phase string) {
	metrics.PhaseDuration.WithLabelValues(nc.Labels[v1.LabelNodePool], phase).Observe(c.opts.Clock.Since(nc.CreationTimestamp.Time).Seconds())
}

// launch creates the claim's instance.
func (c *Controller) launch(ctx context.Context, nc *v1.NodeClaim) (reconcile.Result, error) {
	if apimeta.IsStatusConditionTrue(nc.Status.Conditions, v1.ConditionLaunched) {
		return reconcile.Result{}, nil
	}
	logger := log.FromContext(ctx)
	var (
		launched *v1.NodeClaim
		err      error
	)
	// Each insufficient-capacity answer marks what was tried, so the next
	// call gets the next cheapest offering the claim allows.
	for attempt := 0; attempt < 5; attempt++ {
		launched, err = c.provider.Create(ctx, nc)
		var ice *cloudprovider.InsufficientCapacityError
		if !errors.As(err, &ice) || len(ice.Offerings) == 0 {
			break
		}
		c.unavailable.MarkUnavailable(ice.Offerings...)
		logger.Info("insufficient capacity; trying the next cheapest offering", "offerings", ice.Offerings)
	}
	switch {
	case err == nil:
	case cloudprovider.IsInsufficientCapacity(err):
		c.recorder.Warning(nc, events.InsufficientCapacity, "Launch", "No capacity for any offering this NodeClaim allows (%v); deleting it so that its pods are provisioned again", err)
		return reconcile.Result{}, c.remove(ctx, nc, "insufficient_capacity")
	case cloudprovider.IsNodeClassNotReady(err):
		setCondition(nc, v1.ConditionLaunched, metav1.ConditionFalse, "NodeClassNotReady", err.Error())
		c.recorder.Warning(nc, events.NodeClassNotReady, "Launch", "%v", err)
		return reconcile.Result{RequeueAfter: 10 * time.Second}, nil
	default:
		setCondition(nc, v1.ConditionLaunched, metav1.ConditionFalse, "LaunchFailed", err.Error())
		c.recorder.Warning(nc, events.LaunchFailed, "Launch", "Launch failed, will retry: %v", err)
		return reconcile.Result{}, fmt.Errorf("launch NodeClaim %s: %w", nc.Name, err)
	}
	patch := client.MergeFrom(nc.DeepCopy())
	if nc.Labels == nil {
		nc.Labels = map[string]string{}
	}
	for k, v := range launched.Labels {
		nc.Labels[k] = v
	}
	if err := c.client.Patch(ctx, nc, patch); err != nil {
		return reconcile.Result{}, fmt.Errorf("record labels of NodeClaim %s: %w", nc.Name, err)
	}
	nc.Status.ProviderID = launched.Status.ProviderID
	nc.Status.ImageID = launched.Status.ImageID
	nc.Status.Capacity = launched.Status.Capacity
	nc.Status.Allocatable = launched.Status.Allocatable
	message := fmt.Sprintf("%s %s in %s", nc.Labels[v1.LabelCapacityType], nc.Labels[corev1.LabelInstanceTypeStable], nc.Labels[corev1.LabelTopologyZone])
	setCondition(nc, v1.ConditionLaunched, metav1.ConditionTrue, "Launched", message)
	// The status must carry the provider ID before anything else happens;
	// write it now rather than at the end of the reconcile.
	if err := c.client.Status().Update(ctx, nc); err != nil {
		return reconcile.Result{}, fmt.Errorf("record launch of NodeClaim %s: %w", nc.Name, err)
	}
	c.observePhase(nc, v1.ConditionLaunched)
	logger.Info("launched", "providerID", nc.Status.ProviderID, "instance", message)
	c.recorder.Normal(nc, events.Launched, "Launch", "Launched %s (%s)", message, nc.Status.ProviderID)
	return reconcile.Result{}, nil
}

// nodeOf returns the claim's Node, or nil before it has joined.
func (c *Controller) nodeOf(ctx context.Context, nc *v1.NodeClaim) (*corev1.Node, error) {
	if nc.Status.ProviderID == "" {
		return nil, nil
	}
	nodes := &corev1.NodeList{}
	if err := c.client.List(ctx, nodes, client.MatchingFields{state.FieldNodeProviderID: nc.Status.ProviderID}); err != nil {
		return nil, fmt.Errorf("find the Node of NodeClaim %s: %w", nc.Name, err)
	}
	switch len(nodes.Items) {
	case 0:
		return nil, nil
	case 1:
		return &nodes.Items[0], nil
	}
	return nil, fmt.Errorf("%d Nodes have provider ID %s", len(nodes.Items), nc.Status.ProviderID)
}

// register syncs the claim's Node once it has joined.
func (c *Controller) register(ctx context.Context, nc *v1.NodeClaim) (reconcile.Result, error) {
	if apimeta.IsStatusConditionTrue(nc.Status.Conditions, v1.ConditionRegistered) {
		return reconcile.Result{}, nil
	}
	node, err := c.nodeOf(ctx, nc)
	if err != nil {
		return reconcile.Result{}, err
	}
	if node == nil {
		setCondition(nc, v1.ConditionRegistered, metav1.ConditionFalse, "NodeNotFound", "waiting for the instance's Node to join")
		return reconcile.Result{RequeueAfter: 5 * time.Second}, nil // the Node watch usually comes first
	}
	// A joining Node changes every few hundred milliseconds (its kubelet
	// reports status), so the locked patch may conflict: read it afresh
	// and try again at once, as client-go's retry idiom does.
	key := client.ObjectKeyFromObject(node)
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := c.apiReader.Get(ctx, key, node); err != nil {
			return err
		}
		patch := lockedPatch(node)
		syncNode(nc, node)
		return c.client.Patch(ctx, node, patch)
	})
	if err != nil {
		return reconcile.Result{}, fmt.Errorf("register Node %s: %w", key.Name, err)
	}
	nc.Status.NodeName = node.Name
	setCondition(nc, v1.ConditionRegistered, metav1.ConditionTrue, "Registered", "Node "+node.Name)
	c.observePhase(nc, v1.ConditionRegistered)
	c.recorder.Normal(nc, events.Registered, "Register", "Node %s joined", node.Name)
	return reconcile.Result{}, nil
}

// syncNode puts the claim's labels, taints and startup taints and Tailor's
// finalizer on its Node, and takes the unregistered taint off.
func syncNode(nc *v1.NodeClaim, node *corev1.Node) {
	if node.Labels == nil {
		node.Labels = map[string]string{}
	}
	for k, v := range nc.Labels {
		node.Labels[k] = v
	}
	node.Labels[v1.LabelNodeRegistered] = "true"
	controllerutil.AddFinalizer(node, v1.TerminationFinalizer)
	node.Spec.Taints = slices.DeleteFunc(node.Spec.Taints, func(t corev1.Taint) bool { return t.Key == v1.TaintKeyUnregistered })
	for _, t := range append(slices.Clone(nc.Spec.Taints), nc.Spec.StartupTaints...) {
		if !slices.ContainsFunc(node.Spec.Taints, func(have corev1.Taint) bool { return have.MatchTaint(&t) }) {
			node.Spec.Taints = append(node.Spec.Taints, t)
		}
	}
}

// initialize marks the claim initialized once its Node can run its pods.
func (c *Controller) initialize(ctx context.Context, nc *v1.NodeClaim) (reconcile.Result, error) {
	if apimeta.IsStatusConditionTrue(nc.Status.Conditions, v1.ConditionInitialized) {
		return reconcile.Result{}, nil
	}
	node, err := c.nodeOf(ctx, nc)
	if err != nil || node == nil {
		return reconcile.Result{}, err
	}
	if why := notInitialized(nc, node); why != "" {
		setCondition(nc, v1.ConditionInitialized, metav1.ConditionFalse, "NotInitialized", why)
		return reconcile.Result{}, nil // a change of the Node requeues
	}
	if node.Labels[v1.LabelNodeInitialized] != "true" {
		patch := client.MergeFrom(node.DeepCopy())
		node.Labels[v1.LabelNodeInitialized] = "true"
		if err := c.client.Patch(ctx, node, patch); err != nil {
			return reconcile.Result{}, fmt.Errorf("label Node %s initialized: %w", node.Name, err)
		}
	}
	setCondition(nc, v1.ConditionInitialized, metav1.ConditionTrue, "Initialized", "")
	c.observePhase(nc, v1.ConditionInitialized)
	c.recorder.Normal(nc, events.Initialized, "Initialize", "Node %s is ready for pods", node.Name)
	return reconcile.Result{}, nil
}

// notInitialized says why a Node cannot run the claim's pods yet, or "".
func notInitialized(nc *v1.NodeClaim, node *corev1.Node) string {
	ready := false
	for _, cond := range node.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			ready = cond.Status == corev1.ConditionTrue
		}
	}
	if !ready {
		return "Node is not Ready"
	}
	for _, t := range nc.Spec.StartupTaints {
		if slices.ContainsFunc(node.Spec.Taints, func(have corev1.Taint) bool { return have.MatchTaint(&t) }) {
			return fmt.Sprintf("startup taint %s is still on the Node", t.ToString())
		}
	}
	for _, t := range node.Spec.Taints {
		if t.Key == v1.TaintKeyUnregistered || t.Key == corev1.TaintNodeNotReady || t.Key == corev1.TaintNodeUnreachable {
			return fmt.Sprintf("taint %s is still on the Node", t.ToString())
		}
	}
	for name, want := range nc.Spec.Resources.Requests {
		if want.IsZero() || !isExtended(name) {
			continue
		}
		if have, ok := node.Status.Allocatable[name]; !ok || have.IsZero() {
			return fmt.Sprintf("resource %s is not yet allocatable", name)
		}
	}
	return ""
}

func isExtended(name corev1.ResourceName) bool {
	switch name {
	case corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourcePods, corev1.ResourceEphemeralStorage:
		return false
	}
	return true
}

// untilTimeout is how long until the claim's next liveness deadline.
func (c *Controller) untilTimeout(nc *v1.NodeClaim) time.Duration {
	age := c.opts.Clock.Since(nc.CreationTimestamp.Time)
	deadline := c.opts.RegistrationTimeout
	if !apimeta.IsStatusConditionTrue(nc.Status.Conditions, v1.ConditionLaunched) {
		deadline = c.opts.LaunchTimeout
	}
	return max(deadline-age, time.Second)
}

// liveness deletes a claim that has not launched or registered in time.
func (c *Controller) liveness(ctx context.Context, nc *v1.NodeClaim) (bool, error) {
	age := c.opts.Clock.Since(nc.CreationTimestamp.Time)
	launched := apimeta.IsStatusConditionTrue(nc.Status.Conditions, v1.ConditionLaunched)
	registered := apimeta.IsStatusConditionTrue(nc.Status.Conditions, v1.ConditionRegistered)
	switch {
	case !launched && age >= c.opts.LaunchTimeout:
		c.recorder.Warning(nc, events.LivenessTimeout, "Liveness", "Not launched within %s; deleting the NodeClaim so that its pods are provisioned again", c.opts.LaunchTimeout)
		return true, c.remove(ctx, nc, "launch_timeout")
	case launched && !registered && age >= c.opts.RegistrationTimeout:
		c.recorder.Warning(nc, events.LivenessTimeout, "Liveness", "Node did not join within %s; deleting the NodeClaim and its instance", c.opts.RegistrationTimeout)
		return true, c.remove(ctx, nc, "registration_timeout")
	}
	return false, nil
}

// nodeGone deletes the claim when its Node is being deleted by someone else
// (a user's kubectl delete node, or the cloud taking the instance away): the
// claim's finalizer then terminates the instance and releases the Node.
func (c *Controller) nodeGone(ctx context.Context, nc *v1.NodeClaim) (bool, error) {
	node, err := c.nodeOf(ctx, nc)
	if err != nil || node == nil || node.DeletionTimestamp == nil {
		return false, err
	}
	return true, c.remove(ctx, nc, "node_deleted")
}

// remove deletes the claim and counts why.
func (c *Controller) remove(ctx context.Context, nc *v1.NodeClaim, reason string) error {
	if err := c.client.Delete(ctx, nc); err != nil {
		return client.IgnoreNotFound(err)
	}
	metrics.NodeClaimsTerminated.WithLabelValues(nc.Labels[v1.LabelNodePool], reason).Inc()
	log.FromContext(ctx).Info("deleted NodeClaim", "reason", reason)
	return nil
}

// finalize terminates a deleted claim's Node and instance, then lets the
// claim go.
func (c *Controller) finalize(ctx context.Context, nc *v1.NodeClaim) (reconcile.Result, error) {
	if !controllerutil.ContainsFinalizer(nc, v1.TerminationFinalizer) {
		return reconcile.Result{}, nil
	}
	node, err := c.nodeOf(ctx, nc)
	if err != nil {
		return reconcile.Result{}, err
	}
	if node != nil {
		if drained, err := c.drain(ctx, nc, node); err != nil || !drained {
			return reconcile.Result{RequeueAfter: drainRetry(nc, c.opts.Clock.Now())}, err
		}
		if node.DeletionTimestamp == nil {
			if err := c.client.Delete(ctx, node); err != nil && !apierrors.IsNotFound(err) {
				return reconcile.Result{}, fmt.Errorf("delete Node %s: %w", node.Name, err)
			}
		}
	}
	// Even a claim that never recorded a launch may have an instance: the
	// provider finds it by the claim's identity.
	if err := c.provider.Delete(ctx, nc); err == nil {
		return reconcile.Result{RequeueAfter: time.Second}, nil // terminating; look again
	} else if !cloudprovider.IsNodeClaimNotFound(err) {
		return reconcile.Result{}, fmt.Errorf("terminate the instance of NodeClaim %s: %w", nc.Name, err)
	}
	if node != nil && controllerutil.ContainsFinalizer(node, v1.TerminationFinalizer) {
		patch := lockedPatch(node)
		controllerutil.RemoveFinalizer(node, v1.TerminationFinalizer)
		if err := c.client.Patch(ctx, node, patch); err != nil && !apierrors.IsNotFound(err) {
			return reconcile.Result{}, fmt.Errorf("release Node %s: %w", node.Name, err)
		}
	}
	patch := lockedPatch(nc)
	controllerutil.RemoveFinalizer(nc, v1.TerminationFinalizer)
	if err := c.client.Patch(ctx, nc, patch); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	log.FromContext(ctx).Info("terminated", "providerID", nc.Status.ProviderID)
	return reconcile.Result{}, nil
}

// drainRetry is how long to wait before trying a drain again: a second at
// first, then a quarter of the time the drain has taken, up to 15 seconds, so
// that a drain a PodDisruptionBudget holds for long is not retried every
// second.
func drainRetry(nc *v1.NodeClaim, now time.Time) time.Duration {
	if nc.DeletionTimestamp == nil {
		return time.Second
	}
	return min(max(now.Sub(nc.DeletionTimestamp.Time)/4, time.Second), 15*time.Second)
}

// drain evicts the node's pods before its instance goes. A node whose
// instance the cloud has already taken away is not drained: its pods are
// gone with it, and kube-controller-manager cleans them up.
func (c *Controller) drain(ctx context.Context, nc *v1.NodeClaim, node *corev1.Node) (bool, error) {
	if nc.Status.ProviderID != "" {
		if _, err := c.provider.Get(ctx, nc.Status.ProviderID); cloudprovider.IsNodeClaimNotFound(err) {
			return true, nil
		}
	}
	var deadline time.Time
	if tgp := nc.Spec.TerminationGracePeriod; tgp != nil && nc.DeletionTimestamp != nil {
		deadline = nc.DeletionTimestamp.Add(tgp.Duration)
	}
	drained, err := c.drainer.Drain(ctx, node, deadline)
	if err != nil {
		return false, fmt.Errorf("drain Node %s: %w", node.Name, err)
	}
	if !drained || (!deadline.IsZero() && c.opts.Clock.Now().After(deadline)) {
		return drained, nil
	}
	attached, err := c.drainer.AttachedVolumes(ctx, node)
	if err != nil {
		return false, err
	}
	if len(attached) > 0 {
		c.recorder.Normal(nc, events.WaitingForVolumes, "Terminate", "Drained; waiting for volumes %s to detach before terminating the instance", strings.Join(attached, ", "))
		return false, nil
	}
	return true, nil
}

// lockedPatch is a merge patch that fails with a conflict if obj changed
// since it was read. Taints and finalizers are lists, which a merge patch
// replaces whole: without the lock, a copy read from a stale cache would put
// back a taint another agent had just removed, or drop a finalizer it had
// just added.
func lockedPatch(obj client.Object) client.Patch {
	return client.MergeFromWithOptions(obj.DeepCopyObject().(client.Object), client.MergeFromWithOptimisticLock{})
}
