package cloudprovider

import (
	"context"
	"time"
)

// Interruption is a cloud's notice that it will take an instance away: a
// spot reclaim, a scheduled maintenance, a preemption.
type Interruption struct {
	// ProviderID is the instance's, as on its NodeClaim.
	ProviderID string
	// At is when the instance goes; zero when the cloud does not say.
	At time.Time
	// Kind says why, for events and metrics: "SpotInterruption",
	// "ScheduledChange", "Preemption" ...
	Kind string
}

// InterruptionSource is implemented by a provider whose cloud announces
// interruptions, however it delivers them (a queue, an API, the instance's
// metadata). The interruption controller polls it; one provider, one
// implementation, whatever the delivery.
//
// Interruptions returns the notices that stand now for this cluster's
// instances. A notice may be returned again on later calls, until the
// instance is gone: the controller acts once per NodeClaim. It must not
// block for long; a provider that receives notices by push buffers them.
type InterruptionSource interface {
	Interruptions(ctx context.Context) ([]Interruption, error)
}
