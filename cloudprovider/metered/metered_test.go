package metered

import (
	"context"
	"errors"
	"testing"
	"time"

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
			p := New(f)
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
