// Command tailor-controlplane is the multi-call binary behind Tailor's embedded
// Kubernetes cluster. Each invocation runs exactly one upstream component, so
// every component keeps its own process, flags and process-wide globals
// (feature gates, klog, the legacy metrics registry):
//
//	tailor-controlplane etcd ...                     the real etcd CLI
//	tailor-controlplane kube-apiserver ...           k8s.io/kubernetes/cmd/kube-apiserver
//	tailor-controlplane kube-scheduler ...           k8s.io/kubernetes/cmd/kube-scheduler
//	tailor-controlplane kube-controller-manager ...  k8s.io/kubernetes/cmd/kube-controller-manager
//	tailor-controlplane kwok ...                     kwok's node and pod simulator
//	tailor-controlplane kubectl ...                  kubectl at the server's version
//
// The orchestration (ports, certificates, start order, health checks,
// shutdown) lives in Tailor's main module, package embedded; this binary is
// kept small and stable because linking it costs minutes.
//
// As with busybox, a symlink named after a component runs that component, which
// lets controller-runtime's envtest use it through KUBEBUILDER_ASSETS.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	_ "time/tzdata" // CronJob time zones, as the upstream mains embed them.

	"go.etcd.io/etcd/server/v3/etcdmain"
	_ "k8s.io/client-go/plugin/pkg/client/auth"
	"k8s.io/component-base/cli"
	"k8s.io/component-base/logs"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
	kubectlutil "k8s.io/kubectl/pkg/cmd/util"
	apiserverapp "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanagerapp "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	schedulerapp "k8s.io/kubernetes/cmd/kube-scheduler/app"
)

// components maps a component name to the function that runs it with its
// arguments (without the component name) and returns the exit code.
var components = map[string]func(args []string) int{
	"etcd": func(args []string) int {
		// etcdmain parses its own flag set and exits the process itself.
		etcdmain.Main(append([]string{"etcd"}, args...))
		return 0
	},
	"kube-apiserver": func(args []string) int {
		cmd := apiserverapp.NewAPIServerCommand()
		cmd.SetArgs(args)
		return cli.Run(cmd)
	},
	"kube-scheduler": func(args []string) int {
		cmd := schedulerapp.NewSchedulerCommand()
		cmd.SetArgs(args)
		return cli.Run(cmd)
	},
	"kube-controller-manager": func(args []string) int {
		cmd := controllermanagerapp.NewControllerManagerCommand()
		cmd.SetArgs(args)
		return cli.Run(cmd)
	},
	"kubectl": func(args []string) int {
		_, _ = logs.GlogSetter(kubectlcmd.GetLogVerbosity(os.Args))
		if err := cli.RunNoErrOutput(kubectlcmd.NewDefaultKubectlCommand()); err != nil {
			kubectlutil.CheckErr(err)
		}
		return 0
	},
	"kwok":    runKwok,
	"version": func([]string) int { fmt.Println(kubernetesVersion()); return 0 },
}

func main() {
	name, args := filepath.Base(os.Args[0]), os.Args[1:]
	if _, ok := components[name]; !ok {
		if len(args) == 0 {
			usage()
		}
		name, args = args[0], args[1:]
	}
	run, ok := components[name]
	if !ok {
		usage()
	}
	// Components read os.Args themselves (kubectl plugins, cobra defaults), so
	// give them the argv they would have as standalone programs.
	os.Args = append([]string{name}, args...)
	os.Exit(run(args))
}

func usage() {
	names := make([]string, 0, len(components))
	for n := range components {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(os.Stderr, "usage: tailor-controlplane {%s} [flags]\n", strings.Join(names, "|"))
	os.Exit(2)
}
