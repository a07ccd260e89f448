package dashboard

import (
	"testing"
	"time"
)

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestLocalDaysFollowDaylightSaving(t *testing.T) {
	cases := []struct {
		zone     string
		from, to string // UTC
		dates    []string
		hours    []float64 // length of each day inside the window
	}{{
		// Clocks go forward at 02:00 on 2026-03-08: a 23-hour day.
		zone: "America/New_York", from: "2026-03-07T05:00:00Z", to: "2026-03-10T04:00:00Z",
		dates: []string{"2026-03-07", "2026-03-08", "2026-03-09"}, hours: []float64{24, 23, 24},
	}, {
		// Clocks go back at 03:00 on 2026-10-25: a 25-hour day.
		zone: "Europe/Berlin", from: "2026-10-23T22:00:00Z", to: "2026-10-26T23:00:00Z",
		dates: []string{"2026-10-24", "2026-10-25", "2026-10-26"}, hours: []float64{24, 25, 24},
	}, {
		// +05:30, no daylight saving; a window starting and ending mid-day.
		zone: "Asia/Kolkata", from: "2026-03-07T12:00:00Z", to: "2026-03-09T12:00:00Z",
		dates: []string{"2026-03-07", "2026-03-08", "2026-03-09"}, hours: []float64{6.5, 24, 17.5},
	}, {
		// New Zealand leaves daylight saving (+13 → +12) on 2026-04-05.
		zone: "Pacific/Auckland", from: "2026-04-03T11:00:00Z", to: "2026-04-06T12:00:00Z",
		dates: []string{"2026-04-04", "2026-04-05", "2026-04-06"}, hours: []float64{24, 25, 24},
	}, {
		// Chile starts daylight saving at midnight on 2026-09-06: that
		// day begins at 01:00 and lasts 23 hours.
		zone: "America/Santiago", from: "2026-09-05T04:00:00Z", to: "2026-09-07T03:00:00Z",
		dates: []string{"2026-09-05", "2026-09-06"}, hours: []float64{24, 23},
	}}
	for _, c := range cases {
		t.Run(c.zone, func(t *testing.T) {
			loc := mustZone(t, c.zone)
			from, _ := time.Parse(time.RFC3339, c.from)
			to, _ := time.Parse(time.RFC3339, c.to)
			days := LocalDays(from, to, loc)
			if len(days) != len(c.dates) {
				t.Fatalf("%d days %+v, want %v", len(days), days, c.dates)
			}
			for i, d := range days {
				if d.Date != c.dates[i] || d.End.Sub(d.Start).Hours() != c.hours[i] {
					t.Errorf("day %d: %s of %.1f h, want %s of %.1f h", i, d.Date, d.End.Sub(d.Start).Hours(), c.dates[i], c.hours[i])
				}
				if i > 0 {
					if days[i-1].End != d.Start {
						t.Errorf("gap between %s and %s", days[i-1].Date, d.Date)
					}
					if l := d.Start.In(loc); l.Format(time.DateOnly) != d.Date || l.Add(-time.Nanosecond).Format(time.DateOnly) == d.Date {
						t.Errorf("%s does not start at its first local instant: %s", d.Date, l)
					}
				}
			}
			if days[0].Start != from || days[len(days)-1].End != to {
				t.Error("the days must cover exactly the window")
			}
			if e := Edges(days); len(e) != len(days)+1 || e[0] != from || e[len(e)-1] != to {
				t.Errorf("edges %v", e)
			}
		})
	}
	if LocalDays(time.Now(), time.Now().Add(-time.Hour), time.UTC) != nil {
		t.Error("an empty window has no days")
	}
}

func TestWindow(t *testing.T) {
	ny := mustZone(t, "America/New_York")
	now := time.Date(2026, 3, 10, 15, 30, 0, 0, time.UTC) // 11:30 in New York
	from, to, hours, err := Window(Query{Period: 3, Unit: "days"}, now, ny)
	if err != nil {
		t.Fatal(err)
	}
	// Three calendar days in New York, today included: 8, 9, 10 March
	// (8 March had 23 hours).
	if want := time.Date(2026, 3, 8, 0, 0, 0, 0, ny); !from.Equal(want) || to != now.Add(time.Microsecond) || hours != 72 {
		t.Fatalf("days window %s..%s (%d h), want from %s", from, to, hours, want)
	}
	if n := len(LocalDays(from, to, ny)); n != 3 {
		t.Fatalf("3 days give %d points", n)
	}
	// 90 days reach back across months and the DST change.
	from, _, _, _ = Window(Query{Period: 90, Unit: "days"}, now, ny)
	if want := time.Date(2025, 12, 11, 0, 0, 0, 0, ny); !from.Equal(want) {
		t.Fatalf("90 days start %s, want %s", from, want)
	}
	if days := LocalDays(from, now.Add(time.Microsecond), ny); len(days) != 90 || days[0].Date != "2025-12-11" || days[89].Date != "2026-03-10" {
		t.Fatalf("90 days: %d points from %s", len(days), days[0].Date)
	}
	if got := startOfDay(2026, 3, 0, time.UTC); !got.Equal(time.Date(2026, 2, 28, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("day 0 of March: %s", got)
	}
	from, _, hours, _ = Window(Query{}, now, ny)
	if hours != 720 || now.Sub(from) != 720*time.Hour {
		t.Fatalf("default window: %s, %d h", from, hours)
	}
	for _, q := range []Query{{Period: 2161}, {Period: -1}, {Period: 91, Unit: "days"}, {Period: 1, Unit: "weeks"}} {
		if _, _, _, err := Window(q, now, ny); err == nil {
			t.Errorf("%+v must be refused", q)
		}
	}
}

func TestLocation(t *testing.T) {
	if loc, err := Location("Asia/Kolkata", "Europe/Berlin"); err != nil || loc.String() != "Asia/Kolkata" {
		t.Fatalf("tz wins: %v %v", loc, err)
	}
	if loc, err := Location("", "Europe/Berlin"); err != nil || loc.String() != "Europe/Berlin" {
		t.Fatalf("profile next: %v %v", loc, err)
	}
	if loc, err := Location("", "Mars/Olympus"); err != nil || loc != time.UTC {
		t.Fatalf("a bad profile zone falls back to UTC: %v %v", loc, err)
	}
	for _, bad := range []string{"Mars/Olympus", "Local", "../../etc/passwd", "Europe/Berlin\x00"} {
		if _, err := Location(bad, ""); err == nil {
			t.Errorf("tz %q must be refused", bad)
		}
	}
}
