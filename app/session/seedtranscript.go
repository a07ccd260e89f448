package session

import (
	"context"
	"encoding/json"
	"time"

	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/store"
)

// Bounds on the transcript a runner gets to seed a new agent session: the
// newest messages win.
const (
	seedMaxMessages = 400
	seedMaxBytes    = 96 << 10 // under Linux's 128 KiB limit on one argument (Codex takes the prompt as one)
)

// seedMessage is one message of a transcript-read result.
type seedMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// sendTranscript answers transcript-read: the session's user and
// assistant messages before f.MessageID (all of them when it is empty or
// unknown), the newest within the bounds, and how many were left out.
// It reads and changes nothing else.
func (a *actor) sendTranscript(f *protocol.RunnerFrame) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out := map[string]any{"type": protocol.ResultType(f.Type), "requestId": f.RequestID}
	msgs, err := a.m.st.Messages().List(ctx, a.id, store.MessageQuery{})
	if err != nil {
		a.log.Error("transcript for the runner", "err", err)
		out["error"] = "the transcript could not be read"
	} else {
		var keep []seedMessage
		for _, m := range msgs {
			if f.MessageID != "" && m.ID == f.MessageID {
				break
			}
			if (m.Role == "user" || m.Role == "assistant") && m.Content != "" {
				keep = append(keep, seedMessage{Role: m.Role, Content: m.Content})
			}
		}
		omitted, size := 0, 0
		for i := len(keep) - 1; i >= 0; i-- {
			size += len(keep[i].Content)
			if len(keep)-i > seedMaxMessages || size > seedMaxBytes {
				omitted = i + 1
				break
			}
		}
		out["messages"], out["omitted"] = append([]seedMessage{}, keep[omitted:]...), omitted
	}
	b, err := json.Marshal(out)
	if err != nil {
		a.log.Error("encode transcript result", "err", err)
		return
	}
	a.runner.send(b)
}
