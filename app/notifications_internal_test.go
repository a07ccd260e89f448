package app

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/agentops/agentops/app/session"
	"github.com/agentops/agentops/realtime"
)

func TestNotificationsGoOnTheUserTopic(t *testing.T) {
	ps := realtime.NewMemory()
	defer ps.Close()
	ctx := context.Background()
	sub, err := ps.Subscribe(ctx, session.UserTopic("u1"))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	p := userTopicPublisher{ps}
	if err := p.Publish(ctx, "u1", "notification", map[string]string{"id": "n1"}); err != nil {
		t.Fatal(err)
	}
	// Data too big for a pub/sub payload goes as a hint without it.
	if err := p.Publish(ctx, "u1", "notification", map[string]string{"content": strings.Repeat("x", realtime.MaxPayloadBytes)}); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{`{"id":"n1"}`, ""} {
		m := <-sub.C()
		var ev struct {
			Type   string
			UserID string
			Data   json.RawMessage
		}
		if err := json.Unmarshal(m.Payload, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Type != "notification" || ev.UserID != "u1" || string(ev.Data) != want {
			t.Fatalf("event %d: %s", i, m.Payload)
		}
	}
}
