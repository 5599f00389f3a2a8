package embedded

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// BinaryEnv names an environment variable that points at a prebuilt
// tailor-controlplane binary, which is then used as it is.
const BinaryEnv = "TAILOR_CONTROLPLANE_BIN"

// KubernetesVersion is the version of the Kubernetes components that the
// control plane module builds; it is stamped into the binary because the
// components otherwise report v0.0.0-master, which clients reject.
const KubernetesVersion = "v1.37.2"

// controlPlaneModuleDir is where the control plane's module sits in a
// checkout of Tailor.
const controlPlaneModuleDir = "embedded/controlplane"

// BuildFlags are the flags the control plane binary is built with. Every
// build (README, tests, CI, playground) goes through EnsureBinary, so they are
// the same everywhere and Go's build cache is reused; only -ldflags differ
// from a plain build, and those touch just the link step.
func BuildFlags() []string {
	var stamp []string
	for _, pkg := range []string{"k8s.io/component-base/version", "k8s.io/client-go/pkg/version"} {
		stamp = append(stamp,
			"-X", pkg+".gitVersion="+KubernetesVersion,
			"-X", pkg+".gitMajor=1",
			"-X", pkg+".gitMinor=37",
			"-X", pkg+".gitTreeState=clean",
			"-X", pkg+".buildDate=1970-01-01T00:00:00Z",
		)
	}
	return []string{"-buildvcs=false", "-ldflags", "-s -w " + strings.Join(stamp, " ")}
}

// EnsureBinary returns the path of a current tailor-controlplane binary,
// building it from the checkout that contains the working directory when
// needed. A first build compiles Kubernetes and takes about eleven minutes on
// two cores; later ones reuse Go's build cache and take seconds. Progress is
// written to progress.
func EnsureBinary(ctx context.Context, progress io.Writer) (string, error) {
	if path := os.Getenv(BinaryEnv); path != "" {
		if _, err := os.Stat(path); err != nil {
			return "", fmt.Errorf("%s=%s: %w", BinaryEnv, path, err)
		}
		return path, nil
	}
	root, err := findCheckout()
	if err != nil {
		return "", err
	}
	out := filepath.Join(root, ".tailor", "bin", "tailor-controlplane")
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return "", err
	}
	// Test binaries of several packages may build at once; one builds while
	// the others wait, then find it current.
	unlock, err := lockFile(out + ".lock")
	if err != nil {
		return "", err
	}
	defer unlock()
	if err := build(ctx, filepath.Join(root, controlPlaneModuleDir), out, progress); err != nil {
		return "", err
	}
	return out, nil
}

// findCheckout walks up from the working directory to the root of a Tailor
// checkout, recognised by the control plane's go.mod.
func findCheckout() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if fileExists(filepath.Join(dir, controlPlaneModuleDir, "go.mod")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("cannot find Tailor's embedded control plane: run from a checkout of Tailor, or set %s to a tailor-controlplane binary", BinaryEnv)
		}
		dir = parent
	}
}

func build(ctx context.Context, moduleDir, out string, progress io.Writer) error {
	if progress == nil {
		progress = io.Discard
	}
	args := append([]string{"build", "-v"}, BuildFlags()...)
	args = append(args, "-o", out, ".")
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = moduleDir
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("build the embedded control plane: %w", err)
	}
	// go build -v names each package as it compiles it. Nothing named means
	// the cache held everything; many names mean a long first build, so say
	// what is going on.
	var (
		compiled int
		tail     []string
		lastShow time.Time
	)
	scanner := bufio.NewScanner(stderr)
	for scanner.Scan() {
		line := scanner.Text()
		tail = append(tail, line)
		if len(tail) > 40 {
			tail = tail[1:]
		}
		compiled++
		if compiled == 1 {
			fmt.Fprintln(progress, "Building the embedded Kubernetes control plane (the first build compiles Kubernetes: about 11 minutes on 2 cores; later builds take seconds)...")
		}
		if time.Since(lastShow) > 5*time.Second {
			fmt.Fprintf(progress, "  %d packages compiled, %s elapsed (%s)\n", compiled, time.Since(start).Round(time.Second), line)
			lastShow = time.Now()
		}
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("build the embedded control plane in %s: %w\n%s", moduleDir, err, strings.Join(tail, "\n"))
	}
	if compiled > 0 {
		fmt.Fprintf(progress, "Built the control plane in %s.\n", time.Since(start).Round(time.Second))
	}
	return nil
}

func lockFile(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
