package provisioning

import (
	"context"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

// waitForTimers lets the batcher's goroutine take the first trigger and
// start its timers.
func waitForTimers(t *testing.T, clk *clocktesting.FakeClock) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !clk.HasWaiters() {
		if time.Now().After(deadline) {
			t.Fatal("the batcher never started its timers")
		}
		time.Sleep(time.Millisecond)
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
			clk := clocktesting.NewFakeClock(time.Unix(0, 0))
			b := NewBatcher(time.Second, 4*time.Second, clk)
			done := make(chan time.Time, 1)
			go func() {
				b.Wait(context.Background())
				done <- clk.Now()
			}()
			b.Trigger()
			waitForTimers(t, clk)
			for i, step := range tc.steps {
				if tc.triggers[i] {
					b.Trigger()
					time.Sleep(5 * time.Millisecond) // let Wait take it
				}
				select {
				case end := <-done:
					t.Fatalf("batch ended at %s, want %s", end.Sub(time.Unix(0, 0)), tc.wantEnd)
				default:
				}
				clk.Step(step)
				time.Sleep(5 * time.Millisecond)
			}
			select {
			case end := <-done:
				if got := end.Sub(time.Unix(0, 0)); got != tc.wantEnd {
					t.Errorf("batch ended at %s, want %s", got, tc.wantEnd)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("batch did not end")
			}
		})
	}
}

func TestPokesStartButNeverExtendABatch(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(0, 0))
	b := NewBatcher(time.Second, 4*time.Second, clk)
	done := make(chan time.Time, 1)
	go func() {
		b.Wait(context.Background())
		done <- clk.Now()
	}()
	b.Poke()
	waitForTimers(t, clk)
	for range 3 {
		b.Poke()
		time.Sleep(5 * time.Millisecond)
		clk.Step(400 * time.Millisecond)
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case end := <-done:
		if got := end.Sub(time.Unix(0, 0)); got != 1200*time.Millisecond {
			t.Errorf("batch ended at %s, want 1.2s: the idle window from its start, pokes or not", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("batch did not end")
	}
}

func TestBatcherStopsWithContext(t *testing.T) {
	b := NewBatcher(time.Second, time.Minute, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, ok := b.Wait(ctx); ok {
		t.Error("Wait returned a batch after its context ended")
	}
}
