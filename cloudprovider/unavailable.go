package cloudprovider

import (
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/tailor-sh/tailor/core/instancetype"
)

// DefaultUnavailableTTL is how long an offering that ran out of capacity is
// left alone before it is tried again. Clouds refill capacity within minutes;
// three is what a user would expect a retry to wait.
const DefaultUnavailableTTL = 3 * time.Minute

// UnavailableOfferings remembers offerings that reported insufficient
// capacity, each for a TTL. Providers consult it when they list instance
// types (marking those offerings not Available) and when they choose an
// offering to launch; the NodeClaim lifecycle fills it when a launch fails
// for lack of capacity. It is safe for concurrent use.
type UnavailableOfferings struct {
	ttl   time.Duration
	clock clock.PassiveClock

	mu    sync.Mutex
	until map[OfferingKey]time.Time
}

// NewUnavailableOfferings returns an empty cache whose entries expire after
// ttl (DefaultUnavailableTTL when zero), measured by clk (the real clock when
// nil).
func NewUnavailableOfferings(ttl time.Duration, clk clock.PassiveClock) *UnavailableOfferings {
	if ttl <= 0 {
		ttl = DefaultUnavailableTTL
	}
	if clk == nil {
		clk = clock.RealClock{}
	}
	return &UnavailableOfferings{ttl: ttl, clock: clk, until: map[OfferingKey]time.Time{}}
}

// MarkUnavailable records the offerings as out of capacity for the TTL.
func (u *UnavailableOfferings) MarkUnavailable(keys ...OfferingKey) {
	if u == nil || len(keys) == 0 {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	until := u.clock.Now().Add(u.ttl)
	for _, k := range keys {
		u.until[k] = until
	}
}

// IsUnavailable reports whether the offering ran out of capacity within the
// TTL. A nil cache knows of no unavailable offering.
func (u *UnavailableOfferings) IsUnavailable(k OfferingKey) bool {
	if u == nil {
		return false
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	until, ok := u.until[k]
	if !ok {
		return false
	}
	if !u.clock.Now().Before(until) {
		delete(u.until, k)
		return false
	}
	return true
}

// Apply marks the offerings of its that are in the cache as not Available.
func (u *UnavailableOfferings) Apply(its []*instancetype.InstanceType) {
	if u == nil {
		return
	}
	for _, it := range its {
		for i := range it.Offerings {
			o := &it.Offerings[i]
			if o.Available && u.IsUnavailable(OfferingKey{InstanceType: it.Name, Zone: o.Zone, CapacityType: o.CapacityType}) {
				o.Available = false
			}
		}
	}
}
