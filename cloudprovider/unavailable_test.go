package cloudprovider

import (
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/tailor-sh/tailor/core/instancetype"
)

func TestUnavailableOfferingsExpire(t *testing.T) {
	clk := clocktesting.NewFakePassiveClock(time.Unix(0, 0))
	cache := NewUnavailableOfferings(time.Minute, clk)
	full := OfferingKey{InstanceType: "m5.large", Zone: "a", CapacityType: "spot"}
	other := OfferingKey{InstanceType: "m5.large", Zone: "b", CapacityType: "spot"}
	cache.MarkUnavailable(full)

	its := []*instancetype.InstanceType{{Name: "m5.large", Offerings: instancetype.Offerings{
		{Zone: "a", CapacityType: "spot", Available: true},
		{Zone: "b", CapacityType: "spot", Available: true},
	}}}
	cache.Apply(its)
	if its[0].Offerings[0].Available || !its[0].Offerings[1].Available {
		t.Fatalf("after marking %s: offerings %+v", full, its[0].Offerings)
	}
	if cache.IsUnavailable(other) {
		t.Errorf("%s reported unavailable", other)
	}
	clk.SetTime(time.Unix(59, 0))
	if !cache.IsUnavailable(full) {
		t.Errorf("%s available again before its TTL", full)
	}
	clk.SetTime(time.Unix(60, 0))
	if cache.IsUnavailable(full) {
		t.Errorf("%s still unavailable after its TTL", full)
	}
	var none *UnavailableOfferings
	none.MarkUnavailable(full)
	if none.IsUnavailable(full) {
		t.Error("a nil cache reported an unavailable offering")
	}
}
