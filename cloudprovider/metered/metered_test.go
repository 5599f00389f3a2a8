package metered

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"

	"k8s.io/apimachinery/pkg/util/wait"

	v1 "github.com/tailor-sh/tailor/api/v1"
	"github.com/tailor-sh/tailor/cloudprovider"
)

// flaky fails List with the given errors in turn, then succeeds.
type flaky struct {
	cloudprovider.CloudProvider
	errs  []error
	calls int
}

func (f *flaky) Name() string { return "flaky" }

func (f *flaky) Create(_ context.Context, nc *v1.NodeClaim) (*v1.NodeClaim, error) {
	_, err := f.List(context.Background())
	return nc, err
}

func (f *flaky) List(context.Context) ([]*v1.NodeClaim, error) {
	f.calls++
	if len(f.errs) > 0 {
		err := f.errs[0]
		f.errs = f.errs[1:]
		return nil, err
	}
	return []*v1.NodeClaim{{}}, nil
}

func TestRetries(t *testing.T) {
	throttled := &cloudprovider.RetryableError{Err: errors.New("RequestLimitExceeded")}
	final := errors.New("UnauthorizedOperation")
	for _, tc := range []struct {
		name      string
		errs      []error
		wantCalls int
		wantErr   error
	}{
		{"success", nil, 1, nil},
		{"retryable then success", []error{throttled, throttled}, 3, nil},
		{"final error is not retried", []error{final}, 1, final},
		{"out of retries reports the cloud's error", []error{throttled, throttled, throttled, throttled, throttled, throttled}, 5, throttled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &flaky{errs: tc.errs}
			p := New(f, Options{})
			p.Backoff = wait.Backoff{Duration: time.Millisecond, Factor: 1, Steps: 5}
			_, err := p.List(context.Background())
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if f.calls != tc.wantCalls {
				t.Errorf("calls = %d, want %d", f.calls, tc.wantCalls)
			}
		})
	}
}

func TestTheCircuitPausesLaunchesWhileTheCloudFails(t *testing.T) {
	broken := errors.New("InternalError")
	clk := testingclock.NewFakeClock(time.Unix(0, 0))
	f := &flaky{}
	p := New(f, Options{CircuitThreshold: 3, CircuitCooldown: time.Minute, Clock: clk})
	p.Backoff = wait.Backoff{Duration: time.Millisecond, Factor: 1, Steps: 1}
	launch := func() error {
		_, err := p.Create(context.Background(), &v1.NodeClaim{})
		return err
	}
	// Answers that are not failures of the cloud never open it.
	f.errs = []error{&cloudprovider.InsufficientCapacityError{}, &cloudprovider.InsufficientCapacityError{}, &cloudprovider.InsufficientCapacityError{}, broken, broken}
	for range 5 {
		_ = launch()
	}
	if err := p.Healthy(); err != nil {
		t.Fatalf("open after 3 capacity answers and 2 failures (threshold 3): %v", err)
	}
	f.errs = []error{broken}
	_ = launch()
	calls := f.calls
	err := launch()
	if err == nil || !strings.Contains(err.Error(), "launches are paused") || !errors.Is(err, broken) {
		t.Fatalf("a launch with the circuit open = %v, want paused, naming the last error", err)
	}
	if f.calls != calls {
		t.Error("the cloud was called while the circuit was open")
	}
	if err := p.Healthy(); err == nil {
		t.Error("Healthy = nil with the circuit open")
	}
	if _, err := p.List(context.Background()); err != nil {
		t.Errorf("List with the circuit open = %v: only launches pause", err)
	}
	clk.Step(time.Minute)
	if err := p.Healthy(); err != nil {
		t.Fatalf("still open after the cooldown: %v", err)
	}
	f.errs = []error{broken}
	_ = launch() // the trial fails: open again at once
	if err := p.Healthy(); err == nil {
		t.Error("a failed trial after the cooldown did not pause launches again")
	}
	clk.Step(time.Minute)
	if err := launch(); err != nil || p.Healthy() != nil {
		t.Errorf("a successful launch after the cooldown = %v, healthy = %v", err, p.Healthy())
	}
}

func TestEveryCallWaitsForTheLimiter(t *testing.T) {
	f := &flaky{}
	p := New(f, Options{QPS: 1, Burst: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := p.List(ctx); err != nil {
		t.Fatal(err)
	}
	// The burst is spent: the next call needs a second, longer than ctx has.
	if _, err := p.List(ctx); err == nil {
		t.Error("a second call within the same second went through a limiter of 1 per second")
	}
	if f.calls != 1 {
		t.Errorf("%d calls reached the cloud, want 1", f.calls)
	}
}
