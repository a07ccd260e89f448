package agent

import (
	"context"
	"errors"
	"unicode/utf8"

	"github.com/agentops/agentops/app/protocol"
)

// MaxErrorBytes bounds an error message on the wire.
const MaxErrorBytes = 8 << 10

// Truncate cuts s to at most n bytes on a rune boundary.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// Ending is how a turn ended, as the runner (and agenttest) saw it.
type Ending struct {
	// Canceled: an abort, a shutdown or a timeout the caller imposed
	// ended the turn, whatever Run returned.
	Canceled bool
	// Err is what Run returned.
	Err error
	// CancelNote is the error text of a canceled finalize (a workflow
	// step's await timeout); usually empty.
	CancelNote string
}

// Outcome is the finish reason and error message of a turn: canceled
// wins, then a failure, else end_turn. Every path that ends a turn (the
// runner's prompts, workflow steps, agenttest) uses it, so a turn ends the
// same way on the wire whoever ran it.
func (e Ending) Outcome() (reason, errMsg string) {
	switch {
	case e.Canceled:
		return protocol.FinishCanceled, e.CancelNote
	case e.Err != nil:
		return protocol.FinishError, Truncate(ErrorText(e.Err), MaxErrorBytes)
	}
	return protocol.FinishEndTurn, ""
}

// ErrorText is the message a failed turn shows: the cause of a canceled
// context when there is one (a deadline says which), else the error.
func ErrorText(err error) string {
	var ce interface{ Cause() error }
	if errors.As(err, &ce) && ce.Cause() != nil {
		return ce.Cause().Error()
	}
	return err.Error()
}

// FinalizeFrame is message.finalize for a turn whose message was created.
func FinalizeFrame(turnID string, e Ending, finalText *string, usage *protocol.Usage) protocol.RunnerFrame {
	reason, errMsg := e.Outcome()
	return protocol.RunnerFrame{
		Type: protocol.RMessageFinalize, TurnID: turnID, Reason: reason, FinalText: finalText, Error: errMsg, Usage: usage,
	}
}

// causeErr carries a context's cause through Run's return.
type causeErr struct{ cause error }

func (c causeErr) Error() string { return c.cause.Error() }
func (c causeErr) Cause() error  { return c.cause }
func (c causeErr) Unwrap() error { return c.cause }

// CtxErr is what an adapter returns when its context ended: the context's
// cause (a deadline names itself), else ctx.Err().
func CtxErr(ctx context.Context) error {
	if c := context.Cause(ctx); c != nil && !errors.Is(c, ctx.Err()) {
		return causeErr{c}
	}
	return ctx.Err()
}
