// Package status keeps each NodePool's status true to what it holds: the
// capacity and number of its nodes, whether its node class can launch
// (NodeClassReady) and whether it is Ready: a pool is not when its node class
// is not, or when no instance type of the node class meets its requirements
// (NoInstanceType, with an event that says which requirement rules them
// out). It also exports the pool's usage, limits, cost and NodeClaims by
// phase as metrics.
package status

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/cloudprovider"
	"github.com/tailor-sh/tailor/controllers/events"
	coredisruption "github.com/tailor-sh/tailor/core/disruption"
	"github.com/tailor-sh/tailor/core/instancetype"
	"github.com/tailor-sh/tailor/metrics"
)

// resync is how often a pool is looked at without any event, to notice its
// node class changing.
const resync = 30 * time.Second

// Controller reconciles NodePool status.
type Controller struct {
	client   client.Client
	provider cloudprovider.CloudProvider
	calendar clock.PassiveClock
	recorder *events.Recorder
}

// New returns the controller. calendar is the wall clock that budget
// schedules are read against; nil means the real one.
func New(c client.Client, provider cloudprovider.CloudProvider, calendar clock.PassiveClock) *Controller {
	if calendar == nil {
		calendar = clock.RealClock{}
	}
	return &Controller{client: c, provider: provider, calendar: calendar}
}

// WithRecorder has the controller publish its events through r. Without
// it, SetupWithManager gives it a recorder of the manager's.
func (c *Controller) WithRecorder(r *events.Recorder) *Controller {
	c.recorder = r
	return c
}

// SetupWithManager registers the controller; it watches NodePools and their
// NodeClaims.
func (c *Controller) SetupWithManager(mgr ctrl.Manager) error {
	if c.recorder == nil {
		c.recorder = events.NewRecorder(mgr.GetEventRecorder("tailor"))
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("nodepool.status").
		For(&v1.NodePool{}).
		Watches(&v1.NodeClaim{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			if pool := o.GetLabels()[v1.LabelNodePool]; pool != "" {
				return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: pool}}}
			}
			return nil
		})).
		Complete(c)
}

var phases = []string{"Pending", "Launched", "Registered", "Ready", "Terminating"}

// Reconcile updates one pool's status and metrics.
func (c *Controller) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	pool := &v1.NodePool{}
	if err := c.client.Get(ctx, req.NamespacedName, pool); err != nil {
		if client.IgnoreNotFound(err) == nil {
			forget(req.Name)
		}
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	claims := &v1.NodeClaimList{}
	if err := c.client.List(ctx, claims, client.MatchingLabels{v1.LabelNodePool: pool.Name}); err != nil {
		return reconcile.Result{}, fmt.Errorf("list the NodeClaims of NodePool %s: %w", pool.Name, err)
	}
	its, itsErr := c.provider.GetInstanceTypes(ctx, pool)

	before := pool.Status.DeepCopy()
	u := measure(claims.Items, its)
	pool.Status.Resources = u.resources
	pool.Status.Nodes = int64(len(claims.Items))
	requeue := c.setDisruptions(pool, claims.Items)
	setNodeClassConditions(pool, its, itsErr)
	c.setHealthCondition(pool)
	c.announce(pool, before)
	if !equality.Semantic.DeepEqual(before, &pool.Status) {
		if err := c.client.Status().Update(ctx, pool); err != nil {
			return reconcile.Result{}, client.IgnoreNotFound(err)
		}
	}
	export(pool, u)
	return reconcile.Result{RequeueAfter: max(requeue, time.Second)}, nil
}

// usage is what a pool's NodeClaims hold and cost.
type usage struct {
	// resources sums the claims' capacity, and counts them as "nodes".
	resources corev1.ResourceList
	byPhase   map[string]int
	cost      float64
}

// measure sums the claims' capacity and price and counts them by phase.
func measure(claims []v1.NodeClaim, its []*instancetype.InstanceType) usage {
	u := usage{resources: corev1.ResourceList{}, byPhase: map[string]int{}}
	for i := range claims {
		nc := &claims[i]
		u.byPhase[nc.Phase()]++
		for name, q := range nc.Status.Capacity {
			sum := u.resources[name]
			sum.Add(q)
			u.resources[name] = sum
		}
		u.cost += instancetype.Price(nc, its)
	}
	u.resources["nodes"] = *resource.NewQuantity(int64(len(claims)), resource.DecimalSI)
	return u
}

// setCondition sets one of the pool's conditions at its generation.
func setCondition(pool *v1.NodePool, t string, status metav1.ConditionStatus, reason, message string) {
	apimeta.SetStatusCondition(&pool.Status.Conditions, metav1.Condition{Type: t, Status: status, Reason: reason, Message: message, ObservedGeneration: pool.Generation})
}

// setDisruptions records what the pool's budgets allow now, or that they
// cannot be read, and returns when to look again: just after the next
// budget window opens or closes, and at least every resync.
func (c *Controller) setDisruptions(pool *v1.NodePool, claims []v1.NodeClaim) time.Duration {
	requeue := resync
	// A percentage budget is of the nodes the pool keeps: not those going
	// away, nor replacements still launching, as the disruption controller
	// counts them.
	staying := 0
	for i := range claims {
		nc := &claims[i]
		launchingReplacement := nc.Annotations[v1.AnnotationReplaces] != "" && !apimeta.IsStatusConditionTrue(nc.Status.Conditions, v1.ConditionInitialized)
		if nc.DeletionTimestamp == nil && !launchingReplacement {
			staying++
		}
	}
	disruptions, err := disruptionsAllowed(pool, staying, c.calendar.Now())
	if err != nil {
		setCondition(pool, v1.ConditionValidationSucceeded, metav1.ConditionFalse, "InvalidBudget", err.Error()+"; no node of the pool is disrupted until it is fixed")
		pool.Status.Disruptions = nil
		metrics.DisruptionsAllowed.DeletePartialMatch(map[string]string{"nodepool": pool.Name})
		return requeue
	}
	setCondition(pool, v1.ConditionValidationSucceeded, metav1.ConditionTrue, "Valid", "")
	pool.Status.Disruptions = disruptions
	for _, d := range disruptions {
		if d.NextChange != nil {
			// Just after the window opens or closes.
			requeue = min(requeue, d.NextChange.Sub(c.calendar.Now())+time.Second)
		}
		metrics.DisruptionsAllowed.WithLabelValues(pool.Name, string(d.Reason)).Set(float64(d.Allowed))
	}
	return requeue
}

// setHealthCondition says whether the cloud provider is launching, when it
// can tell.
func (c *Controller) setHealthCondition(pool *v1.NodePool) {
	reporter, ok := c.provider.(cloudprovider.HealthReporter)
	if !ok {
		return
	}
	if err := reporter.Healthy(); err != nil {
		setCondition(pool, v1.ConditionCloudProviderHealthy, metav1.ConditionFalse, "LaunchesPaused", err.Error())
		return
	}
	setCondition(pool, v1.ConditionCloudProviderHealthy, metav1.ConditionTrue, "Healthy", "")
}

// setNodeClassConditions says whether the pool's node class can launch, by
// what listing its instance types returned, and whether the pool can: not
// when no instance type meets its requirements.
func setNodeClassConditions(pool *v1.NodePool, its []*instancetype.InstanceType, err error) {
	switch {
	case err == nil:
		setCondition(pool, v1.ConditionNodeClassReady, metav1.ConditionTrue, "NodeClassReady", fmt.Sprintf("%d instance types", len(its)))
		if why := noInstanceType(pool, its); why != "" {
			setCondition(pool, v1.ConditionReady, metav1.ConditionFalse, ReasonNoInstanceType, why)
			return
		}
		setCondition(pool, v1.ConditionReady, metav1.ConditionTrue, "Ready", "")
	case cloudprovider.IsNodeClassNotReady(err):
		setCondition(pool, v1.ConditionNodeClassReady, metav1.ConditionFalse, "NodeClassNotReady", err.Error())
		setCondition(pool, v1.ConditionReady, metav1.ConditionFalse, "NodeClassNotReady", err.Error())
	default:
		setCondition(pool, v1.ConditionNodeClassReady, metav1.ConditionUnknown, "InstanceTypesUnavailable", err.Error())
		setCondition(pool, v1.ConditionReady, metav1.ConditionFalse, "InstanceTypesUnavailable", err.Error())
	}
}

// announce publishes a warning when the pool has just become unable to
// launch anything because no instance type meets its requirements (or the
// reason why has changed); the condition says so for as long as it lasts.
func (c *Controller) announce(pool *v1.NodePool, before *v1.NodePoolStatus) {
	now := apimeta.FindStatusCondition(pool.Status.Conditions, v1.ConditionReady)
	if now == nil || now.Reason != ReasonNoInstanceType {
		return
	}
	if was := apimeta.FindStatusCondition(before.Conditions, v1.ConditionReady); was != nil && was.Reason == now.Reason && was.Message == now.Message {
		return
	}
	c.recorder.Warning(pool, ReasonNoInstanceType, "Validate", "NodePool %s can launch no node: %s", pool.Name, now.Message)
}

// export sets the pool's metrics: NodeClaims by phase, cost, usage and
// limits.
func export(pool *v1.NodePool, u usage) {
	for _, phase := range phases {
		metrics.NodeClaims.WithLabelValues(pool.Name, phase).Set(float64(u.byPhase[phase]))
	}
	metrics.ClusterCost.WithLabelValues(pool.Name).Set(u.cost)
	for name, q := range u.resources {
		metrics.NodePoolUsage.WithLabelValues(pool.Name, string(name)).Set(q.AsApproximateFloat64())
	}
	for name, q := range pool.Spec.Limits {
		metrics.NodePoolLimit.WithLabelValues(pool.Name, string(name)).Set(q.AsApproximateFloat64())
	}
}

// disruptionsAllowed is what the pool's budgets allow now for each reason,
// and when that changes next.
func disruptionsAllowed(pool *v1.NodePool, total int, now time.Time) ([]v1.DisruptionsAllowed, error) {
	var out []v1.DisruptionsAllowed
	for _, reason := range []v1.DisruptionReason{v1.DisruptionReasonEmpty, v1.DisruptionReasonUnderutilized, v1.DisruptionReasonDrifted, v1.DisruptionReasonExpired} {
		allowed, err := coredisruption.Allowed(pool.Spec.Disruption.Budgets, reason, total, now)
		if err != nil {
			return nil, err
		}
		d := v1.DisruptionsAllowed{Reason: reason, Allowed: int32(allowed)}
		at, next, ok, err := coredisruption.NextChange(pool.Spec.Disruption.Budgets, reason, total, now)
		if err != nil {
			return nil, err
		}
		if ok {
			d.NextChange, d.AllowedAfterNextChange = &metav1.Time{Time: at}, ptr.To(int32(next))
		}
		out = append(out, d)
	}
	return out, nil
}

// forget drops a deleted pool's metrics.
func forget(pool string) {
	for _, vec := range []*prometheus.GaugeVec{metrics.DisruptionsAllowed, metrics.NodeClaims, metrics.ClusterCost, metrics.NodePoolUsage, metrics.NodePoolLimit} {
		vec.DeletePartialMatch(map[string]string{"nodepool": pool})
	}
}
