package store

import (
	"context"
	"time"

	"github.com/uptrace/bun"
)

// Prompt queue entry statuses.
const (
	PromptQueued     = "queued"
	PromptProcessing = "processing"
	// PromptCollecting entries wait for the collect debounce, then merge
	// into one queued prompt.
	PromptCollecting = "collecting"
)

// QueuedPrompt is a prompt waiting for the runner, or being processed by
// it. Its id becomes the id of the user message written at dispatch.
type QueuedPrompt struct {
	bun.BaseModel `bun:"table:prompt_queue"`

	ID          string `bun:"id,pk"`
	SessionID   string `bun:"session_id,notnull"`
	Seq         int64  `bun:"seq,notnull"`
	Status      string `bun:"status,notnull"`
	Priority    int    `bun:"priority,notnull"`
	Content     string `bun:"content,notnull"`
	Model       string `bun:"model,nullzero"`
	AuthorID    string `bun:"author_id,nullzero"`
	AuthorEmail string `bun:"author_email,nullzero"`
	AuthorName  string `bun:"author_name,nullzero"`
	// TranscriptWritten: the user message(s) were written already (collect
	// mode), so dispatch must not write one.
	TranscriptWritten bool      `bun:"transcript_written,notnull"`
	CreatedAt         time.Time `bun:"created_at,notnull"`
}

// PromptQueue is the repository of queued prompts.
type PromptQueue struct{ s *Store }

// PromptQueue returns the prompt queue repository.
func (s *Store) PromptQueue() PromptQueue { return PromptQueue{s} }

// Insert adds an entry.
func (r PromptQueue) Insert(ctx context.Context, p *QueuedPrompt) error {
	_, err := r.s.w.NewInsert().Model(p).Exec(ctx)
	return wrap("queue prompt", err)
}

// List returns a session's entries in dispatch order (priority, then seq).
func (r PromptQueue) List(ctx context.Context, sessionID string) ([]QueuedPrompt, error) {
	var out []QueuedPrompt
	err := r.s.r.NewSelect().Model(&out).Where("session_id = ?", sessionID).
		OrderExpr("priority DESC, seq ASC").Scan(ctx)
	return out, wrap("list queue", err)
}

// MaxSeq returns the highest seq a session's queue used (0 if empty).
func (r PromptQueue) MaxSeq(ctx context.Context, sessionID string) (int64, error) {
	var n *int64
	err := r.s.r.NewSelect().Model((*QueuedPrompt)(nil)).ColumnExpr("MAX(seq)").Where("session_id = ?", sessionID).Scan(ctx, &n)
	if err != nil || n == nil {
		return 0, wrap("max queue seq", err)
	}
	return *n, nil
}

// SetStatus changes one entry's status.
func (r PromptQueue) SetStatus(ctx context.Context, id, status string) error {
	res, err := r.s.w.NewUpdate().Model((*QueuedPrompt)(nil)).Set("status = ?", status).Where("id = ?", id).Exec(ctx)
	return affectedOne("set prompt status", res, err)
}

// RevertProcessing puts a session's processing entries back in the queue
// and returns how many it moved.
func (r PromptQueue) RevertProcessing(ctx context.Context, sessionID string) (int, error) {
	res, err := r.s.w.NewUpdate().Model((*QueuedPrompt)(nil)).Set("status = ?", PromptQueued).
		Where("session_id = ?", sessionID).Where("status = ?", PromptProcessing).Exec(ctx)
	if err != nil {
		return 0, wrap("revert processing prompts", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// Delete removes one entry.
func (r PromptQueue) Delete(ctx context.Context, id string) error {
	_, err := r.s.w.NewDelete().Model((*QueuedPrompt)(nil)).Where("id = ?", id).Exec(ctx)
	return wrap("delete queued prompt", err)
}

// DeleteAll empties a session's queue and returns how many entries went.
func (r PromptQueue) DeleteAll(ctx context.Context, sessionID string) (int, error) {
	res, err := r.s.w.NewDelete().Model((*QueuedPrompt)(nil)).Where("session_id = ?", sessionID).Exec(ctx)
	if err != nil {
		return 0, wrap("clear queue", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}
