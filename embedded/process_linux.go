package embedded

import "syscall"

// componentProcAttr starts a component in its own process group, so that a
// ^C in the terminal reaches only the parent, which then stops the
// components in order; and if the parent dies without stopping them (kill
// -9, a panic in a test), the kernel kills them, so none is left behind.
func componentProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// checkPlatform reports whether the embedded cluster runs here.
func checkPlatform() error { return nil }
