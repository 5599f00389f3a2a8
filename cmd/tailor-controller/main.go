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
	"time"

	"go.uber.org/zap/zapcore"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/tailor-sh/tailor/buildinfo"
	"github.com/tailor-sh/tailor/controllers/disruption"
	"github.com/tailor-sh/tailor/controllers/nodeclaim/lifecycle"
	"github.com/tailor-sh/tailor/controllers/provisioning"
	"github.com/tailor-sh/tailor/operator"
)

func main() {
	var opts operator.Options
	var showVersion bool
	flag.StringVar(&opts.ClusterName, "cluster-name", envOr("TAILOR_CLUSTER_NAME", "tailor"), "name of the cluster, tagged on every instance Tailor launches (env TAILOR_CLUSTER_NAME)")
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
	durationFlag(&opts.BatchIdle, "batch-idle-duration", "TAILOR_BATCH_IDLE_DURATION", provisioning.DefaultBatchIdle, "a batch of pending pods ends after this long without a new one")
	durationFlag(&opts.BatchMax, "batch-max-duration", "TAILOR_BATCH_MAX_DURATION", provisioning.DefaultBatchMax, "a batch of pending pods ends this long after it started")
	durationFlag(&opts.LaunchTimeout, "launch-timeout", "TAILOR_LAUNCH_TIMEOUT", lifecycle.DefaultLaunchTimeout, "a NodeClaim not launched after this long is deleted")
	durationFlag(&opts.RegistrationTimeout, "registration-timeout", "TAILOR_REGISTRATION_TIMEOUT", lifecycle.DefaultRegistrationTimeout, "a NodeClaim whose Node has not joined this long after creation is deleted")
	durationFlag(&opts.ValidationDelay, "consolidation-validation-delay", "TAILOR_CONSOLIDATION_VALIDATION_DELAY", disruption.DefaultValidationDelay, "a consolidation decision is decided again this long after it was made, and carried out only if it still holds")
	durationFlag(&opts.ReplacementTimeout, "replacement-timeout", "TAILOR_REPLACEMENT_TIMEOUT", disruption.DefaultReplacementTimeout, "a move whose replacement nodes are not ready this long after they were created is abandoned and the old nodes stay")
	logLevel := envOr("TAILOR_LOG_LEVEL", "info")
	flag.StringVar(&logLevel, "log-level", logLevel, "debug, info or error (env TAILOR_LOG_LEVEL)")
	flag.BoolVar(&showVersion, "version", false, "print the version and exit")
	zapOptions := zap.Options{}
	zapOptions.BindFlags(flag.CommandLine)
	flag.Parse()
	if showVersion {
		fmt.Println(buildinfo.Get())
		return
	}
	opts.KubeClientQPS, opts.KubeClientBurst = float32(qps), burst
	level, err := zapLevel(logLevel)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOptions), zap.Level(level)))
	log := ctrl.Log.WithName("tailor-controller")
	var op *operator.Operator

	op, err = operator.New(ctrl.GetConfigOrDie(), opts)
	if err != nil {
		log.Error(err, "set up")
		os.Exit(1)
	}
	log.Info("starting", "version", buildinfo.Get().Version, "cloudProvider", op.CloudProvider.Name(), "clusterName", opts.ClusterName)
	if _, set := os.LookupEnv("TAILOR_CLUSTER_NAME"); !set && !flagSet("cluster-name") {
		// Garbage collection terminates every instance tagged with this name
		// that no local NodeClaim accounts for.
		log.Info("WARNING: --cluster-name is the default; give every cluster that shares a cloud account its own name")
	}
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

// durationFlag defines a duration flag whose default comes from the
// environment variable env when set.
func durationFlag(p *time.Duration, name, env string, fallback time.Duration, usage string) {
	*p = fallback
	if v, ok := os.LookupEnv(env); ok {
		if d, err := time.ParseDuration(v); err == nil {
			*p = d
		} else {
			fmt.Fprintf(os.Stderr, "ignoring %s=%q: %v\n", env, v, err)
		}
	}
	flag.DurationVar(p, name, *p, usage+" (env "+env+")")
}

func zapLevel(s string) (zapcore.Level, error) {
	switch s {
	case "debug":
		return zapcore.DebugLevel, nil
	case "info":
		return zapcore.InfoLevel, nil
	case "error":
		return zapcore.ErrorLevel, nil
	}
	return 0, fmt.Errorf("log level %q: want debug, info or error", s)
}

// flagSet reports whether the flag was given on the command line.
func flagSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
