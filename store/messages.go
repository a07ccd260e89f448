package store

import (
	"bytes"
	"context"
	"encoding/json"
	"time"

	"github.com/uptrace/bun"
)

// Message is one transcript entry. Seq orders a session's messages.
type Message struct {
	bun.BaseModel `bun:"table:messages"`

	ID          string          `bun:"id,pk"`
	SessionID   string          `bun:"session_id,notnull"`
	Seq         int64           `bun:"seq,notnull"`
	Role        string          `bun:"role,notnull"`
	Content     string          `bun:"content,notnull"`
	Parts       json.RawMessage `bun:"parts,type:jsonb,notnull"`
	TurnID      string          `bun:"turn_id,nullzero"`
	AuthorID    string          `bun:"author_id,nullzero"`
	AuthorEmail string          `bun:"author_email,nullzero"`
	AuthorName  string          `bun:"author_name,nullzero"`
	// ToolCalls counts the tool-call parts; Insert and UpdateBody keep it.
	ToolCalls int `bun:"tool_call_count,notnull"`
	// Usage is an assistant turn's token usage as the agent reported it
	// ({inputTokens, outputTokens, cacheReadTokens?, cacheWriteTokens?,
	// costUsd?}); nil when it reported none.
	Usage     json.RawMessage `bun:"usage,type:jsonb,nullzero"`
	CreatedAt time.Time       `bun:"created_at,notnull"`
	UpdatedAt time.Time       `bun:"updated_at,notnull"`
}

// Messages is the repository of transcripts.
type Messages struct{ s *Store }

// Messages returns the transcript repository.
func (s *Store) Messages() Messages { return Messages{s} }

// countedRole reports whether a message counts as one in the session's
// message_count (the dashboard's "messages"): user and assistant turns.
func countedRole(role string) bool { return role == "user" || role == "assistant" }

// bumpCounts adds to a session's message and tool call counters, which
// every write of this repository keeps in step with the transcript.
func (r Messages) bumpCounts(ctx context.Context, sessionID string, messages, toolCalls int) error {
	if messages == 0 && toolCalls == 0 {
		return nil
	}
	_, err := r.s.w.NewUpdate().Model((*Session)(nil)).
		Set("message_count = message_count + ?", messages).Set("tool_call_count = tool_call_count + ?", toolCalls).
		Where("id = ?", sessionID).Exec(ctx)
	return wrap("count session messages", err)
}

// Insert adds a message. An id that exists already is left alone
// (ErrConflict is not returned): inserting the same message twice is safe.
func (r Messages) Insert(ctx context.Context, m *Message) error {
	if len(m.Parts) == 0 {
		m.Parts = json.RawMessage("[]")
	}
	m.ToolCalls = countToolCalls(m.Parts)
	return r.s.InTx(ctx, func(tx *Store) error {
		res, err := tx.w.NewInsert().Model(m).On("CONFLICT (id) DO NOTHING").Exec(ctx)
		if err != nil {
			return wrap("insert message", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		counted := 0
		if countedRole(m.Role) {
			counted = 1
		}
		return tx.Messages().bumpCounts(ctx, m.SessionID, counted, m.ToolCalls)
	})
}

// UpdateBody writes a message's content and parts.
func (r Messages) UpdateBody(ctx context.Context, m *Message) error {
	m.ToolCalls = countToolCalls(m.Parts)
	return r.s.InTx(ctx, func(tx *Store) error {
		var before int
		err := tx.w.NewSelect().Model((*Message)(nil)).Column("tool_call_count").Where("id = ?", m.ID).Scan(ctx, &before)
		if err != nil {
			return wrap("update message", err)
		}
		res, err := tx.w.NewUpdate().Model(m).Column("content", "parts", "tool_call_count", "usage", "updated_at").WherePK().Exec(ctx)
		if err := affectedOne("update message", res, err); err != nil {
			return err
		}
		return tx.Messages().bumpCounts(ctx, m.SessionID, 0, m.ToolCalls-before)
	})
}

// Get returns one message.
func (r Messages) Get(ctx context.Context, id string) (*Message, error) {
	m := new(Message)
	err := r.s.r.NewSelect().Model(m).Where("id = ?", id).Scan(ctx)
	return m, wrap("get message", err)
}

// MessageQuery selects part of a transcript.
type MessageQuery struct {
	After    time.Time // only messages created after this time
	AfterSeq int64     // only messages with a greater seq
	Limit    int
}

// List returns a session's messages in order.
func (r Messages) List(ctx context.Context, sessionID string, q MessageQuery) ([]Message, error) {
	var out []Message
	sel := r.s.r.NewSelect().Model(&out).Where("session_id = ?", sessionID).OrderExpr("seq ASC")
	if !q.After.IsZero() {
		sel = sel.Where("created_at > ?", q.After)
	}
	if q.AfterSeq > 0 {
		sel = sel.Where("seq > ?", q.AfterSeq)
	}
	if q.Limit > 0 {
		sel = sel.Limit(int64(q.Limit))
	}
	err := sel.Scan(ctx)
	return out, wrap("list messages", err)
}

// MaxSeq returns the highest seq of a session's messages (0 if none).
func (r Messages) MaxSeq(ctx context.Context, sessionID string) (int64, error) {
	var n *int64
	err := r.s.r.NewSelect().Model((*Message)(nil)).ColumnExpr("MAX(seq)").Where("session_id = ?", sessionID).Scan(ctx, &n)
	if err != nil || n == nil {
		return 0, wrap("max message seq", err)
	}
	return *n, nil
}

// Count returns how many messages a session has.
func (r Messages) Count(ctx context.Context, sessionID string) (int, error) {
	n, err := r.s.r.NewSelect().Model((*Message)(nil)).Where("session_id = ?", sessionID).Count(ctx)
	return int(n), wrap("count messages", err)
}

// DeleteFrom removes a session's messages from seq on and returns their
// ids in order.
func (r Messages) DeleteFrom(ctx context.Context, sessionID string, seq int64) ([]string, error) {
	var ids []string
	err := r.s.w.NewSelect().Model((*Message)(nil)).Column("id").
		Where("session_id = ?", sessionID).Where("seq >= ?", seq).OrderExpr("seq ASC").Scan(ctx, &ids)
	if err != nil {
		return nil, wrap("list messages to remove", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	err = r.s.InTx(ctx, func(tx *Store) error {
		var counted, tools int
		err := tx.w.NewSelect().Model((*Message)(nil)).
			ColumnExpr("count(CASE WHEN role IN ('user', 'assistant') THEN 1 END)").ColumnExpr("coalesce(sum(tool_call_count), 0)").
			Where("session_id = ?", sessionID).Where("seq >= ?", seq).Scan(ctx, &counted, &tools)
		if err != nil {
			return wrap("count messages to remove", err)
		}
		if _, err := tx.w.NewDelete().Model((*Message)(nil)).Where("session_id = ?", sessionID).Where("seq >= ?", seq).Exec(ctx); err != nil {
			return wrap("remove messages", err)
		}
		return tx.Messages().bumpCounts(ctx, sessionID, -counted, -tools)
	})
	return ids, err
}

// LastAssistant returns a session's newest n assistant messages of runner
// turns, newest first (to find turns a restart interrupted).
func (r Messages) LastAssistant(ctx context.Context, sessionID string, n int) ([]Message, error) {
	var out []Message
	err := r.s.r.NewSelect().Model(&out).Where("session_id = ?", sessionID).Where("role = 'assistant'").
		Where("turn_id IS NOT NULL").OrderExpr("seq DESC").Limit(int64(n)).Scan(ctx)
	return out, wrap("last assistant messages", err)
}

// countToolCalls counts the parts of type tool-call (0 for parts that are
// not an array: legacy single-part tool messages).
func countToolCalls(parts json.RawMessage) int {
	if !bytes.Contains(parts, []byte("tool-call")) {
		return 0
	}
	var ps []struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(parts, &ps) != nil {
		return 0
	}
	n := 0
	for _, p := range ps {
		if p.Type == "tool-call" {
			n++
		}
	}
	return n
}

// InsertMany adds messages in multi-row inserts (imports), skipping ids
// that exist, and bumps each session's counters once for the rows it
// inserted. Seq must be set.
func (r Messages) InsertMany(ctx context.Context, ms []Message) error {
	if len(ms) == 0 {
		return nil
	}
	byID := make(map[string]*Message, len(ms))
	for i := range ms {
		if len(ms[i].Parts) == 0 {
			ms[i].Parts = json.RawMessage("[]")
		}
		ms[i].ToolCalls = countToolCalls(ms[i].Parts)
		byID[ms[i].ID] = &ms[i]
	}
	return r.s.InTx(ctx, func(tx *Store) error {
		var inserted []string
		if _, err := tx.w.NewInsert().Model(&ms).On("CONFLICT (id) DO NOTHING").Returning("id").Exec(ctx, &inserted); err != nil {
			return wrap("insert messages", err)
		}
		type counts struct{ messages, tools int }
		per := map[string]*counts{}
		var order []string
		for _, id := range inserted {
			m := byID[id]
			c := per[m.SessionID]
			if c == nil {
				c = &counts{}
				per[m.SessionID] = c
				order = append(order, m.SessionID)
			}
			if countedRole(m.Role) {
				c.messages++
			}
			c.tools += m.ToolCalls
		}
		for _, sid := range order {
			if err := tx.Messages().bumpCounts(ctx, sid, per[sid].messages, per[sid].tools); err != nil {
				return err
			}
		}
		return nil
	})
}
