package session

import (
	"encoding/json"

	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/store"
)

// MessageView is a transcript message as browsers and REST see it.
type MessageView struct {
	ID          string          `json:"id"`
	SessionID   string          `json:"sessionId"`
	Role        string          `json:"role"`
	Content     string          `json:"content"`
	Parts       json.RawMessage `json:"parts"`
	AuthorID    string          `json:"authorId,omitempty"`
	AuthorEmail string          `json:"authorEmail,omitempty"`
	AuthorName  string          `json:"authorName,omitempty"`
	// Usage is an assistant turn's token usage, when the agent reported it.
	Usage json.RawMessage `json:"usage,omitempty"`
	// CreatedAt is ISO-8601 in REST and epoch seconds on the socket.
	CreatedAt any `json:"createdAt"`
}

// ViewOf renders a message; epochSeconds selects the socket form.
func ViewOf(m *store.Message, epochSeconds bool) MessageView {
	v := MessageView{ID: m.ID, SessionID: m.SessionID, Role: m.Role, Content: m.Content, Parts: m.Parts,
		AuthorID: m.AuthorID, AuthorEmail: m.AuthorEmail, AuthorName: m.AuthorName, Usage: m.Usage}
	if len(v.Parts) == 0 {
		v.Parts = json.RawMessage("[]")
	}
	if epochSeconds {
		v.CreatedAt = m.CreatedAt.Unix()
	} else {
		v.CreatedAt = m.CreatedAt.UTC().Format("2006-01-02T15:04:05.000Z")
	}
	return v
}

// frame marshals a socket frame.
func frame(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only our own types
	}
	return b
}

type dataFrame struct {
	Type string `json:"type"`
	Data any    `json:"data"`
}

func messageFrame(typ string, m *store.Message) []byte {
	return frame(dataFrame{Type: typ, Data: ViewOf(m, true)})
}

func statusFrame(data map[string]any) []byte {
	return frame(dataFrame{Type: protocol.CStatus, Data: data})
}

type partFrame struct {
	Type      string        `json:"type"`
	MessageID string        `json:"messageId"`
	Index     int           `json:"index"`
	Part      protocol.Part `json:"part"`
}

// partFrames renders message.part.updated frames for the given parts.
func partFrames(messageID string, parts []protocol.Part, indexes []int) [][]byte {
	out := make([][]byte, 0, len(indexes))
	for _, i := range indexes {
		out = append(out, frame(partFrame{Type: protocol.CMessagePartUpdated, MessageID: messageID, Index: i, Part: parts[i]}))
	}
	return out
}

type chunkFrame struct {
	Type      string `json:"type"`
	MessageID string `json:"messageId"`
	Content   string `json:"content"`
	Offset    int    `json:"offset"`
}

type agentStatusFrame struct {
	Type   string `json:"type"`
	Status string `json:"status"`
	Detail string `json:"detail,omitempty"`
}

type errorFrame struct {
	Type      string `json:"type"`
	MessageID string `json:"messageId,omitempty"`
	Error     string `json:"error,omitempty"`
	Message   string `json:"message,omitempty"`
}

// Event is what the actor tells the session's owner through the user
// event bus: session.started, session.update, session.completed,
// session.errored, question.asked, question.answered.
type Event struct {
	Type      string
	SessionID string
	UserID    string
	Data      EventData
	// OwnerConnected: the owner had a browser on the session when it
	// happened (question.asked); hooks use it, the event bus does not carry it.
	OwnerConnected bool
}

// EventData is an event's payload.
type EventData struct {
	Workspace  string `json:"workspace,omitempty"`
	Status     string `json:"status,omitempty"`
	Reason     string `json:"reason,omitempty"`
	Error      string `json:"error,omitempty"`
	QuestionID string `json:"questionId,omitempty"`
	Text       string `json:"text,omitempty"`
	// action.approval_required, action.approved, action.denied
	InvocationID string `json:"invocationId,omitempty"`
	ToolName     string `json:"toolName,omitempty"`
}
