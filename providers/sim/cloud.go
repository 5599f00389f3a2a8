package sim

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	simv1 "github.com/tailor-sh/tailor/providers/sim/api/v1"
)

// InterruptionWarning is how long before a spot interruption the simulated
// cloud announces it, as AWS does.
const InterruptionWarning = 2 * time.Minute

// AnnotationInterruptionTime on a Node says when its spot instance will be
// taken away.
const AnnotationInterruptionTime = simv1.Group + "/interruption-time"

// Cloud runs what happens inside the simulated cloud without anyone asking:
// instances boot and their Nodes join, spot instances are interrupted,
// terminated instances disappear with their Nodes, and each SimNodeClass's
// status says what it offers. It is a controller-runtime Runnable.
type Cloud struct {
	Provider *Provider
	// Tick is how often the cloud acts; default one second.
	Tick time.Duration
}

// Start runs the cloud until ctx ends.
func (c *Cloud) Start(ctx context.Context) error {
	tick := c.Tick
	if tick <= 0 {
		tick = time.Second
	}
	logger := log.FromContext(ctx).WithName("sim-cloud")
	ticker := c.Provider.clock.NewTicker(tick)
	defer ticker.Stop()
	for {
		if err := c.Step(ctx, tick); err != nil && ctx.Err() == nil {
			logger.Error(err, "simulated cloud step failed")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C():
		}
	}
}

// Step advances the cloud once; tick is the time since the previous step,
// which scales the chance of a spot interruption.
func (c *Cloud) Step(ctx context.Context, tick time.Duration) error {
	p := c.Provider
	logger := log.FromContext(ctx).WithName("sim-cloud")
	classes := &simv1.SimNodeClassList{}
	if err := p.client.List(ctx, classes); err != nil {
		return fmt.Errorf("list SimNodeClasses: %w", err)
	}
	interruptionRate := map[string]float64{}
	for i := range classes.Items {
		class := &classes.Items[i]
		interruptionRate[class.Name] = parseRate(class.Spec.Faults.SpotInterruptionsPerHour)
		if err := c.updateClassStatus(ctx, class); err != nil {
			logger.Error(err, "update SimNodeClass status", "nodeClass", class.Name)
		}
	}
	instances := &simv1.SimInstanceList{}
	if err := p.client.List(ctx, instances); err != nil {
		return fmt.Errorf("list SimInstances: %w", err)
	}
	now := p.clock.Now()
	for i := range instances.Items {
		instance := &instances.Items[i]
		var err error
		switch instance.Status.State {
		case simv1.StatePending, "":
			if !now.Before(instance.Spec.RegisterAfter.Time) {
				err = c.register(ctx, instance)
			}
		case simv1.StateRunning:
			err = c.run(ctx, logger, instance, now, interruptionRate[instance.Spec.NodeClass], tick)
		case simv1.StateShuttingDown:
			err = c.terminate(ctx, instance)
		}
		if err != nil {
			logger.Error(err, "simulated instance", "instance", instance.Name, "state", instance.Status.State)
		}
	}
	return nil
}

// register makes the instance's Node join the cluster.
func (c *Cloud) register(ctx context.Context, instance *simv1.SimInstance) error {
	if err := c.ensureNode(ctx, instance); err != nil {
		return err
	}
	instance.Status.State = simv1.StateRunning
	return c.Provider.client.Status().Update(ctx, instance)
}

// ensureNode creates the instance's Node unless it exists. A running
// instance whose Node was deleted by hand registers again, as a kubelet
// would.
func (c *Cloud) ensureNode(ctx context.Context, instance *simv1.SimInstance) error {
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        instance.Spec.NodeClaim,
			Labels:      instance.Spec.Labels,
			Annotations: map[string]string{KwokNodeAnnotation: KwokNodeAnnotationValue},
		},
		Spec: corev1.NodeSpec{ProviderID: providerID(instance), Taints: instance.Spec.Taints},
		Status: corev1.NodeStatus{
			Capacity:    instance.Spec.Capacity,
			Allocatable: instance.Spec.Allocatable,
			NodeInfo:    corev1.NodeSystemInfo{Architecture: instance.Spec.Labels[corev1.LabelArchStable], OperatingSystem: "linux"},
		},
	}
	err := c.Provider.client.Create(ctx, node)
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("register Node %s: %w", node.Name, err)
	}
	return nil
}

// run interrupts spot instances at the class's rate and takes interrupted
// ones away when their warning has run out.
func (c *Cloud) run(ctx context.Context, logger logr.Logger, instance *simv1.SimInstance, now time.Time, ratePerHour float64, tick time.Duration) error {
	p := c.Provider
	if t := instance.Status.InterruptionTime; t != nil {
		if now.Before(t.Time) {
			return nil
		}
		instance.Status.State = simv1.StateShuttingDown
		return p.client.Status().Update(ctx, instance)
	}
	node := &corev1.Node{}
	err := p.client.Get(ctx, types.NamespacedName{Name: instance.Spec.NodeClaim}, node)
	if apierrors.IsNotFound(err) {
		return c.ensureNode(ctx, instance)
	}
	if err != nil {
		return err
	}
	if instance.Spec.CapacityType != "spot" || ratePerHour <= 0 {
		return nil
	}
	chance := 1 - math.Pow(1-ratePerHour, tick.Hours())
	if ratePerHour >= 1 {
		chance = math.Min(1, tick.Hours())
	}
	if !p.roll(chance) {
		return nil
	}
	at := metav1.NewTime(now.Add(InterruptionWarning))
	logger.Info("spot interruption", "instance", instance.Name, "node", node.Name, "at", at.Time)
	patch := client.MergeFrom(node.DeepCopy())
	if node.Annotations == nil {
		node.Annotations = map[string]string{}
	}
	node.Annotations[AnnotationInterruptionTime] = at.Format(time.RFC3339)
	if err := p.client.Patch(ctx, node, patch); err != nil {
		return fmt.Errorf("announce interruption on Node %s: %w", node.Name, err)
	}
	instance.Status.InterruptionTime = &at
	return p.client.Status().Update(ctx, instance)
}

// terminate removes a shut-down instance's Node (its finalizers still hold
// it until whoever set them is done) and then the instance record.
func (c *Cloud) terminate(ctx context.Context, instance *simv1.SimInstance) error {
	p := c.Provider
	node := &corev1.Node{}
	err := p.client.Get(ctx, types.NamespacedName{Name: instance.Spec.NodeClaim}, node)
	switch {
	case err == nil && node.Spec.ProviderID == providerID(instance) && node.DeletionTimestamp == nil:
		if err := p.client.Delete(ctx, node); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete Node %s: %w", node.Name, err)
		}
	case err != nil && !apierrors.IsNotFound(err):
		return err
	}
	if err := p.client.Delete(ctx, instance); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete instance record %s: %w", instance.Name, err)
	}
	return nil
}

// updateClassStatus reports whether the class's catalog loads, and what it
// offers.
func (c *Cloud) updateClassStatus(ctx context.Context, class *simv1.SimNodeClass) error {
	before := class.Status.DeepCopy()
	its, err := c.Provider.catalogs.instanceTypes(ctx, class)
	condition := metav1.Condition{Type: "Ready", Status: metav1.ConditionTrue, Reason: "CatalogLoaded", ObservedGeneration: class.Generation}
	if err != nil {
		condition.Status, condition.Reason, condition.Message = metav1.ConditionFalse, "CatalogInvalid", err.Error()
		class.Status.InstanceTypes, class.Status.Zones = 0, nil
	} else {
		zones := map[string]bool{}
		for _, it := range its {
			for _, o := range it.Offerings {
				zones[o.Zone] = true
			}
		}
		class.Status.InstanceTypes = len(its)
		class.Status.Zones = nil
		for z := range zones {
			class.Status.Zones = append(class.Status.Zones, z)
		}
		slices.Sort(class.Status.Zones)
		condition.Message = fmt.Sprintf("%d instance types in %d zones", len(its), len(zones))
	}
	apimeta.SetStatusCondition(&class.Status.Conditions, condition)
	if equality.Semantic.DeepEqual(before, &class.Status) {
		return nil
	}
	return c.Provider.client.Status().Update(ctx, class)
}
