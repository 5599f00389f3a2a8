package plan

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/tailor-sh/tailor/providers"
)

// loadString writes manifest to a file and loads it, turning a panic into
// an error so that every case of a table reports.
func loadString(t *testing.T, manifest string) (objects *Objects, err error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "m.yaml")
	if err := os.WriteFile(path, []byte(manifest), 0o600); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return Load(path)
}

func wantError(t *testing.T, manifest string, want ...string) {
	t.Helper()
	_, err := loadString(t, manifest)
	if err == nil {
		t.Fatalf("loaded; want an error with %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error\n  %v\nlacks %q", err, w)
		}
	}
}

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: %s
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: app
        image: app
        resources: {requests: {%s}}
`

// TestLoadSkipsKindsThatDoNotAffectPlacement reads one of each common kind
// that does not change where pods go.
func TestLoadSkipsKindsThatDoNotAffectPlacement(t *testing.T) {
	objects, err := Load("../testdata/plan/real-folder")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{
		"PodDisruptionBudget": 1, "Service": 2, "ConfigMap": 1, "Secret": 1, "Ingress": 1,
		"HorizontalPodAutoscaler": 1, "ServiceAccount": 1, "Role": 1, "RoleBinding": 1, "ClusterRole": 1,
		"ClusterRoleBinding": 1, "NetworkPolicy": 1, "CustomResourceDefinition": 1, "Certificate.cert-manager.io": 1,
		"ServiceMonitor.monitoring.coreos.com": 1, "LimitRange": 1, "ResourceQuota": 1, "PriorityClass": 1,
	}
	for kind, n := range want {
		if objects.Skipped[kind] != n {
			t.Errorf("skipped %d %s, want %d", objects.Skipped[kind], kind, n)
		}
	}
	for kind, n := range objects.Skipped {
		if _, ok := want[kind]; !ok {
			t.Errorf("skipped %d %s, want none", n, kind)
		}
	}
	// 3 web + 2 cache (StatefulSet) + 2 of a Job + 1 of a CronJob's job + 1 Pod.
	if len(objects.Pods) != 9 {
		var names []string
		for _, p := range objects.Pods {
			names = append(names, p.Name)
		}
		t.Errorf("%d pods %v, want 9", len(objects.Pods), names)
	}
	if len(objects.NodePools) != 1 || len(objects.Namespaces) != 1 || len(objects.DaemonSets) != 1 {
		t.Errorf("%d NodePools, %d Namespaces, %d DaemonSets; want 1 each", len(objects.NodePools), len(objects.Namespaces), len(objects.DaemonSets))
	}
}

func TestLoadReadsLists(t *testing.T) {
	objects, err := loadString(t, `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: a}
  spec: {containers: [{name: a, image: a}]}
- apiVersion: v1
  kind: Service
  metadata: {name: a}
`)
	if err != nil {
		t.Fatal(err)
	}
	if len(objects.Pods) != 1 || objects.Skipped["Service"] != 1 {
		t.Errorf("%d pods and skipped %v; want 1 pod and 1 Service", len(objects.Pods), objects.Skipped)
	}
}

func TestLoadRefusesUnreadableObjects(t *testing.T) {
	for _, tc := range []struct{ name, manifest, want string }{
		{"malformed YAML", "apiVersion: v1\nkind: Pod\nmetadata: {name: [x\n", "m.yaml: document 1"},
		{"no kind", "apiVersion: v1\nmetadata: {name: x}\n", "m.yaml: document 1: no kind"},
		{"not an object", "- a\n- b\n", "m.yaml: document 1"},
		{"misspelled kind of a known group", "apiVersion: apps/v1\nkind: Deploymnet\nmetadata: {name: x}\n", `m.yaml: document 1: no kind "Deploymnet" in apps/v1`},
		{"old version of a kind that is read", "apiVersion: apps/v1beta1\nkind: Deployment\nmetadata: {name: x}\n", "apps/v1beta1 Deployment: tailor plan reads Deployment as apps/v1: use apiVersion apps/v1"},
	} {
		t.Run(tc.name, func(t *testing.T) { wantError(t, tc.manifest, tc.want) })
	}
}

// TestLoadRefusesNegativeCounts: a negative count used to make a slice of
// negative capacity, which panics.
func TestLoadRefusesNegativeCounts(t *testing.T) {
	job := `apiVersion: batch/v1
kind: Job
metadata: {name: batch}
spec:
  %s
  template:
    spec:
      restartPolicy: Never
      containers: [{name: work, image: work}]
`
	for _, tc := range []struct{ name, manifest, want string }{
		{"Deployment replicas", fmt.Sprintf(deployment, "-1", "cpu: 1"), "Deployment/web: spec.replicas: Invalid value: -1: must be greater than or equal to 0"},
		{"ReplicaSet replicas", strings.Replace(fmt.Sprintf(deployment, "-2", "cpu: 1"), "Deployment", "ReplicaSet", 1), "ReplicaSet/web: spec.replicas: Invalid value: -2: must be greater than or equal to 0"},
		{"StatefulSet replicas", strings.Replace(fmt.Sprintf(deployment, "-3", "cpu: 1"), "Deployment", "StatefulSet", 1), "StatefulSet/web: spec.replicas: Invalid value: -3: must be greater than or equal to 0"},
		{"Job parallelism", fmt.Sprintf(job, "parallelism: -1"), "Job/batch: spec.parallelism: Invalid value: -1: must be greater than or equal to 0"},
		{"Job completions", fmt.Sprintf(job, "completions: -4"), "Job/batch: spec.completions: Invalid value: -4: must be greater than or equal to 0"},
	} {
		t.Run(tc.name, func(t *testing.T) { wantError(t, tc.manifest, tc.want) })
	}
}

func TestLoadRefusesBadRequests(t *testing.T) {
	path := "spec.template.spec.containers[0].resources."
	for _, tc := range []struct{ name, requests, want string }{
		{"negative cpu", "cpu: -1", path + `requests[cpu]: Invalid value: "-1": must be greater than or equal to 0`},
		{"negative memory", "memory: -1Gi", path + `requests[memory]: Invalid value: "-1Gi": must be greater than or equal to 0`},
		{"overflowing cpu", "cpu: 1e17", path + `requests[cpu]: Invalid value: "100P": must be at most 9223372036854775807m`},
		{"overflowing memory", "memory: 1e19", path + `requests[memory]: Invalid value: "10E": must be at most 9223372036854775807`},
		{"fractional GPU", "nvidia.com/gpu: 0.5}, limits: {nvidia.com/gpu: 0.5", path + `requests[nvidia.com/gpu]: Invalid value: "500m": must be an integer`},
		{"GPU request without a limit", "nvidia.com/gpu: 1", path + `limits: Required value: Limit must be set for non overcommitable resources`},
		{"GPU request under its limit", "nvidia.com/gpu: 1}, limits: {nvidia.com/gpu: 2", path + `requests: Invalid value: "1": must be equal to nvidia.com/gpu limit of 2`},
		{"pods", "pods: 0.5", path + `requests[pods]: Invalid value: "pods": must be a standard resource for containers`},
		{"request over limit", "cpu: 2}, limits: {cpu: 1", path + `requests: Invalid value: "2": must be less than or equal to cpu limit of 1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, fmt.Sprintf(deployment, "2", tc.requests), "m.yaml: Deployment/web: container app: ", tc.want)
		})
	}
	t.Run("init container of a pod", func(t *testing.T) {
		wantError(t, `apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  initContainers: [{name: setup, image: s, resources: {limits: {nvidia.com/gpu: 1.5}}}]
  containers: [{name: app, image: a}]
`, "Pod/p: container setup: ", `spec.initContainers[0].resources.requests[nvidia.com/gpu]: Invalid value: "1500m": must be an integer`)
	})
}

// TestLoadDefaultsRequestsFromLimits: the API server sets a container's
// requests to its limits when it gives limits only.
func TestLoadDefaultsRequestsFromLimits(t *testing.T) {
	objects, err := loadString(t, `apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers: [{name: app, image: a, resources: {limits: {cpu: 2, memory: 1Gi}, requests: {memory: 512Mi}}}]
`)
	if err != nil {
		t.Fatal(err)
	}
	got := objects.Pods[0].Spec.Containers[0].Resources.Requests
	if got.Cpu().String() != "2" || got.Memory().String() != "512Mi" {
		t.Errorf("requests %v, want cpu 2 (from the limit) and memory 512Mi", got)
	}
}

func TestLoadIsStrict(t *testing.T) {
	for _, tc := range []struct{ name, manifest, want string }{
		{"replicass", strings.Replace(fmt.Sprintf(deployment, "2", "cpu: 1"), "replicas:", "replicass:", 1), `m.yaml: document 1: Deployment/web: strict decoding error: unknown field "spec.replicass"`},
		{"resoures", strings.Replace(fmt.Sprintf(deployment, "2", "cpu: 1"), "resources:", "resoures:", 1), `unknown field "spec.template.spec.containers[0].resoures"`},
		{"NodePool", `apiVersion: tailor.sh/v1
kind: NodePool
metadata: {name: p}
spec:
  template:
    spec:
      nodeClassRef: {group: sim.tailor.sh, kind: SimNodeClass, name: default}
  limit: {cpu: 4}
`, `NodePool/p: strict decoding error: unknown field "spec.limit"`},
		{"duplicate field", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: a, image: a}]\n  containers: [{name: b, image: b}]\n", `m.yaml: document 1: yaml: unmarshal errors:`},
		{"duplicate field, named", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: a, image: a}]\n  containers: [{name: b, image: b}]\n", `line 6: key "containers" already set in map`},
	} {
		t.Run(tc.name, func(t *testing.T) { wantError(t, tc.manifest, tc.want) })
	}
}

// TestLoadNamesPodsUniquely: at 50,000 replicas the random-looking
// suffixes used to collide.
func TestLoadNamesPodsUniquely(t *testing.T) {
	manifest := fmt.Sprintf(deployment, "50000", "cpu: 10m") + "---\n" +
		strings.Replace(strings.Replace(fmt.Sprintf(deployment, "50000", "cpu: 10m"), "Deployment", "ReplicaSet", 1), "name: web", "name: rs", 1) + `---
apiVersion: batch/v1
kind: Job
metadata: {name: batch}
spec:
  parallelism: 50000
  template:
    spec:
      restartPolicy: Never
      containers: [{name: work, image: work}]
`
	first, err := loadString(t, manifest)
	if err != nil {
		t.Fatal(err)
	}
	second, err := loadString(t, manifest)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Pods) != 150000 {
		t.Fatalf("%d pods, want 150000", len(first.Pods))
	}
	seen := map[string]bool{}
	for i, p := range first.Pods {
		if seen[p.Name] {
			t.Fatalf("two pods named %s", p.Name)
		}
		seen[p.Name] = true
		if second.Pods[i].Name != p.Name {
			t.Fatalf("pod %d is %s, then %s: names must not change between runs", i, p.Name, second.Pods[i].Name)
		}
	}
	if name := first.Pods[0].Name; !strings.HasPrefix(name, "web-") || len(name) != len("web-")+10+1+5 {
		t.Errorf("Deployment pod named %s, want web-<10>-<5> as the Deployment controller names them", name)
	}
}

func TestLoadRefusesTwoPodsOfOneName(t *testing.T) {
	pod := "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a, image: a}]}\n"
	wantError(t, pod+"---\n"+pod, "m.yaml: Pod/p: a pod of this name and namespace is already in /", "m.yaml: Pod/p")
}

// TestLoadValidatesNodePools checks each NodePool the API server refuses in
// testdata/validation/invalid, with the message it refuses it with, and
// that the valid ones pass. Updates (files of several documents) and
// NodeClaims are not for tailor plan.
func TestLoadValidatesNodePools(t *testing.T) {
	const dir = "../testdata/validation"
	files, _ := filepath.Glob(filepath.Join(dir, "invalid", "*.yaml"))
	tested := 0
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(data), "\n---") || !strings.Contains(string(data), "kind: NodePool") {
			continue
		}
		tested++
		t.Run(filepath.Base(file), func(t *testing.T) {
			want := expectation(t, file)
			_, err := Load(file)
			if err == nil {
				t.Fatalf("accepted; want the rejection %q", want)
			}
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("rejected with\n  %v\nwant a message containing\n  %q", err, want)
			}
		})
	}
	if tested < 25 {
		t.Errorf("tested %d invalid NodePools, want at least 25", tested)
	}
	valid, _ := filepath.Glob(filepath.Join(dir, "valid", "*.yaml"))
	for _, file := range valid {
		data, _ := os.ReadFile(file)
		if !strings.Contains(string(data), "kind: NodePool") {
			continue
		}
		t.Run(filepath.Base(file), func(t *testing.T) {
			if _, err := Load(file); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func expectation(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		if rest, ok := strings.CutPrefix(scanner.Text(), "# expect: "); ok {
			return rest
		}
	}
	t.Fatalf("%s has no '# expect: <message>' line", path)
	return ""
}

// FuzzLoad feeds random bytes to the loader as a manifest file: it may
// refuse them, but must not panic.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(fmt.Sprintf(deployment, "3", "cpu: 1")))
	f.Add([]byte("apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: a}\n"))
	f.Add([]byte("apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: c}\nspec:\n  schedule: '* * * * *'\n  jobTemplate: {spec: {parallelism: 2, template: {spec: {containers: [{name: a}]}}}}\n"))
	f.Add([]byte("apiVersion: tailor.sh/v1\nkind: NodePool\nmetadata: {name: p}\nspec: {limits: {cpu: 4}, weight: 3, template: {spec: {nodeClassRef: {group: g, kind: k, name: n}, requirements: [{key: a, operator: In, values: [b]}]}}}\n"))
	f.Add([]byte("apiVersion: example.com/v1\nkind: Widget\n---\n{]\n"))
	// Keep each input quick: replicas: 999999 would be legal.
	saved := maxPods
	maxPods = 1000
	f.Cleanup(func() { maxPods = saved })
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "fuzz.yaml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		objects, err := Load(path)
		if err == nil && len(objects.Pods) > maxPods {
			t.Fatalf("%d pods", len(objects.Pods))
		}
	})
}
