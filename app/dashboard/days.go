package dashboard

import "time"

// Day is one calendar day of a series in some time zone: its date and the
// part of it that lies in the window, [Start, End).
type Day struct {
	Date       string // YYYY-MM-DD in the zone
	Start, End time.Time
}

// startOfDay is the first instant of the calendar day (y, m, d) in loc.
// Midnight may not exist (a daylight-saving gap at 00:00, as in
// America/Santiago or Asia/Beirut): then the day starts at the end of the
// gap, the first instant whose date in loc is that day.
// Out-of-range days and months are normalized first (day 0 is the last
// day of the month before).
func startOfDay(y int, m time.Month, d int, loc *time.Location) time.Time {
	y, m, d = time.Date(y, m, d, 12, 0, 0, 0, time.UTC).Date()
	t := time.Date(y, m, d, 0, 0, 0, 0, loc)
	for {
		ly, lm, ld := t.In(loc).Date()
		if ly > y || ly == y && (lm > m || lm == m && ld >= d) {
			break
		}
		t = t.Add(15 * time.Minute) // gaps are whole quarter hours
	}
	// Step back to the first instant of the day at quarter-hour
	// resolution (time.Date may have landed after it).
	for {
		p := t.Add(-15 * time.Minute)
		if _, _, pd := p.In(loc).Date(); pd != d {
			return t
		}
		t = p
	}
}

// LocalDays splits [from, to) into the calendar days of loc it touches, in
// order: the first starts at from, the last ends at to, and each boundary
// between them is a local midnight (daylight saving included, so a day may
// last 23 or 25 hours).
func LocalDays(from, to time.Time, loc *time.Location) []Day {
	if !from.Before(to) {
		return nil
	}
	var out []Day
	y, m, d := from.In(loc).Date()
	start := from
	for start.Before(to) {
		next := startOfDay(y, m, d+1, loc)
		end := next
		if !end.Before(to) {
			end = to
		}
		out = append(out, Day{Date: time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Format(time.DateOnly), Start: start, End: end})
		start = next
		y, m, d = next.In(loc).Date()
	}
	return out
}

// Edges returns the n+1 instants that bound n days.
func Edges(days []Day) []time.Time {
	if len(days) == 0 {
		return nil
	}
	out := make([]time.Time, 0, len(days)+1)
	for _, d := range days {
		out = append(out, d.Start)
	}
	return append(out, days[len(days)-1].End)
}
