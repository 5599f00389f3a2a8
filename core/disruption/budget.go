package disruption

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	v1 "github.com/tailor-sh/tailor/api/v1"
)

// DefaultBudget applies when a NodePool sets no budget: a tenth of its nodes
// at a time.
var DefaultBudget = v1.Budget{Nodes: "10%"}

// Allowed returns how many of total nodes the budgets let Tailor disrupt at
// now for reason: the smallest allowance among the budgets that cover the
// reason and are active. A budget covers every reason when it names none,
// and is active at all times when it has no schedule, otherwise for its
// duration after each time its cron schedule fires (in its time zone, UTC by
// default). A percentage is of total, rounded up, so that 10% of 3 nodes
// still lets one go.
func Allowed(budgets []v1.Budget, reason v1.DisruptionReason, total int, now time.Time) (int, error) {
	if len(budgets) == 0 {
		budgets = []v1.Budget{DefaultBudget}
	}
	allowed := total
	for _, b := range budgets {
		if len(b.Reasons) > 0 && !contains(b.Reasons, reason) {
			continue
		}
		active, err := Active(b, now)
		if err != nil {
			return 0, err
		}
		if !active {
			continue
		}
		n, err := nodes(b.Nodes, total)
		if err != nil {
			return 0, err
		}
		allowed = min(allowed, n)
	}
	return max(allowed, 0), nil
}

func contains(reasons []v1.DisruptionReason, r v1.DisruptionReason) bool {
	for _, have := range reasons {
		if have == r {
			return true
		}
	}
	return false
}

// nodes reads a budget's nodes: a count or a percentage of total.
func nodes(s string, total int) (int, error) {
	if pct, ok := strings.CutSuffix(s, "%"); ok {
		p, err := strconv.Atoi(pct)
		if err != nil || p < 0 || p > 100 {
			return 0, fmt.Errorf("budget nodes %q: want a count or a percentage from 0%% to 100%%", s)
		}
		return int(math.Ceil(float64(total) * float64(p) / 100)), nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("budget nodes %q: want a count or a percentage from 0%% to 100%%", s)
	}
	return n, nil
}

// Active reports whether the budget applies at now.
func Active(b v1.Budget, now time.Time) (bool, error) {
	if b.Schedule == nil {
		return true, nil
	}
	schedule, loc, err := parseSchedule(b)
	if err != nil {
		return false, err
	}
	// The window is open when the schedule fired within the last duration.
	local := now.In(loc)
	next := schedule.Next(local.Add(-b.Duration.Duration - time.Second))
	return !next.After(local), nil
}

// parseSchedule reads a scheduled budget's cron schedule and time zone.
func parseSchedule(b v1.Budget) (cron.Schedule, *time.Location, error) {
	if b.Duration == nil {
		return nil, nil, fmt.Errorf("budget schedule %q has no duration", *b.Schedule)
	}
	loc := time.UTC
	if b.TimeZone != nil && *b.TimeZone != "" {
		var err error
		if loc, err = time.LoadLocation(*b.TimeZone); err != nil {
			return nil, nil, fmt.Errorf("budget time zone %q: %w", *b.TimeZone, err)
		}
	}
	schedule, err := cron.ParseStandard(*b.Schedule)
	if err != nil {
		return nil, nil, fmt.Errorf("budget schedule %q: %w", *b.Schedule, err)
	}
	// A schedule such as "0 0 30 2 *" parses but never fires.
	if schedule.Next(time.Date(2000, 1, 1, 0, 0, 0, 0, loc)).IsZero() {
		return nil, nil, fmt.Errorf("budget schedule %q never fires", *b.Schedule)
	}
	return schedule, loc, nil
}

// NextChange returns the first moment after now at which the budgets let
// Tailor disrupt a different number of nodes for reason, and that number.
// ok is false when no scheduled budget covering reason would ever change it
// (within a year).
func NextChange(budgets []v1.Budget, reason v1.DisruptionReason, total int, now time.Time) (at time.Time, allowed int, ok bool, err error) {
	current, err := Allowed(budgets, reason, total, now)
	if err != nil {
		return time.Time{}, 0, false, err
	}
	// Walk from one window edge to the next: an edge where another budget
	// still decides, or where overlapping windows keep one open, changes
	// nothing.
	t := now
	for range 1000 {
		next, found, err := nextEdge(budgets, reason, t)
		if err != nil || !found || next.Sub(now) > 366*24*time.Hour {
			return time.Time{}, 0, false, err
		}
		// Just past the edge, so that a window closing then counts as
		// closed.
		if allowed, err = Allowed(budgets, reason, total, next.Add(time.Second)); err != nil {
			return time.Time{}, 0, false, err
		}
		if allowed != current {
			return next.UTC(), allowed, true, nil
		}
		t = next.Add(time.Second)
	}
	return time.Time{}, 0, false, nil
}

// nextEdge returns the first moment after t at which a scheduled budget that
// covers reason opens or closes.
func nextEdge(budgets []v1.Budget, reason v1.DisruptionReason, t time.Time) (time.Time, bool, error) {
	var at time.Time
	found := false
	for _, b := range budgets {
		if b.Schedule == nil || (len(b.Reasons) > 0 && !contains(b.Reasons, reason)) {
			continue
		}
		schedule, loc, err := parseSchedule(b)
		if err != nil {
			return time.Time{}, false, err
		}
		local := t.In(loc)
		// The next window opens at the next firing; every window open now
		// closes a duration after it opened.
		edge := schedule.Next(local)
		// Windows close in the order they opened: the first one open now
		// closes first.
		for opened := schedule.Next(local.Add(-b.Duration.Duration - time.Second)); !opened.IsZero() && !opened.After(local); opened = schedule.Next(opened) {
			if closes := opened.Add(b.Duration.Duration); closes.After(local) {
				if closes.Before(edge) {
					edge = closes
				}
				break
			}
		}
		if !found || edge.Before(at) {
			at, found = edge, true
		}
	}
	return at, found, nil
}
