package provisioning

import (
	"context"
	"time"

	"k8s.io/utils/clock"
)

// Batcher gathers triggers into batches: a batch starts with the first
// trigger and ends once no trigger has come for the idle window, or once the
// max window has passed since it started, whichever is first. Pods of one
// rollout thus land in one decision, and a steady stream of pods still gets
// decided every max window. Pokes start a batch too but never extend one,
// so that a stream of other events (NodeClaims launching) cannot hold back
// the decision for pods that are waiting.
type Batcher struct {
	Idle, Max time.Duration
	Clock     clock.WithTicker

	trigger, poke chan struct{}
}

// NewBatcher returns a batcher with the given windows.
func NewBatcher(idle, maxWindow time.Duration, clk clock.WithTicker) *Batcher {
	if clk == nil {
		clk = clock.RealClock{}
	}
	return &Batcher{Idle: idle, Max: maxWindow, Clock: clk, trigger: make(chan struct{}, 1), poke: make(chan struct{}, 1)}
}

// Poke starts a batch unless one is open. It never blocks.
func (b *Batcher) Poke() {
	select {
	case b.poke <- struct{}{}:
	default:
	}
}

// Trigger starts a batch or extends the current one. It never blocks.
func (b *Batcher) Trigger() {
	select {
	case b.trigger <- struct{}{}:
	default:
	}
}

// Wait blocks until a batch has ended and returns when it started, or false
// when ctx ends first.
func (b *Batcher) Wait(ctx context.Context) (time.Time, bool) {
	select {
	case <-ctx.Done():
		return time.Time{}, false
	case <-b.trigger:
	case <-b.poke:
	}
	start := b.Clock.Now()
	maxTimer := b.Clock.NewTimer(b.Max)
	defer maxTimer.Stop()
	idle := b.Clock.NewTimer(b.Idle)
	defer idle.Stop()
	for {
		select {
		case <-ctx.Done():
			return start, false
		case <-b.trigger:
			if !idle.Stop() {
				<-idle.C()
			}
			idle.Reset(b.Idle)
		case <-b.poke:
			// This batch will see whatever the poke was about.
		case <-idle.C():
			return start, true
		case <-maxTimer.C():
			return start, true
		}
	}
}
