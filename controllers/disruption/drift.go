package disruption

import (
	"context"
	"fmt"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/cloudprovider"
	"github.com/tailor-sh/tailor/controllers/events"
	"github.com/tailor-sh/tailor/controllers/state"
	"github.com/tailor-sh/tailor/core/instancetype"
	"github.com/tailor-sh/tailor/core/requirements"
)

// providerDriftEvery is how often the cloud provider is asked whether a node
// has drifted from its node class; each question may be an API call.
const providerDriftEvery = time.Minute

// driftCheck is the provider's latest verdict on a NodeClaim.
type driftCheck struct {
	reason cloudprovider.DriftReason
	at     time.Time
}

// Reasons of the Drifted condition.
const (
	driftReasonTemplate     = "NodePoolTemplateChanged"
	driftReasonRequirements = "RequirementsNotMet"
	driftReasonProvider     = "NodeClassDrifted"
)

// drifted says why the node no longer matches its pool or node class, or "",
// and keeps the NodeClaim's Drifted condition true to it.
func (c *Controller) drifted(ctx context.Context, v *view, n *state.StateNode, pool *v1.NodePool) string {
	nc := n.NodeClaim
	reason, message := "", ""
	if nc.Annotations[v1.AnnotationNodePoolHashVersion] != v1.TemplateHashVersion {
		// Stamped by a Tailor whose hash covered other fields: what the
		// node was made from cannot be told, so it is taken as current.
		patch := client.MergeFrom(nc.DeepCopy())
		stamped := nc.DeepCopy()
		metav1.SetMetaDataAnnotation(&stamped.ObjectMeta, v1.AnnotationNodePoolHash, pool.TemplateHash())
		metav1.SetMetaDataAnnotation(&stamped.ObjectMeta, v1.AnnotationNodePoolHashVersion, v1.TemplateHashVersion)
		if err := c.client.Patch(ctx, stamped, patch); client.IgnoreNotFound(err) != nil {
			log.FromContext(ctx).Error(err, "stamp the NodePool hash of a NodeClaim", "nodeClaim", nc.Name)
		}
	} else if hash := nc.Annotations[v1.AnnotationNodePoolHash]; hash != pool.TemplateHash() {
		reason, message = driftReasonTemplate, fmt.Sprintf("NodePool %s's template changed since the node was launched", pool.Name)
	}
	if reason == "" {
		// The claim's labels are what Tailor launched; the Node's may add
		// what the kubelet knows.
		labels := map[string]string{}
		for k, val := range nc.Labels {
			labels[k] = val
		}
		for k, val := range n.Node.Labels {
			labels[k] = val
		}
		launched, _ := instancetype.NodeClaimRequirements(nc)
		for _, r := range pool.Spec.Template.Spec.Requirements {
			req, err := requirements.New(r.Key, requirements.Operator(r.Operator), r.Values...)
			if err != nil || !violates(req, labels, launched.Get(r.Key)) {
				continue
			}
			value, ok := labels[r.Key]
			if !ok {
				value = "(none)"
			}
			reason, message = driftReasonRequirements, fmt.Sprintf("label %s=%s no longer meets NodePool %s's requirement %s", r.Key, value, pool.Name, req)
			break
		}
	}
	if reason == "" {
		check, ok := c.driftChecks[nc.Name]
		if !ok || v.now.Sub(check.at) >= providerDriftEvery {
			why, err := c.provider.IsDrifted(ctx, nc)
			if err != nil {
				log.FromContext(ctx).Error(err, "ask the cloud provider whether a node drifted", "nodeClaim", nc.Name)
			}
			check = driftCheck{reason: why, at: v.now}
			c.driftChecks[nc.Name] = check
		}
		if check.reason != "" {
			reason, message = driftReasonProvider, fmt.Sprintf("the cloud provider reports %s", check.reason)
		}
	}
	c.markDrifted(ctx, nc, reason, message)
	return message
}

// violates reports whether a node no longer meets a pool requirement. A
// label the node carries is judged by its value. Keys no node label carries
// (a custom requirement only the NodeClaim records) are judged by what the
// claim was launched with: every value it allowed must still be allowed.
func violates(req *requirements.Requirement, labels map[string]string, launched *requirements.Requirement) bool {
	if _, ok := labels[req.Key]; ok {
		return !req.Matches(labels)
	}
	if launched == nil {
		return !req.AllowsAbsent()
	}
	if !launched.Finite() {
		return false // cannot tell; never replace a node on a guess
	}
	for _, v := range launched.Values() {
		if !req.Allows(v) {
			return true
		}
	}
	return false
}

// markBlocked sets the NodeClaim's DisruptionBlocked condition for reason
// with the message why, or clears it when why is empty and the condition is
// of this reason, so that users see on the NodeClaim why a node due to go
// stays.
func (c *Controller) markBlocked(ctx context.Context, nc *v1.NodeClaim, reason v1.DisruptionReason, why string) {
	have := apimeta.FindStatusCondition(nc.Status.Conditions, v1.ConditionDisruptionBlocked)
	if why == "" && (have == nil || have.Reason != string(reason)) || have != nil && have.Reason == string(reason) && have.Message == why {
		return
	}
	updated := nc.DeepCopy()
	patch := client.MergeFromWithOptions(nc.DeepCopy(), client.MergeFromWithOptimisticLock{})
	if why == "" {
		apimeta.RemoveStatusCondition(&updated.Status.Conditions, v1.ConditionDisruptionBlocked)
	} else {
		apimeta.SetStatusCondition(&updated.Status.Conditions, metav1.Condition{Type: v1.ConditionDisruptionBlocked, Status: metav1.ConditionTrue,
			Reason: string(reason), Message: why, ObservedGeneration: nc.Generation})
	}
	if err := c.client.Status().Patch(ctx, updated, patch); client.IgnoreNotFound(err) != nil {
		log.FromContext(ctx).V(1).Info("record the DisruptionBlocked condition; will retry", "nodeClaim", nc.Name, "error", err.Error())
		return
	}
	nc.Status.Conditions = updated.Status.Conditions
}

// markDrifted sets or clears the NodeClaim's Drifted condition when it
// changes, and says so once in an event.
func (c *Controller) markDrifted(ctx context.Context, nc *v1.NodeClaim, reason, message string) {
	have := apimeta.FindStatusCondition(nc.Status.Conditions, v1.ConditionDrifted)
	if reason == "" && have == nil || have != nil && have.Reason == reason && have.Message == message {
		return
	}
	updated := nc.DeepCopy()
	patch := client.MergeFromWithOptions(nc.DeepCopy(), client.MergeFromWithOptimisticLock{})
	if reason == "" {
		apimeta.RemoveStatusCondition(&updated.Status.Conditions, v1.ConditionDrifted)
	} else {
		apimeta.SetStatusCondition(&updated.Status.Conditions, metav1.Condition{Type: v1.ConditionDrifted, Status: metav1.ConditionTrue, Reason: reason, Message: message, ObservedGeneration: nc.Generation})
		c.recorder.Normal(nc, events.Drifted, "Disrupt", "Drifted: %s", message)
	}
	if err := c.client.Status().Patch(ctx, updated, patch); client.IgnoreNotFound(err) != nil {
		log.FromContext(ctx).V(1).Info("record the Drifted condition; will retry", "nodeClaim", nc.Name, "error", err.Error())
	}
}
