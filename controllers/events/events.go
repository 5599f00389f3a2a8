// Package events publishes Kubernetes events for Tailor's controllers, where
// users look first (kubectl describe, kubectl events), and keeps a controller
// that decides the same thing every few seconds from repeating itself.
package events

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/cache"
	"k8s.io/client-go/tools/events"
)

// DedupeTTL is how long an identical event about the same object is held
// back.
const DedupeTTL = 2 * time.Minute

// Reasons of the events Tailor publishes.
const (
	// Nominated: a pod will run on a node Tailor is launching.
	Nominated = "Nominated"
	// FailedProvisioning: no node could be launched for a pod; the note
	// says why.
	FailedProvisioning = "FailedProvisioning"
	// Launched: a NodeClaim's instance was created.
	Launched = "Launched"
	// InsufficientCapacity: the cloud had no capacity for a launch.
	InsufficientCapacity = "InsufficientCapacity"
	// LaunchFailed: a launch failed for another reason.
	LaunchFailed = "LaunchFailed"
	// NodeClassNotReady: a NodePool's node class cannot be used.
	NodeClassNotReady = "NodeClassNotReady"
	// Registered: a NodeClaim's Node joined.
	Registered = "Registered"
	// Initialized: a NodeClaim's Node is ready for pods.
	Initialized = "Initialized"
	// LivenessTimeout: a NodeClaim did not launch or register in time and
	// was deleted.
	LivenessTimeout = "LivenessTimeout"
	// GarbageCollected: a leaked instance or an orphaned NodeClaim was
	// removed.
	GarbageCollected = "GarbageCollected"
	// LimitReached: a NodePool's limits kept Tailor from launching.
	LimitReached = "LimitReached"
	// Evicted: a pod was evicted (or, past the terminationGracePeriod,
	// deleted) from a node Tailor is removing.
	Evicted = "Evicted"
	// DrainBlocked: a PodDisruptionBudget or the do-not-disrupt annotation
	// holds up a drain.
	DrainBlocked = "DrainBlocked"
	// WaitingForVolumes: a drained node waits for its volumes to detach
	// before its instance is terminated.
	WaitingForVolumes = "WaitingForVolumes"
	// Disrupted: Tailor is removing or replacing a node on its own account
	// (empty, underutilized, drifted or expired). The note is the decision
	// record: the reason, the $/hour saved and the pods moved.
	Disrupted = "Disrupted"
	// DisruptionBlocked: a node could go, but something keeps it: a budget,
	// a PodDisruptionBudget, the do-not-disrupt annotation, a pod with
	// nowhere else to run, or a saving too small to be worth the move.
	DisruptionBlocked = "DisruptionBlocked"
	// DisruptionAborted: a replacement never became ready, so the node it
	// was to replace stays.
	DisruptionAborted = "DisruptionAborted"
	// Drifted: a node no longer matches its NodePool or node class.
	Drifted = "Drifted"
	// Interrupted: the cloud will take the node's instance away; Tailor
	// drains it and its pods get nodes elsewhere.
	Interrupted = "Interrupted"
)

// Recorder publishes events, dropping one identical (same object, reason and
// note) to one published within DedupeTTL.
type Recorder struct {
	recorder events.EventRecorder
	seen     *cache.LRUExpireCache
}

// NewRecorder wraps r.
func NewRecorder(r events.EventRecorder) *Recorder {
	return &Recorder{recorder: r, seen: cache.NewLRUExpireCache(10000)}
}

// Normal publishes an informational event about obj.
func (r *Recorder) Normal(obj runtime.Object, reason, action, note string, args ...any) {
	r.publish(obj, "Normal", reason, action, note, args...)
}

// Warning publishes an event about a problem with obj.
func (r *Recorder) Warning(obj runtime.Object, reason, action, note string, args ...any) {
	r.publish(obj, "Warning", reason, action, note, args...)
}

func (r *Recorder) publish(obj runtime.Object, eventType, reason, action, note string, args ...any) {
	if r == nil || r.recorder == nil {
		return
	}
	message := fmt.Sprintf(note, args...)
	if accessor, err := meta.Accessor(obj); err == nil {
		key := string(accessor.GetUID()) + "/" + reason + "/" + message
		if _, ok := r.seen.Get(key); ok {
			return
		}
		r.seen.Add(key, struct{}{}, DedupeTTL)
	}
	r.recorder.Eventf(obj, nil, eventType, reason, action, "%s", message)
}
