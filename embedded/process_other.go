//go:build !linux

package embedded

import (
	"fmt"
	"runtime"
	"syscall"
)

// componentProcAttr starts a component in its own process group. Only Linux
// can have the kernel kill the components when the parent dies.
func componentProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// checkPlatform refuses to start the embedded cluster off Linux: its
// components (kwok's kubelets, the process handling above) are built and
// tested on Linux only, and a half-working cluster would be worse than a
// clear answer.
func checkPlatform() error {
	return fmt.Errorf("the embedded Kubernetes cluster behind tailor playground and the integration tests runs on Linux only (this is %s/%s); run it in a Linux VM or container. tailor plan works here", runtime.GOOS, runtime.GOARCH)
}
