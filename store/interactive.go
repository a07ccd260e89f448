package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/uptrace/bun"
)

// InteractivePrompt is a question an agent asked, waiting for an answer.
type InteractivePrompt struct {
	bun.BaseModel `bun:"table:interactive_prompts"`

	ID         string          `bun:"id,pk"`
	SessionID  string          `bun:"session_id,notnull"`
	Type       string          `bun:"type,notnull"`
	QuestionID string          `bun:"question_id,notnull"`
	MessageID  string          `bun:"message_id,nullzero"`
	Text       string          `bun:"text,notnull"`
	Options    json.RawMessage `bun:"options,type:jsonb,notnull"`
	CreatedAt  time.Time       `bun:"created_at,notnull"`
	ExpiresAt  time.Time       `bun:"expires_at,notnull"`
	// Answer is set once the question is answered (or expired); the row
	// stays until the runner is known to have the answer.
	Answer json.RawMessage `bun:"answer,type:jsonb,nullzero"`
}

// InteractivePrompts is the repository of pending questions.
type InteractivePrompts struct{ s *Store }

// InteractivePrompts returns the pending question repository.
func (s *Store) InteractivePrompts() InteractivePrompts { return InteractivePrompts{s} }

// Upsert stores a question (a runner asking the same question id again
// replaces it, answer included).
func (r InteractivePrompts) Upsert(ctx context.Context, p *InteractivePrompt) error {
	if len(p.Options) == 0 {
		p.Options = json.RawMessage("[]")
	}
	_, err := r.s.w.NewInsert().Model(p).On("CONFLICT (session_id, question_id) DO UPDATE").
		Set("text = EXCLUDED.text").Set("options = EXCLUDED.options").Set("message_id = EXCLUDED.message_id").
		Set("expires_at = EXCLUDED.expires_at").Set("answer = EXCLUDED.answer").Exec(ctx)
	return wrap("store question", err)
}

// List returns a session's pending questions, oldest first.
func (r InteractivePrompts) List(ctx context.Context, sessionID string) ([]InteractivePrompt, error) {
	var out []InteractivePrompt
	err := r.s.r.NewSelect().Model(&out).Where("session_id = ?", sessionID).OrderExpr("created_at ASC, id ASC").Scan(ctx)
	return out, wrap("list questions", err)
}

// SetAnswer records the answer to a question.
func (r InteractivePrompts) SetAnswer(ctx context.Context, sessionID, questionID string, answer json.RawMessage) error {
	res, err := r.s.w.NewUpdate().Model((*InteractivePrompt)(nil)).Set("answer = ?", string(answer)).
		Where("session_id = ?", sessionID).Where("question_id = ?", questionID).Exec(ctx)
	if err != nil {
		return wrap("answer question", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// Delete removes one question.
func (r InteractivePrompts) Delete(ctx context.Context, sessionID, questionID string) error {
	_, err := r.s.w.NewDelete().Model((*InteractivePrompt)(nil)).
		Where("session_id = ?", sessionID).Where("question_id = ?", questionID).Exec(ctx)
	return wrap("delete question", err)
}

// DeleteAll removes a session's questions.
func (r InteractivePrompts) DeleteAll(ctx context.Context, sessionID string) error {
	_, err := r.s.w.NewDelete().Model((*InteractivePrompt)(nil)).Where("session_id = ?", sessionID).Exec(ctx)
	return wrap("delete questions", err)
}
