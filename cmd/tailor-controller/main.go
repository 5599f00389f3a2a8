// Command tailor-controller is Tailor's in-cluster controller. It runs the
// controllers that launch and remove nodes, under a controller-runtime manager
// that provides leader election, Prometheus metrics and health probes.
// Every flag can also be set by the environment variable named in its help.
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/tailor-sh/tailor/buildinfo"
	"github.com/tailor-sh/tailor/operator"
)

func main() {
	var opts operator.Options
	var showVersion bool
	flag.StringVar(&opts.CloudProvider, "cloud-provider", envOr("TAILOR_CLOUD_PROVIDER", "sim"), "cloud to launch nodes in: sim (env TAILOR_CLOUD_PROVIDER)")
	flag.StringVar(&opts.MetricsBindAddress, "metrics-bind-address", envOr("TAILOR_METRICS_BIND_ADDRESS", ":8080"), "address of /metrics; \"0\" turns it off (env TAILOR_METRICS_BIND_ADDRESS)")
	flag.StringVar(&opts.HealthProbeBindAddress, "health-probe-bind-address", envOr("TAILOR_HEALTH_PROBE_BIND_ADDRESS", ":8081"), "address of /healthz and /readyz (env TAILOR_HEALTH_PROBE_BIND_ADDRESS)")
	flag.BoolVar(&opts.LeaderElection, "leader-elect", envOr("TAILOR_LEADER_ELECT", "true") == "true", "elect a leader so that only one replica acts (env TAILOR_LEADER_ELECT)")
	flag.StringVar(&opts.LeaderElectionNamespace, "leader-election-namespace", envOr("POD_NAMESPACE", "kube-system"), "namespace of the leader election Lease (env POD_NAMESPACE)")
	qps, _ := strconv.ParseFloat(envOr("TAILOR_KUBE_CLIENT_QPS", "200"), 32)
	burst, _ := strconv.Atoi(envOr("TAILOR_KUBE_CLIENT_BURST", "300"))
	flag.Func("kube-client-qps", "API requests per second (env TAILOR_KUBE_CLIENT_QPS, default 200)", func(s string) error {
		v, err := strconv.ParseFloat(s, 32)
		qps = v
		return err
	})
	flag.IntVar(&burst, "kube-client-burst", burst, "API request burst (env TAILOR_KUBE_CLIENT_BURST)")
	flag.BoolVar(&showVersion, "version", false, "print the version and exit")
	zapOptions := zap.Options{}
	zapOptions.BindFlags(flag.CommandLine)
	flag.Parse()
	if showVersion {
		fmt.Println(buildinfo.Get())
		return
	}
	opts.KubeClientQPS, opts.KubeClientBurst = float32(qps), burst
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOptions)))
	log := ctrl.Log.WithName("tailor-controller")

	op, err := operator.New(ctrl.GetConfigOrDie(), opts)
	if err != nil {
		log.Error(err, "set up")
		os.Exit(1)
	}
	log.Info("starting", "version", buildinfo.Get().Version, "cloudProvider", op.CloudProvider.Name())
	if err := op.Start(ctrl.SetupSignalHandler()); err != nil {
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
