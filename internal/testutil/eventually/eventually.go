// Package eventually waits in tests for a condition that another goroutine
// or process brings about: it polls the condition, at first every few
// milliseconds and then at most every 50 ms, and fails the test with a
// message naming what it waited for when the time is up.
//
// The condition runs on the test's goroutine, so it may call t.Fatal
// itself, for instance to give up early on a state that can no longer
// change. A condition that should also move a fake clock forward does so
// itself before returning false.
package eventually

import (
	"errors"
	"testing"
	"time"
)

// Intervals between two polls: the first is minInterval, each one after
// that twice the one before, up to maxInterval.
const (
	minInterval = 5 * time.Millisecond
	maxInterval = 50 * time.Millisecond
)

// True polls cond until it returns true. If it has not within the given
// time, the test fails with "timed out after <within> waiting for <what>".
func True(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	if err := poll(within, func() (bool, error) { return cond(), nil }); err != nil {
		t.Fatalf("timed out after %s waiting for %s", within, what)
	}
}

// NoError polls f until it returns nil. If it has not within the given
// time, the test fails with "timed out after <within> waiting for <what>:
// <f's last error>", so the error should describe the state that was seen.
func NoError(t testing.TB, within time.Duration, what string, f func() error) {
	t.Helper()
	if err := poll(within, func() (bool, error) { err := f(); return err == nil, err }); err != nil {
		t.Fatalf("timed out after %s waiting for %s: %v", within, what, err)
	}
}

// poll runs try until it reports done and returns nil, or until within has
// passed and returns try's last error (errTimeout if that was nil). The
// last sleep ends at the deadline, so try runs once more at the deadline.
func poll(within time.Duration, try func() (bool, error)) error {
	deadline := time.Now().Add(within)
	interval := minInterval
	for {
		done, err := try()
		if done {
			return nil
		}
		if !time.Now().Before(deadline) {
			if err == nil {
				err = errTimeout
			}
			return err
		}
		time.Sleep(min(interval, time.Until(deadline)))
		interval = min(2*interval, maxInterval)
	}
}

var errTimeout = errors.New("timed out")
