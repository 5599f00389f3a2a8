package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/yaml"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/cli"
	"github.com/tailor-sh/tailor/cloudprovider"
	"github.com/tailor-sh/tailor/embedded"
	"github.com/tailor-sh/tailor/embedded/clustertest"
	"github.com/tailor-sh/tailor/operator"
	"github.com/tailor-sh/tailor/providers/sim"
	simv1 "github.com/tailor-sh/tailor/providers/sim/api/v1"
)

func TestMain(m *testing.M) {
	if os.Getenv("TAILOR_TEST_LOG") != "" {
		ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.UseDevMode(true)))
	}
	os.Exit(clustertest.Run(m))
}

// testOptions are the operator's options in these tests: the default batch
// windows, a faster simulated cloud and garbage collection.
var testOptions = operator.Options{
	CloudProvider:                "sim",
	ClusterName:                  "tailor",
	MetricsBindAddress:           "0",
	HealthProbeBindAddress:       "0",
	ProviderSettings:             &sim.Settings{Tick: 100 * time.Millisecond},
	GarbageCollectionInterval:    time.Second,
	GarbageCollectionGracePeriod: 3 * time.Second,
	SkipControllerNameValidation: true,
	DisruptionInterval:           500 * time.Millisecond,
	ValidationDelay:              2 * time.Second,
}

// env is one test's view of the cluster.
type env struct {
	t         testing.TB
	cluster   *embedded.Cluster
	client    client.Client
	namespace string
	operators []*running
}

// envs numbers the environments of this test process.
var envs atomic.Int32

func newEnv(t testing.TB) *env {
	t.Helper()
	cluster := clustertest.Start(t)
	scheme, err := cloudprovider.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	cfg := rest.CopyConfig(cluster.RESTConfig)
	cfg.QPS, cfg.Burst = 1000, 2000 // benchmarks create pods by the thousand
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, cluster: cluster, client: c, namespace: strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))}
	if len(e.namespace) > 50 {
		e.namespace = e.namespace[:50]
	}
	// A benchmark run with -count reuses its name while the last run's
	// namespace is still going away.
	e.namespace += "-" + strconv.Itoa(int(envs.Add(1)))
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: e.namespace}}
	if err := c.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Delete(context.Background(), ns) })
	// Registered before any pool's cleanup, so it runs after them: the
	// controllers must be running to remove NodeClaims.
	t.Cleanup(func() {
		for _, r := range e.operators {
			r.stop()
		}
	})
	return e
}

// running is an operator started by a test.
type running struct {
	op     *operator.Operator
	cancel context.CancelFunc
	done   chan error
}

// startOperator starts Tailor's controllers; they stop when the test ends,
// after its pools have been removed.
func (e *env) startOperator(opts operator.Options) *running {
	e.t.Helper()
	op, err := operator.New(e.cluster.RESTConfig, opts)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{op: op, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- op.Start(ctx) }()
	e.operators = append(e.operators, r)
	return r
}

func (r *running) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	<-r.done
	r.cancel = nil
}

// nodePool creates a SimNodeClass and a NodePool named after the test. The
// pool's pods select it with podSpec.
func (e *env) nodePool(name string, class simv1.SimNodeClassSpec, mutate func(*v1.NodePool)) *v1.NodePool {
	e.t.Helper()
	ctx := context.Background()
	if class.Catalog == "" && class.CatalogConfigMap == nil {
		class.Catalog = "aws-us-west-2"
	}
	nodeClass := &simv1.SimNodeClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: class}
	pool := &v1.NodePool{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1.NodePoolSpec{Template: v1.NodeClaimTemplate{Spec: v1.NodeClaimTemplateSpec{
			NodeClassRef: &v1.NodeClassReference{Group: simv1.Group, Kind: "SimNodeClass", Name: name},
			Requirements: []v1.NodeSelectorRequirementWithMinValues{
				{Key: v1.LabelInstanceCategory, Operator: corev1.NodeSelectorOpIn, Values: []string{"c", "m", "r"}},
				{Key: v1.LabelInstanceGeneration, Operator: corev1.NodeSelectorOpGt, Values: []string{"4"}},
			},
		}}},
	}
	if mutate != nil {
		mutate(pool)
	}
	for _, obj := range []client.Object{nodeClass, pool} {
		if err := e.client.Create(ctx, obj); err != nil {
			e.t.Fatal(err)
		}
	}
	e.t.Cleanup(func() { e.deletePool(pool, nodeClass) })
	return pool
}

// deletePool removes the pool's pods' namespace contents, the pool and its
// NodeClaims, and waits until their instances are gone.
func (e *env) deletePool(pool *v1.NodePool, class *simv1.SimNodeClass) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_ = e.client.DeleteAllOf(ctx, &appsv1.Deployment{}, client.InNamespace(e.namespace))
	_ = e.client.DeleteAllOf(ctx, &corev1.Pod{}, client.InNamespace(e.namespace), client.GracePeriodSeconds(0))
	_ = e.client.Delete(ctx, pool)
	_ = e.client.DeleteAllOf(ctx, &v1.NodeClaim{}, client.MatchingLabels{v1.LabelNodePool: pool.Name})
	err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		claims := &v1.NodeClaimList{}
		if err := e.client.List(ctx, claims, client.MatchingLabels{v1.LabelNodePool: pool.Name}); err != nil {
			return false, err
		}
		return len(claims.Items) == 0, nil
	})
	if err != nil {
		e.t.Errorf("NodeClaims of NodePool %s were not removed: %v", pool.Name, err)
	}
	_ = e.client.Delete(ctx, class)
}

// podSpec is a pod with the given requests that may only run on the pool's
// nodes.
func podSpec(pool string, cpu, memory string) corev1.PodSpec {
	return corev1.PodSpec{
		NodeSelector: map[string]string{v1.LabelNodePool: pool},
		Containers: []corev1.Container{{Name: "app", Image: "app", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(memory)},
		}}},
		TerminationGracePeriodSeconds: ptr.To[int64](0),
	}
}

// deployment creates a Deployment of replicas pods with spec.
func (e *env) deployment(name string, replicas int32, spec corev1.PodSpec) *appsv1.Deployment {
	e.t.Helper()
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.namespace},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: spec},
		},
	}
	if err := e.client.Create(context.Background(), d); err != nil {
		e.t.Fatal(err)
	}
	return d
}

// pods lists the test namespace's pods with the label app=name.
func (e *env) pods(ctx context.Context, app string) ([]corev1.Pod, error) {
	list := &corev1.PodList{}
	if err := e.client.List(ctx, list, client.InNamespace(e.namespace), client.MatchingLabels{"app": app}); err != nil {
		return nil, err
	}
	return list.Items, nil
}

// waitRunning waits until want pods of the app run and returns them.
func (e *env) waitRunning(app string, want int, timeout time.Duration) []corev1.Pod {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var pods []corev1.Pod
	err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		var err error
		if pods, err = e.pods(ctx, app); err != nil {
			return false, nil
		}
		n := 0
		for _, p := range pods {
			if p.Status.Phase == corev1.PodRunning {
				n++
			}
		}
		return n >= want, nil
	})
	if err != nil {
		e.t.Fatalf("%d pods of %s not Running within %s: %s", want, app, timeout, e.describe(pods))
	}
	return pods
}

// describe summarizes pods and NodeClaims for a failure message.
func (e *env) describe(pods []corev1.Pod) string {
	phases := map[corev1.PodPhase]int{}
	for _, p := range pods {
		phases[p.Status.Phase]++
	}
	claims := &v1.NodeClaimList{}
	_ = e.client.List(context.Background(), claims)
	var b strings.Builder
	fmt.Fprintf(&b, "pods by phase %v; NodeClaims:", phases)
	for _, nc := range claims.Items {
		fmt.Fprintf(&b, "\n  %s %s %v", nc.Name, nc.Labels[corev1.LabelInstanceTypeStable], nc.Status.Conditions)
	}
	events := &corev1.EventList{}
	_ = e.client.List(context.Background(), events, client.InNamespace(e.namespace))
	for i, ev := range events.Items {
		if i > 20 {
			break
		}
		fmt.Fprintf(&b, "\n  event %s %s: %s", ev.InvolvedObject.Name, ev.Reason, ev.Message)
	}
	return b.String()
}

// waitClaimsReady waits until every NodeClaim of the pool is Ready and
// returns them.
func (e *env) waitClaimsReady(pool string, timeout time.Duration) []v1.NodeClaim {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var claims []v1.NodeClaim
	err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		claims = e.claims(pool)
		for _, nc := range claims {
			if !apimeta.IsStatusConditionTrue(nc.Status.Conditions, v1.ConditionReady) {
				return false, nil
			}
		}
		return len(claims) > 0, nil
	})
	if err != nil {
		e.t.Fatalf("NodeClaims of %s not Ready within %s: %s", pool, timeout, e.describe(nil))
	}
	return claims
}

// plan runs tailor plan on the pool and the workloads, as a user would
// before applying them, and returns the price it predicts.
func (e *env) plan(pool *v1.NodePool, workloads ...client.Object) float64 {
	e.t.Helper()
	var manifest bytes.Buffer
	for _, obj := range append([]client.Object{pool}, workloads...) {
		obj = obj.DeepCopyObject().(client.Object)
		gvks, _, err := e.client.Scheme().ObjectKinds(obj)
		if err != nil {
			e.t.Fatal(err)
		}
		obj.GetObjectKind().SetGroupVersionKind(gvks[0])
		obj.SetResourceVersion("")
		obj.SetUID("")
		data, err := yaml.Marshal(obj)
		if err != nil {
			e.t.Fatal(err)
		}
		manifest.WriteString("---\n")
		manifest.Write(data)
	}
	file := filepath.Join(e.t.TempDir(), "input.yaml")
	if err := os.WriteFile(file, manifest.Bytes(), 0o600); err != nil {
		e.t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cmd := cli.NewRootCommand()
	cmd.SetArgs([]string{"plan", "-f", file, "-o", "json", "--lower-bound=false"})
	cmd.SetOut(&stdout)
	cmd.SetErr(&stderr)
	if err := cmd.Execute(); err != nil {
		e.t.Fatalf("tailor plan: %v\n%s", err, stderr.String())
	}
	var out struct {
		TotalPricePerHour float64 `json:"totalPricePerHour"`
		Unschedulable     []any   `json:"unschedulable"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		e.t.Fatalf("tailor plan printed no JSON: %v\n%s", err, stdout.String())
	}
	if len(out.Unschedulable) > 0 {
		e.t.Fatalf("tailor plan left pods unschedulable: %v", out.Unschedulable)
	}
	return out.TotalPricePerHour
}

// claims lists the pool's NodeClaims.
func (e *env) claims(pool string) []v1.NodeClaim {
	e.t.Helper()
	list := &v1.NodeClaimList{}
	if err := e.client.List(context.Background(), list, client.MatchingLabels{v1.LabelNodePool: pool}); err != nil {
		e.t.Fatal(err)
	}
	return list.Items
}

// node returns a Node by name.
func (e *env) node(name string) *corev1.Node {
	e.t.Helper()
	node := &corev1.Node{}
	if err := e.client.Get(context.Background(), client.ObjectKey{Name: name}, node); err != nil {
		e.t.Fatalf("get Node %s: %v", name, err)
	}
	return node
}
