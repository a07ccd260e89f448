package session

import (
	"context"
	"encoding/json"
	"time"

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

// Personas gives sessions their persona's instruction files. The
// composition root fills Config.Personas.
type Personas interface {
	// Instructions returns the files of personaID for a session of
	// userID, or of the default persona when personaID is empty. A
	// persona the user cannot see is an apperr (404).
	Instructions(ctx context.Context, userID, personaID string) ([]protocol.PersonaFile, error)
}

// pluginContent builds the handshake's plugin-content with the session's
// persona files. They are read on every connect, as upstream does, so a
// reconnecting runner gets the persona as it is now; a persona deleted
// since is sent as none.
func (a *actor) pluginContent() []byte {
	pc := protocol.PluginContent{Personas: []protocol.PersonaFile{}, Skills: []any{}, Tools: []any{}}
	if a.m.cfg.Personas != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		files, err := a.m.cfg.Personas.Instructions(ctx, a.sess.UserID, a.sess.PersonaID)
		cancel()
		if err != nil {
			a.log.Warn("persona files for the handshake", "persona_id", a.sess.PersonaID, "err", err)
		} else if files != nil {
			pc.Personas = files
		}
	}
	b, _ := json.Marshal(pc)
	return b
}
