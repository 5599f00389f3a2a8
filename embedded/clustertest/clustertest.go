// Package clustertest gives integration tests a real cluster: the first test
// of a package that asks for one starts an embedded cluster with Tailor's
// CRDs installed (its own and every linked provider's), the package's other tests share it, and Run stops it when
// the package's tests end. Under `go test -short` such tests are skipped.
//
// A test package uses it like this:
//
//	func TestMain(m *testing.M) { os.Exit(clustertest.Run(m)) }
//
//	func TestSomething(t *testing.T) {
//		cluster := clustertest.Start(t)
//		client := kubernetes.NewForConfigOrDie(cluster.RESTConfig)
//		...
//	}
package clustertest

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/tailor-sh/tailor/cloudprovider"
	"github.com/tailor-sh/tailor/embedded"
	_ "github.com/tailor-sh/tailor/providers" // every provider's CRDs
)

var (
	once     sync.Once
	shared   *embedded.Cluster
	startErr error
)

// Start returns the package's shared cluster, starting it if this is the
// first call. It skips the test under -short and fails it when the cluster
// cannot start.
func Start(t testing.TB) *embedded.Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the embedded cluster; skipped with -short")
	}
	once.Do(func() {
		var progress io.Writer = io.Discard
		if testing.Verbose() {
			progress = os.Stderr
		}
		// The first build of the control plane can take many minutes.
		ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute)
		defer cancel()
		began := time.Now()
		shared, startErr = embedded.Start(ctx, embedded.Config{Progress: progress})
		if startErr != nil {
			return
		}
		crds, err := cloudprovider.CRDs()
		if err == nil {
			err = shared.InstallCRDs(ctx, crds)
		}
		if err != nil {
			startErr = fmt.Errorf("install CRDs: %w", err)
			_ = shared.Stop()
			shared = nil
			return
		}
		fmt.Fprintf(progress, "embedded cluster up with CRDs in %s (%s)\n", time.Since(began).Round(100*time.Millisecond), shared.Dir)
	})
	if startErr != nil {
		t.Fatalf("start the embedded cluster: %v", startErr)
	}
	return shared
}

// Run runs the package's tests and then stops the shared cluster, if one was
// started. Call it from TestMain.
func Run(m *testing.M) int {
	code := m.Run()
	if shared != nil {
		if err := shared.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop the embedded cluster:", err)
			if code == 0 {
				code = 1
			}
		}
	}
	return code
}
