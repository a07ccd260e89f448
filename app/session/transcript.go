package session

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/store"
)

// turn is an assistant message being assembled from runner frames.
type turn struct {
	msg   *store.Message
	parts []protocol.Part
	// tail accumulates the trailing streaming text part; it is copied into
	// parts (and the message body rebuilt) only when the message is
	// written or sent whole, so a delta costs O(len(delta)).
	tail *strings.Builder
	// textLen is the length of the message's text in UTF-16 code units
	// (what a browser's string.length counts), the offset of the next chunk.
	textLen int
}

// sync copies the streaming tail into its part and rebuilds the body.
func (tr *turn) sync() {
	if tr.tail != nil && len(tr.parts) > 0 {
		tr.parts[len(tr.parts)-1].Text = tr.tail.String()
	}
	var b strings.Builder
	for _, p := range tr.parts {
		if p.Type == "text" {
			b.WriteString(p.Text)
		}
	}
	tr.msg.Content = b.String()
	tr.msg.Parts = mustJSON(tr.parts)
}

// transcript assembles turns and numbers messages. It holds no sockets and
// no SQL: the actor persists what it marks dirty.
type transcript struct {
	sessionID string
	lastSeq   int64
	turns     map[string]*turn // by runner turn id
	dirty     map[string]*turn // by message id
}

func newTranscript(sessionID string, lastSeq int64) *transcript {
	return &transcript{sessionID: sessionID, lastSeq: lastSeq, turns: map[string]*turn{}, dirty: map[string]*turn{}}
}

// Author identifies who wrote a user message.
type Author struct {
	ID, Email, Name string
}

// newMessage numbers a new message.
func (t *transcript) newMessage(id, role, content string, parts []protocol.Part, a Author, now time.Time) *store.Message {
	if id == "" {
		id = uuid.NewString()
	}
	t.lastSeq++
	return &store.Message{
		ID: id, SessionID: t.sessionID, Seq: t.lastSeq, Role: role, Content: content, Parts: mustJSON(parts),
		AuthorID: a.ID, AuthorEmail: a.Email, AuthorName: a.Name, CreatedAt: now, UpdatedAt: now,
	}
}

// startTurn begins the assistant message for a runner turn. A turn id seen
// before returns the existing message (a replayed frame).
func (t *transcript) startTurn(turnID string, now time.Time) (tr *turn, created bool) {
	if tr, ok := t.turns[turnID]; ok {
		return tr, false
	}
	m := t.newMessage("", "assistant", "", nil, Author{}, now)
	m.TurnID = turnID
	tr = &turn{msg: m}
	t.turns[turnID] = tr
	return tr, true
}

// hasTurn reports whether a turn is being assembled.
func (t *transcript) hasTurn(turnID string) bool {
	_, ok := t.turns[turnID]
	return ok
}

// resume registers an unfinished assistant message loaded from the
// database, so that frames replayed after a restart continue it.
func (t *transcript) resume(m *store.Message) {
	tr := &turn{msg: m}
	_ = json.Unmarshal(m.Parts, &tr.parts)
	tr.textLen = protocol.UTF16Len(m.Content)
	if n := len(tr.parts); n > 0 && tr.parts[n-1].Type == "text" && tr.parts[n-1].Streaming {
		// Continue the streaming part rather than start another.
		tr.tail = &strings.Builder{}
		tr.tail.WriteString(tr.parts[n-1].Text)
	}
	t.turns[m.TurnID] = tr
}

// appendText adds a text delta to the turn's trailing text part (a new one
// after a tool part) and returns the offset at which it starts.
func (t *transcript) appendText(turnID, delta string, now time.Time) (tr *turn, offset int, ok bool) {
	tr, ok = t.turns[turnID]
	if !ok {
		return nil, 0, false
	}
	n := len(tr.parts)
	if tr.tail == nil || n == 0 || tr.parts[n-1].Type != "text" || !tr.parts[n-1].Streaming {
		tr.sync()
		tr.parts = append(tr.parts, protocol.Part{Type: "text", Streaming: true})
		tr.tail = &strings.Builder{}
	}
	tr.tail.WriteString(delta)
	offset = tr.textLen
	tr.textLen += protocol.UTF16Len(delta)
	tr.msg.UpdatedAt = now
	t.dirty[tr.msg.ID] = tr
	return tr, offset, true
}

// toolUpdate creates or replaces the turn's part for a tool call; the
// trailing text part stops streaming. changed lists the positions of the
// parts that changed (text parts that stopped streaming, the tool part).
func (t *transcript) toolUpdate(f *protocol.RunnerFrame, now time.Time) (tr *turn, changed []int, ok bool) {
	tr, ok = t.turns[f.TurnID]
	if !ok {
		return nil, nil, false
	}
	tr.sync()
	tr.tail = nil
	p := protocol.Part{Type: "tool-call", CallID: f.CallID, ToolName: f.ToolName, Status: f.Status,
		Args: f.Args, Result: f.Result, Error: f.Error}
	for i := range tr.parts {
		if tr.parts[i].Type == "text" && tr.parts[i].Streaming {
			tr.parts[i].Streaming = false
			changed = append(changed, i)
		}
	}
	replaced := false
	for i := range tr.parts {
		if tr.parts[i].Type == "tool-call" && tr.parts[i].CallID == f.CallID {
			if p.Args == nil {
				p.Args = tr.parts[i].Args
			}
			tr.parts[i] = p
			changed = append(changed, i)
			replaced = true
			break
		}
	}
	if !replaced {
		tr.parts = append(tr.parts, p)
		changed = append(changed, len(tr.parts)-1)
	}
	t.touch(tr, now)
	return tr, changed, true
}

// finalize ends a turn: finalText replaces the text of a lone text part,
// streaming flags clear, an error part is added on error, and the finish
// part always. The turn is forgotten (its message stays dirty).
func (t *transcript) finalize(f *protocol.RunnerFrame, now time.Time) (*turn, bool) {
	tr, ok := t.turns[f.TurnID]
	if !ok {
		return nil, false
	}
	tr.sync()
	tr.tail = nil
	textParts := 0
	for _, p := range tr.parts {
		if p.Type == "text" {
			textParts++
		}
	}
	if f.FinalText != nil {
		switch textParts {
		case 0:
			if *f.FinalText != "" {
				tr.parts = append([]protocol.Part{{Type: "text", Text: *f.FinalText}}, tr.parts...)
			}
		case 1:
			for i := range tr.parts {
				if tr.parts[i].Type == "text" {
					tr.parts[i].Text = *f.FinalText
				}
			}
		}
	}
	for i := range tr.parts {
		tr.parts[i].Streaming = false
	}
	reason := f.Reason
	if reason == "" {
		reason = protocol.FinishEndTurn
	}
	if reason == protocol.FinishError || f.Error != "" {
		msg := f.Error
		if msg == "" {
			msg = "The agent reported an error"
		}
		tr.parts = append(tr.parts, protocol.Part{Type: "error", Message: msg})
	}
	tr.parts = append(tr.parts, protocol.Part{Type: "finish", Reason: reason})
	if f.Usage != nil {
		tr.msg.Usage = mustJSON(f.Usage)
	}
	t.touch(tr, now)
	delete(t.turns, f.TurnID)
	return tr, true
}

// cut ends every turn still being assembled, as finalize does with reason
// error and note as the error part's message: their runner is gone and
// nothing else would end them. The text they have stays.
func (t *transcript) cut(note string, now time.Time) []*turn {
	var out []*turn
	for id, tr := range t.turns {
		tr.sync()
		tr.tail = nil
		for i := range tr.parts {
			tr.parts[i].Streaming = false
		}
		tr.parts = append(tr.parts, protocol.Part{Type: "error", Message: note},
			protocol.Part{Type: "finish", Reason: protocol.FinishError})
		t.touch(tr, now)
		delete(t.turns, id)
		out = append(out, tr)
	}
	return out
}

// touch rebuilds the message body from its parts and marks it dirty.
func (t *transcript) touch(tr *turn, now time.Time) {
	tr.sync()
	tr.msg.UpdatedAt = now
	tr.textLen = protocol.UTF16Len(tr.msg.Content)
	t.dirty[tr.msg.ID] = tr
}

// takeDirty returns the messages changed since the last call, with their
// bodies up to date.
func (t *transcript) takeDirty() []*store.Message {
	out := make([]*store.Message, 0, len(t.dirty))
	for id, tr := range t.dirty {
		tr.sync()
		out = append(out, tr.msg)
		delete(t.dirty, id)
	}
	return out
}

// markDirty puts messages back after a failed write.
func (t *transcript) markDirty(msgs []*store.Message) {
	for _, m := range msgs {
		for _, tr := range t.turns {
			if tr.msg.ID == m.ID {
				t.dirty[m.ID] = tr
			}
		}
	}
}

// hasDirty reports whether anything waits to be written.
func (t *transcript) hasDirty() bool { return len(t.dirty) > 0 }

func mustJSON(v any) json.RawMessage {
	if v == nil {
		return json.RawMessage("[]")
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only our own types are marshalled here
	}
	if string(b) == "null" {
		return json.RawMessage("[]")
	}
	return b
}
