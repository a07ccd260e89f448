package session

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/store"
)

func (a *actor) attachRunner(c Conn, version string) {
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
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	repo, err := a.repoConfig(ctx)
	cancel()
	if err != nil {
		// Without it the runner would not set its workspace up: let it
		// come back and ask again.
		a.log.Error("load the workspace's repo-config", "err", err)
		c.Close(protocol.CloseGoingAway, "server error; reconnect")
		return
	}
	if old := a.runner.attach(c, a.now(), version); old != nil {
		old.Close(protocol.CloseReplaced, protocol.CloseReasonReplace)
	}
	a.timers.clear(timerRevert)
	a.timers.clear(timerLost)
	a.pendingSeq = a.sess.RunnerSeq
	last := a.sess.RunnerSeq
	c.Send(frame(repo)) // before init: the runner sets its workspace up before it is ready
	c.Send(frame(protocol.ServerFrame{Type: protocol.SInit, SessionID: a.id, LastSeq: &last, Agent: a.sess.Agent,
		AgentSessionID: a.sess.AgentSessionID}))
	c.Send(frame(protocol.ServerFrame{Type: protocol.SOpencodeConf, Config: json.RawMessage(`{}`)}))
	c.Send(frame(protocol.ServerFrame{Type: protocol.SPluginContent, PluginContent: a.pluginContent()}))
	a.sendAnswers(c)
	a.broadcast(statusFrame(map[string]any{"runnerConnected": true}))
}

func (a *actor) runnerClosed(c Conn) {
	if !a.runner.detach(c) {
		return // a replaced socket: its close means nothing
	}
	a.failDiffs(&apperr.Error{Kind: apperr.KindUnavailable, Message: "The session's runner went away before it answered"})
	if a.sess.Status == store.StatusRunning || a.sess.Status == store.StatusRestoring {
		a.sess.RunnerLostAt = a.now()
		if err := a.commit(a.saveSession("runner_lost_at")); err != nil {
			a.log.Error("record runner loss", "err", err)
		}
		a.armRunnerLost()
		a.m.metrics().RunnerLost()
	} else if err := a.flush(); err != nil {
		a.log.Error("flush after runner close", "err", err)
	}
	a.broadcast(statusFrame(map[string]any{"runnerConnected": false, "runnerDisconnected": true, "queuedPrompts": a.queuedCount()}))
}

// runnerExited handles the sandbox's report that the session's runner
// process ended on its own (a crash, kill -9): nothing will reconnect, so
// there is no point waiting for the runner-lost deadline. What it was
// processing goes back to the queue, the turn it was streaming is ended,
// and a new runner starts at once (or the session ends as sandbox_lost, as
// onRunnerLost decides).
func (a *actor) runnerExited(sandboxID string, err error) {
	if sandboxID != a.sess.SandboxID {
		a.log.Info("an earlier runner process exited", "sandbox_id", sandboxID, "err", err)
		return
	}
	a.log.Warn("runner process exited", "sandbox_id", sandboxID, "err", err)
	a.broadcast(statusFrame(map[string]any{"sandboxRunning": false}))
	if a.sess.Status != store.StatusRunning && a.sess.Status != store.StatusRestoring {
		return
	}
	if c := a.runner.conn; c != nil { // its socket may not have noticed yet
		c.Close(protocol.CloseGoingAway, "runner process exited")
		a.runner.detach(c)
		a.broadcast(statusFrame(map[string]any{"runnerConnected": false, "runnerDisconnected": true}))
	}
	write, cut := a.revertProcessing()
	a.sess.RunnerLostAt = a.now()
	if err := a.commit(write, a.saveSession("runner_lost_at")); err != nil {
		a.fail("record runner exit", err)
		return
	}
	cut()
	a.broadcast(statusFrame(map[string]any{"runnerBusy": false, "queuedPrompts": a.queuedCount()}))
	if err := a.replaceRunner(); err != nil {
		a.log.Error("replace exited runner", "err", err)
	}
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
			write, cut := a.revertProcessing()
			writes = append(writes, write)
			after = append(after, cut)
			if !a.sess.RunnerLostAt.IsZero() || a.sess.RunnerRespawns != 0 {
				a.sess.RunnerLostAt, a.sess.RunnerRespawns = time.Time{}, 0
				writes = append(writes, a.saveSession("runner_lost_at", "runner_respawns"))
			}
			after = append(after, func() {
				a.broadcast(statusFrame(map[string]any{"runnerConnected": true, "runnerBusy": a.sess.RunnerBusy}))
				if a.restartOutdatedRunner() {
					return
				}
				a.drain()
				a.dispatchWorkflow()
			})
		} else if f.Status == protocol.AgentIdle && !a.sess.RunnerBusy {
			after = append(after, func() {
				if !a.restartOutdatedRunner() && a.queuedCount() > 0 {
					a.drain()
				}
			})
		}
		after = append(after, func() {
			a.broadcast(frame(agentStatusFrame{Type: protocol.CAgentStatus, Status: f.Status, Detail: f.Detail}))
		})
	case protocol.RMessageCreate:
		if f.TurnID == "" {
			a.sendRunner(protocol.ServerFrame{Type: protocol.SError, Message: "message.create needs turnId"})
			return
		}
		if !a.tr.hasTurn(f.TurnID) && !a.sess.RunnerBusy {
			// No prompt (or workflow) is running: nothing would ever
			// finish this message, which would stay streaming for good.
			a.sendRunner(protocol.ServerFrame{Type: protocol.SError, Message: "message.create while no prompt is running; frame ignored"})
			break
		}
		tr, created := a.tr.startTurn(f.TurnID, now)
		if created {
			msg := tr.msg
			writes = append(writes, func(ctx context.Context, tx *store.Store) error { return tx.Messages().Insert(ctx, msg) })
			after = append(after, func() { a.broadcast(messageFrame(protocol.CMessage, msg)) })
		}
	case protocol.RTextDelta:
		before := -1
		if tr, ok := a.tr.turns[f.TurnID]; ok {
			before = len(tr.parts)
		}
		tr, offset, ok := a.tr.appendText(f.TurnID, f.Delta, now)
		if !ok {
			a.sendRunner(protocol.ServerFrame{Type: protocol.SError, Message: "text-delta for an unknown turn"})
			break
		}
		if n := len(tr.parts); n > before {
			// A new text part: agentops.v2 sockets get it (empty and
			// streaming) before its first chunk, so that part indexes
			// never skip ahead; upstream's client needs nothing.
			a.closeSlow(a.hub.broadcastUpdate(nil, partFrames(tr.msg.ID, tr.parts, []int{n - 1})))
		}
		a.closeSlow(a.hub.broadcastChunk(tr.msg.ID, offset, f.Delta))
	case protocol.RToolUpdate:
		tr, changed, ok := a.tr.toolUpdate(f, now)
		if !ok {
			a.sendRunner(protocol.ServerFrame{Type: protocol.SError, Message: f.Type + " for an unknown turn"})
			break
		}
		// The whole message for upstream's client; the changed parts for
		// agentops.v2 sockets (a turn with many tool calls otherwise
		// sends the whole message again for every update).
		msg, parts := tr.msg, partFrames(tr.msg.ID, tr.parts, changed)
		after = append(after, func() {
			a.closeSlow(a.hub.broadcastUpdate(func() []byte { return messageFrame(protocol.CMessageUpdated, msg) }, parts))
		})
	case protocol.RMessageFinalize:
		tr, ok := a.tr.finalize(f, now)
		if !ok {
			a.sendRunner(protocol.ServerFrame{Type: protocol.SError, Message: f.Type + " for an unknown turn"})
			break
		}
		msg := tr.msg
		after = append(after, func() { a.broadcast(messageFrame(protocol.CMessageUpdated, msg)) })
		if f.Type == protocol.RMessageFinalize {
			after = append(after, func() { a.m.metrics().TurnFinished(a.sess.Agent, f.Reason) })
		}
	case protocol.RComplete, protocol.RAborted:
		writes = append(writes, a.completePrompt(f.MessageID), a.takeAnswered(f.MessageID))
		after = append(after, func() {
			a.broadcast(statusFrame(map[string]any{"runnerBusy": a.sess.RunnerBusy, "queuedPrompts": a.queuedCount()}))
			if a.restartOutdatedRunner() { // the turn has ended: now is the time
				return
			}
			a.drain()
		})
	case protocol.RError:
		text := f.Error
		if text == "" {
			text = "The agent reported an error"
		}
		// Stored with upstream's "Error: " prefix, and announced under its
		// own id: upstream's client adds a message with the error frame's
		// messageId, which must not be the prompt's (that message exists)
		// and must match the stored one (so the message frame after it is
		// a duplicate the client drops, and a reload shows the same).
		msg := a.tr.newMessage("", "system", "Error: "+text, []protocol.Part{{Type: "error", Message: text}}, Author{}, now)
		writes = append(writes, func(ctx context.Context, tx *store.Store) error { return tx.Messages().Insert(ctx, msg) })
		after = append(after, func() {
			a.broadcast(frame(errorFrame{Type: protocol.CError, MessageID: msg.ID, Error: text}))
			a.broadcast(messageFrame(protocol.CMessage, msg))
			a.m.publish(Event{Type: "session.errored", SessionID: a.id, UserID: a.sess.UserID, Data: EventData{Error: text}})
		})
	case protocol.RModels:
		models, _ := json.Marshal(f.Models)
		a.sess.Models = models
		persist = true
		writes = append(writes, a.saveSession("models"))
		after = append(after, func() { a.broadcast(a.modelsFrame()) })
	case protocol.RGitState, protocol.RFilesChanged, protocol.RRepoProgress, protocol.RRepoCloneDone, protocol.RDiff, protocol.RGitOp:
		write, then := a.onGitFrame(f, now)
		if write != nil {
			persist = true
			writes = append(writes, write)
		}
		if then != nil {
			after = append(after, then)
		}
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
		protocol.RTitle, protocol.RTunnels, protocol.RScreenshot, protocol.RModelSwitched,
		protocol.RAudioTranscript, protocol.RChannelSession, protocol.RCommandResult, protocol.RWaitSubscription:
		// Accepted and ignored, as upstream's essentials list allows.
	case protocol.RTranscript:
		if f.RequestID != "" {
			a.sendTranscript(f)
		}
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

func (a *actor) modelsFrame() []byte { return modelsFrame(a.sess.Models) }

func modelsFrame(models json.RawMessage) []byte {
	if len(models) == 0 {
		models = json.RawMessage("[]")
	}
	return frame(map[string]any{"type": protocol.CModels, "models": models, "defaultModel": nil})
}
