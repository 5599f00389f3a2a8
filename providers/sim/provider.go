// Package sim is Tailor's simulated cloud: a CloudProvider that sells the
// instance types of a catalog, "launches" instances by recording them as
// SimInstance objects and, after a registration delay, creates their Nodes for
// kwok to run. Latency and failures (insufficient capacity, API errors, spot
// interruptions) are injected as its SimNodeClass says.
//
// The cloud's state lives in the API server (SimInstance objects), never in
// the provider's memory, so a restarted controller finds every instance it had
// launched, exactly as with a real cloud.
package sim

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/cloudprovider"
	"github.com/tailor-sh/tailor/core/instancetype"
	simv1 "github.com/tailor-sh/tailor/providers/sim/api/v1"
)

// ProviderName is what Name returns.
const ProviderName = "sim"

// providerIDPrefix starts the provider ID of every simulated instance:
// sim:///<zone>/<instance-id>.
const providerIDPrefix = "sim:///"

// LabelNodeClaim on a SimInstance names its NodeClaim.
const LabelNodeClaim = simv1.Group + "/nodeclaim"

// LabelNodeClaimUID on a SimInstance is the UID of its NodeClaim, as a tag
// does on a real cloud's instance: names are reused, UIDs never.
const LabelNodeClaimUID = simv1.Group + "/nodeclaim-uid"

// LabelCluster on a SimInstance names the cluster whose Tailor launched it,
// as a tag does on a real cloud's instance.
const LabelCluster = simv1.Group + "/cluster"

// Options tune the provider.
type Options struct {
	// Seed makes the injected faults and latencies repeatable. Zero means
	// a random seed.
	Seed uint64
	// Clock defaults to the real clock.
	Clock clock.WithTicker
	// ClusterName tags every instance; List returns only this cluster's.
	ClusterName string
	// Unavailable are offerings that recently ran out of capacity; the
	// provider reports them unavailable and does not launch them.
	Unavailable *cloudprovider.UnavailableOfferings
}

// Provider is the simulated cloud's CloudProvider.
type Provider struct {
	client      client.Client
	clock       clock.WithTicker
	catalogs    *catalogLoader
	unavailable *cloudprovider.UnavailableOfferings
	clusterName string

	mu  sync.Mutex
	rng *rand.Rand
}

var _ cloudprovider.CloudProvider = (*Provider)(nil)

// New returns a provider that keeps its instances through c. The client
// needs the sim.tailor.sh and tailor.sh types in its scheme.
func New(c client.Client, opts Options) *Provider {
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	seed := opts.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	return &Provider{
		client:      c,
		clock:       opts.Clock,
		catalogs:    newCatalogLoader(c),
		unavailable: opts.Unavailable,
		clusterName: opts.ClusterName,
		rng:         rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
	}
}

// Name returns "sim".
func (p *Provider) Name() string { return ProviderName }

// roll returns true with the given probability.
func (p *Provider) roll(probability float64) bool {
	if probability <= 0 {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rng.Float64() < probability
}

// between returns a duration drawn uniformly from r.
func (p *Provider) between(r simv1.DurationRange) time.Duration {
	var lo, hi time.Duration
	if r.Min != nil {
		lo = r.Min.Duration
	}
	hi = lo
	if r.Max != nil {
		hi = r.Max.Duration
	}
	if hi <= lo {
		return lo
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return lo + time.Duration(p.rng.Int64N(int64(hi-lo)))
}

// nodeClass returns the SimNodeClass that ref names, or a
// NodeClassNotReadyError.
func (p *Provider) nodeClass(ctx context.Context, ref *v1.NodeClassReference) (*simv1.SimNodeClass, error) {
	if ref == nil {
		return nil, &cloudprovider.NodeClassNotReadyError{NodeClass: "<none>", Err: fmt.Errorf("no nodeClassRef")}
	}
	if ref.Group != simv1.Group || ref.Kind != "SimNodeClass" {
		return nil, &cloudprovider.NodeClassNotReadyError{NodeClass: ref.Name,
			Err: fmt.Errorf("the simulated cloud launches from %s SimNodeClass, not %s %s", simv1.Group, ref.Group, ref.Kind)}
	}
	class := &simv1.SimNodeClass{}
	if err := p.client.Get(ctx, types.NamespacedName{Name: ref.Name}, class); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, &cloudprovider.NodeClassNotReadyError{NodeClass: ref.Name, Err: fmt.Errorf("SimNodeClass %s does not exist", ref.Name)}
		}
		return nil, fmt.Errorf("get SimNodeClass %s: %w", ref.Name, err)
	}
	return class, nil
}

// injectAPIError fails a call at the class's API error rate.
func (p *Provider) injectAPIError(class *simv1.SimNodeClass, call string) error {
	if p.roll(parseRate(class.Spec.Faults.APIErrorRate)) {
		return &cloudprovider.RetryableError{Err: fmt.Errorf("simulated cloud: %s: injected API error (RequestLimitExceeded)", call)}
	}
	return nil
}

// GetInstanceTypes returns every instance type of the node class's catalog in
// the node class's zones.
func (p *Provider) GetInstanceTypes(ctx context.Context, nodePool *v1.NodePool) ([]*instancetype.InstanceType, error) {
	class, err := p.nodeClass(ctx, nodePool.Spec.Template.Spec.NodeClassRef)
	if err != nil {
		return nil, err
	}
	its, err := p.catalogs.instanceTypes(ctx, class)
	if err != nil {
		return nil, err
	}
	p.unavailable.Apply(its)
	return its, nil
}

// instanceID derives the instance ID from the NodeClaim's identity, so that a
// launch repeated after a crash finds the instance of the first one instead
// of making a second.
func instanceID(nodeClaim *v1.NodeClaim) string {
	key := string(nodeClaim.UID)
	if key == "" {
		key = nodeClaim.Name
	}
	sum := sha256.Sum256([]byte(key))
	return "i-" + hex.EncodeToString(sum[:])[:17]
}

// Create launches the cheapest available instance the NodeClaim allows.
func (p *Provider) Create(ctx context.Context, nodeClaim *v1.NodeClaim) (*v1.NodeClaim, error) {
	id := instanceID(nodeClaim)
	existing := &simv1.SimInstance{}
	if err := p.client.Get(ctx, types.NamespacedName{Name: id}, existing); err == nil {
		return p.hydrate(nodeClaim, existing), nil
	} else if !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("look up instance %s: %w", id, err)
	}
	class, err := p.nodeClass(ctx, nodeClaim.Spec.NodeClassRef)
	if err != nil {
		return nil, err
	}
	if err := p.injectAPIError(class, "launch"); err != nil {
		return nil, err
	}
	its, err := p.catalogs.instanceTypes(ctx, class)
	if err != nil {
		return nil, &cloudprovider.NodeClassNotReadyError{NodeClass: class.Name, Err: err}
	}
	it, offering, err := p.choose(class, nodeClaim, its)
	if err != nil {
		return nil, err
	}
	if delay := p.between(class.Spec.Latency.Launch); delay > 0 {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-p.clock.After(delay):
		}
	}
	instance := p.newInstance(id, class, nodeClaim, it, offering)
	if err := p.client.Create(ctx, instance); err != nil {
		if apierrors.IsAlreadyExists(err) {
			// A concurrent launch of the same NodeClaim won; use its instance.
			if err := p.client.Get(ctx, types.NamespacedName{Name: id}, existing); err != nil {
				return nil, fmt.Errorf("look up instance %s: %w", id, err)
			}
			return p.hydrate(nodeClaim, existing), nil
		}
		return nil, fmt.Errorf("launch %s in %s: %w", it.Name, offering.Zone, err)
	}
	instance.Status.State = simv1.StatePending
	if err := p.client.Status().Update(ctx, instance); err != nil {
		return nil, fmt.Errorf("record instance %s as pending: %w", id, err)
	}
	return p.hydrate(nodeClaim, instance), nil
}

// choose picks the cheapest offering of a compatible instance type that fits
// the NodeClaim's requests, as a real cloud's lowest-price allocation does.
func (p *Provider) choose(class *simv1.SimNodeClass, nodeClaim *v1.NodeClaim, its []*instancetype.InstanceType) (*instancetype.InstanceType, instancetype.Offering, error) {
	reqs, err := instancetype.NodeClaimRequirements(nodeClaim)
	if err != nil {
		return nil, instancetype.Offering{}, err
	}
	var (
		best         *instancetype.InstanceType
		bestOffering instancetype.Offering
		full         []cloudprovider.OfferingKey
		compatible   int
	)
	for _, it := range its {
		if it.Compatible(reqs) != nil {
			continue
		}
		if _, fits := it.Fits(nodeClaim.Spec.Resources.Requests); !fits {
			continue
		}
		for _, o := range it.Offerings.Compatible(reqs).Available() {
			compatible++
			if p.unavailable.IsUnavailable(cloudprovider.OfferingKey{InstanceType: it.Name, Zone: o.Zone, CapacityType: o.CapacityType}) {
				continue
			}
			if noCapacity(class, it.Name, o) {
				full = append(full, cloudprovider.OfferingKey{InstanceType: it.Name, Zone: o.Zone, CapacityType: o.CapacityType})
				continue
			}
			if best == nil || o.Price < bestOffering.Price || (o.Price == bestOffering.Price && it.Name+o.Zone < best.Name+bestOffering.Zone) {
				best, bestOffering = it, o
			}
		}
	}
	if compatible == 0 {
		return nil, instancetype.Offering{}, fmt.Errorf("no instance type of SimNodeClass %s satisfies the NodeClaim's requirements (%s) and requests", class.Name, reqs)
	}
	if best == nil {
		return nil, instancetype.Offering{}, &cloudprovider.InsufficientCapacityError{Offerings: full}
	}
	if p.roll(parseRate(class.Spec.Faults.InsufficientCapacity.Rate)) {
		return nil, instancetype.Offering{}, &cloudprovider.InsufficientCapacityError{
			Offerings: []cloudprovider.OfferingKey{{InstanceType: best.Name, Zone: bestOffering.Zone, CapacityType: bestOffering.CapacityType}},
			Err:       fmt.Errorf("injected at rate %s", class.Spec.Faults.InsufficientCapacity.Rate),
		}
	}
	return best, bestOffering, nil
}

func noCapacity(class *simv1.SimNodeClass, instanceType string, o instancetype.Offering) bool {
	for _, s := range class.Spec.Faults.InsufficientCapacity.Offerings {
		if (s.InstanceType == "" || s.InstanceType == instanceType) && (s.Zone == "" || s.Zone == o.Zone) &&
			(s.CapacityType == "" || s.CapacityType == o.CapacityType) {
			return true
		}
	}
	return false
}

func (p *Provider) newInstance(id string, class *simv1.SimNodeClass, nodeClaim *v1.NodeClaim, it *instancetype.InstanceType, o instancetype.Offering) *simv1.SimInstance {
	labels := it.Requirements.Labels()
	for k, v := range nodeClaim.Labels {
		labels[k] = v
	}
	labels[corev1.LabelTopologyZone] = o.Zone
	labels[v1.LabelCapacityType] = o.CapacityType
	labels[corev1.LabelHostname] = nodeClaim.Name
	// The simulated machines boot Linux; a kubelet labels its Node with
	// the operating system it runs.
	labels[corev1.LabelOSStable] = "linux"
	// Nodes register tainted until Tailor has synced them, as kubelets
	// configured by Tailor's node bootstrap would.
	taints := append([]corev1.Taint{{Key: v1.TaintKeyUnregistered, Effect: corev1.TaintEffectNoExecute}}, nodeClaim.Spec.Taints...)
	taints = append(taints, nodeClaim.Spec.StartupTaints...)
	return &simv1.SimInstance{
		ObjectMeta: metav1.ObjectMeta{
			Name:   id,
			Labels: map[string]string{LabelNodeClaim: nodeClaim.Name, LabelNodeClaimUID: string(nodeClaim.UID), LabelCluster: p.clusterName},
		},
		Spec: simv1.SimInstanceSpec{
			NodeClaim:     nodeClaim.Name,
			NodeClass:     class.Name,
			InstanceType:  it.Name,
			Zone:          o.Zone,
			CapacityType:  o.CapacityType,
			ImageID:       class.Spec.ImageID,
			PricePerHour:  strconv.FormatFloat(o.Price, 'f', -1, 64),
			Capacity:      it.Capacity,
			Allocatable:   it.Allocatable(),
			Labels:        labels,
			Taints:        taints,
			RegisterAfter: metav1.NewTime(p.clock.Now().Add(p.between(class.Spec.Latency.Registration))),
		},
	}
}

// hydrate returns the NodeClaim as the cloud sees it: its provider ID,
// resources and the labels of what was launched.
func (p *Provider) hydrate(nodeClaim *v1.NodeClaim, instance *simv1.SimInstance) *v1.NodeClaim {
	out := nodeClaim.DeepCopy()
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	for k, v := range instance.Spec.Labels {
		if k != corev1.LabelHostname {
			out.Labels[k] = v
		}
	}
	out.Status.ProviderID = providerID(instance)
	out.Status.ImageID = instance.Spec.ImageID
	out.Status.Capacity = instance.Spec.Capacity
	out.Status.Allocatable = instance.Spec.Allocatable
	return out
}

func providerID(instance *simv1.SimInstance) string {
	return providerIDPrefix + instance.Spec.Zone + "/" + instance.Name
}

// parseProviderID returns the instance ID of a sim provider ID.
func parseProviderID(id string) (string, error) {
	rest, ok := strings.CutPrefix(id, providerIDPrefix)
	if !ok {
		return "", fmt.Errorf("provider ID %q is not the simulated cloud's (want %s<zone>/<instance>)", id, providerIDPrefix)
	}
	_, instance, ok := strings.Cut(rest, "/")
	if !ok || instance == "" {
		return "", fmt.Errorf("provider ID %q has no instance ID", id)
	}
	return instance, nil
}

// getInstance returns the running or pending instance with the provider ID,
// or a NodeClaimNotFoundError.
func (p *Provider) getInstance(ctx context.Context, id string) (*simv1.SimInstance, error) {
	name, err := parseProviderID(id)
	if err != nil {
		return nil, err
	}
	return p.instanceNamed(ctx, name)
}

// instanceNamed returns the running or pending instance with the given ID,
// or a NodeClaimNotFoundError.
func (p *Provider) instanceNamed(ctx context.Context, name string) (*simv1.SimInstance, error) {
	instance := &simv1.SimInstance{}
	if err := p.client.Get(ctx, types.NamespacedName{Name: name}, instance); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, &cloudprovider.NodeClaimNotFoundError{ID: name}
		}
		return nil, fmt.Errorf("get instance %s: %w", name, err)
	}
	if instance.Status.State == simv1.StateShuttingDown {
		return nil, &cloudprovider.NodeClaimNotFoundError{ID: name, Err: fmt.Errorf("instance is shutting down")}
	}
	return instance, nil
}

// Delete terminates the NodeClaim's instance. It returns a
// NodeClaimNotFoundError once the instance is gone or going.
func (p *Provider) Delete(ctx context.Context, nodeClaim *v1.NodeClaim) error {
	name := instanceID(nodeClaim) // also finds one launched but not yet recorded
	if id := nodeClaim.Status.ProviderID; id != "" {
		var err error
		if name, err = parseProviderID(id); err != nil {
			return err
		}
	}
	instance, err := p.instanceNamed(ctx, name)
	if err != nil {
		return err
	}
	if class, err := p.nodeClass(ctx, nodeClaim.Spec.NodeClassRef); err == nil {
		if err := p.injectAPIError(class, "terminate"); err != nil {
			return err
		}
	}
	instance.Status.State = simv1.StateShuttingDown
	if err := p.client.Status().Update(ctx, instance); err != nil {
		return fmt.Errorf("terminate instance %s: %w", instance.Name, err)
	}
	return nil
}

// Get returns the instance with the provider ID as a NodeClaim.
func (p *Provider) Get(ctx context.Context, providerID string) (*v1.NodeClaim, error) {
	instance, err := p.getInstance(ctx, providerID)
	if err != nil {
		return nil, err
	}
	return p.asNodeClaim(instance), nil
}

// List returns every pending or running instance as a NodeClaim.
func (p *Provider) List(ctx context.Context) ([]*v1.NodeClaim, error) {
	list := &simv1.SimInstanceList{}
	if err := p.client.List(ctx, list, client.MatchingLabels{LabelCluster: p.clusterName}); err != nil {
		return nil, fmt.Errorf("list instances: %w", err)
	}
	out := make([]*v1.NodeClaim, 0, len(list.Items))
	for i := range list.Items {
		if list.Items[i].Status.State != simv1.StateShuttingDown {
			out = append(out, p.asNodeClaim(&list.Items[i]))
		}
	}
	return out, nil
}

func (p *Provider) asNodeClaim(instance *simv1.SimInstance) *v1.NodeClaim {
	nodeClaim := &v1.NodeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: instance.Spec.NodeClaim, UID: types.UID(instance.Labels[LabelNodeClaimUID]), CreationTimestamp: instance.CreationTimestamp},
		Spec: v1.NodeClaimSpec{
			NodeClassRef: &v1.NodeClassReference{Group: simv1.Group, Kind: "SimNodeClass", Name: instance.Spec.NodeClass},
		},
	}
	return p.hydrate(nodeClaim, instance)
}

// Interruptions returns the spot interruptions the simulated cloud has
// announced for this cluster's instances that have not yet been taken away.
func (p *Provider) Interruptions(ctx context.Context) ([]cloudprovider.Interruption, error) {
	list := &simv1.SimInstanceList{}
	if err := p.client.List(ctx, list, client.MatchingLabels{LabelCluster: p.clusterName}); err != nil {
		return nil, fmt.Errorf("list instances: %w", err)
	}
	var out []cloudprovider.Interruption
	for i := range list.Items {
		instance := &list.Items[i]
		if at := instance.Status.InterruptionTime; at != nil && instance.Status.State != simv1.StateShuttingDown {
			out = append(out, cloudprovider.Interruption{ProviderID: providerID(instance), At: at.Time, Kind: "SpotInterruption"})
		}
	}
	return out, nil
}

var _ cloudprovider.InterruptionSource = (*Provider)(nil)

// IsDrifted reports ImageChanged when the node class now names another image
// than the instance booted from.
func (p *Provider) IsDrifted(ctx context.Context, nodeClaim *v1.NodeClaim) (cloudprovider.DriftReason, error) {
	instance, err := p.getInstance(ctx, nodeClaim.Status.ProviderID)
	if err != nil {
		return "", err
	}
	class, err := p.nodeClass(ctx, nodeClaim.Spec.NodeClassRef)
	if err != nil {
		return "", nil // a missing class is the NodePool's problem, not drift
	}
	if class.Spec.ImageID != "" && class.Spec.ImageID != instance.Spec.ImageID {
		return "ImageChanged", nil
	}
	return "", nil
}

func parseRate(s string) float64 {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 {
		return 0
	}
	return min(f, 1)
}

// KwokNodeAnnotation and KwokNodeAnnotationValue mark the Nodes of simulated
// instances for kwok, which plays their kubelet; the embedded cluster's kwok
// selects exactly these.
const (
	KwokNodeAnnotation      = "kwok.x-k8s.io/node"
	KwokNodeAnnotationValue = "fake"
)
