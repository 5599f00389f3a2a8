package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/cloudprovider"
	"github.com/tailor-sh/tailor/core/catalog"
	"github.com/tailor-sh/tailor/embedded"
	"github.com/tailor-sh/tailor/operator"
)

type playgroundOptions struct {
	dir        string
	kubeconfig string
	catalog    string
	cloud      string
	demo       bool
	// ephemeral says the cluster's folder is removed afterwards.
	ephemeral bool
	reset     bool
	verbose   bool
	// ready, when set, is called once the playground is up (for tests).
	ready func(*embedded.Cluster)
}

func newPlaygroundCommand() *cobra.Command {
	var o playgroundOptions
	cmd := &cobra.Command{
		Use:   "playground",
		Short: "Run Tailor against a local Kubernetes cluster and a simulated cloud",
		Long: `Starts a real Kubernetes control plane on this machine (etcd, kube-apiserver,
kube-scheduler, kube-controller-manager, with kwok playing the kubelets),
installs Tailor's CRDs, a default node class and NodePool, and runs the
Tailor controller against it until interrupted. The cluster lives in --dir and
comes back as it was when the playground is started again.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.demo && !cmd.Flags().Changed("dir") {
				// The demo starts from an empty cluster and leaves nothing behind.
				dir, err := os.MkdirTemp("", "tailor-demo-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(dir)
				o.dir, o.ephemeral = dir, true
			}
			return runPlayground(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), o)
		},
	}
	cmd.Flags().StringVar(&o.dir, "dir", filepath.Join(".tailor", "playground"), "folder that keeps the cluster's data between runs")
	cmd.Flags().StringVar(&o.kubeconfig, "kubeconfig", "", "where to write the admin kubeconfig (default <dir>/kubeconfig)")
	cmd.Flags().StringVar(&o.catalog, "catalog", catalog.DefaultBuiltin, fmt.Sprintf("built-in catalog of the default node class (%v)", catalog.BuiltinNames()))
	cmd.Flags().StringVar(&o.cloud, "cloud", "", fmt.Sprintf("cloud provider to run against (%v; default: the simulated cloud)", cloudprovider.Names()))
	cmd.Flags().BoolVar(&o.demo, "demo", false, "run a scripted scale-up of 56 pods in a fresh cluster, then halve them and watch consolidation; narrate it, print summaries and exit")
	cmd.Flags().BoolVar(&o.reset, "reset", false, "delete the cluster in --dir and start afresh")
	cmd.Flags().BoolVarP(&o.verbose, "verbose", "v", false, "log what the controller does")
	return cmd
}

func runPlayground(ctx context.Context, stdout, stderr io.Writer, o playgroundOptions) error {
	if _, err := catalog.Builtin(o.catalog); err != nil {
		return err
	}
	provider, err := cloudprovider.Lookup(o.cloud)
	if err != nil {
		return err
	}
	nodeClasses, err := provider.NodeClassResource()
	if err != nil {
		return err
	}
	if o.reset {
		if err := os.RemoveAll(o.dir); err != nil {
			return fmt.Errorf("reset %s: %w", o.dir, err)
		}
	}
	began := time.Now()
	fmt.Fprintln(stderr, "Starting the Tailor playground in", o.dir)
	cluster, err := embedded.Start(ctx, embedded.Config{Dir: o.dir, Progress: stderr})
	if err != nil {
		return err
	}
	defer func() {
		fmt.Fprintln(stderr, "Stopping the cluster...")
		if err := cluster.Stop(); err != nil {
			fmt.Fprintln(stderr, "stop the cluster:", err)
		}
		if o.ephemeral {
			fmt.Fprintln(stderr, "Stopped.")
		} else {
			fmt.Fprintln(stderr, "Stopped. The cluster is kept in", o.dir, "(use --reset to start afresh).")
		}
	}()
	fmt.Fprintf(stderr, "  installing Tailor's CRDs and the default %s and NodePool\n", provider.NodeClassKind.Kind)
	crds, err := cloudprovider.CRDs()
	if err != nil {
		return err
	}
	if err := cluster.InstallCRDs(ctx, crds); err != nil {
		return err
	}
	kubeconfig := cluster.Kubeconfig
	if o.kubeconfig != "" {
		data, err := os.ReadFile(cluster.Kubeconfig)
		if err != nil {
			return err
		}
		if err := os.WriteFile(o.kubeconfig, data, 0o600); err != nil {
			return fmt.Errorf("write kubeconfig: %w", err)
		}
		kubeconfig = o.kubeconfig
	}

	logger := logr.Discard()
	if o.verbose {
		logger = zap.New(zap.WriteTo(stderr))
	}
	ctrl.SetLogger(logger)
	validationDelay := time.Duration(0) // the default
	if o.demo {
		validationDelay = demoValidationDelay
	}
	op, err := operator.New(cluster.RESTConfig, operator.Options{
		CloudProvider:   provider.Name,
		ClusterName:     "playground",
		ValidationDelay: validationDelay,
		// One controller on a private cluster: nothing to elect, and no
		// ports to collide with another playground.
		MetricsBindAddress:     "0",
		HealthProbeBindAddress: "0",
		// Tests run the playground more than once in one process.
		SkipControllerNameValidation: true,
	})
	if err != nil {
		return err
	}
	installer, err := installDefaults(ctx, cluster, provider, o.catalog)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	managerDone := make(chan error, 1)
	go func() { managerDone <- op.Start(ctrl.LoggerInto(ctx, logger)) }()

	if o.demo {
		err := runDemo(ctx, stdout, installer, op, 5*time.Minute)
		cancel()
		<-managerDone
		return err
	}
	absKubeconfig, _ := filepath.Abs(kubeconfig)
	fmt.Fprintf(stdout, `
Tailor playground is running (up in %s). Use it with kubectl:

  export KUBECONFIG=%s
  kubectl get nodepools,%s,nodeclaims,nodes

The host's kubectl may be older than the cluster (Kubernetes %s); one of the
same version is built in:

  %s kubectl --kubeconfig %s get nodepools

Press Ctrl-C to stop. The cluster is kept in %s.
`, time.Since(began).Round(100*time.Millisecond), absKubeconfig, nodeClasses, embedded.KubernetesVersion, cluster.Binary, absKubeconfig, o.dir)
	if o.ready != nil {
		o.ready(cluster)
	}
	select {
	case <-ctx.Done():
		cancel()
		<-managerDone
		return nil
	case err := <-managerDone:
		if err != nil {
			return fmt.Errorf("the Tailor controller stopped: %w", err)
		}
		return nil
	}
}

// DefaultNodePool is the playground's NodePool, launching from the node
// class nodeClass: on-demand and spot, general-purpose amd64 Linux types,
// empty nodes removed after 30 seconds.
func DefaultNodePool(nodeClass *v1.NodeClassReference) *v1.NodePool {
	thirtySeconds := v1.NewNillableDuration(30 * time.Second)
	return &v1.NodePool{
		ObjectMeta: metav1.ObjectMeta{Name: "default"},
		Spec: v1.NodePoolSpec{
			Template: v1.NodeClaimTemplate{Spec: v1.NodeClaimTemplateSpec{
				NodeClassRef: nodeClass,
				Requirements: []v1.NodeSelectorRequirementWithMinValues{
					{Key: v1.LabelCapacityType, Operator: corev1.NodeSelectorOpIn, Values: []string{v1.CapacityTypeOnDemand, v1.CapacityTypeSpot}},
					{Key: corev1.LabelArchStable, Operator: corev1.NodeSelectorOpIn, Values: []string{"amd64"}},
					{Key: corev1.LabelOSStable, Operator: corev1.NodeSelectorOpIn, Values: []string{"linux"}},
					{Key: v1.LabelInstanceCategory, Operator: corev1.NodeSelectorOpIn, Values: []string{"c", "m", "r"}},
					{Key: v1.LabelInstanceGeneration, Operator: corev1.NodeSelectorOpGt, Values: []string{"4"}},
				},
				ExpireAfter: v1.NewNillableDuration(720 * time.Hour),
			}},
			Disruption: v1.Disruption{
				ConsolidationPolicy: v1.ConsolidationPolicyWhenEmptyOrUnderutilized,
				ConsolidateAfter:    thirtySeconds,
				Budgets:             []v1.Budget{{Nodes: "10%"}},
			},
			Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1000")},
		},
	}
}

// installDefaults creates the provider's default node class and the default
// NodePool unless they exist; a restarted playground keeps whatever the user
// changed. It returns the client it used.
func installDefaults(ctx context.Context, cluster *embedded.Cluster, provider cloudprovider.Provider, catalogName string) (client.Client, error) {
	scheme, err := cloudprovider.NewScheme()
	if err != nil {
		return nil, err
	}
	c, err := client.New(cluster.RESTConfig, client.Options{Scheme: scheme})
	if err != nil {
		return nil, err
	}
	class := provider.DefaultNodeClass("default", catalogName)
	for _, obj := range []client.Object{class, DefaultNodePool(provider.NodeClassRef(class.GetName()))} {
		if err := c.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("create default %s: %w", obj.GetObjectKind().GroupVersionKind().Kind, err)
		}
	}
	return c, nil
}
