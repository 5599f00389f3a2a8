package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/cloudprovider"
	"github.com/tailor-sh/tailor/embedded"
	simv1 "github.com/tailor-sh/tailor/providers/sim/api/v1"
)

// TestPlaygroundKeepsItsClusterAndLeavesNoProcess runs the playground twice on
// one folder: the first run installs the defaults and the user changes one;
// the second finds the change; after each, no component process is left.
func TestPlaygroundKeepsItsClusterAndLeavesNoProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the embedded cluster; skipped with -short")
	}
	dir := t.TempDir()
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	run := func(check func(c client.Client)) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		var stdout, stderr bytes.Buffer
		err := runPlayground(ctx, &stdout, &stderr, playgroundOptions{
			dir: dir, kubeconfig: kubeconfig, catalog: "aws-us-west-2",
			ready: func(cluster *embedded.Cluster) {
				defer cancel()
				if n := len(childProcesses(t)); n < 5 {
					t.Errorf("found %d component processes while the playground runs, want 5", n)
				}
				scheme, err := cloudprovider.NewScheme()
				if err != nil {
					t.Error(err)
					return
				}
				c, err := client.New(cluster.RESTConfig, client.Options{Scheme: scheme})
				if err != nil {
					t.Error(err)
					return
				}
				check(c)
			},
		})
		if err != nil {
			t.Fatalf("playground: %v\n%s", err, stderr.String())
		}
		if !strings.Contains(stdout.String(), "export KUBECONFIG="+kubeconfig) {
			t.Errorf("the playground did not say how to use its kubeconfig:\n%s", stdout.String())
		}
		if children := childProcesses(t); len(children) > 0 {
			t.Fatalf("processes left after the playground stopped: %v", children)
		}
	}
	run(func(c client.Client) {
		ctx := context.Background()
		class := &simv1.SimNodeClass{}
		if err := c.Get(ctx, types.NamespacedName{Name: "default"}, class); err != nil {
			t.Errorf("default SimNodeClass: %v", err)
		}
		pool := &v1.NodePool{}
		if err := c.Get(ctx, types.NamespacedName{Name: "default"}, pool); err != nil {
			t.Errorf("default NodePool: %v", err)
			return
		}
		if pool.Spec.Disruption.ConsolidateAfter.String() != "30s" {
			t.Errorf("default NodePool consolidateAfter = %s, want 30s", pool.Spec.Disruption.ConsolidateAfter)
		}
		pool.Spec.Weight = ptr.To[int32](42)
		if err := c.Update(ctx, pool); err != nil {
			t.Error(err)
		}
	})
	if _, err := os.Stat(kubeconfig); err != nil {
		t.Fatalf("no kubeconfig at --kubeconfig: %v", err)
	}
	run(func(c client.Client) {
		pool := &v1.NodePool{}
		if err := c.Get(context.Background(), types.NamespacedName{Name: "default"}, pool); err != nil {
			t.Errorf("default NodePool after a restart: %v", err)
			return
		}
		if pool.Spec.Weight == nil || *pool.Spec.Weight != 42 {
			t.Errorf("weight after a restart = %v, want the 42 set before it", pool.Spec.Weight)
		}
	})
}

// TestDemoRunsEveryPodOnTailorNodes runs tailor playground --demo: it must
// succeed, which it does only when every pod runs on a node Tailor launched,
// and print its summary.
func TestDemoRunsEveryPodOnTailorNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the embedded cluster; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	if err := runPlayground(ctx, &stdout, &stderr, playgroundOptions{dir: t.TempDir(), catalog: "aws-us-west-2", demo: true, ephemeral: true}); err != nil {
		t.Fatalf("demo: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	for _, want := range []string{"56 of 56 pods Running", "every one on a node Tailor launched", "per hour"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("the demo did not print %q:\n%s", want, stdout.String())
		}
	}
	if children := childProcesses(t); len(children) > 0 {
		t.Fatalf("processes left after the demo: %v", children)
	}
}

// childProcesses lists the processes whose parent is this test process.
func childProcesses(t *testing.T) []string {
	t.Helper()
	self := strconv.Itoa(os.Getpid())
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skip("no /proc to look for leftover processes")
	}
	var out []string
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// Fields after the command (which is in parentheses): state, ppid.
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) > 1 && fields[1] == self {
			cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
			out = append(out, e.Name()+" "+strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
	}
	return out
}
