package v1_test

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/embedded/clustertest"
)

func TestMain(m *testing.M) { os.Exit(clustertest.Run(m)) }

const validationDir = "../../testdata/validation"

var resources = map[string]schema.GroupVersionResource{
	"NodePool":  v1.SchemeGroupVersion.WithResource("nodepools"),
	"NodeClaim": v1.SchemeGroupVersion.WithResource("nodeclaims"),
}

// TestValidManifestsAreAccepted applies every manifest under
// testdata/validation/valid to a real API server with Tailor's CRDs.
func TestValidManifestsAreAccepted(t *testing.T) {
	client := dynamic.NewForConfigOrDie(clustertest.Start(t).RESTConfig)
	files, _ := filepath.Glob(filepath.Join(validationDir, "valid", "*.yaml"))
	if len(files) < 5 {
		t.Fatalf("found %d valid manifests, want at least 5", len(files))
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			for _, obj := range readManifests(t, file) {
				if err := apply(t, client, obj); err != nil {
					t.Fatalf("%s %s was rejected: %v", obj.GetKind(), obj.GetName(), err)
				}
			}
		})
	}
}

// TestInvalidManifestsAreRejected applies every manifest under
// testdata/validation/invalid. Each file names the message the API server must
// answer with in a "# expect:" comment. A file with several documents applies
// them in order (create, then update); all but the last must succeed.
func TestInvalidManifestsAreRejected(t *testing.T) {
	client := dynamic.NewForConfigOrDie(clustertest.Start(t).RESTConfig)
	files, _ := filepath.Glob(filepath.Join(validationDir, "invalid", "*.yaml"))
	if len(files) < 15 {
		t.Fatalf("found %d invalid manifests, want at least 15", len(files))
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			want := expectation(t, file)
			objs := readManifests(t, file)
			for _, obj := range objs[:len(objs)-1] {
				if err := apply(t, client, obj); err != nil {
					t.Fatalf("setup: %s %s was rejected: %v", obj.GetKind(), obj.GetName(), err)
				}
			}
			err := apply(t, client, objs[len(objs)-1])
			if err == nil {
				t.Fatalf("accepted; want the rejection %q", want)
			}
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("rejected with\n  %v\nwant a message containing\n  %q", err, want)
			}
		})
	}
}

// TestDefaults checks what the API server fills into a minimal NodePool, read
// back through the Go types.
func TestDefaults(t *testing.T) {
	client := dynamic.NewForConfigOrDie(clustertest.Start(t).RESTConfig)
	obj := readManifests(t, filepath.Join(validationDir, "valid", "minimal.yaml"))[0]
	obj.SetName("defaults")
	if err := apply(t, client, obj); err != nil {
		t.Fatal(err)
	}
	got, err := client.Resource(resources["NodePool"]).Get(context.Background(), "defaults", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var pool v1.NodePool
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(got.Object, &pool); err != nil {
		t.Fatal(err)
	}
	if d := pool.Spec.Template.Spec.ExpireAfter.Duration; d == nil || *d != 720*time.Hour {
		t.Errorf("expireAfter = %s, want 720h", pool.Spec.Template.Spec.ExpireAfter)
	}
	if d := pool.Spec.Disruption.ConsolidateAfter.Duration; d == nil || *d != time.Minute {
		t.Errorf("consolidateAfter = %s, want 1m", pool.Spec.Disruption.ConsolidateAfter)
	}
	if p := pool.Spec.Disruption.ConsolidationPolicy; p != v1.ConsolidationPolicyWhenEmptyOrUnderutilized {
		t.Errorf("consolidationPolicy = %s, want WhenEmptyOrUnderutilized", p)
	}
	if b := pool.Spec.Disruption.Budgets; len(b) != 1 || b[0].Nodes != "10%" {
		t.Errorf("budgets = %+v, want one of 10%%", b)
	}
}

func readManifests(t *testing.T, path string) []*unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []*unstructured.Unstructured
	for _, doc := range bytes.Split(data, []byte("\n---\n")) {
		obj := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(doc, &obj.Object); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if len(obj.Object) > 0 {
			out = append(out, obj)
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s holds no objects", path)
	}
	return out
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

// apply creates obj, or updates it when it exists, and deletes it when the
// test ends.
func apply(t *testing.T, client dynamic.Interface, obj *unstructured.Unstructured) error {
	t.Helper()
	gvr, ok := resources[obj.GetKind()]
	if !ok {
		t.Fatalf("unknown kind %s", obj.GetKind())
	}
	ctx := context.Background()
	api := client.Resource(gvr)
	existing, err := api.Get(ctx, obj.GetName(), metav1.GetOptions{})
	if err == nil {
		obj.SetResourceVersion(existing.GetResourceVersion())
		_, err = api.Update(ctx, obj, metav1.UpdateOptions{})
		return err
	}
	if _, err := api.Create(ctx, obj, metav1.CreateOptions{}); err != nil {
		return err
	}
	t.Cleanup(func() { _ = api.Delete(context.Background(), obj.GetName(), metav1.DeleteOptions{}) })
	return nil
}
