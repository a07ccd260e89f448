package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/app/runner/agent"
)

// RPCTimeout bounds one RPC when the caller's context has no deadline
// (upstream's runner waits 15 s for memory RPCs).
const RPCTimeout = 30 * time.Second

// ErrRPC is wrapped by the error of an RPC the server answered with an
// error.
var ErrRPC = agent.ErrRPC

// rpcs pairs RPC requests with their results. The request goes through
// the outbox like any frame (numbered, replayed after a reconnect, so
// the server applies it once); the result comes back on whichever
// connection is up. A result lost with a connection is not sent again:
// the call then times out, as upstream's do.
type rpcs struct {
	mu      sync.Mutex
	pending map[string]chan json.RawMessage
}

func newRPCs() *rpcs { return &rpcs{pending: map[string]chan json.RawMessage{}} }

// deliver hands a result frame to its caller; it reports whether one
// was waiting.
func (c *rpcs) deliver(requestID string, data []byte) bool {
	c.mu.Lock()
	ch := c.pending[requestID]
	delete(c.pending, requestID)
	c.mu.Unlock()
	if ch == nil {
		return false
	}
	ch <- append(json.RawMessage(nil), data...) // buffered: never blocks
	return true
}

// call sends req (its Type and fields; RequestID is set here) and waits
// for the result's fields.
func (c *rpcs) call(ctx context.Context, out *outbox, req protocol.RunnerFrame) (map[string]json.RawMessage, error) {
	if !strings.HasPrefix(req.Type, "mem-") && req.Type != protocol.RTranscript {
		return nil, fmt.Errorf("runner: %q is not an RPC this runner makes", req.Type)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, RPCTimeout)
		defer cancel()
	}
	req.RequestID = uuid.NewString()
	ch := make(chan json.RawMessage, 1)
	c.mu.Lock()
	c.pending[req.RequestID] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, req.RequestID)
		c.mu.Unlock()
	}()
	if _, err := out.emit(ctx, req); err != nil {
		return nil, err
	}
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("runner: %s: no result: %w", req.Type, ctx.Err())
	case data := <-ch:
		var res map[string]json.RawMessage
		if err := json.Unmarshal(data, &res); err != nil {
			return nil, fmt.Errorf("runner: %s: unreadable result: %w", req.Type, err)
		}
		if raw, ok := res["error"]; ok {
			var msg string
			_ = json.Unmarshal(raw, &msg)
			return nil, fmt.Errorf("%w: %s: %s", ErrRPC, req.Type, msg)
		}
		delete(res, "type")
		delete(res, "requestId")
		return res, nil
	}
}
