package main

import (
	"flag"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.uber.org/zap/zapcore"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/tailor-sh/tailor/buildinfo"
	"github.com/tailor-sh/tailor/cloudprovider"
	"github.com/tailor-sh/tailor/cloudprovider/metered"
	"github.com/tailor-sh/tailor/controllers/disruption"
	"github.com/tailor-sh/tailor/controllers/nodeclaim/lifecycle"
	"github.com/tailor-sh/tailor/controllers/provisioning"
	"github.com/tailor-sh/tailor/operator"
)

// config is what the flags and the environment set.
type config struct {
	operator operator.Options
	logLevel string
	zap      zap.Options
	// providerSettings are each provider's own, by provider name.
	providerSettings map[string]any
}

// envPrefix starts the environment variable of every flag: --batch-max-duration
// is TAILOR_BATCH_MAX_DURATION.
const envPrefix = "TAILOR_"

// envOverrides are flags whose variable is not envPrefix + the flag's name,
// because Kubernetes' downward API conventionally sets it.
var envOverrides = map[string]string{"leader-election-namespace": "POD_NAMESPACE"}

// envName is the environment variable that sets a flag.
func envName(flagName string) string {
	if name, ok := envOverrides[flagName]; ok {
		return name
	}
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// newCommand builds the command. lookupEnv reads the environment (tests give
// their own); run is called with the parsed configuration.
func newCommand(lookupEnv func(string) (string, bool), run func(*config) error) *cobra.Command {
	c := &config{providerSettings: map[string]any{}}
	cmd := &cobra.Command{
		Use:           "tailor-controller",
		Short:         "Tailor's in-cluster node autoscaler",
		Version:       buildinfo.Get().String(),
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: false,
		PreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyEnv(cmd.Flags(), lookupEnv); err != nil {
				return err
			}
			if c.operator.ClusterName == "" {
				return fmt.Errorf("--cluster-name (%s) is required: it tags every instance Tailor launches, and garbage collection terminates this cluster's instances that no NodeClaim accounts for, so clusters sharing a cloud account must each have their own", envName("cluster-name"))
			}
			c.operator.ProviderSettings = c.providerSettings[c.operator.CloudProvider]
			if _, err := cloudprovider.Lookup(c.operator.CloudProvider); err != nil {
				return err
			}
			level, err := zapLevel(c.logLevel)
			if err != nil {
				return err
			}
			ctrl.SetLogger(zap.New(zap.UseFlagOptions(&c.zap), zap.Level(level)))
			return nil
		},
		RunE: func(*cobra.Command, []string) error { return run(c) },
	}
	addFlags(cmd.Flags(), c)
	return cmd
}

// addFlags defines every flag, with its environment variable in its help.
func addFlags(fs *pflag.FlagSet, c *config) {
	o := &c.operator
	fs.StringVar(&o.ClusterName, "cluster-name", "", "name of the cluster, tagged on every instance Tailor launches (required)")
	fs.StringVar(&o.CloudProvider, "cloud-provider", defaultProvider(), fmt.Sprintf("cloud to launch nodes in: %s", strings.Join(cloudprovider.Names(), ", ")))
	fs.StringVar(&o.MetricsBindAddress, "metrics-bind-address", ":8080", `address of /metrics; "0" turns it off`)
	fs.StringVar(&o.HealthProbeBindAddress, "health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	fs.BoolVar(&o.LeaderElection, "leader-elect", true, "elect a leader so that only one replica acts")
	fs.StringVar(&o.LeaderElectionNamespace, "leader-election-namespace", "kube-system", "namespace of the leader election Lease")
	fs.Float32Var(&o.KubeClientQPS, "kube-client-qps", operator.DefaultKubeClientQPS, "API requests per second")
	fs.IntVar(&o.KubeClientBurst, "kube-client-burst", operator.DefaultKubeClientBurst, "API request burst")
	fs.Float64Var(&o.CloudQPS, "cloud-qps", metered.DefaultQPS, "calls per second to the cloud provider's API, from every controller together")
	fs.IntVar(&o.CloudBurst, "cloud-burst", metered.DefaultBurst, "burst of calls to the cloud provider's API")
	fs.DurationVar(&o.BatchIdle, "batch-idle-duration", provisioning.DefaultBatchIdle, "a batch of pending pods ends after this long without a new one")
	fs.DurationVar(&o.BatchMax, "batch-max-duration", provisioning.DefaultBatchMax, "a batch of pending pods ends this long after it started")
	fs.DurationVar(&o.LaunchTimeout, "launch-timeout", lifecycle.DefaultLaunchTimeout, "a NodeClaim not launched after this long is deleted")
	fs.DurationVar(&o.RegistrationTimeout, "registration-timeout", lifecycle.DefaultRegistrationTimeout, "a NodeClaim whose Node has not joined this long after creation is deleted")
	fs.DurationVar(&o.ValidationDelay, "consolidation-validation-delay", disruption.DefaultValidationDelay, "a consolidation decision is decided again this long after it was made, and carried out only if it still holds")
	fs.DurationVar(&o.ReplacementTimeout, "replacement-timeout", disruption.DefaultReplacementTimeout, "a move whose replacement nodes are not ready this long after they were created is abandoned and the old nodes stay")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info or error")
	for _, p := range cloudprovider.Providers() {
		if p.AddFlags != nil {
			c.providerSettings[p.Name] = p.AddFlags(fs)
		}
	}
	zapFlags := flag.NewFlagSet("zap", flag.ContinueOnError)
	c.zap.BindFlags(zapFlags)
	fs.AddGoFlagSet(zapFlags)
	// controller-runtime registers --kubeconfig on the standard flag set,
	// and ctrl.GetConfigOrDie reads it there.
	fs.AddGoFlagSet(flag.CommandLine)
	fs.VisitAll(func(f *pflag.Flag) { f.Usage += fmt.Sprintf(" (env %s)", envName(f.Name)) })
}

// applyEnv sets every flag not given on the command line from its
// environment variable, failing on a value the flag does not accept rather
// than ignoring it.
func applyEnv(fs *pflag.FlagSet, lookupEnv func(string) (string, bool)) error {
	var errs []string
	fs.VisitAll(func(f *pflag.Flag) {
		value, ok := lookupEnv(envName(f.Name))
		if !ok || f.Changed {
			return
		}
		if err := fs.Set(f.Name, value); err != nil {
			errs = append(errs, fmt.Sprintf("%s=%q: %v", envName(f.Name), value, err))
		}
	})
	if len(errs) > 0 {
		return fmt.Errorf("invalid environment: %s", strings.Join(errs, "; "))
	}
	return nil
}

// defaultProvider is the provider that needs no cloud account, when linked.
func defaultProvider() string {
	if p, err := cloudprovider.Lookup(""); err == nil {
		return p.Name
	}
	return ""
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
