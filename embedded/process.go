package embedded

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// process is one running component.
type process struct {
	name string
	cmd  *exec.Cmd
	log  *os.File

	done    chan struct{}
	mu      sync.Mutex
	exitErr error
}

// start runs `<binary> <component> args...` with its output in the
// component's log file.
func (c *Cluster) start(component string, args ...string) error {
	log, err := os.OpenFile(c.logPath(component), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(c.Binary, append([]string{component}, args...)...)
	cmd.Dir = c.Dir
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = componentProcAttr()
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("start %s: %w", component, err)
	}
	p := &process{name: component, cmd: cmd, log: log, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.exitErr = err
		p.mu.Unlock()
		log.Close()
		close(p.done)
	}()
	c.processes = append(c.processes, p)
	return nil
}

// processExited returns an error when the named component is no longer
// running.
func (c *Cluster) processExited(component string) error {
	for _, p := range c.processes {
		if p.name != component {
			continue
		}
		select {
		case <-p.done:
			p.mu.Lock()
			defer p.mu.Unlock()
			return fmt.Errorf("%s exited (%v); see %s", component, p.exitErr, c.logPath(component))
		default:
			return nil
		}
	}
	return nil
}

// stop sends SIGTERM, waits up to grace for the process to exit, then kills
// it. Components exit non-zero on SIGTERM (the scheduler reports "finished
// without leader elect", the controller manager has no handler), so the exit
// status is not an error.
func (p *process) stop(grace time.Duration) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stop %s: %w", p.name, err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
	}
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill %s: %w", p.name, err)
	}
	<-p.done
	return nil
}
