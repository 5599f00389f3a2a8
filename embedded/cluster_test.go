package embedded_test

import (
	"context"
	"os"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/tailor-sh/tailor/embedded"
	"github.com/tailor-sh/tailor/embedded/clustertest"
)

func TestMain(m *testing.M) { os.Exit(clustertest.Run(m)) }

// TestClusterSchedulesPodsOnKwokNodes checks the parts of the control plane
// that Tailor relies on: the controller manager makes a ReplicaSet's pods, the
// scheduler binds them to a kwok node, kwok runs them, and a pod that fits
// nowhere is reported Unschedulable, the signal Tailor acts on.
func TestClusterSchedulesPodsOnKwokNodes(t *testing.T) {
	cluster := clustertest.Start(t)
	client := kubernetes.NewForConfigOrDie(cluster.RESTConfig)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        "smoke-node",
			Annotations: map[string]string{embedded.KwokNodeAnnotation: embedded.KwokNodeAnnotationValue},
			Labels:      map[string]string{"smoke": "true"},
		},
		Status: corev1.NodeStatus{
			Capacity:    resources("4", "16Gi", "110"),
			Allocatable: resources("4", "16Gi", "110"),
		},
	}
	if _, err := client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.CoreV1().Nodes().Delete(context.Background(), node.Name, metav1.DeleteOptions{}) })

	labels := map[string]string{"app": "smoke"}
	deployment := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "smoke", Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					NodeSelector: map[string]string{"smoke": "true"},
					Containers:   []corev1.Container{{Name: "app", Image: "app", Resources: requests("1")}},
				},
			},
		},
	}
	if _, err := client.AppsV1().Deployments("default").Create(ctx, deployment, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		pods, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=smoke"})
		if err != nil {
			return false, err
		}
		running := 0
		for _, pod := range pods.Items {
			if pod.Status.Phase == corev1.PodRunning && pod.Spec.NodeName == node.Name &&
				len(pod.OwnerReferences) == 1 && pod.OwnerReferences[0].Kind == "ReplicaSet" {
				running++
			}
		}
		return running == 3, nil
	})
	if err != nil {
		t.Fatalf("3 pods of the Deployment were not Running on %s: %v", node.Name, err)
	}

	tooBig := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "too-big", Namespace: "default"},
		Spec: corev1.PodSpec{
			NodeSelector: map[string]string{"smoke": "true"},
			Containers:   []corev1.Container{{Name: "app", Image: "app", Resources: requests("8")}},
		},
	}
	if _, err := client.CoreV1().Pods("default").Create(ctx, tooBig, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		pod, err := client.CoreV1().Pods("default").Get(ctx, tooBig.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range pod.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("the 8-cpu pod was not reported Unschedulable: %v", err)
	}
}

// TestServerReportsItsRealVersion guards the version stamp: without it the
// server says v0.0.0-master and clients that parse versions break.
func TestServerReportsItsRealVersion(t *testing.T) {
	cluster := clustertest.Start(t)
	version, err := kubernetes.NewForConfigOrDie(cluster.RESTConfig).Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if version.GitVersion != embedded.KubernetesVersion {
		t.Fatalf("server version = %s, want %s", version.GitVersion, embedded.KubernetesVersion)
	}
}

func resources(cpu, memory, pods string) corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse(cpu),
		corev1.ResourceMemory: resource.MustParse(memory),
		corev1.ResourcePods:   resource.MustParse(pods),
	}
}

func requests(cpu string) corev1.ResourceRequirements {
	return corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}}
}
