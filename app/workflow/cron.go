package workflow

import (
	"fmt"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // IANA zones even on hosts without /usr/share/zoneinfo

	"github.com/robfig/cron/v3"

	"github.com/agentops/agentops/app/apperr"
	zone "github.com/agentops/agentops/app/tz"
)

// cronParser reads the standard five fields (minute hour day-of-month month
// day-of-week), with *, lists, ranges, steps and names; no descriptors
// (@hourly) and no CRON_TZ prefix: the time zone is the trigger's own.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)

// Schedule is a parsed cron expression in a time zone.
type Schedule struct {
	Cron     string
	Timezone string
	loc      *time.Location
	sched    cron.Schedule
}

// ParseSchedule checks a 5-field cron expression and an IANA time zone
// (empty: UTC). Errors are 400s naming config.cron or config.timezone.
func ParseSchedule(expr, tz string) (*Schedule, error) {
	expr = strings.TrimSpace(expr)
	if expr == "" {
		return nil, apperr.Invalid("config.cron", "config.cron is required")
	}
	if n := len(strings.Fields(expr)); n != 5 || strings.HasPrefix(expr, "@") || strings.Contains(expr, "TZ=") {
		return nil, apperr.Invalid("config.cron", "config.cron must have five fields (minute hour day-of-month month day-of-week), not %q", expr)
	}
	if tz == "" {
		tz = "UTC"
	}
	loc, err := zone.Load(tz)
	if err != nil {
		return nil, apperr.Invalid("config.timezone", "config.timezone must be an IANA time zone such as Europe/Berlin, not %q", tz)
	}
	sched, err := cronParser.Parse(expr)
	if err != nil {
		return nil, apperr.Invalid("config.cron", "config.cron %q: %v", expr, err)
	}
	s := &Schedule{Cron: expr, Timezone: tz, loc: loc, sched: sched}
	// A valid expression that never fires (February 30th) is useless.
	if s.Next(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
		return nil, apperr.Invalid("config.cron", "config.cron %q never fires", expr)
	}
	return s, nil
}

// Next is the first firing strictly after t, in UTC (zero if none within
// five years).
func (s *Schedule) Next(t time.Time) time.Time {
	n := s.sched.Next(t.In(s.loc))
	if n.IsZero() {
		return n
	}
	return n.UTC()
}

// NextN lists the next n firings after t.
func (s *Schedule) NextN(t time.Time, n int) []time.Time {
	out := make([]time.Time, 0, n)
	for len(out) < n {
		t = s.Next(t)
		if t.IsZero() {
			break
		}
		out = append(out, t)
	}
	return out
}

// Latest is the latest firing in (after, upTo], or zero.
func (s *Schedule) Latest(after, upTo time.Time) time.Time {
	var last time.Time
	for t := s.Next(after); !t.IsZero() && !t.After(upTo); t = s.Next(t) {
		last = t
	}
	return last
}

// scheduleCache keeps parsed schedules by (expression, zone): evaluating
// thousands of triggers every minute should not parse each one again.
type scheduleCache struct {
	mu sync.Mutex
	m  map[string]*Schedule
}

func (c *scheduleCache) get(expr, tz string) (*Schedule, error) {
	key := expr + "\x00" + tz
	c.mu.Lock()
	s, ok := c.m[key]
	c.mu.Unlock()
	if ok {
		return s, nil
	}
	s, err := ParseSchedule(expr, tz)
	if err != nil {
		return nil, fmt.Errorf("schedule %q in %q: %w", expr, tz, err)
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) > 10000 {
		c.m = map[string]*Schedule{}
	}
	c.m[key] = s
	c.mu.Unlock()
	return s, nil
}
