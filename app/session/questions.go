package session

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/store"
)

// AnswerExpired is what a runner gets for a question nobody answered.
const AnswerExpired = "__expired__"

// askQuestion records a runner's question and arms its expiry.
func (a *actor) askQuestion(f *protocol.RunnerFrame, now time.Time) *store.InteractivePrompt {
	opts, _ := json.Marshal(f.Options)
	if f.Options == nil {
		opts = json.RawMessage("[]")
	}
	q := &store.InteractivePrompt{ID: uuid.NewString(), SessionID: a.id, Type: "question", QuestionID: f.QuestionID,
		MessageID: f.MessageID, Text: f.Text, Options: opts, CreatedAt: now, ExpiresAt: now.Add(a.timings().QuestionTTL)}
	if old, ok := a.questions[f.QuestionID]; ok {
		q.ID, q.CreatedAt = old.ID, old.CreatedAt
	}
	a.questions[f.QuestionID] = q
	a.timers.set(timerQuestion+f.QuestionID, q.ExpiresAt)
	return q
}

func (a *actor) questionAsked(q *store.InteractivePrompt) {
	a.broadcast(a.questionFrame(q))
	a.m.publish(Event{Type: "question.asked", SessionID: a.id, UserID: a.sess.UserID, Data: EventData{QuestionID: q.QuestionID, Text: q.Text},
		OwnerConnected: a.hub.perUser[a.sess.UserID] > 0})
}

// sortedQuestions returns the questions, oldest first: the pending ones,
// or the answered ones.
func (a *actor) sortedQuestions(answered bool) []*store.InteractivePrompt {
	out := make([]*store.InteractivePrompt, 0, len(a.questions))
	for _, q := range a.questions {
		if (q.Answer != nil) == answered {
			out = append(out, q)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out
}

func options(q *store.InteractivePrompt) []string {
	var opts []string
	_ = json.Unmarshal(q.Options, &opts)
	return opts
}

func questionContext(q *store.InteractivePrompt) map[string]any {
	return map[string]any{"questionId": q.QuestionID, "messageId": nullable(q.MessageID), "options": options(q)}
}

// questionFrame is upstream's interactive_prompt: the prompt id is the
// runner's question id, expiresAt is in epoch milliseconds.
func (a *actor) questionFrame(q *store.InteractivePrompt) []byte {
	actions := []map[string]any{}
	for i, o := range options(q) {
		actions = append(actions, map[string]any{"id": fmt.Sprintf("option_%d", i), "label": o})
	}
	return frame(map[string]any{"type": "interactive_prompt", "prompt": map[string]any{
		"id": q.QuestionID, "sessionId": a.id, "type": q.Type, "title": q.Text, "body": nil, "actions": actions,
		"expiresAt": q.ExpiresAt.UnixMilli(), "context": questionContext(q),
	}})
}

// answerQuestion resolves a question with a browser's answer: an action id
// ("option_1") stands for its label; any other value is passed on as is.
func (a *actor) answerQuestion(questionID string, raw json.RawMessage) error {
	q, ok := a.questions[questionID]
	if !ok || q.Answer != nil {
		return apperr.NotFound("Question")
	}
	var answer any
	if err := json.Unmarshal(raw, &answer); err != nil || answer == nil {
		return apperr.Invalid("answer", "answer is required")
	}
	if s, ok := answer.(string); ok {
		if i, found := strings.CutPrefix(s, "option_"); found {
			var n int
			if _, err := fmt.Sscanf(i, "%d", &n); err == nil && n >= 0 && n < len(options(q)) {
				answer = options(q)[n]
			}
		}
	}
	if !a.runner.connected() {
		return apperr.Conflict("The agent is not connected; answer again when it is back")
	}
	if err := a.resolveQuestion(q, answer); err != nil {
		return err
	}
	a.sendRunner(protocol.ServerFrame{Type: protocol.SAnswer, QuestionID: questionID, Answer: answer})
	a.broadcast(frame(map[string]any{"type": "interactive_prompt_resolved", "promptId": questionID,
		"promptType": q.Type, "resolution": answer, "context": questionContext(q)}))
	a.m.publish(Event{Type: "question.answered", SessionID: a.id, UserID: a.sess.UserID, Data: EventData{QuestionID: questionID}})
	return nil
}

// expireQuestion tells the runner nobody answered in time.
func (a *actor) expireQuestion(questionID string) error {
	q, ok := a.questions[questionID]
	if !ok || q.Answer != nil {
		return nil
	}
	if now := a.m.cfg.Now(); now.Before(q.ExpiresAt) {
		a.timers.set(timerQuestion+questionID, q.ExpiresAt)
		return nil
	}
	if err := a.resolveQuestion(q, AnswerExpired); err != nil {
		return err
	}
	a.sendRunner(protocol.ServerFrame{Type: protocol.SAnswer, QuestionID: questionID, Answer: AnswerExpired})
	a.broadcast(frame(map[string]any{"type": "interactive_prompt_expired", "promptId": questionID,
		"promptType": q.Type, "context": questionContext(q)}))
	return nil
}

// resolveQuestion stores the answer to a question before it is sent: the
// runner may miss it (a dropped socket, a restart of the server), and
// gets it again when it reconnects (sendAnswers). The question is
// forgotten when the turn that asked it ends (takeAnswered): only then is
// the runner sure to have had it.
func (a *actor) resolveQuestion(q *store.InteractivePrompt, answer any) error {
	b, err := json.Marshal(answer)
	if err != nil {
		return apperr.Invalid("answer", "answer must be JSON")
	}
	if err := a.commit(func(ctx context.Context, tx *store.Store) error {
		return tx.InteractivePrompts().SetAnswer(ctx, a.id, q.QuestionID, b)
	}); err != nil {
		return err
	}
	q.Answer = b
	a.timers.clear(timerQuestion + q.QuestionID)
	return nil
}

// sendAnswers sends a (re)connected runner the answers it may not have.
func (a *actor) sendAnswers(c Conn) {
	for _, q := range a.sortedQuestions(true) {
		c.Send(frame(protocol.ServerFrame{Type: protocol.SAnswer, QuestionID: q.QuestionID, Answer: q.Answer}))
	}
}

// takeAnswered forgets the answered questions of a turn that ended (every
// answered question when messageID is empty) and returns the write that
// deletes them.
func (a *actor) takeAnswered(messageID string) func(ctx context.Context, tx *store.Store) error {
	var done []string
	for id, q := range a.questions {
		if q.Answer != nil && (messageID == "" || q.MessageID == "" || q.MessageID == messageID) {
			done = append(done, id)
			delete(a.questions, id)
		}
	}
	return func(ctx context.Context, tx *store.Store) error {
		for _, id := range done {
			if err := tx.InteractivePrompts().Delete(ctx, a.id, id); err != nil {
				return err
			}
		}
		return nil
	}
}
