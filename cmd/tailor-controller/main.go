// Command tailor-controller is Tailor's in-cluster controller. It runs the
// controllers that launch and remove nodes, under a controller-runtime manager
// that provides leader election, Prometheus metrics and health probes.
package main

import (
	"flag"
	"fmt"
	"os"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/buildinfo"
)

func main() {
	var (
		metricsAddr    string
		probeAddr      string
		leaderElection bool
		showVersion    bool
	)
	flag.StringVar(&metricsAddr, "metrics-bind-address", envOr("TAILOR_METRICS_BIND_ADDRESS", ":8080"), "address of the Prometheus /metrics endpoint (\"0\" turns it off)")
	flag.StringVar(&probeAddr, "health-probe-bind-address", envOr("TAILOR_HEALTH_PROBE_BIND_ADDRESS", ":8081"), "address of the /healthz and /readyz endpoints")
	flag.BoolVar(&leaderElection, "leader-elect", envOr("TAILOR_LEADER_ELECT", "true") == "true", "elect a leader so that only one replica acts")
	flag.BoolVar(&showVersion, "version", false, "print the version and exit")
	zapOptions := zap.Options{}
	zapOptions.BindFlags(flag.CommandLine)
	flag.Parse()
	if showVersion {
		fmt.Println(buildinfo.Get())
		return
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOptions)))
	log := ctrl.Log.WithName("tailor-controller")

	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, v1.AddToScheme} {
		if err := add(scheme); err != nil {
			log.Error(err, "build scheme")
			os.Exit(1)
		}
	}
	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), ctrl.Options{
		Scheme:                  scheme,
		Metrics:                 metricsserver.Options{BindAddress: metricsAddr},
		HealthProbeBindAddress:  probeAddr,
		LeaderElection:          leaderElection,
		LeaderElectionID:        "tailor-controller.tailor.sh",
		LeaderElectionNamespace: envOr("POD_NAMESPACE", "kube-system"),
	})
	if err != nil {
		log.Error(err, "create manager")
		os.Exit(1)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		log.Error(err, "add health check")
		os.Exit(1)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		log.Error(err, "add readiness check")
		os.Exit(1)
	}
	log.Info("starting", "version", buildinfo.Get().Version)
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		log.Error(err, "manager stopped")
		os.Exit(1)
	}
}

func envOr(key, fallback string) string {
	if v, ok := os.LookupEnv(key); ok {
		return v
	}
	return fallback
}
