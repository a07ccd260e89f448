package session

import (
	"sort"
	"time"
)

// timers is a set of named deadlines owned by one actor. The actor asks
// for the next deadline to arm its single time.Timer, and for the names
// that are due when it fires.
type timers struct {
	at map[string]time.Time
}

func newTimers() *timers { return &timers{at: map[string]time.Time{}} }

// set arms (or moves) a deadline.
func (t *timers) set(name string, when time.Time) { t.at[name] = when }

// setIfEarlier arms a deadline unless an earlier one is already set.
func (t *timers) setIfEarlier(name string, when time.Time) {
	if cur, ok := t.at[name]; !ok || when.Before(cur) {
		t.at[name] = when
	}
}

// clear disarms a deadline.
func (t *timers) clear(name string) { delete(t.at, name) }

// armed reports whether a deadline is set.
func (t *timers) armed(name string) bool {
	_, ok := t.at[name]
	return ok
}

// next returns the earliest deadline.
func (t *timers) next() (time.Time, bool) {
	var min time.Time
	for _, when := range t.at {
		if min.IsZero() || when.Before(min) {
			min = when
		}
	}
	return min, !min.IsZero()
}

// due removes and returns, earliest first, the deadlines at or before now.
func (t *timers) due(now time.Time) []string {
	var names []string
	for name, when := range t.at {
		if !when.After(now) {
			names = append(names, name)
		}
	}
	sort.Slice(names, func(i, j int) bool {
		a, b := t.at[names[i]], t.at[names[j]]
		if a.Equal(b) {
			return names[i] < names[j]
		}
		return a.Before(b)
	})
	for _, n := range names {
		delete(t.at, n)
	}
	return names
}
