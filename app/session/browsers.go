package session

import (
	"context"
	"time"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/store"
)

func (a *actor) broadcast(b []byte) { a.closeSlow(a.hub.broadcast(b)) }

// closeSlow closes browser sockets whose send queue is full.
func (a *actor) closeSlow(slow []Client) {
	for _, c := range slow {
		a.log.Warn("closing a slow browser socket", "conn", c.ID())
		c.Close(protocol.CloseSlowConsumer, "slow consumer: reload the transcript over REST, then reconnect")
		a.m.metrics().SlowConsumerClosed()
		a.removeClient(c)
	}
}

func (a *actor) attachClient(c Client, u *store.User) {
	a.users[u.ID] = u
	first := a.hub.add(c)
	var pending any
	for _, q := range a.queue {
		if q.Status == store.PromptQueued {
			pending = map[string]any{"messageId": q.ID, "content": q.Content}
			break
		}
	}
	c.Send(initFrame(a.sess, map[string]any{
		"sandboxRunning": a.sess.Status == store.StatusRunning, "runnerConnected": a.runner.connected(),
		"runnerReady": a.runner.ready,
		"runnerBusy":  a.sess.RunnerBusy, "promptsQueued": a.queuedCount(), "connectedClients": a.hub.count(),
		"connectedUsers": a.hub.users(), "pendingPrompt": pending,
		"phase": nullable(a.git.phase), "progress": a.git.progress,
	}))
	c.Send(a.modelsFrame())
	for _, q := range a.sortedQuestions(false) {
		c.Send(a.questionFrame(q))
	}
	if first {
		a.broadcast(frame(map[string]any{"type": protocol.CUserJoined, "userId": u.ID,
			"userDetails":    map[string]any{"name": nullable(u.Name), "email": u.Email, "avatarUrl": nullable(u.AvatarURL)},
			"connectedUsers": a.connectedUsers()}))
		a.m.publish(Event{Type: "session.update", SessionID: a.id, UserID: a.sess.UserID, Data: EventData{Status: a.sess.Status}})
	}
}

// initFrame is the first frame a browser socket gets.
func initFrame(sess *store.Session, data map[string]any) []byte {
	return frame(map[string]any{
		"type": protocol.CInit,
		"session": map[string]any{"id": sess.ID, "status": sess.Status, "workspace": sess.Workspace,
			"title": nullable(sess.Title)},
		"data": data,
	})
}

func (a *actor) connectedUsers() []map[string]any {
	out := []map[string]any{}
	for _, id := range a.hub.users() {
		u := a.users[id]
		if u == nil {
			continue
		}
		out = append(out, map[string]any{"id": u.ID, "name": nullable(u.Name), "email": u.Email, "avatarUrl": nullable(u.AvatarURL)})
	}
	return out
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (a *actor) removeClient(c Client) {
	known, last := a.hub.remove(c)
	if !known || !last {
		return
	}
	u := a.users[c.UserID()]
	details := map[string]any{}
	if u != nil {
		details = map[string]any{"name": nullable(u.Name), "email": u.Email, "avatarUrl": nullable(u.AvatarURL)}
	}
	a.broadcast(frame(map[string]any{"type": protocol.CUserLeft, "userId": c.UserID(), "userDetails": details,
		"connectedUsers": a.connectedUsers()}))
}

func (a *actor) clientClosed(c Client) { a.removeClient(c) }

func (a *actor) onClientFrame(c Client, u *store.User, f *clientFrame) {
	author := Author{ID: u.ID, Email: u.Email, Name: u.Name}
	var err error
	switch f.Type {
	case protocol.BPing:
		c.Send(frame(map[string]any{"type": protocol.CPong}))
	case protocol.BPrompt:
		if err = a.checkModel(f.Model); err == nil {
			err = a.submitPrompt(PromptInput{Content: f.Content, Model: f.Model, Mode: f.QueueMode, Author: author})
		}
	case protocol.BAbort:
		if a.sess.RunnerBusy {
			a.sendRunner(protocol.ServerFrame{Type: protocol.SAbort})
		}
	case protocol.BDiff:
		err = a.browserDiff()
	case "answer":
		err = a.answerQuestion(f.QuestionID, f.Answer)
	case "revert":
		err = a.revert(f.MessageID)
	case "queue.withdraw":
		_, err = a.withdrawPending()
	case "queue.promote":
		err = a.replacePending(nil)
	case "queue.replace":
		if err = a.checkModel(f.Model); err == nil {
			err = a.replacePending(&PromptInput{Content: f.Content, Model: f.Model, Author: author})
		}
	default:
		err = apperr.Invalid("type", "unsupported frame type %s", f.Type)
	}
	if err != nil {
		msg := err.Error()
		if e, ok := apperr.As(err); ok {
			msg = e.Message
		}
		c.Send(frame(errorFrame{Type: protocol.CError, Message: msg}))
	}
}

// checkModel checks a model a browser picked against the owner's
// credentials (as Manager.Prompt does for REST).
func (a *actor) checkModel(model string) error {
	if model == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return a.m.checkModel(ctx, a.sess.UserID, a.sess.Agent, model)
}
