package session_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

// Approvals in the actor: the runner hears the permission mode; a
// malformed approval-request is an error frame; a request is stored and
// shown to browsers; deny-action answers the runner once (a second answer
// is an error); a request nobody answers expires into a denial, also
// across a restart of the server; the mode cannot be set to ask for a
// bad value.
func TestApprovalsInTheActor(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		h := newHarness(t, st, "followup")
		id := h.create()
		r := h.connectRunner(id)
		r.ready()
		h.prompt(id, "edit something", "") // a turn runs while the agent asks
		r.c.take()
		if err := h.m.SetPermissionMode(ctx, h.user.ID, id, "sometimes"); err == nil {
			t.Fatal("a bad mode was accepted")
		}
		if err := h.m.SetPermissionMode(ctx, "someone-else", id, "ask"); err == nil {
			t.Fatal("another user changed the mode")
		}
		if err := h.m.SetPermissionMode(ctx, h.user.ID, id, "ask"); err != nil {
			t.Fatal(err)
		}
		h.sync()
		if pm := ofType(r.c.take(), "permission-mode"); len(pm) != 1 || pm[0]["permissionMode"] != "ask" {
			t.Fatalf("permission-mode frames %v", pm)
		}
		r.send("approval-request", map[string]any{"invocationId": "inv1"})
		if e := ofType(r.c.take(), "error"); len(e) != 1 || !strings.Contains(e[0]["message"].(string), "toolName") {
			t.Fatalf("malformed request: %v", e)
		}

		b := h.browser(id)
		b.take()
		r.send("approval-request", map[string]any{"invocationId": "inv1", "toolName": "Write", "args": map[string]any{"file_path": "/w/a"}, "diff": "+a"})
		ip := ofType(b.take(), "interactive_prompt")
		if len(ip) != 1 {
			t.Fatalf("no approval prompt")
		}
		p := ip[0]["prompt"].(map[string]any)
		if p["type"] != "approval" || p["id"] != "inv1" || p["context"].(map[string]any)["diff"] != "+a" {
			t.Fatalf("prompt %v", p)
		}
		if inv, err := st.ActionInvocations().Get(ctx, "inv1"); err != nil || inv.Status != store.InvocationPending {
			t.Fatalf("stored %+v %v", inv, err)
		}
		sock, err := h.m.AttachClient(ctx, h.user, id, newConn(h.user.ID))
		if err != nil {
			t.Fatal(err)
		}
		sock.Frame([]byte(`{"type":"deny-action","invocationId":"inv1","reason":"no"}`))
		h.sync()
		res := ofType(r.c.take(), "approval-result")
		if len(res) != 1 || res[0]["approved"] != false || res[0]["reason"] != "no" {
			t.Fatalf("runner result %v", res)
		}
		if _, err := h.m.ResolveApproval(ctx, h.user.ID, "inv1", true, ""); err == nil || !strings.Contains(err.Error(), "already") {
			t.Fatalf("second answer: %v", err)
		}
		if _, err := h.m.ResolveApproval(ctx, "someone-else", "inv1", true, ""); err == nil || !strings.Contains(err.Error(), "not found") {
			t.Fatalf("another user's answer: %v", err)
		}

		// Asked again after it was answered: the same answer, no new prompt.
		r.send("approval-request", map[string]any{"invocationId": "inv1", "toolName": "Write"})
		if res := ofType(r.c.take(), "approval-result"); len(res) != 1 || res[0]["approved"] != false {
			t.Fatalf("asked again: %v", res)
		}
		if ip := ofType(b.take(), "interactive_prompt"); len(ip) != 0 {
			t.Fatalf("asked again shows a prompt: %v", ip)
		}

		// The web client's answer {questionId, answer: action id} approves.
		r.send("approval-request", map[string]any{"invocationId": "inv3", "toolName": "Bash"})
		sock.Frame([]byte(`{"type":"answer","questionId":"inv3","answer":"approve"}`))
		h.sync()
		if res := ofType(r.c.take(), "approval-result"); len(res) != 1 || res[0]["invocationId"] != "inv3" || res[0]["approved"] != true {
			t.Fatalf("web client approval: %v", res)
		}

		// Nobody answers; the server restarts meanwhile; it expires.
		r.send("approval-request", map[string]any{"invocationId": "inv2", "toolName": "Bash", "args": map[string]any{"command": "ls"}})
		h.m.Shutdown(ctx)
		h.m = h.newManager()
		if err := h.m.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if ip := ofType(h.browser(id).take(), "interactive_prompt"); len(ip) != 1 {
			t.Fatalf("pending approval after restart: %v", ip)
		}
		c := newConn("")
		if _, err := h.m.AttachRunner(ctx, id, c); err != nil {
			t.Fatal(err)
		}
		c.take()
		h.clock.Advance(11 * time.Minute)
		h.sync()
		res = ofType(c.take(), "approval-result")
		if len(res) != 1 || res[0]["invocationId"] != "inv2" || res[0]["approved"] != false {
			t.Fatalf("expiry result %v", res)
		}
		if inv, _ := st.ActionInvocations().Get(ctx, "inv2"); inv.Status != store.InvocationExpired {
			t.Fatalf("expired %+v", inv)
		}
	})
}

// A new runner (here: a hibernate and wake) denies the approvals the old
// one's agent was waiting for, with a reason, and tells browsers.
func TestApprovalsDeniedWhenTheRunnerIsReplaced(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		h := newHarness(t, st, "followup")
		id := h.create()
		r := h.connectRunner(id)
		r.ready()
		if err := h.m.SetPermissionMode(ctx, h.user.ID, id, "ask"); err != nil {
			t.Fatal(err)
		}
		h.prompt(id, "edit something", "")
		r.send("approval-request", map[string]any{"invocationId": "inv1", "toolName": "Write"})
		b := h.browser(id)
		b.take()
		if _, err := h.m.Hibernate(ctx, h.user.ID, id); err != nil {
			t.Fatal(err)
		}
		h.sync()
		if _, err := h.m.Wake(ctx, h.user.ID, id); err != nil {
			t.Fatal(err)
		}
		h.sync()
		inv, err := st.ActionInvocations().Get(ctx, "inv1")
		if err != nil || inv.Status != store.InvocationDenied || !strings.Contains(inv.Reason, "restarted") {
			t.Fatalf("after a new runner: %+v %v", inv, err)
		}
		if res := ofType(b.take(), "interactive_prompt_resolved"); len(res) != 1 || res[0]["resolution"] != "deny" {
			t.Fatalf("browsers: %v", res)
		}
	})
}
