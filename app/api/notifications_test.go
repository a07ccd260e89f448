package api_test

import (
	"context"
	"testing"
	"time"

	"github.com/agentops/agentops/app/notify"
	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

func TestNotificationRoutes(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		e, svc := newFeatureEnv(t, st)
		tok := e.register("a@example.com", pw)
		other := e.register("b@example.com", pw)
		uid := userID(t, e, tok)
		for i, typ := range []string{"notification", "question", "notification"} {
			if _, err := svc.notify.Create(context.Background(), notify.Input{UserID: uid, MessageType: typ, Content: "n" + string(rune('0'+i))}); err != nil {
				t.Fatal(err)
			}
			e.clock.Advance(time.Millisecond)
		}

		r := e.call("GET", "/api/me/notifications?limit=2", tok, nil)
		expect(t, r, 200, "")
		msgs, _ := r.Body["messages"].([]any)
		if len(msgs) != 2 || r.Body["hasMore"] != true || r.str("cursor") == "" {
			t.Fatalf("first page: %s", r.Raw)
		}
		first := msgs[0].(map[string]any)
		for _, k := range []string{"id", "messageType", "content", "read", "createdAt"} {
			if _, ok := first[k]; !ok {
				t.Fatalf("message lacks %s: %v", k, first)
			}
		}
		if first["content"] != "n2" {
			t.Fatalf("newest first: %v", first)
		}
		r = e.call("GET", "/api/me/notifications?limit=2&cursor="+r.str("cursor"), tok, nil)
		expect(t, r, 200, "")
		if msgs, _ := r.Body["messages"].([]any); len(msgs) != 1 || r.Body["hasMore"] != false || r.Body["cursor"] != nil {
			t.Fatalf("last page: %s", r.Raw)
		}
		r = e.call("GET", "/api/me/notifications?unreadOnly=true&messageType=question", tok, nil)
		if msgs, _ := r.Body["messages"].([]any); len(msgs) != 1 {
			t.Fatalf("filtered: %s", r.Raw)
		}

		for _, q := range []string{"limit=0", "limit=abc", "limit=101", "unreadOnly=maybe", "cursor=zzz", "messageType=message"} {
			expect(t, e.call("GET", "/api/me/notifications?"+q, tok, nil), 400, "VALIDATION_ERROR")
		}
		expect(t, e.call("GET", "/api/me/notifications", "", nil), 401, "UNAUTHORIZED")

		r = e.call("GET", "/api/me/notifications/count", tok, nil)
		expect(t, r, 200, "")
		if r.Body["count"] != float64(3) {
			t.Fatalf("count: %s", r.Raw)
		}
		id := first["id"].(string)
		expect(t, e.call("PUT", "/api/me/notifications/"+id+"/read", other, nil), 404, "NOT_FOUND")
		expect(t, e.call("PUT", "/api/me/notifications/not-an-id/read", tok, nil), 404, "NOT_FOUND")
		r = e.call("PUT", "/api/me/notifications/"+id+"/read", tok, nil)
		expect(t, r, 200, "")
		if r.Body["success"] != true {
			t.Fatalf("read: %s", r.Raw)
		}
		r = e.call("PUT", "/api/me/notifications/read-non-actionable", tok, nil)
		expect(t, r, 200, "")
		if r.Body["success"] != true || r.Body["count"] != float64(1) {
			t.Fatalf("read-non-actionable: %s", r.Raw)
		}
		r = e.call("PUT", "/api/me/notifications/read-all", tok, nil)
		if r.Body["success"] != true || r.Body["count"] != float64(1) {
			t.Fatalf("read-all: %s", r.Raw)
		}
		if r := e.call("GET", "/api/me/notifications/count", other, nil); r.Body["count"] != float64(0) {
			t.Fatalf("other user's count: %s", r.Raw)
		}
	})
}
