package state

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/sets"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/cloudprovider"
)

// WatchedTypes are the objects whose informers a decision reads: the
// cluster's own and every registered provider's node class, which providers
// read to list instance types. New starts all of them so that Synced covers
// every one.
func WatchedTypes() []client.Object {
	return append([]client.Object{
		&corev1.Node{}, &corev1.Pod{}, &v1.NodeClaim{}, &v1.NodePool{}, &appsv1.DaemonSet{},
		&policyv1.PodDisruptionBudget{}, &corev1.PersistentVolume{}, &corev1.PersistentVolumeClaim{},
		&storagev1.StorageClass{},
	}, cloudprovider.NodeClasses()...)
}

// Field indexes New registers.
const (
	// FieldNodeProviderID indexes Nodes by spec.providerID.
	FieldNodeProviderID = "spec.providerID"
	// FieldPodNodeName indexes pods by spec.nodeName.
	FieldPodNodeName = "spec.nodeName"
	// FieldNodeClaimProviderID indexes NodeClaims by status.providerID.
	FieldNodeClaimProviderID = "status.providerID"
)

// createdTTL is how long a NodeClaim this process created is counted while
// the cache does not show it yet. Informers lag by milliseconds; a claim the
// cache has still not shown after a minute was deleted.
const createdTTL = time.Minute

// Cluster reads the cluster from an informer cache.
type Cluster struct {
	// cache is nil for a Cluster that reads a plain client.
	cache  cache.Cache
	reader client.Reader
	clock  clock.PassiveClock

	mu      sync.Mutex
	created map[string]created // by NodeClaim name
	// deleted are the NodeClaims the informer saw deleted lately, so that
	// one created and deleted between two snapshots is not counted.
	deleted map[string]time.Time
}

type created struct {
	nodeClaim *v1.NodeClaim
	at        time.Time
}

// Index is a field index the controllers query, with the function that
// extracts its values.
type Index struct {
	Object  client.Object
	Field   string
	Extract client.IndexerFunc
}

// Indexes are the field indexes New registers. Tests register the same on a
// fake client (fake.ClientBuilder.WithIndex), so that the controllers'
// MatchingFields queries answer as they do against the cache.
func Indexes() []Index {
	return []Index{
		{Object: &corev1.Node{}, Field: FieldNodeProviderID, Extract: func(o client.Object) []string {
			if id := o.(*corev1.Node).Spec.ProviderID; id != "" {
				return []string{id}
			}
			return nil
		}},
		{Object: &corev1.Pod{}, Field: FieldPodNodeName, Extract: func(o client.Object) []string {
			if name := o.(*corev1.Pod).Spec.NodeName; name != "" {
				return []string{name}
			}
			return nil
		}},
		{Object: &v1.NodeClaim{}, Field: FieldNodeClaimProviderID, Extract: func(o client.Object) []string {
			if id := o.(*v1.NodeClaim).Status.ProviderID; id != "" {
				return []string{id}
			}
			return nil
		}},
	}
}

// Option configures a Cluster.
type Option func(*Cluster)

// WithClock dates the NodeClaims the Cluster remembers (created by this
// process, or seen deleted) by clk rather than the real clock, so that tests
// can step past createdTTL.
func WithClock(clk clock.PassiveClock) Option {
	return func(c *Cluster) {
		if clk != nil {
			c.clock = clk
		}
	}
}

// New returns a Cluster over the cache, with the informers of WatchedTypes
// and the field indexes it needs registered. Call it before the cache starts.
func New(ctx context.Context, c cache.Cache, opts ...Option) (*Cluster, error) {
	for _, index := range Indexes() {
		if err := c.IndexField(ctx, index.Object, index.Field, index.Extract); err != nil {
			return nil, fmt.Errorf("index %T by %s: %w", index.Object, index.Field, err)
		}
	}
	for _, obj := range WatchedTypes() {
		if _, err := c.GetInformer(ctx, obj); err != nil {
			return nil, fmt.Errorf("watch %T: %w", obj, err)
		}
	}
	cluster := NewFromReader(c, opts...)
	cluster.cache = c
	informer, err := c.GetInformer(ctx, &v1.NodeClaim{})
	if err != nil {
		return nil, err
	}
	if _, err := informer.AddEventHandler(toolscache.ResourceEventHandlerFuncs{DeleteFunc: cluster.onDelete}); err != nil {
		return nil, fmt.Errorf("watch NodeClaim deletions: %w", err)
	}
	return cluster, nil
}

// NewFromReader returns a Cluster that reads reader, such as a fake client
// in tests, instead of an informer cache. It watches nothing: Synced is
// always true, and it learns of no deletion.
func NewFromReader(reader client.Reader, opts ...Option) *Cluster {
	cluster := &Cluster{reader: reader, clock: clock.RealClock{}, created: map[string]created{}, deleted: map[string]time.Time{}}
	for _, opt := range opts {
		opt(cluster)
	}
	return cluster
}

func (c *Cluster) onDelete(obj any) {
	if tombstone, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	nc, ok := obj.(*v1.NodeClaim)
	if !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.created, nc.Name)
	c.deleted[nc.Name] = c.clock.Now()
}

// Synced reports whether every informer has filled its cache; no decision
// may be made before. It waits at most a second.
func (c *Cluster) Synced(ctx context.Context) bool {
	if c.cache == nil {
		return true
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	return c.cache.WaitForCacheSync(ctx)
}

// Created records a NodeClaim this process has just created, so that
// snapshots count it before the cache shows it.
func (c *Cluster) Created(nodeClaim *v1.NodeClaim) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, gone := c.deleted[nodeClaim.Name]; gone {
		return // deleted before its creator got here
	}
	c.created[nodeClaim.Name] = created{nodeClaim: nodeClaim, at: c.clock.Now()}
}

// Snapshot is the cluster at one moment.
type Snapshot struct {
	// Nodes are the Nodes and the NodeClaims still on their way to
	// becoming one, each with the pods bound to it.
	Nodes []*StateNode
	// PendingPods are the pods kube-scheduler could not place and that a
	// new node could help: see Provisionable.
	PendingPods []*corev1.Pod
	// NodePools, oldest first.
	NodePools              []*v1.NodePool
	DaemonSets             []*appsv1.DaemonSet
	PersistentVolumeClaims []*corev1.PersistentVolumeClaim
	PersistentVolumes      []*corev1.PersistentVolume
	StorageClasses         []*storagev1.StorageClass
	// Namespaces carry the labels that pod affinity's namespaceSelector
	// matches.
	Namespaces []*corev1.Namespace
}

// Snapshot reads the cluster from the cache.
func (c *Cluster) Snapshot(ctx context.Context) (*Snapshot, error) {
	var (
		nodes  corev1.NodeList
		claims v1.NodeClaimList
		pods   corev1.PodList
		pools  v1.NodePoolList
		dss    appsv1.DaemonSetList
		pvcs   corev1.PersistentVolumeClaimList
		pvs    corev1.PersistentVolumeList
		scs    storagev1.StorageClassList
		nss    corev1.NamespaceList
	)
	for _, list := range []client.ObjectList{&nodes, &claims, &pods, &pools, &dss, &pvcs, &pvs, &scs, &nss} {
		if err := c.reader.List(ctx, list); err != nil {
			return nil, fmt.Errorf("list %T from the cache: %w", list, err)
		}
	}
	s := &Snapshot{}
	byNode := map[string][]*corev1.Pod{}
	for i := range pods.Items {
		pod := &pods.Items[i]
		switch {
		case pod.Spec.NodeName != "":
			if !podDone(pod) {
				byNode[pod.Spec.NodeName] = append(byNode[pod.Spec.NodeName], pod)
			}
		case Provisionable(pod):
			s.PendingPods = append(s.PendingPods, pod)
		}
	}
	s.Nodes = c.join(nodes.Items, claims.Items, byNode)
	for i := range pools.Items {
		s.NodePools = append(s.NodePools, &pools.Items[i])
	}
	slices.SortFunc(s.NodePools, func(a, b *v1.NodePool) int {
		return a.CreationTimestamp.Compare(b.CreationTimestamp.Time)
	})
	for i := range dss.Items {
		s.DaemonSets = append(s.DaemonSets, &dss.Items[i])
	}
	for i := range pvcs.Items {
		s.PersistentVolumeClaims = append(s.PersistentVolumeClaims, &pvcs.Items[i])
	}
	for i := range pvs.Items {
		s.PersistentVolumes = append(s.PersistentVolumes, &pvs.Items[i])
	}
	for i := range scs.Items {
		s.StorageClasses = append(s.StorageClasses, &scs.Items[i])
	}
	for i := range nss.Items {
		s.Namespaces = append(s.Namespaces, &nss.Items[i])
	}
	return s, nil
}

// join pairs each NodeClaim with its Node (by provider ID, or by the Node
// name the claim recorded) and adds the claims this process created that the
// cache does not show yet.
func (c *Cluster) join(nodes []corev1.Node, claims []v1.NodeClaim, pods map[string][]*corev1.Pod) []*StateNode {
	byProviderID := map[string]*corev1.Node{}
	byName := map[string]*corev1.Node{}
	for i := range nodes {
		n := &nodes[i]
		byName[n.Name] = n
		if n.Spec.ProviderID != "" {
			byProviderID[n.Spec.ProviderID] = n
		}
	}
	var out []*StateNode
	paired := sets.New[string]()
	seen := sets.New[string]()
	for i := range claims {
		nc := &claims[i]
		seen.Insert(nc.Name)
		sn := &StateNode{NodeClaim: nc}
		if id := nc.Status.ProviderID; id != "" {
			sn.Node = byProviderID[id]
		}
		if sn.Node == nil && nc.Status.NodeName != "" {
			sn.Node = byName[nc.Status.NodeName]
		}
		if sn.Node != nil {
			paired.Insert(sn.Node.Name)
			sn.Pods = pods[sn.Node.Name]
		}
		out = append(out, sn)
	}
	for i := range nodes {
		if n := &nodes[i]; !paired.Has(n.Name) {
			out = append(out, &StateNode{Node: n, Pods: pods[n.Name]})
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock.Now()
	for name, at := range c.deleted {
		if now.Sub(at) > createdTTL {
			delete(c.deleted, name)
		}
	}
	for name, cr := range c.created {
		switch {
		case seen.Has(name) || now.Sub(cr.at) > createdTTL:
			delete(c.created, name)
		default:
			out = append(out, &StateNode{NodeClaim: cr.nodeClaim})
		}
	}
	return out
}

// Provisionable reports whether a new node could help a pod: kube-scheduler
// marked it unschedulable, it is not bound, not waiting for a preemption
// (nominated), not a DaemonSet's or a static (mirror) pod, and not being
// deleted.
func Provisionable(pod *corev1.Pod) bool {
	if pod.Spec.NodeName != "" || pod.Status.NominatedNodeName != "" || pod.DeletionTimestamp != nil || podDone(pod) {
		return false
	}
	if _, mirror := pod.Annotations[corev1.MirrorPodAnnotationKey]; mirror {
		return false
	}
	for _, ref := range pod.OwnerReferences {
		if ref.Kind == "DaemonSet" && ref.Controller != nil && *ref.Controller {
			return false
		}
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled {
			return c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable
		}
	}
	return false
}

func podDone(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}
