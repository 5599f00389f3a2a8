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
	if _, err := Allowed([]v1.Budget{{Nodes: "5", Schedule: ptr.To("not cron"), Duration: &metav1.Duration{Duration: time.Hour}}}, v1.DisruptionReasonEmpty, 3, monday0930NY); err == nil {
		t.Error("a bad schedule was accepted")
	}
}
