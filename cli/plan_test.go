package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

func TestPlanExample(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := runPlan(&stdout, &stderr, planOptions{files: []string{"../examples/web-shop.yaml"}, catalog: "aws-us-west-2", output: "json", lowerBound: true}); err != nil {
		t.Fatalf("plan: %v\n%s", err, stderr.String())
	}
	var out planOutput
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	if out.PodsScheduled != 35 || len(out.Unschedulable) != 0 {
		t.Fatalf("scheduled %d of 35 pods; unschedulable %v", out.PodsScheduled, out.Unschedulable)
	}
	names := map[string]bool{}
	total := 0.0
	for _, n := range out.Nodes {
		total += n.Price
		for _, p := range n.Pods {
			names[p] = true
		}
	}
	for _, want := range []string{"cache-0", "cache-1", "cache-2"} {
		if !names[want] {
			t.Errorf("no pod %s: StatefulSet pods are named <name>-<ordinal>", want)
		}
	}
	if out.LowerBoundPricePerHour <= 0 || out.LowerBoundPricePerHour > out.TotalPricePerHour+1e-9 {
		t.Errorf("lower bound %v, total %v", out.LowerBoundPricePerHour, out.TotalPricePerHour)
	}
	if diff := total - out.TotalPricePerHour; diff > 1e-4 || diff < -1e-4 {
		t.Errorf("nodes add up to %v, total says %v", total, out.TotalPricePerHour)
	}
}

func TestPlanTableIsForPeople(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := runPlan(&stdout, &stderr, planOptions{files: []string{"../examples/web-shop.yaml"}, catalog: "gce-us-central1", output: "table"}); err != nil {
		t.Fatalf("plan: %v\n%s", err, stderr.String())
	}
	for _, want := range []string{"INSTANCE TYPE", "$/MONTH", "TOTAL", "Catalog gce-us-central1"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, stdout.String())
		}
	}
}

func TestPlanBadInput(t *testing.T) {
	for _, tc := range []struct {
		name    string
		files   []string
		catalog string
		want    []string
	}{
		{"malformed YAML", []string{"../testdata/plan/malformed.yaml"}, "aws-us-west-2", []string{"malformed.yaml: document 1"}},
		{"unknown kind", []string{"../testdata/plan/unknown-kind.yaml"}, "aws-us-west-2", []string{"no pods in ../testdata/plan/unknown-kind.yaml", "skipped (no effect on placement): 1 Widget.example.com"}},
		{"impossible pod", []string{"../testdata/plan/impossible.yaml"}, "aws-us-west-2", []string{"1 of 1 pods cannot be scheduled",
			"impossible.yaml: Pod/giant: no instance type allowed by NodePool default has 2000 cpu; the largest has"}},
		{"catalog without offerings", []string{"../examples/web-shop.yaml"}, "../testdata/plan/bad-catalog.json", []string{`instance type "lonely": no offerings`}},
		{"missing file", []string{"../testdata/plan/nothing.yaml"}, "aws-us-west-2", []string{"nothing.yaml: no such file"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := runPlan(&stdout, &stderr, planOptions{files: tc.files, catalog: tc.catalog, output: "table"})
			if err == nil {
				t.Fatalf("no error; stdout:\n%s", stdout.String())
			}
			all := err.Error() + "\n" + stderr.String()
			for _, want := range tc.want {
				if !strings.Contains(all, want) {
					t.Errorf("message lacks %q:\n%s", want, all)
				}
			}
		})
	}
}

// TestPlanWithTheSharedCatalog reads the reference catalog the built-in one
// was derived from, when the workspace has it.
func TestPlanWithTheSharedCatalog(t *testing.T) {
	const path = "../../shared/data/aws-us-west-2-catalog.json"
	if _, err := os.Stat(path); err != nil {
		t.Skip("no shared reference data beside the checkout")
	}
	var stdout, stderr bytes.Buffer
	if err := runPlan(&stdout, &stderr, planOptions{files: []string{"../examples"}, catalog: path, output: "table"}); err != nil {
		t.Fatalf("plan: %v\n%s", err, stderr.String())
	}
}

func TestPlanReadsNamespaceLabels(t *testing.T) {
	dir := t.TempDir()
	manifest := `apiVersion: v1
kind: Namespace
metadata:
  name: data
  labels:
    team: data
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: cache
  namespace: data
spec:
  replicas: 2
  selector:
    matchLabels: {app: cache}
  template:
    metadata:
      labels: {app: cache}
    spec:
      containers:
      - name: cache
        resources:
          requests: {cpu: 250m, memory: 256Mi}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
          - topologyKey: kubernetes.io/hostname
            labelSelector:
              matchLabels: {app: cache}
            namespaceSelector:
              matchLabels: {team: data}
      containers:
      - name: web
        resources:
          requests: {cpu: 250m, memory: 256Mi}
`
	path := dir + "/app.yaml"
	if err := os.WriteFile(path, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if err := runPlan(&stdout, &stderr, planOptions{files: []string{path}, catalog: "aws-us-west-2", output: "json"}); err != nil {
		t.Fatalf("plan: %v\n%s", err, stderr.String())
	}
	var out planOutput
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	if out.PodsScheduled != 4 {
		t.Fatalf("scheduled %d of 4 pods: %v", out.PodsScheduled, out.Unschedulable)
	}
	for _, n := range out.Nodes {
		web, cache := false, false
		for _, p := range n.Pods {
			web = web || strings.HasPrefix(p, "web-")
			cache = cache || strings.HasPrefix(p, "cache-")
		}
		if web && cache {
			t.Errorf("node %v holds web and cache pods, which the namespace selector keeps apart", n.Pods)
		}
	}
}

// TestPlanPricesEachPoolFromItsNodeClass checks that tailor plan asks the
// provider registry which catalog a node class in the manifests names, and
// that --catalog, when given, wins.
func TestPlanPricesEachPoolFromItsNodeClass(t *testing.T) {
	manifests := `apiVersion: sim.tailor.sh/v1
kind: SimNodeClass
metadata: {name: gce}
spec: {catalog: gce-us-central1}
---
apiVersion: tailor.sh/v1
kind: NodePool
metadata: {name: gce}
spec:
  template:
    spec:
      nodeClassRef: {group: sim.tailor.sh, kind: SimNodeClass, name: gce}
---
apiVersion: v1
kind: Pod
metadata: {name: app}
spec:
  containers:
  - name: app
    image: app
    resources: {requests: {cpu: "1", memory: 1Gi}}
`
	path := t.TempDir() + "/m.yaml"
	if err := os.WriteFile(path, []byte(manifests), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		options    planOptions
		wantPrefix string
	}{
		{"the node class's catalog", planOptions{catalog: "aws-us-west-2"}, "Catalog gce-us-central1;"},
		{"--catalog given", planOptions{catalog: "aws-us-west-2", catalogSet: true}, "Catalog aws-us-west-2;"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			tc.options.files, tc.options.output = []string{path}, "table"
			if err := runPlan(&stdout, &stderr, tc.options); err != nil {
				t.Fatalf("plan: %v\n%s", err, stderr.String())
			}
			if !strings.Contains(stdout.String(), tc.wantPrefix) {
				t.Errorf("plan says\n%s\nwant %q", stdout.String(), tc.wantPrefix)
			}
		})
	}
}

// TestPlanReadsARealFolder plans a folder as an application repository
// holds it: the workloads are planned, the rest listed once on stderr.
func TestPlanReadsARealFolder(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := runPlan(&stdout, &stderr, planOptions{files: []string{"../testdata/plan/real-folder"}, catalog: "aws-us-west-2", output: "json"}); err != nil {
		t.Fatalf("plan: %v\n%s", err, stderr.String())
	}
	var out planOutput
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	if out.PodsScheduled != 9 || len(out.Unschedulable) != 0 {
		t.Errorf("scheduled %d of 9 pods; unschedulable %v", out.PodsScheduled, out.Unschedulable)
	}
	pods := map[string]bool{}
	for _, n := range out.Nodes {
		if n.NodePool != "general" || n.CapacityType != "on-demand" {
			t.Errorf("node %+v: want on-demand nodes of the folder's NodePool general", n)
		}
		for _, p := range n.Pods {
			pods[p] = true
		}
	}
	for _, want := range []string{"cache-0", "cache-1", "debug"} {
		if !pods[want] {
			t.Errorf("no pod %s in %v", want, pods)
		}
	}
	const want = "skipped (no effect on placement): 2 Service, 1 Certificate.cert-manager.io, 1 ClusterRole, 1 ClusterRoleBinding, 1 ConfigMap, " +
		"1 CustomResourceDefinition, 1 HorizontalPodAutoscaler, 1 Ingress, 1 LimitRange, 1 NetworkPolicy, 1 PodDisruptionBudget, 1 PriorityClass, " +
		"1 ResourceQuota, 1 Role, 1 RoleBinding, 1 Secret, 1 ServiceAccount, 1 ServiceMonitor.monitoring.coreos.com\n"
	if got := stderr.String(); strings.Count(got, "skipped") != 1 || !strings.Contains(got, want) {
		t.Errorf("stderr\n%s\nwant the line\n%s", got, want)
	}
}

// TestPlanHonoursNodePoolLimits: a pool with limits {cpu: 4} launches at
// most 4 cpu of nodes; the pods left over are unschedulable, the limit named.
func TestPlanHonoursNodePoolLimits(t *testing.T) {
	manifests := `apiVersion: tailor.sh/v1
kind: NodePool
metadata: {name: small}
spec:
  template:
    spec:
      nodeClassRef: {group: sim.tailor.sh, kind: SimNodeClass, name: default}
  limits: {cpu: 4}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: app}
spec:
  replicas: 10
  selector: {matchLabels: {app: app}}
  template:
    metadata: {labels: {app: app}}
    spec:
      containers:
      - name: app
        image: app
        resources: {requests: {cpu: "1", memory: 1Gi}}
`
	path := t.TempDir() + "/m.yaml"
	if err := os.WriteFile(path, []byte(manifests), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	err := runPlan(&stdout, &stderr, planOptions{files: []string{path}, catalog: "aws-us-west-2", output: "json"})
	if err == nil {
		t.Fatalf("no error: 10 pods of 1 cpu cannot fit in 4 cpu of nodes\n%s", stdout.String())
	}
	var out planOutput
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	cat, err := loadCatalog("aws-us-west-2")
	if err != nil {
		t.Fatal(err)
	}
	cpu := int64(0)
	for _, n := range out.Nodes {
		for _, it := range cat.InstanceTypes {
			if it.Name == n.InstanceType {
				cpu += it.Capacity.Cpu().MilliValue()
			}
		}
	}
	if cpu > 4000 || cpu == 0 {
		t.Errorf("nodes of %dm cpu in all, want some and at most 4", cpu)
	}
	if len(out.Unschedulable) == 0 || out.PodsScheduled+len(out.Unschedulable) != 10 {
		t.Fatalf("scheduled %d, unschedulable %d; want 10 in all, some unschedulable", out.PodsScheduled, len(out.Unschedulable))
	}
	for _, u := range out.Unschedulable {
		if !strings.Contains(u.Reason, "NodePool small has reached its limits") {
			t.Errorf("pod %s: reason %q does not name the limit", u.Pod, u.Reason)
		}
	}
}

// TestPlanRefusesAnInvalidNodePool: the API server would refuse it, so
// tailor plan does, with the same message.
func TestPlanRefusesAnInvalidNodePool(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := runPlan(&stdout, &stderr, planOptions{files: []string{"../testdata/validation/invalid/weight-zero.yaml", "../examples/web-shop.yaml"}, catalog: "aws-us-west-2", output: "json"})
	if err == nil || !strings.Contains(err.Error(), "weight-zero.yaml: NodePool/weight-zero: spec.weight: Invalid value: 0: weight must be between 1 and 100") {
		t.Fatalf("error %v; want the API server's message", err)
	}
}
