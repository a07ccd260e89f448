package session

import (
	"context"
	"encoding/json"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/store"
)

// RPCs serves the runner RPCs that belong to other domains (the user's
// memory: mem-*). The composition root fills Config.RPCs; the session
// package knows only this interface.
type RPCs interface {
	// Handles reports whether frameType is one of its RPCs.
	Handles(frameType string) bool
	// Handle runs the RPC for the session's owner inside tx, the
	// transaction that also records the frame's sequence number: a frame
	// the runner replays after a reconnect is never applied twice. It
	// returns the fields of the result frame. A domain error (apperr) is
	// sent back as the result's error and must have changed nothing;
	// any other error rolls the transaction back.
	Handle(ctx context.Context, tx *store.Store, userID string, f *protocol.RunnerFrame) (map[string]any, error)
}

// rpc applies an RPC frame as one of the frame's writes and returns the
// function that sends its result once they are committed.
func (a *actor) rpc(f *protocol.RunnerFrame) (func(ctx context.Context, tx *store.Store) error, func()) {
	var result map[string]any
	var failed string
	write := func(ctx context.Context, tx *store.Store) error {
		res, err := a.m.cfg.RPCs.Handle(ctx, tx, a.sess.UserID, f)
		if e, ok := apperr.As(err); ok {
			failed = e.Message
			return nil
		}
		if err != nil {
			return err
		}
		result = res
		return nil
	}
	send := func() {
		out := map[string]any{}
		for k, v := range result {
			out[k] = v
		}
		out["type"] = protocol.ResultType(f.Type)
		out["requestId"] = f.RequestID
		if failed != "" {
			out["error"] = failed
		}
		b, err := json.Marshal(out)
		if err != nil {
			a.log.Error("encode rpc result", "type", f.Type, "err", err)
			return
		}
		a.runner.send(b)
	}
	return write, send
}
