// Package operator assembles Tailor's controller process: a controller-runtime
// manager (leader election, Prometheus metrics, health probes) with the cloud
// provider and the controllers registered on it. cmd/tailor-controller runs it
// in a cluster; tailor playground runs the same thing against the embedded
// cluster.
package operator

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/tailor-sh/tailor/cloudprovider"
	"github.com/tailor-sh/tailor/cloudprovider/metered"
	"github.com/tailor-sh/tailor/controllers/disruption"
	"github.com/tailor-sh/tailor/controllers/events"
	"github.com/tailor-sh/tailor/controllers/interruption"
	"github.com/tailor-sh/tailor/controllers/nodeclaim/garbagecollection"
	"github.com/tailor-sh/tailor/controllers/nodeclaim/lifecycle"
	nodepoolstatus "github.com/tailor-sh/tailor/controllers/nodepool/status"
	"github.com/tailor-sh/tailor/controllers/provisioning"
	"github.com/tailor-sh/tailor/controllers/state"
)

// Defaults of Options.
const (
	DefaultKubeClientQPS   = 200
	DefaultKubeClientBurst = 300
)

// Options configure the controller process.
type Options struct {
	// ClusterName tags the instances Tailor launches, so that several
	// clusters can share a cloud account. Required.
	ClusterName string
	// CloudProvider names the cloud, one of cloudprovider.Names(); empty
	// means the default, the simulated cloud.
	CloudProvider string
	// ProviderSettings are the provider's own settings, as its AddFlags
	// returned them; nil means its defaults.
	ProviderSettings any
	// MetricsBindAddress serves /metrics; "0" turns it off.
	MetricsBindAddress string
	// HealthProbeBindAddress serves /healthz and /readyz; "0" turns it off.
	HealthProbeBindAddress string
	// LeaderElection makes only one replica act at a time.
	LeaderElection          bool
	LeaderElectionNamespace string
	// CloudQPS and CloudBurst pace every call to the cloud, from every
	// controller; zero means metered's defaults.
	CloudQPS   float64
	CloudBurst int
	// KubeClientQPS and KubeClientBurst limit requests to the API server.
	KubeClientQPS   float32
	KubeClientBurst int
	// BatchIdle and BatchMax are the provisioner's batch windows.
	BatchIdle, BatchMax time.Duration
	// LaunchTimeout and RegistrationTimeout bound how long a NodeClaim may
	// take to launch and to join.
	LaunchTimeout, RegistrationTimeout time.Duration
	// GarbageCollectionInterval is how often leaked instances are looked
	// for, and GarbageCollectionGracePeriod how old an instance or
	// NodeClaim must be before garbage collection touches it.
	GarbageCollectionInterval, GarbageCollectionGracePeriod time.Duration
	// DisruptionInterval is how often nodes are looked at for disruption,
	// ValidationDelay how long a consolidation waits before it is decided
	// again and carried out, and ReplacementTimeout how long a replacement
	// may take to become ready.
	DisruptionInterval, ValidationDelay, ReplacementTimeout time.Duration
	// Calendar is the wall clock that disruption budget schedules are read
	// against; nil means the real one. Tests set a fake one.
	Calendar clock.PassiveClock
	// DisruptionClock is the clock disruption judges nodes' ages by; nil
	// means the real one. Tests move it ahead to expire a node without
	// waiting out the smallest expireAfter the API accepts.
	DisruptionClock clock.WithTicker
	// SkipControllerNameValidation lets one process build several
	// operators in turn (tests that restart the controller do).
	SkipControllerNameValidation bool
}

// Operator is a configured controller process, ready to Start.
type Operator struct {
	manager.Manager
	CloudProvider cloudprovider.CloudProvider
	Cluster       *state.Cluster
	Provisioner   *provisioning.Provisioner
}

// New builds the manager and registers the cloud provider's runnables and
// Tailor's controllers on it.
func New(cfg *rest.Config, opts Options) (*Operator, error) {
	cfg = rest.CopyConfig(cfg)
	if opts.KubeClientQPS <= 0 {
		// client-go's own default, 5 per second, would make launching a
		// hundred nodes take a minute.
		opts.KubeClientQPS, opts.KubeClientBurst = DefaultKubeClientQPS, DefaultKubeClientBurst
	}
	cfg.QPS, cfg.Burst = opts.KubeClientQPS, max(opts.KubeClientBurst, int(opts.KubeClientQPS))
	if opts.ClusterName == "" {
		// Garbage collection terminates the instances of this cluster that
		// no NodeClaim accounts for; a name two clusters share by default
		// would let each collect the other's.
		return nil, errors.New("the cluster name is required (--cluster-name, TAILOR_CLUSTER_NAME): it tags every instance Tailor launches, and clusters sharing a cloud account must each have their own")
	}
	scheme, err := cloudprovider.NewScheme()
	if err != nil {
		return nil, err
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme,
		Metrics:                 metricsserver.Options{BindAddress: opts.MetricsBindAddress},
		HealthProbeBindAddress:  opts.HealthProbeBindAddress,
		LeaderElection:          opts.LeaderElection,
		LeaderElectionID:        "tailor-controller.tailor.sh",
		LeaderElectionNamespace: opts.LeaderElectionNamespace,
		Controller:              config.Controller{SkipNameValidation: ptr.To(opts.SkipControllerNameValidation)},
	})
	if err != nil {
		return nil, fmt.Errorf("create manager: %w", err)
	}
	op := &Operator{Manager: mgr}
	provider, err := cloudprovider.Lookup(opts.CloudProvider)
	if err != nil {
		return nil, err
	}
	unavailable := cloudprovider.NewUnavailableOfferings(0, nil)
	cloud, err := provider.New(mgr, cloudprovider.Options{ClusterName: opts.ClusterName, Unavailable: unavailable, Settings: opts.ProviderSettings})
	if err != nil {
		return nil, fmt.Errorf("set up cloud provider %s: %w", provider.Name, err)
	}
	op.CloudProvider = metered.New(cloud, metered.Options{QPS: opts.CloudQPS, Burst: opts.CloudBurst})

	if op.Cluster, err = state.New(context.Background(), mgr.GetCache()); err != nil {
		return nil, err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("cluster-state", func(req *http.Request) error {
		if !op.Cluster.Synced(req.Context()) {
			return errors.New("the informer caches have not synced")
		}
		return nil
	}); err != nil {
		return nil, err
	}
	recorder := events.NewRecorder(mgr.GetEventRecorder("tailor"))
	// The provisioner writes through a client of its own, with its own
	// request budget: creating NodeClaims is the latency that matters, and
	// it must not queue behind the launches of the claims it just made.
	provisionerClient, err := client.New(rest.CopyConfig(cfg), client.Options{Scheme: scheme, Mapper: mgr.GetRESTMapper()})
	if err != nil {
		return nil, fmt.Errorf("create the provisioner's client: %w", err)
	}
	op.Provisioner = provisioning.New(provisionerClient, mgr.GetCache(), op.Cluster, op.CloudProvider, recorder,
		provisioning.Options{BatchIdle: opts.BatchIdle, BatchMax: opts.BatchMax})
	if err := mgr.Add(op.Provisioner); err != nil {
		return nil, err
	}
	if err := lifecycle.New(mgr.GetClient(), mgr.GetAPIReader(), op.CloudProvider, unavailable, recorder, lifecycle.Options{
		LaunchTimeout: opts.LaunchTimeout, RegistrationTimeout: opts.RegistrationTimeout,
	}).SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("set up the NodeClaim lifecycle controller: %w", err)
	}
	if err := nodepoolstatus.New(mgr.GetClient(), op.CloudProvider, opts.Calendar).SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("set up the NodePool status controller: %w", err)
	}
	if err := mgr.Add(disruption.New(mgr.GetClient(), op.Cluster, op.CloudProvider, recorder, disruption.Options{
		Interval: opts.DisruptionInterval, ValidationDelay: opts.ValidationDelay, ReplacementTimeout: opts.ReplacementTimeout, Calendar: opts.Calendar, Clock: opts.DisruptionClock,
	})); err != nil {
		return nil, err
	}
	if source, ok := cloud.(cloudprovider.InterruptionSource); ok {
		if err := mgr.Add(interruption.New(mgr.GetClient(), source, unavailable, recorder, interruption.Options{})); err != nil {
			return nil, err
		}
	}
	if err := mgr.Add(garbagecollection.New(mgr.GetClient(), op.CloudProvider, recorder,
		garbagecollection.Options{Interval: opts.GarbageCollectionInterval, GracePeriod: opts.GarbageCollectionGracePeriod})); err != nil {
		return nil, err
	}
	return op, nil
}
