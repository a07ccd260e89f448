package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

func TestActionInvocationsRepository(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		r := s.ActionInvocations()
		u := mkUser(t, s, "a@example.com", store.RoleMember, base)
		other := mkUser(t, s, "b@example.com", store.RoleMember, base)
		sess := mkAgentSession(t, s, u.ID, "running", base)
		otherSess := mkAgentSession(t, s, other.ID, "running", base)

		// A session's permission mode defaults to auto and is stored.
		got, err := s.Sessions().Get(ctx, sess.ID)
		noErr(t, "get session", err)
		if got.PermissionMode != store.PermissionAuto {
			t.Fatalf("default permission mode %q", got.PermissionMode)
		}

		for i, id := range []string{"inv_a", "inv_b", "inv_c"} {
			a := &store.ActionInvocation{ID: id, SessionID: sess.ID, UserID: u.ID, ToolName: "Write",
				Args: json.RawMessage(`{"file_path":"/w/a.txt"}`), Diff: "+hi", ExpiresAt: at(10 * time.Minute), CreatedAt: at(time.Duration(i) * time.Second)}
			noErr(t, "create", r.Create(ctx, a))
		}
		// A replayed request changes nothing.
		noErr(t, "create again", r.Create(ctx, &store.ActionInvocation{ID: "inv_a", SessionID: sess.ID, UserID: u.ID, ToolName: "Bash",
			ExpiresAt: at(time.Minute), CreatedAt: at(time.Hour)}))
		noErr(t, "create other's", r.Create(ctx, &store.ActionInvocation{ID: "inv_o", SessionID: otherSess.ID, UserID: other.ID, ToolName: "Bash",
			ExpiresAt: at(time.Minute), CreatedAt: base}))
		a, err := r.Get(ctx, "inv_a")
		noErr(t, "get", err)
		if a.ToolName != "Write" || a.Status != store.InvocationPending || a.Diff != "+hi" || string(a.Args) != `{"file_path": "/w/a.txt"}` && string(a.Args) != `{"file_path":"/w/a.txt"}` {
			t.Fatalf("stored %+v", a)
		}

		// Newest first, paged, the caller's only.
		page, err := r.List(ctx, u.ID, false, store.InvocationCursor{}, 2)
		noErr(t, "list", err)
		if len(page) != 2 || page[0].ID != "inv_c" || page[1].ID != "inv_b" {
			t.Fatalf("page 1 %+v", page)
		}
		page, err = r.List(ctx, u.ID, false, store.InvocationCursor{CreatedAt: page[1].CreatedAt, ID: page[1].ID}, 2)
		noErr(t, "list 2", err)
		if len(page) != 1 || page[0].ID != "inv_a" {
			t.Fatalf("page 2 %+v", page)
		}

		// Resolve once; a second answer is ErrResolved; an unknown one ErrNotFound.
		noErr(t, "approve", r.Resolve(ctx, "inv_a", store.InvocationApproved, "", u.ID, at(time.Minute)))
		if err := r.Resolve(ctx, "inv_a", store.InvocationDenied, "no", u.ID, at(time.Minute)); !errors.Is(err, store.ErrResolved) {
			t.Fatalf("second answer: %v", err)
		}
		if err := r.Resolve(ctx, "nope", store.InvocationDenied, "", u.ID, at(time.Minute)); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown: %v", err)
		}
		noErr(t, "deny", r.Resolve(ctx, "inv_b", store.InvocationDenied, "not that file", u.ID, at(2*time.Minute)))
		b, _ := r.Get(ctx, "inv_b")
		if b.Status != store.InvocationDenied || b.Reason != "not that file" || b.ResolvedBy != u.ID || !b.ResolvedAt.Equal(at(2*time.Minute)) {
			t.Fatalf("denied %+v", b)
		}
		pending, err := r.List(ctx, u.ID, true, store.InvocationCursor{}, 10)
		noErr(t, "pending", err)
		if len(pending) != 1 || pending[0].ID != "inv_c" {
			t.Fatalf("pending %+v", pending)
		}
		ps, err := r.Pending(ctx, sess.ID)
		noErr(t, "session pending", err)
		if len(ps) != 1 || ps[0].ID != "inv_c" {
			t.Fatalf("session pending %+v", ps)
		}
		noErr(t, "expire", r.Resolve(ctx, "inv_c", store.InvocationExpired, "expired", "", at(11*time.Minute)))
		if ps, _ := r.Pending(ctx, sess.ID); len(ps) != 0 {
			t.Fatalf("pending after expiry %+v", ps)
		}
	})
}
