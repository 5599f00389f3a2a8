// Package operator assembles Tailor's controller process: a controller-runtime
// manager (leader election, Prometheus metrics, health probes) with the cloud
// provider and the controllers registered on it. cmd/tailor-controller runs it
// in a cluster; tailor playground runs the same thing against the embedded
// cluster.
package operator

import (
	"fmt"
	"time"

	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	tailorscheme "github.com/tailor-sh/tailor/api/scheme"
	"github.com/tailor-sh/tailor/cloudprovider"
	"github.com/tailor-sh/tailor/cloudprovider/sim"
)

// Options configure the controller process.
type Options struct {
	// CloudProvider names the cloud: "sim" is the only one so far.
	CloudProvider string
	// MetricsBindAddress serves /metrics; "0" turns it off.
	MetricsBindAddress string
	// HealthProbeBindAddress serves /healthz and /readyz; "0" turns it off.
	HealthProbeBindAddress string
	// LeaderElection makes only one replica act at a time.
	LeaderElection          bool
	LeaderElectionNamespace string
	// KubeClientQPS and KubeClientBurst limit requests to the API server.
	KubeClientQPS   float32
	KubeClientBurst int
	// SimTick is how often the simulated cloud acts; zero means a second.
	SimTick time.Duration
}

// Operator is a configured controller process, ready to Start.
type Operator struct {
	manager.Manager
	CloudProvider cloudprovider.CloudProvider
}

// New builds the manager and registers the cloud provider's runnables and
// Tailor's controllers on it.
func New(cfg *rest.Config, opts Options) (*Operator, error) {
	cfg = rest.CopyConfig(cfg)
	if opts.KubeClientQPS > 0 {
		cfg.QPS, cfg.Burst = opts.KubeClientQPS, opts.KubeClientBurst
	}
	scheme, err := tailorscheme.New()
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
	})
	if err != nil {
		return nil, fmt.Errorf("create manager: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return nil, err
	}
	op := &Operator{Manager: mgr}
	switch opts.CloudProvider {
	case "", sim.ProviderName:
		provider := sim.New(mgr.GetClient(), sim.Options{})
		if err := mgr.Add(&sim.Cloud{Provider: provider, Tick: opts.SimTick}); err != nil {
			return nil, err
		}
		op.CloudProvider = provider
	default:
		return nil, fmt.Errorf("unknown cloud provider %q (available: %s)", opts.CloudProvider, sim.ProviderName)
	}
	return op, nil
}
