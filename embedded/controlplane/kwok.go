package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	nodefast "sigs.k8s.io/kwok/kustomize/stage/node/fast"
	nodelease "sigs.k8s.io/kwok/kustomize/stage/node/heartbeat-with-lease"
	podfast "sigs.k8s.io/kwok/kustomize/stage/pod/fast"
	kwokconfigv1alpha1 "sigs.k8s.io/kwok/pkg/apis/config/v1alpha1"
	"sigs.k8s.io/kwok/pkg/apis/internalversion"
	kwokclientset "sigs.k8s.io/kwok/pkg/client/clientset/versioned"
	kwokconfig "sigs.k8s.io/kwok/pkg/config"
	"sigs.k8s.io/kwok/pkg/kwok/controllers"
	kwokclient "sigs.k8s.io/kwok/pkg/utils/client"
)

// kwokOptions select the Nodes that kwok plays the kubelet for.
type kwokOptions struct {
	kubeconfig         string
	podCIDR            string
	annotationSelector string
	labelSelector      string
	allNodes           bool
	leaseSeconds       uint
}

// runKwok runs kwok's controllers as a library until SIGINT or SIGTERM. The
// stages are kwok's own "fast" ones: a node turns Ready at once and renews its
// Lease (so the node lifecycle controller keeps it Ready), a pod runs as soon
// as it is bound, and a deleted pod is finalized since no kubelet will do it.
func runKwok(args []string) int {
	var o kwokOptions
	fs := flag.NewFlagSet("kwok", flag.ContinueOnError)
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "path to the kubeconfig of the cluster")
	fs.StringVar(&o.podCIDR, "cidr", "10.244.0.0/16", "range that fake pod IPs are drawn from")
	fs.StringVar(&o.annotationSelector, "manage-nodes-with-annotation-selector", "", "manage the Nodes whose annotations match")
	fs.StringVar(&o.labelSelector, "manage-nodes-with-label-selector", "", "manage the Nodes whose labels match")
	fs.BoolVar(&o.allNodes, "manage-all-nodes", false, "manage every Node")
	fs.UintVar(&o.leaseSeconds, "node-lease-duration-seconds", 40, "duration of the node Leases kwok renews")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if o.annotationSelector == "" && o.labelSelector == "" && !o.allNodes {
		fmt.Fprintln(os.Stderr, "kwok: one of --manage-nodes-with-annotation-selector, --manage-nodes-with-label-selector or --manage-all-nodes is required")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := startKwok(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "kwok:", err)
		return 1
	}
	<-ctx.Done()
	return 0
}

func kwokStages() (map[internalversion.StageResourceRef][]*internalversion.Stage, error) {
	stages := map[internalversion.StageResourceRef][]*internalversion.Stage{}
	for _, raw := range []string{
		nodefast.DefaultNodeInit,
		nodelease.DefaultNodeHeartbeatWithLease,
		podfast.DefaultPodReady,
		podfast.DefaultPodComplete,
		podfast.DefaultPodDelete,
	} {
		stage, err := kwokconfig.UnmarshalWithType[*internalversion.Stage](raw)
		if err != nil {
			return nil, fmt.Errorf("parse kwok stage: %w", err)
		}
		stages[stage.Spec.ResourceRef] = append(stages[stage.Spec.ResourceRef], stage)
	}
	return stages, nil
}

func startKwok(ctx context.Context, o kwokOptions) error {
	stages, err := kwokStages()
	if err != nil {
		return err
	}
	var defaults kwokconfigv1alpha1.KwokConfiguration
	kwokconfigv1alpha1.SetObjectDefaults_KwokConfiguration(&defaults)

	clients, err := kwokclient.NewClientset("", o.kubeconfig)
	if err != nil {
		return fmt.Errorf("load kubeconfig %s: %w", o.kubeconfig, err)
	}
	restConfig, err := clients.ToRESTConfig()
	if err != nil {
		return err
	}
	dynamicClient, err := clients.ToDynamicClient()
	if err != nil {
		return err
	}
	restMapper, err := clients.ToRESTMapper()
	if err != nil {
		return err
	}
	restClient, err := rest.RESTClientFor(restConfig)
	if err != nil {
		return err
	}
	typedClient, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		return err
	}
	kwokTypedClient, err := kwokclientset.NewForConfig(restConfig)
	if err != nil {
		return err
	}
	id, err := controllers.Identity()
	if err != nil {
		return err
	}
	controller, err := controllers.NewController(controllers.Config{
		Clock:                             clock.RealClock{},
		DynamicClient:                     dynamicClient,
		RESTClient:                        restClient,
		RESTMapper:                        restMapper,
		ImpersonatingDynamicClient:        clients.ToImpersonatingDynamicClient(),
		ImpersonatingTypedClient:          clients.ToImpersonatingTypedClient(),
		TypedClient:                       typedClient,
		TypedKwokClient:                   kwokTypedClient,
		ManageNodesWithAnnotationSelector: o.annotationSelector,
		ManageNodesWithLabelSelector:      o.labelSelector,
		ManageAllNodes:                    o.allNodes,
		CIDR:                              o.podCIDR,
		NodeIP:                            "127.0.0.1",
		LocalStages:                       stages,
		PodPlayStageParallelism:           defaults.Options.PodPlayStageParallelism,
		NodePlayStageParallelism:          defaults.Options.NodePlayStageParallelism,
		NodeLeaseParallelism:              defaults.Options.NodeLeaseParallelism,
		NodeLeaseDurationSeconds:          o.leaseSeconds,
		PodsOnNodeSyncParallelism:         defaults.Options.PodsOnNodeSyncParallelism,
		EnablePodsOnNodeSyncListPager:     *defaults.Options.EnablePodsOnNodeSyncListPager,
		ID:                                id,
	})
	if err != nil {
		return fmt.Errorf("create kwok controller: %w", err)
	}
	return controller.Start(ctx)
}
