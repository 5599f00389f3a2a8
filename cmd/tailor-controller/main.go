// Command tailor-controller is Tailor's in-cluster controller. It runs the
// controllers that launch and remove nodes, under a controller-runtime manager
// that provides leader election, Prometheus metrics and health probes.
// Every flag can also be set by the environment variable named in its help.
package main

import (
	"fmt"
	"os"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/tailor-sh/tailor/buildinfo"
	"github.com/tailor-sh/tailor/operator"
	_ "github.com/tailor-sh/tailor/providers" // every cloud provider this build ships
)

func main() {
	cmd := newCommand(os.LookupEnv, func(c *config) error {
		log := ctrl.Log.WithName("tailor-controller")
		op, err := operator.New(ctrl.GetConfigOrDie(), c.operator)
		if err != nil {
			return fmt.Errorf("set up: %w", err)
		}
		log.Info("starting", "version", buildinfo.Get().Version, "cloudProvider", op.CloudProvider.Name(), "clusterName", c.operator.ClusterName)
		return op.Start(ctrl.SetupSignalHandler())
	})
	if err := cmd.Execute(); err != nil {
		os.Exit(1)
	}
}
