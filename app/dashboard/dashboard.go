// Package dashboard computes GET /api/dashboard/stats: the org's and the
// caller's figures over a window, the change against the window before,
// a daily series in the caller's time zone, the busiest workspaces, and
// the caller's recent and active sessions.
package dashboard

import (
	"context"
	"math"
	"time"
	_ "time/tzdata" // time zones work on hosts without a zoneinfo database

	"github.com/agentops/agentops/app/apperr"
	zone "github.com/agentops/agentops/app/tz"
	"github.com/agentops/agentops/store"
)

// Limits of a query, as upstream clamps them.
const (
	MaxHours        = 2160
	MaxDays         = 90
	DefaultPeriod   = 720
	TopReposLimit   = 8
	RecentLimit     = 10
	ActiveLimit     = 100
	linesPerToolUse = 15
)

// Query is the request: period in unit (hours or days) and the caller's
// time zone (empty: the profile's, else UTC).
type Query struct {
	Period int // 0: DefaultPeriod hours
	Unit   string
	TZ     string
}

// Hero is one set of headline figures.
type Hero struct {
	TotalSessions               int     `json:"totalSessions"`
	ActiveSessions              int     `json:"activeSessions"`
	TotalMessages               int     `json:"totalMessages"`
	UniqueRepos                 int     `json:"uniqueRepos"`
	TotalToolCalls              int     `json:"totalToolCalls"`
	TotalSessionDurationSeconds int64   `json:"totalSessionDurationSeconds"`
	AvgSessionDurationSeconds   int64   `json:"avgSessionDurationSeconds"`
	EstimatedLinesChanged       int     `json:"estimatedLinesChanged"`
	SessionHours                float64 `json:"sessionHours"`
}

// Delta is the integer percentage change against the previous window (0
// when the previous window had nothing).
type Delta struct {
	Sessions int `json:"sessions"`
	Messages int `json:"messages"`
}

// Activity is one day of the series.
type Activity struct {
	Date     string `json:"date"`
	Sessions int    `json:"sessions"`
	Messages int    `json:"messages"`
}

// Repo is one of the busiest workspaces.
type Repo struct {
	Workspace    string `json:"workspace"`
	SessionCount int    `json:"sessionCount"`
	MessageCount int    `json:"messageCount"`
}

// Recent is one of the caller's newest sessions.
type Recent struct {
	ID              string  `json:"id"`
	Workspace       string  `json:"workspace"`
	Status          string  `json:"status"`
	MessageCount    int     `json:"messageCount"`
	ToolCallCount   int     `json:"toolCallCount"`
	DurationSeconds int64   `json:"durationSeconds"`
	CreatedAt       string  `json:"createdAt"`
	LastActiveAt    string  `json:"lastActiveAt"`
	ErrorMessage    *string `json:"errorMessage,omitempty"`
}

// Active is one of the caller's active sessions.
type Active struct {
	ID           string `json:"id"`
	Workspace    string `json:"workspace"`
	Status       string `json:"status"`
	CreatedAt    string `json:"createdAt"`
	LastActiveAt string `json:"lastActiveAt"`
}

// Stats is upstream's response, plus the zone the series uses.
type Stats struct {
	Hero           Hero       `json:"hero"`
	UserHero       Hero       `json:"userHero"`
	Delta          Delta      `json:"delta"`
	Activity       []Activity `json:"activity"`
	TopRepos       []Repo     `json:"topRepos"`
	RecentSessions []Recent   `json:"recentSessions"`
	ActiveSessions []Active   `json:"activeSessions"`
	Period         int        `json:"period"` // hours
	Timezone       string     `json:"timezone"`
}

// Service computes dashboards.
type Service struct {
	st  *store.Store
	now func() time.Time
}

// New returns the dashboard service; now may be nil (time.Now).
func New(st *store.Store, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{st: st, now: now}
}

// Location resolves the zone of a request: tz if given (an IANA name;
// anything else is a 400), else the profile's zone if it is one, else UTC.
func Location(tz, profile string) (*time.Location, error) {
	if tz != "" {
		loc, err := loadZone(tz)
		if err != nil {
			return nil, apperr.Invalid("tz", "tz must be an IANA time zone such as Europe/Berlin, not %q", tz)
		}
		return loc, nil
	}
	if loc, err := loadZone(profile); err == nil && profile != "" {
		return loc, nil
	}
	return time.UTC, nil
}

func loadZone(name string) (*time.Location, error) { return zone.Load(name) }

// Window resolves a query into [from, to) and the period in hours. Hours
// end now; days are whole calendar days in loc, today included. to is
// just after now, so that what happened at now counts.
func Window(q Query, now time.Time, loc *time.Location) (from, to time.Time, hours int, err error) {
	to = now.Add(time.Microsecond)
	unit := q.Unit
	if unit == "" {
		unit = "hours"
	}
	period := q.Period
	switch unit {
	case "hours":
		if period == 0 {
			period = DefaultPeriod
		}
		if period < 1 || period > MaxHours {
			return from, to, 0, apperr.Invalid("period", "period must be from 1 to %d hours", MaxHours)
		}
		return now.Add(-time.Duration(period) * time.Hour), to, period, nil
	case "days":
		if period == 0 {
			period = DefaultPeriod / 24
		}
		if period < 1 || period > MaxDays {
			return from, to, 0, apperr.Invalid("period", "period must be from 1 to %d days", MaxDays)
		}
		y, m, d := now.In(loc).Date()
		return startOfDay(y, m, d-(period-1), loc), to, period * 24, nil
	}
	return from, to, 0, apperr.Invalid("unit", "unit must be hours or days")
}

func heroOf(t store.DashboardTotals) Hero {
	h := Hero{TotalSessions: t.Sessions, ActiveSessions: t.ActiveSessions, TotalMessages: t.Messages,
		UniqueRepos: t.UniqueRepos, TotalToolCalls: t.ToolCalls, TotalSessionDurationSeconds: t.DurationSeconds,
		EstimatedLinesChanged: t.ToolCalls * linesPerToolUse,
		SessionHours:          math.Round(float64(t.DurationSeconds)/3600*10) / 10}
	if t.Sessions > 0 {
		h.AvgSessionDurationSeconds = t.DurationSeconds / int64(t.Sessions)
	}
	return h
}

func percent(cur, prev int) int {
	if prev == 0 {
		return 0
	}
	return int(math.Round(float64(cur-prev) / float64(prev) * 100))
}

const isoLayout = "2006-01-02T15:04:05.000Z"

// Stats computes the dashboard of user.
func (s *Service) Stats(ctx context.Context, user *store.User, q Query) (*Stats, error) {
	loc, err := Location(q.TZ, user.Timezone)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	from, to, hours, err := Window(q, now, loc)
	if err != nil {
		return nil, err
	}
	org, mine := store.DashboardScope{}, store.DashboardScope{UserID: user.ID}
	out := &Stats{Period: hours, Timezone: loc.String()}

	// The org's figures come from the series (one pass over the window's
	// sessions) and the workspaces (another); so the series always sums
	// to the hero figures.
	days := LocalDays(from, to, loc)
	series, err := s.st.DashboardSeries(ctx, org, Edges(days))
	if err != nil {
		return nil, err
	}
	var cur store.DashboardTotals
	out.Activity = make([]Activity, len(days))
	for i, d := range days {
		b := series[i]
		out.Activity[i] = Activity{Date: d.Date, Sessions: b.Sessions, Messages: b.Messages}
		cur.Sessions += b.Sessions
		cur.ActiveSessions += b.ActiveSessions
		cur.DurationSeconds += b.DurationSeconds
		cur.Messages += b.Messages
		cur.ToolCalls += b.ToolCalls
	}
	repos, err := s.st.Repos(ctx, org, from, to)
	if err != nil {
		return nil, err
	}
	cur.UniqueRepos = len(repos)
	out.TopRepos = make([]Repo, min(len(repos), TopReposLimit))
	for i := range out.TopRepos {
		out.TopRepos[i] = Repo(repos[i])
	}
	prev, err := s.st.DashboardTotals(ctx, org, from.Add(-to.Sub(from)), from)
	if err != nil {
		return nil, err
	}
	own, err := s.st.DashboardTotals(ctx, mine, from, to)
	if err != nil {
		return nil, err
	}
	out.Hero, out.UserHero = heroOf(cur), heroOf(own)
	out.Delta = Delta{Sessions: percent(cur.Sessions, prev.Sessions), Messages: percent(cur.Messages, prev.Messages)}

	recent, err := s.st.RecentSessions(ctx, user.ID, RecentLimit)
	if err != nil {
		return nil, err
	}
	out.RecentSessions = make([]Recent, len(recent))
	for i, r := range recent {
		rc := Recent{ID: r.ID, Workspace: r.Workspace, Status: r.Status, MessageCount: r.MessageCount,
			ToolCallCount: r.ToolCallCount, DurationSeconds: wholeSeconds(r.CreatedAt, r.LastActiveAt),
			CreatedAt: r.CreatedAt.UTC().Format(isoLayout), LastActiveAt: r.LastActiveAt.UTC().Format(isoLayout)}
		if r.ErrorMessage != "" {
			msg := r.ErrorMessage
			rc.ErrorMessage = &msg
		}
		out.RecentSessions[i] = rc
	}

	active, err := s.st.ActiveSessionsOf(ctx, user.ID, ActiveLimit)
	if err != nil {
		return nil, err
	}
	out.ActiveSessions = make([]Active, len(active))
	for i, a := range active {
		out.ActiveSessions[i] = Active{ID: a.ID, Workspace: a.Workspace, Status: a.Status,
			CreatedAt: a.CreatedAt.UTC().Format(isoLayout), LastActiveAt: a.LastActiveAt.UTC().Format(isoLayout)}
	}
	return out, nil
}

// wholeSeconds is b-a as the store computes it: each instant floored to
// its second first.
func wholeSeconds(a, b time.Time) int64 { return b.Unix() - a.Unix() }
