package metered

import (
	"fmt"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/tailor-sh/tailor/cloudprovider"
)

// Defaults of the circuit that stops launches while the cloud fails them.
const (
	// DefaultCircuitThreshold launch failures in a row open the circuit.
	DefaultCircuitThreshold = 5
	// DefaultCircuitCooldown is how long launches stay paused; the first
	// launch after it is a trial, and one more failure opens it again.
	DefaultCircuitCooldown = 30 * time.Second
)

// circuit counts launch failures that say the cloud itself is failing (not
// a lack of capacity, a node class not ready or an instance already gone,
// which are answers) and, after threshold in a row, refuses launches for the
// cooldown instead of piling more calls onto a failing API.
type circuit struct {
	clock     clock.PassiveClock
	threshold int
	cooldown  time.Duration

	mu        sync.Mutex
	failures  int
	openUntil time.Time
	lastErr   error
}

// allow returns an error while the circuit is open.
func (c *circuit) allow() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := c.clock.Now(); now.Before(c.openUntil) {
		return fmt.Errorf("launches are paused for %s after %d failed in a row: %w", c.openUntil.Sub(now).Round(time.Second), c.threshold, c.lastErr)
	}
	return nil
}

// record counts the outcome of a launch.
func (c *circuit) record(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil || cloudprovider.IsInsufficientCapacity(err) || cloudprovider.IsNodeClassNotReady(err) || cloudprovider.IsNodeClaimNotFound(err) {
		c.failures = 0
		return
	}
	c.failures++
	c.lastErr = err
	if c.failures >= c.threshold {
		c.openUntil = c.clock.Now().Add(c.cooldown)
		c.failures = c.threshold - 1 // the trial after the cooldown reopens it if it fails
	}
}

// healthy returns nil, or why launches are paused.
func (c *circuit) healthy() error { return c.allow() }
