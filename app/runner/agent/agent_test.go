package agent

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/agentops/agentops/app/protocol"
)

func TestWatchdogNoProgress(t *testing.T) {
	ctx, w := StartWatchdog(t.Context(), Deadlines{NoProgress: 150 * time.Millisecond, TurnCap: time.Minute})
	defer w.Stop()
	// Progress keeps it alive past the deadline.
	for range 4 {
		time.Sleep(60 * time.Millisecond)
		w.Progress()
	}
	if ctx.Err() != nil {
		t.Fatal("ended despite progress")
	}
	// A pause stops the clock.
	w.Pause()
	time.Sleep(300 * time.Millisecond)
	if ctx.Err() != nil {
		t.Fatal("ended while paused")
	}
	w.Resume()
	select {
	case <-ctx.Done():
	case <-time.After(2 * time.Second):
		t.Fatal("no-progress deadline did not fire")
	}
	var np ErrNoProgress
	if !errors.As(context.Cause(ctx), &np) {
		t.Fatalf("cause %v", context.Cause(ctx))
	}
	reason, msg := Ending{Err: CtxErr(ctx)}.Outcome()
	if reason != protocol.FinishError || !strings.Contains(msg, "no progress") {
		t.Fatalf("outcome %q %q", reason, msg)
	}
}

func TestWatchdogTurnCap(t *testing.T) {
	ctx, w := StartWatchdog(t.Context(), Deadlines{NoProgress: time.Minute, TurnCap: 100 * time.Millisecond})
	defer w.Stop()
	select {
	case <-ctx.Done():
	case <-time.After(2 * time.Second):
		t.Fatal("turn cap did not fire")
	}
	if _, msg := (Ending{Err: CtxErr(ctx)}).Outcome(); !strings.Contains(msg, "turn deadline") {
		t.Fatalf("message %q", msg)
	}
}

func TestEndingOutcome(t *testing.T) {
	for _, tc := range []struct {
		e            Ending
		reason, text string
	}{
		{Ending{}, protocol.FinishEndTurn, ""},
		{Ending{Err: errors.New("boom")}, protocol.FinishError, "boom"},
		{Ending{Canceled: true, Err: errors.New("boom")}, protocol.FinishCanceled, ""},
		{Ending{Err: errors.New(strings.Repeat("é", MaxErrorBytes))}, protocol.FinishError, strings.Repeat("é", MaxErrorBytes/2) + "…"},
	} {
		reason, text := tc.e.Outcome()
		if reason != tc.reason || text != tc.text {
			t.Errorf("%+v: %q %q", tc.e, reason, Truncate(text, 40))
		}
	}
}
