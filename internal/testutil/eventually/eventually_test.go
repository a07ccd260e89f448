package eventually

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// recordingTB records a Fatalf instead of ending the test.
type recordingTB struct {
	testing.TB
	failed string
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Fatalf(format string, args ...any) { r.failed = fmt.Sprintf(format, args...) }

func TestTrueReturnsOnceTheConditionHolds(t *testing.T) {
	n := 0
	r := &recordingTB{TB: t}
	True(r, 10*time.Second, "three polls", func() bool { n++; return n == 3 })
	if r.failed != "" || n != 3 {
		t.Fatalf("failed %q after %d polls", r.failed, n)
	}
}

func TestTrueFailsNamingWhatItWaitedFor(t *testing.T) {
	r := &recordingTB{TB: t}
	start := time.Now()
	True(r, 30*time.Millisecond, "the impossible", func() bool { return false })
	if took := time.Since(start); took < 30*time.Millisecond {
		t.Errorf("gave up after %s", took)
	}
	if r.failed != "timed out after 30ms waiting for the impossible" {
		t.Errorf("failure: %q", r.failed)
	}
}

func TestNoErrorReportsTheLastError(t *testing.T) {
	r := &recordingTB{TB: t}
	n := 0
	NoError(r, 30*time.Millisecond, "a count", func() error { n++; return fmt.Errorf("count %d", n) })
	if want := fmt.Sprintf("timed out after 30ms waiting for a count: count %d", n); r.failed != want || n < 2 {
		t.Errorf("failure: %q, want %q", r.failed, want)
	}
	r.failed = ""
	NoError(r, time.Second, "nothing", func() error { return nil })
	if r.failed != "" {
		t.Errorf("failure: %q", r.failed)
	}
}

func TestPollChecksOnceMoreAtTheDeadline(t *testing.T) {
	start := time.Now()
	err := poll(20*time.Millisecond, func() (bool, error) { return time.Since(start) >= 20*time.Millisecond, nil })
	if err != nil {
		t.Fatal(err)
	}
	if err := poll(0, func() (bool, error) { return false, nil }); !errors.Is(err, errTimeout) || !strings.Contains(err.Error(), "timed out") {
		t.Fatal(err)
	}
}
