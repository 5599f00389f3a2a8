package disruption

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	v1 "github.com/tailor-sh/tailor/api/v1"
)

func TestAllowed(t *testing.T) {
	// 09:30 on a Monday in New York (EST) is 14:30 UTC.
	monday0930NY := time.Date(2026, 11, 30, 14, 30, 0, 0, time.UTC)
	businessHours := v1.Budget{Nodes: "0", Schedule: ptr.To("0 9 * * 1-5"), Duration: &metav1.Duration{Duration: 8 * time.Hour}, TimeZone: ptr.To("America/New_York")}
	for _, tc := range []struct {
		name    string
		budgets []v1.Budget
		reason  v1.DisruptionReason
		total   int
		now     time.Time
		want    int
	}{
		{"default is 10% rounded up", nil, v1.DisruptionReasonEmpty, 3, monday0930NY, 1},
		{"count", []v1.Budget{{Nodes: "2"}}, v1.DisruptionReasonEmpty, 10, monday0930NY, 2},
		{"percentage", []v1.Budget{{Nodes: "25%"}}, v1.DisruptionReasonEmpty, 10, monday0930NY, 3},
		{"zero blocks", []v1.Budget{{Nodes: "0"}}, v1.DisruptionReasonEmpty, 10, monday0930NY, 0},
		{"smallest wins", []v1.Budget{{Nodes: "50%"}, {Nodes: "1"}}, v1.DisruptionReasonEmpty, 10, monday0930NY, 1},
		{"other reasons do not apply", []v1.Budget{{Nodes: "0", Reasons: []v1.DisruptionReason{v1.DisruptionReasonDrifted}}}, v1.DisruptionReasonEmpty, 10, monday0930NY, 10},
		{"window open in its time zone", []v1.Budget{businessHours}, v1.DisruptionReasonEmpty, 10, monday0930NY, 0},
		{"window closed after its duration", []v1.Budget{businessHours}, v1.DisruptionReasonEmpty, 10, monday0930NY.Add(8 * time.Hour), 10},
		{"window closed before it opens", []v1.Budget{businessHours}, v1.DisruptionReasonEmpty, 10, monday0930NY.Add(-time.Hour), 10},
		{"window closed at the weekend", []v1.Budget{businessHours}, v1.DisruptionReasonEmpty, 10, monday0930NY.Add(-48 * time.Hour), 10},
	} {
		got, err := Allowed(tc.budgets, tc.reason, tc.total, tc.now)
		if err != nil || got != tc.want {
			t.Errorf("%s: Allowed = %d, %v; want %d", tc.name, got, err, tc.want)
		}
	}
	for _, schedule := range []string{"not cron", "0 0 30 2 *"} {
		if _, err := Allowed([]v1.Budget{{Nodes: "5", Schedule: ptr.To(schedule), Duration: &metav1.Duration{Duration: time.Hour}}}, v1.DisruptionReasonEmpty, 3, monday0930NY); err == nil {
			t.Errorf("schedule %q was accepted", schedule)
		}
	}
}

func TestNextChange(t *testing.T) {
	// Business hours in New York block disruption: 09:00–17:00 EST is
	// 14:00–22:00 UTC on weekdays.
	businessHours := v1.Budget{Nodes: "0", Schedule: ptr.To("0 9 * * 1-5"), Duration: &metav1.Duration{Duration: 8 * time.Hour}, TimeZone: ptr.To("America/New_York")}
	budgets := []v1.Budget{{Nodes: "2"}, businessHours}
	utc := func(day, hour, minute int) time.Time { return time.Date(2026, 11, day, hour, minute, 0, 0, time.UTC) }
	for _, tc := range []struct {
		name        string
		now         time.Time
		wantAt      time.Time
		wantAllowed int
		wantNow     int
	}{
		{"Monday before the window: it opens at 09:00 New York", utc(30, 13, 0), utc(30, 14, 0), 0, 2},
		{"in the window: it closes at 17:00 New York", utc(30, 15, 0), utc(30, 22, 0), 2, 0},
		{"Friday evening: it opens again on Monday", utc(27, 23, 0), utc(30, 14, 0), 0, 2},
		{"Saturday: Monday", utc(28, 12, 0), utc(30, 14, 0), 0, 2},
	} {
		at, allowed, ok, err := NextChange(budgets, v1.DisruptionReasonDrifted, 10, tc.now)
		if err != nil || !ok || !at.Equal(tc.wantAt) || allowed != tc.wantAllowed {
			t.Errorf("%s: NextChange = %v, %d, %v, %v; want %v, %d", tc.name, at, allowed, ok, err, tc.wantAt, tc.wantAllowed)
		}
		if now, _ := Allowed(budgets, v1.DisruptionReasonDrifted, 10, tc.now); now != tc.wantNow {
			t.Errorf("%s: Allowed now = %d, want %d", tc.name, now, tc.wantNow)
		}
		// The change happens exactly then: a second before, the old value.
		if before, _ := Allowed(budgets, v1.DisruptionReasonDrifted, 10, at.Add(-time.Second)); before != tc.wantNow {
			t.Errorf("%s: a second before the change Allowed = %d, want %d", tc.name, before, tc.wantNow)
		}
	}
	for name, budgets := range map[string][]v1.Budget{
		"no schedule":                      {{Nodes: "1"}},
		"overlapping windows keep it open": {{Nodes: "0", Schedule: ptr.To("0 * * * *"), Duration: &metav1.Duration{Duration: 2 * time.Hour}}},
		"another budget decides":           {{Nodes: "0"}, businessHours},
	} {
		if at, allowed, ok, err := NextChange(budgets, v1.DisruptionReasonEmpty, 3, utc(30, 0, 0)); ok || err != nil {
			t.Errorf("%s: NextChange = %v, %d, %v, %v; want no change", name, at, allowed, ok, err)
		}
	}
}
