package session

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/store"
)

func (a *actor) attachRunner(c Conn) {
	// Write what is in memory first: then the mark told to the runner is
	// exact, and it replays exactly what follows it.
	if err := a.flush(); err != nil {
		// The mark would not match what the transcript holds in memory:
		// the replay would apply twice. Reload what is stored (what was
		// not stored was not acknowledged, and comes again) and let the
		// runner try again.
		a.fail("flush before runner attach", err)
		c.Close(protocol.CloseGoingAway, "server error; reconnect")
		return
	}
	if old := a.runner.attach(c, a.now()); old != nil {
		old.Close(protocol.CloseReplaced, protocol.CloseReasonReplace)
	}
	a.timers.clear(timerRevert)
	a.timers.clear(timerLost)
	a.pendingSeq = a.sess.RunnerSeq
	last := a.sess.RunnerSeq
	c.Send(frame(protocol.ServerFrame{Type: protocol.SInit, SessionID: a.id, LastSeq: &last, Agent: a.sess.Agent,
		AgentSessionID: a.sess.AgentSessionID}))
	c.Send(frame(protocol.ServerFrame{Type: protocol.SOpencodeConf, Config: json.RawMessage(`{}`)}))
	c.Send(frame(protocol.ServerFrame{Type: protocol.SPluginContent, PluginContent: a.pluginContent()}))
	c.Send([]byte(`{"type":"repo-config","token":null,"gitConfig":{}}`))
	a.sendAnswers(c)
	a.broadcast(statusFrame(map[string]any{"runnerConnected": true}))
}

func (a *actor) runnerClosed(c Conn) {
	if !a.runner.detach(c) {
		return // a replaced socket: its close means nothing
	}
	if a.sess.Status == store.StatusRunning || a.sess.Status == store.StatusRestoring {
		a.sess.RunnerLostAt = a.now()
		if err := a.commit(a.saveSession("runner_lost_at")); err != nil {
			a.log.Error("record runner loss", "err", err)
		}
		a.armRunnerLost()
	} else if err := a.flush(); err != nil {
		a.log.Error("flush after runner close", "err", err)
	}
	a.broadcast(statusFrame(map[string]any{"runnerConnected": false, "runnerDisconnected": true, "queuedPrompts": a.queuedCount()}))
}

func (a *actor) runnerExited(err error) {
	a.log.Warn("runner process exited", "err", err)
	a.broadcast(statusFrame(map[string]any{"sandboxRunning": false}))
}

// ---- runner frames ----

func (a *actor) sendRunner(v protocol.ServerFrame) { a.runner.send(frame(v)) }

func (a *actor) onRunnerFrame(c Conn, f *protocol.RunnerFrame) {
	if a.runner.conn == nil || a.runner.conn.ID() != c.ID() {
		return // from a replaced socket
	}
	if f.Seq > 0 && f.Seq <= a.pendingSeq {
		// A replay of something already applied: acknowledge, do nothing.
		if f.Seq <= a.sess.RunnerSeq {
			a.sendRunner(protocol.ServerFrame{Type: protocol.SAck, Seq: a.sess.RunnerSeq})
		}
		return
	}
	if f.Seq > 0 {
		a.pendingSeq = f.Seq
	}
	now := a.now()
	var writes []func(ctx context.Context, tx *store.Store) error
	var after []func()
	persist := protocol.Persisted(f.Type)
	switch f.Type {
	case protocol.RAgentStatus, protocol.RMessageCreate, protocol.RTextDelta, protocol.RToolUpdate, protocol.RMessageFinalize:
		a.touch(now)
	}

	switch f.Type {
	case protocol.RPing:
		a.sendRunner(protocol.ServerFrame{Type: protocol.SPong})
	case protocol.RAgentStatus:
		if f.Status == protocol.AgentIdle && f.MessageID == "" && !a.runner.ready {
			// The ready signal: prompts that were being processed by a
			// runner that went away go back to the queue.
			a.runner.ready = true
			persist = true
			writes = append(writes, a.revertProcessing())
			if !a.sess.RunnerLostAt.IsZero() || a.sess.RunnerRespawns != 0 {
				a.sess.RunnerLostAt, a.sess.RunnerRespawns = time.Time{}, 0
				writes = append(writes, a.saveSession("runner_lost_at", "runner_respawns"))
			}
			after = append(after, func() {
				a.broadcast(statusFrame(map[string]any{"runnerConnected": true, "runnerBusy": a.sess.RunnerBusy}))
				a.drain()
				a.dispatchWorkflow()
			})
		} else if f.Status == protocol.AgentIdle && !a.sess.RunnerBusy && a.queuedCount() > 0 {
			after = append(after, a.drain)
		}
		after = append(after, func() {
			a.broadcast(frame(agentStatusFrame{Type: protocol.CAgentStatus, Status: f.Status, Detail: f.Detail}))
		})
	case protocol.RMessageCreate:
		if f.TurnID == "" {
			a.sendRunner(protocol.ServerFrame{Type: protocol.SError, Message: "message.create needs turnId"})
			return
		}
		tr, created := a.tr.startTurn(f.TurnID, now)
		if created {
			msg := tr.msg
			writes = append(writes, func(ctx context.Context, tx *store.Store) error { return tx.Messages().Insert(ctx, msg) })
			after = append(after, func() { a.broadcast(messageFrame(protocol.CMessage, msg)) })
		}
	case protocol.RTextDelta:
		tr, offset, ok := a.tr.appendText(f.TurnID, f.Delta, now)
		if !ok {
			a.sendRunner(protocol.ServerFrame{Type: protocol.SError, Message: "text-delta for an unknown turn"})
			break
		}
		a.closeSlow(a.hub.broadcastChunk(tr.msg.ID, offset, f.Delta))
	case protocol.RToolUpdate, protocol.RMessageFinalize:
		var tr *turn
		var ok bool
		if f.Type == protocol.RToolUpdate {
			tr, ok = a.tr.toolUpdate(f, now)
		} else {
			tr, ok = a.tr.finalize(f, now)
		}
		if !ok {
			a.sendRunner(protocol.ServerFrame{Type: protocol.SError, Message: f.Type + " for an unknown turn"})
			break
		}
		msg := tr.msg
		after = append(after, func() { a.broadcast(messageFrame(protocol.CMessageUpdated, msg)) })
	case protocol.RComplete, protocol.RAborted:
		writes = append(writes, a.completePrompt(f.MessageID), a.takeAnswered(f.MessageID))
		after = append(after, func() {
			a.broadcast(statusFrame(map[string]any{"runnerBusy": a.sess.RunnerBusy, "queuedPrompts": a.queuedCount()}))
			a.drain()
		})
	case protocol.RError:
		text := f.Error
		if text == "" {
			text = "The agent reported an error"
		}
		msg := a.tr.newMessage("", "system", text, []protocol.Part{{Type: "error", Message: text}}, Author{}, now)
		writes = append(writes, func(ctx context.Context, tx *store.Store) error { return tx.Messages().Insert(ctx, msg) })
		after = append(after, func() {
			a.broadcast(frame(errorFrame{Type: protocol.CError, MessageID: f.MessageID, Error: text}))
			a.broadcast(messageFrame(protocol.CMessage, msg))
			a.m.publish(Event{Type: "session.errored", SessionID: a.id, UserID: a.sess.UserID, Data: EventData{Error: text}})
		})
	case protocol.RModels:
		models, _ := json.Marshal(f.Models)
		a.sess.Models = models
		persist = true
		writes = append(writes, a.saveSession("models"))
		after = append(after, func() { a.broadcast(a.modelsFrame()) })
	case protocol.RGitState:
		data, _ := json.Marshal(map[string]any{"branch": f.Branch, "baseBranch": f.BaseBranch, "commitCount": f.CommitCount})
		a.sess.GitState = data
		persist = true
		writes = append(writes, a.saveSession("git_state"))
		after = append(after, func() { a.broadcast(frame(dataFrame{Type: protocol.CGitState, Data: json.RawMessage(data)})) })
	case protocol.RFilesChanged:
		files := f.Files
		if len(files) == 0 {
			files = json.RawMessage("[]")
		}
		a.sess.FilesChanged = files
		persist = true
		writes = append(writes, a.saveSession("files_changed"))
		after = append(after, func() {
			a.broadcast(frame(map[string]any{"type": protocol.CFilesChanged, "files": json.RawMessage(files)}))
		})
	case protocol.RAgentSession:
		if f.AgentSessionID == "" || len(f.AgentSessionID) > 200 {
			a.sendRunner(protocol.ServerFrame{Type: protocol.SError, Message: "agent-session needs agentSessionId (at most 200 bytes)"})
			break
		}
		a.sess.AgentSessionID = f.AgentSessionID
		writes = append(writes, a.saveSession("agent_session_id"))
	case protocol.RSelfTerminate:
		after = append(after, func() {
			if err := a.terminate("completed"); err != nil {
				a.log.Error("self-terminate", "err", err)
			}
		})
	case protocol.RQuestion:
		if f.QuestionID == "" {
			a.sendRunner(protocol.ServerFrame{Type: protocol.SError, Message: "question needs questionId"})
			break
		}
		q := a.askQuestion(f, now)
		persist = true
		writes = append(writes, func(ctx context.Context, tx *store.Store) error { return tx.InteractivePrompts().Upsert(ctx, q) })
		after = append(after, func() { a.questionAsked(q) })
	case protocol.RWorkflowResult:
		if a.m.workflows == nil || f.Envelope == nil || f.ExecutionID == "" {
			a.sendRunner(protocol.ServerFrame{Type: protocol.SError, Message: "workflow-execution-result needs executionId and envelope"})
			break
		}
		write, then := a.workflowResult(f)
		persist = true
		writes = append(writes, write)
		after = append(after, then)
	case protocol.RConfigApplied, protocol.RRunnerHealth, protocol.RUsageReport, protocol.RAnalyticsEmit, protocol.RReverted,
		protocol.RTitle, protocol.RTunnels, protocol.RScreenshot, protocol.RModelSwitched, protocol.RRepoCloneDone,
		protocol.RAudioTranscript, protocol.RChannelSession, protocol.RCommandResult, protocol.RWaitSubscription:
		// Accepted and ignored, as upstream's essentials list allows.
	default:
		if a.m.cfg.RPCs != nil && f.RequestID != "" && a.m.cfg.RPCs.Handles(f.Type) {
			write, send := a.rpc(f)
			persist = true
			writes = append(writes, write)
			after = append(after, send)
			break
		}
		if f.RequestID != "" {
			a.sendRunner(protocol.ServerFrame{Type: f.Type + "-result", RequestID: f.RequestID,
				Error: fmt.Sprintf("unsupported: %s is not implemented by this server", f.Type)})
		} else {
			a.sendRunner(protocol.ServerFrame{Type: protocol.SError, Message: "unknown frame type " + f.Type})
		}
	}

	if persist {
		if err := a.commit(writes...); err != nil {
			a.fail("persist runner frame "+f.Type, err)
			return
		}
	} else if a.pendingSeq-a.sess.RunnerSeq >= ackEvery {
		// A long stream: write and acknowledge now, before the runner's
		// buffer of unacknowledged frames fills up and it has to wait.
		if err := a.flush(); err != nil {
			a.fail("flush streamed text", err)
			return
		}
	} else if a.pendingSeq != a.sess.RunnerSeq || a.tr.hasDirty() {
		a.timers.setIfEarlier(timerFlush, a.m.cfg.Now().Add(a.m.cfg.FlushInterval))
	}
	for _, fn := range after {
		fn()
	}
}

func (a *actor) modelsFrame() []byte {
	models := json.RawMessage("[]")
	if len(a.sess.Models) > 0 {
		models = a.sess.Models
	}
	return frame(map[string]any{"type": protocol.CModels, "models": models, "defaultModel": nil})
}
