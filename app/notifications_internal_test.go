package app

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/agentops/agentops/app/events"
	"github.com/agentops/agentops/realtime"
	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

// TestNotificationsGoOnTheEventBus: the inbox publishes each notification
// as a "notification" event of its user's stream, which a follower reads
// with its data.
func TestNotificationsGoOnTheEventBus(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		ps := realtime.NewMemory()
		defer ps.Close()
		u := &store.User{ID: "u1", Email: "u1@example.com", Role: store.RoleMember, CreatedAt: store.Now(), UpdatedAt: store.Now()}
		if err := st.Users().Create(ctx, u); err != nil {
			t.Fatal(err)
		}
		bus := events.New(st, ps, events.Config{}, nil)
		p := busPublisher{bus}
		if err := p.Publish(ctx, "u1", "notification", map[string]string{"id": "n1"}); err != nil {
			t.Fatal(err)
		}
		got, err := st.UserEvents().After(ctx, "u1", 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Type != "notification" {
			t.Fatalf("events: %+v", got)
		}
		var data map[string]string
		if err := json.Unmarshal(got[0].Data, &data); err != nil || data["id"] != "n1" {
			t.Fatalf("event data %s (%v)", got[0].Data, err)
		}
	})
}
