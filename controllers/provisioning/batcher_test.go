package provisioning

import (
	"context"
	"runtime"
	"testing"
	"time"

	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"
)

// signalClock is a fake clock that reports every timer the batcher arms
// (creates or resets), so that a test steps time only once the batcher has
// acted on what the test sent it.
type signalClock struct {
	*clocktesting.FakeClock
	armed chan time.Duration
}

func newSignalClock() *signalClock {
	return &signalClock{FakeClock: clocktesting.NewFakeClock(time.Unix(0, 0)), armed: make(chan time.Duration, 16)}
}

func (c *signalClock) NewTimer(d time.Duration) clock.Timer {
	t := &signalTimer{Timer: c.FakeClock.NewTimer(d), armed: c.armed}
	c.armed <- d
	return t
}

type signalTimer struct {
	clock.Timer
	armed chan time.Duration
}

func (t *signalTimer) Reset(d time.Duration) bool {
	active := t.Timer.Reset(d)
	t.armed <- d
	return active
}

// waitArmed waits until the batcher has armed n timers.
func (c *signalClock) waitArmed(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-c.armed:
		case <-time.After(5 * time.Second):
			t.Fatal("the batcher never armed its timer")
		}
	}
}

// noneArmed fails if the batcher has armed a timer the test did not wait
// for.
func (c *signalClock) noneArmed(t *testing.T, what string) {
	t.Helper()
	select {
	case d := <-c.armed:
		t.Errorf("%s armed a timer of %s", what, d)
	default:
	}
}

// waitTaken waits until the batcher has taken what was sent on ch. A poke
// changes nothing the test can see, so the channel itself is the signal.
func waitTaken(t *testing.T, ch chan struct{}) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(ch) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the batcher never took the poke")
		}
		runtime.Gosched()
	}
}

// startWait runs Wait and returns where the clock stood when the batch
// ended.
func startWait(b *Batcher, clk clock.PassiveClock) <-chan time.Time {
	done := make(chan time.Time, 1)
	go func() {
		b.Wait(context.Background())
		done <- clk.Now()
	}()
	return done
}

func awaitEnd(t *testing.T, done <-chan time.Time, want time.Duration) {
	t.Helper()
	select {
	case end := <-done:
		if got := end.Sub(time.Unix(0, 0)); got != want {
			t.Errorf("batch ended at %s, want %s", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("batch did not end")
	}
}

func TestBatcherWindows(t *testing.T) {
	for _, tc := range []struct {
		name string
		// steps advance the clock, triggering before each step when true.
		steps    []time.Duration
		triggers []bool
		wantEnd  time.Duration
	}{
		{name: "idle window ends a lone trigger", steps: []time.Duration{time.Second}, triggers: []bool{false}, wantEnd: time.Second},
		{name: "triggers extend the idle window", steps: []time.Duration{900 * time.Millisecond, 900 * time.Millisecond, time.Second},
			triggers: []bool{false, true, true}, wantEnd: 2800 * time.Millisecond},
		{name: "max window caps a steady stream",
			steps:    []time.Duration{800 * time.Millisecond, 800 * time.Millisecond, 800 * time.Millisecond, 800 * time.Millisecond, 800 * time.Millisecond},
			triggers: []bool{false, true, true, true, true}, wantEnd: 4 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newSignalClock()
			b := NewBatcher(time.Second, 4*time.Second, clk)
			done := startWait(b, clk)
			b.Trigger()
			clk.waitArmed(t, 2) // the max and the idle window
			for i, step := range tc.steps {
				if tc.triggers[i] {
					b.Trigger()
					clk.waitArmed(t, 1) // the idle window, again
				}
				select {
				case end := <-done:
					t.Fatalf("batch ended at %s, want %s", end.Sub(time.Unix(0, 0)), tc.wantEnd)
				default:
				}
				clk.Step(step)
			}
			awaitEnd(t, done, tc.wantEnd)
		})
	}
}

func TestPokesStartButNeverExtendABatch(t *testing.T) {
	clk := newSignalClock()
	b := NewBatcher(time.Second, 4*time.Second, clk)
	done := startWait(b, clk)
	b.Poke()
	clk.waitArmed(t, 2)
	for range 3 {
		b.Poke()
		waitTaken(t, b.poke)
		clk.noneArmed(t, "a poke")
		clk.Step(400 * time.Millisecond)
	}
	awaitEnd(t, done, 1200*time.Millisecond) // the idle window from its start, pokes or not
}

func TestBatcherStopsWithContext(t *testing.T) {
	b := NewBatcher(time.Second, time.Minute, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, ok := b.Wait(ctx); ok {
		t.Error("Wait returned a batch after its context ended")
	}
}

func TestBatcherStopsWithContextMidBatch(t *testing.T) {
	clk := newSignalClock()
	b := NewBatcher(time.Second, time.Minute, clk)
	ctx, cancel := context.WithCancel(context.Background())
	result := make(chan bool, 1)
	go func() {
		_, ok := b.Wait(ctx)
		result <- ok
	}()
	b.Trigger()
	clk.waitArmed(t, 2)
	cancel()
	select {
	case ok := <-result:
		if ok {
			t.Error("Wait returned a batch whose context ended before it did")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not return when its context ended")
	}
}
