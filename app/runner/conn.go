package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/app/runner/agent"
)

// errStop ends a connection when the server says stop.
var errStop = errors.New("runner: the server said stop")

// pingFrame is the keepalive. It carries no seq: it is not part of the
// session's stream, so it is neither buffered nor replayed.
var pingFrame = []byte(`{"type":"` + protocol.RPing + `"}`)

// serveConn runs one connection: a reader for the server's frames, and
// after init a writer that drains the outbox and a keepalive. It returns
// when any of them fails, after all three have stopped.
func (r *runner) serveConn(ctx context.Context, conn *websocket.Conn) (end connEnd, ready bool, why string) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var wg sync.WaitGroup
	errs := make(chan error, 3)
	inited := make(chan bool, 1) // true: the init had no lastSeq (an old server)
	// Terminal output is written beside the outbox's frames (the
	// connection serializes writes); each shell's window bounds how much
	// of it can be ahead of them.
	terms := newTerminals(ctx, r.log, r.cfg.Workspace, func(ctx context.Context, b []byte) error { return write(ctx, conn, b) })
	defer terms.closeAll()
	wg.Go(func() { errs <- r.readLoop(ctx, conn, inited, terms) })

	timer := time.NewTimer(initTimeout)
	var first error
	select {
	case legacy := <-inited:
		ready = true
		wg.Go(func() { errs <- r.writeLoop(ctx, conn, legacy) })
		wg.Go(func() { errs <- r.pingLoop(ctx, conn) })
		first = <-errs
	case first = <-errs:
	case <-timer.C:
		first = fmt.Errorf("no init from the server within %s", initTimeout)
	}
	timer.Stop()

	if errors.Is(first, errStop) {
		// Say goodbye properly; the reader is gone, Close reads the
		// peer's close frame itself (bounded by its own timeout).
		cctx, ccancel := context.WithTimeout(context.Background(), closeTimeout)
		stop := context.AfterFunc(cctx, func() { conn.CloseNow() })
		_ = conn.Close(websocket.StatusNormalClosure, "runner stopping")
		stop()
		ccancel()
	}
	cancel()
	conn.CloseNow()
	wg.Wait()
	close(errs)
	all := []error{first}
	for err := range errs {
		all = append(all, err)
	}
	end, why = classify(all)
	return end, ready, why
}

// classify turns the errors that ended a connection into what to do next.
// The reader sees the server's close frame; the writer and the keepalive
// may fail first with an error that wraps the same close.
func classify(errs []error) (connEnd, string) {
	for _, err := range errs {
		if errors.Is(err, errStop) {
			return endStop, "stop"
		}
	}
	for _, err := range errs {
		var ce websocket.CloseError
		if !errors.As(err, &ce) {
			continue
		}
		why := fmt.Sprintf("closed by the server (%d %q)", int(ce.Code), ce.Reason)
		switch {
		case int(ce.Code) == protocol.CloseReplaced || ce.Reason == protocol.CloseReasonReplace:
			return endReplaced, why
		case int(ce.Code) == protocol.CloseSessionEnded:
			return endEnded, why
		case int(ce.Code) == protocol.ClosePolicy:
			return endRejected, why
		case int(ce.Code) == protocol.CloseRestart:
			return endRestart, why
		}
		return endRetry, why
	}
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return endRetry, err.Error()
		}
	}
	return endRetry, "connection closed"
}

// readLoop handles the server's frames until the connection fails or the
// server says stop. It never blocks on the agent or on the outbox, so
// acks keep flowing while the agent is held back by backpressure.
func (r *runner) readLoop(ctx context.Context, conn *websocket.Conn, inited chan<- bool, terms *terminals) error {
	initSeen := false
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			return err
		}
		var f protocol.ServerFrame
		if err := json.Unmarshal(data, &f); err != nil {
			r.log.Warn("ignoring an unreadable frame from the server", "err", err)
			continue
		}
		if protocol.IsTerminalFrame(f.Type) {
			terms.handle(data)
			continue
		}
		if f.RequestID != "" && strings.HasSuffix(f.Type, "-result") {
			if !r.rpc.deliver(f.RequestID, data) {
				r.log.Debug("a result nobody waits for", "type", f.Type, "request_id", f.RequestID)
			}
			continue
		}
		switch f.Type {
		case protocol.SInit:
			var last int64
			if f.LastSeq != nil {
				last = *f.LastSeq
			}
			if f.AgentSessionID != "" {
				r.setAgentSession(f.AgentSessionID)
			}
			r.out.resume(last)
			r.log.Debug("init", "last_seq", last, "unacked", r.out.pending())
			if !initSeen {
				initSeen = true
				inited <- f.LastSeq == nil
				r.inbox.post(command{kind: cmdConnected})
			}
		case protocol.SAck:
			r.out.ack(f.Seq)
		case protocol.SPrompt:
			r.inbox.post(command{kind: cmdPrompt, prompt: agent.Prompt{
				MessageID:        f.MessageID,
				Content:          f.Content,
				Model:            f.Model,
				ModelPreferences: f.ModelPrefs,
				AuthorID:         f.AuthorID,
				AuthorEmail:      f.AuthorEmail,
				AuthorName:       f.AuthorName,
				GitName:          f.GitName,
				GitEmail:         f.GitEmail,
				Workspace:        r.cfg.Workspace,
				Persona:          r.persona,
			}})
		case protocol.SPluginContent:
			var pc protocol.PluginContent
			if err := json.Unmarshal(f.PluginContent, &pc); err != nil {
				r.log.Warn("ignoring unreadable plugin-content", "err", err)
				continue
			}
			sort.SliceStable(pc.Personas, func(i, j int) bool { return pc.Personas[i].SortOrder < pc.Personas[j].SortOrder })
			r.persona = pc.Personas
		case protocol.SRepoConfig:
			rs := repoSetup{}
			if f.RepoConfig != nil {
				rs.cfg = *f.RepoConfig
			}
			if f.Token != nil {
				rs.token = *f.Token
			}
			r.inbox.post(command{kind: cmdRepo, repo: rs})
		case protocol.SDiff:
			r.inbox.post(command{kind: cmdDiff, requestID: f.RequestID, path: f.Path})
		case protocol.SGitOp:
			op := f
			r.inbox.post(command{kind: cmdGitOp, gitOp: &op})
		case protocol.SAbort:
			r.inbox.post(command{kind: cmdAbort})
		case protocol.SWorkflowExecute:
			if f.Workflow == nil {
				r.log.Warn("ignoring a workflow-execute without a payload", "execution_id", f.ExecutionID)
				continue
			}
			r.inbox.post(command{kind: cmdWorkflow, workflow: f.Workflow, persona: r.persona})
		case protocol.SAnswer:
			r.cfg.Agent.Answer(f.QuestionID, f.Answer)
		case protocol.SStop:
			return errStop
		case protocol.SError:
			r.log.Warn("error from the server", "error", f.Error, "message", f.Message)
		case protocol.SPong:
		default:
			// opencode-config, revert and
			// anything newer: nothing for the agents we have yet.
			r.log.Debug("ignoring a server frame", "type", f.Type)
		}
	}
}

// writeLoop sends the outbox's frames in order. Against an old server
// (init without lastSeq) nothing is ever acked, so a frame counts as
// acked once written, as upstream's runner does.
func (r *runner) writeLoop(ctx context.Context, conn *websocket.Conn, legacy bool) error {
	for {
		f, err := r.out.nextFrame(ctx)
		if err != nil {
			return err
		}
		if err := write(ctx, conn, f.data); err != nil {
			return err
		}
		if legacy {
			r.out.ack(f.seq)
		}
	}
}

// pingLoop sends the protocol's `ping` every PingInterval and checks that
// the peer answers a WebSocket ping, so a half-open connection is noticed
// and replaced instead of waiting for TCP to give up.
func (r *runner) pingLoop(ctx context.Context, conn *websocket.Conn) error {
	t := time.NewTicker(r.cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		if err := write(ctx, conn, pingFrame); err != nil {
			return err
		}
		pctx, cancel := context.WithTimeout(ctx, max(r.cfg.PingInterval, 10*time.Second))
		err := conn.Ping(pctx)
		cancel()
		if err != nil {
			return fmt.Errorf("keepalive: %w", err)
		}
	}
}

func write(ctx context.Context, conn *websocket.Conn, data []byte) error {
	wctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	return conn.Write(wctx, websocket.MessageText, data)
}
