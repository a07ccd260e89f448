package app_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/agentops/agentops/internal/testutil/eventually"
	"github.com/agentops/agentops/store"
)

type inbox struct {
	Messages []struct {
		ID               string `json:"id"`
		MessageType      string `json:"messageType"`
		Content          string `json:"content"`
		Read             bool   `json:"read"`
		CreatedAt        string `json:"createdAt"`
		ContextSessionID string `json:"contextSessionId"`
	} `json:"messages"`
	Cursor  *string `json:"cursor"`
	HasMore bool    `json:"hasMore"`
}

func (s *server) unread() int {
	s.t.Helper()
	var c struct{ Count int }
	s.mustJSON("GET", "/api/me/notifications/count", s.token, nil, 200, &c)
	return c.Count
}

func (s *server) waitUnread(n int) {
	s.t.Helper()
	eventually.NoError(s.t, 20*time.Second, fmt.Sprintf("%d unread", n), func() error {
		if got := s.unread(); got != n {
			return fmt.Errorf("unread count never reached %d (now %d)", n, got)
		}
		return nil
	})
}

// A question asked while the owner has no browser on the session, and a
// failed turn, land in the inbox; a question asked while the owner
// watches, and a session the owner stops, do not.
func TestSessionNotificationsThroughServe(t *testing.T) {
	eachDialect(t, func(t *testing.T, d store.Dialect) {
		s := startServer(t, d, "local")
		id := s.createSession(map[string]any{"initialPrompt": "/ask Ship it? | yes | no"}).Session.ID
		s.waitUnread(1)
		var box inbox
		s.mustJSON("GET", "/api/me/notifications?limit=50", s.token, nil, 200, &box)
		if len(box.Messages) != 1 || box.HasMore || box.Cursor != nil {
			t.Fatalf("inbox: %+v", box)
		}
		q := box.Messages[0]
		if q.MessageType != "question" || q.Content != `Session "demo" asks: Ship it?` || q.Read || q.ContextSessionID != id {
			t.Fatalf("question notification: %+v", q)
		}

		// Now the owner watches: questions do not notify.
		b := s.dial(id, s.token)
		ip := b.waitFor("pending question", typ("interactive_prompt"))
		b.send(map[string]any{"type": "answer", "questionId": ip["prompt"].(map[string]any)["id"], "answer": "option_0"})
		b.waitFor("resolved", typ("interactive_prompt_resolved"))
		b.turnDone()
		b.send(map[string]any{"type": "prompt", "content": "/ask Again?"})
		ip = b.waitFor("second question", typ("interactive_prompt"))
		b.send(map[string]any{"type": "answer", "questionId": ip["prompt"].(map[string]any)["id"], "answer": "x"})
		b.waitFor("resolved", typ("interactive_prompt_resolved"))
		b.turnDone()
		if n := s.unread(); n != 1 {
			t.Fatalf("a question asked while the owner watched notified: %d unread", n)
		}

		// A failed turn notifies, watched or not.
		b.send(map[string]any{"type": "prompt", "content": "/fail kaput"})
		s.waitUnread(2)
		s.mustJSON("GET", "/api/me/notifications", s.token, nil, 200, &box)
		if e := box.Messages[0]; e.MessageType != "notification" || e.Content != `Session "demo" hit an error: kaput` {
			t.Fatalf("error notification: %+v", e)
		}

		// The owner stopping the session is no news to them.
		s.mustJSON("DELETE", "/api/sessions/"+id, s.token, nil, 200, nil)
		if n := s.unread(); n != 2 {
			t.Fatalf("stopping the session notified: %d unread", n)
		}

		var res struct {
			Success bool
			Count   int
		}
		s.mustJSON("PUT", "/api/me/notifications/read-non-actionable", s.token, nil, 200, &res)
		if !res.Success || res.Count != 1 || s.unread() != 1 {
			t.Fatalf("read-non-actionable: %+v, %d unread (the question stays)", res, s.unread())
		}
		s.mustJSON("PUT", "/api/me/notifications/"+q.ID+"/read", s.token, nil, 200, nil)
		if n := s.unread(); n != 0 {
			t.Fatalf("after reading the question: %d unread", n)
		}
	})
}
