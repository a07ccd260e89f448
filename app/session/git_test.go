package session_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/app/session"
	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

type fakeTokens struct{ token string }

func (f fakeTokens) RepoToken(ctx context.Context, userID, repoURL string) (string, error) {
	return f.token, nil
}

// TestGitWorkspaceThroughTheActor: repo-config goes first with the clone's
// token; browsers see the clone's phase (in init too); reports are stored
// and broadcast; a diff request goes to the runner and its answer back;
// the token is not sent again once the clone is done.
func TestGitWorkspaceThroughTheActor(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		h := newHarness(t, st, "followup")
		h.m.Shutdown(context.Background())
		h.m = session.NewManager(h.st, nil, h.sb, session.Config{
			RunnerURL: "http://127.0.0.1:1", Agents: map[string][]protocol.ModelGroup{"script": nil}, Now: h.clock.Now,
			FlushInterval: time.Hour, RepoTokens: fakeTokens{"ghp_x"},
		}, nil)
		t.Cleanup(func() { h.m.Shutdown(context.Background()) })
		ctx := context.Background()
		c, err := h.m.Create(ctx, h.user, session.CreateInput{Workspace: "w",
			Repo: session.RepoInput{RepoURL: "https://github.com/o/r.git", Ref: "develop", SourceType: "branch"}})
		if err != nil {
			t.Fatal(err)
		}
		id := c.Session.ID

		rc := newConn("")
		sock, err := h.m.AttachRunner(ctx, id, rc)
		if err != nil {
			t.Fatal(err)
		}
		frames := rc.take()
		if frames[0]["type"] != "repo-config" || frames[1]["type"] != "init" {
			t.Fatalf("handshake starts %v, %v", frames[0]["type"], frames[1]["type"])
		}
		if f := frames[0]; f["repoUrl"] != "https://github.com/o/r.git" || f["branch"] != "develop" ||
			f["sessionBranch"] != "agentops/"+id[:8] || f["token"] != "ghp_x" {
			t.Fatalf("repo-config %v", f)
		}
		r := &runner{h: h, sock: sock, c: rc}

		b := h.browser(id)
		if d := ofType(b.take(), "init")[0]["data"].(map[string]any); d["phase"] != "cloning" || d["progress"] != 0.0 {
			t.Fatalf("init while cloning: %v", d)
		}
		r.send("repo:clone-progress", map[string]any{"phase": "cloning", "progress": 40})
		if s := ofType(b.take(), "status"); len(s) != 1 || s[0]["data"].(map[string]any)["progress"] != 40.0 {
			t.Fatalf("progress frames %v", s)
		}
		if d := ofType(h.browser(id).take(), "init")[0]["data"].(map[string]any); d["progress"] != 40.0 {
			t.Fatalf("init mid-clone: %v", d)
		}
		r.send("repo:clone-complete", map[string]any{"success": true})
		r.send("git-state", map[string]any{"branch": "agentops/" + id[:8], "baseBranch": "develop", "baseCommit": "abc",
			"headCommit": "abc", "commitCount": 0, "dirtyFiles": 2})
		r.send("files-changed", map[string]any{"files": []map[string]any{
			{"path": "a.go", "status": "modified", "additions": 3, "deletions": 1},
			{"path": "b.go", "oldPath": "old.go", "status": "renamed"},
		}})
		r.ready()
		got := b.take()
		if len(ofType(got, "git-state")) != 1 || len(ofType(got, "files-changed")) != 1 {
			t.Fatalf("browser frames %v", got)
		}
		if d := ofType(h.browser(id).take(), "init")[0]["data"].(map[string]any); d["phase"] != nil {
			t.Fatalf("init after the clone: %v", d)
		}
		g, err := h.m.GitState(ctx, h.user.ID, id)
		if err != nil || g.SourceRepoURL != "https://github.com/o/r.git" || g.SourceType != "branch" || g.BaseCommit != "abc" ||
			g.DirtyFiles != 2 || g.Branch != "agentops/"+id[:8] {
			t.Fatalf("git state %+v %v", g, err)
		}
		files, err := h.m.FilesChanged(ctx, h.user.ID, id)
		if err != nil || len(files) != 2 || files[1].OldPath != "old.go" || files[0].Additions != 3 {
			t.Fatalf("files %+v %v", files, err)
		}

		// A diff: asked of the runner, answered through the actor.
		type res struct {
			data json.RawMessage
			err  error
		}
		done := make(chan res, 1)
		go func() {
			d, err := h.m.Diff(ctx, h.user.ID, id, "a.go")
			done <- res{d, err}
		}()
		var req map[string]any
		for req == nil {
			h.sync()
			if fs := ofType(rc.take(), "diff"); len(fs) == 1 {
				req = fs[0]
			}
			time.Sleep(time.Millisecond)
		}
		if req["path"] != "a.go" || req["requestId"] == "" {
			t.Fatalf("diff request %v", req)
		}
		r.send("diff", map[string]any{"requestId": req["requestId"], "data": map[string]any{"files": []any{}, "truncated": false}})
		if got := <-done; got.err != nil || string(got.data) != `{"files":[],"truncated":false}` {
			t.Fatalf("diff %s %v", got.data, got.err)
		}

		// Reconnect: the clone is done, so no token.
		rc2 := newConn("")
		if _, err := h.m.AttachRunner(ctx, id, rc2); err != nil {
			t.Fatal(err)
		}
		if f := rc2.take()[0]; f["type"] != "repo-config" || f["token"] != nil {
			t.Fatalf("repo-config after the clone %v", f)
		}

		// Hibernated: the diff is a conflict that says to wake the session.
		if _, err := h.m.Hibernate(ctx, h.user.ID, id); err != nil {
			t.Fatal(err)
		}
		_, err = h.m.Diff(ctx, h.user.ID, id, "")
		if e, ok := apperr.As(err); !ok || e.Kind != apperr.KindConflict || e.Code != "SESSION_HIBERNATED" {
			t.Fatalf("diff of a hibernated session: %v", err)
		}
	})
}

// TestFailedCloneEndsTheSessionInError: the runner's failure report makes
// the session an error with git's message.
func TestFailedCloneEndsTheSessionInError(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		h := newHarness(t, st, "followup")
		ctx := context.Background()
		c, err := h.m.Create(ctx, h.user, session.CreateInput{Workspace: "w", Repo: session.RepoInput{RepoURL: "https://github.com/o/missing.git"}})
		if err != nil {
			t.Fatal(err)
		}
		id := c.Session.ID
		r := h.connectRunner(id)
		b := h.browser(id)
		r.send("repo:clone-complete", map[string]any{"success": false, "error": "git clone: fatal: repository not found"})
		sess, err := h.m.Get(ctx, h.user.ID, id)
		if err != nil || sess.Status != store.StatusError || sess.ErrorMessage != "The workspace could not be set up: git clone: fatal: repository not found" {
			t.Fatalf("session %+v %v", sess, err)
		}
		var ended bool
		for _, f := range ofType(b.take(), "status") {
			d := f["data"].(map[string]any)
			ended = ended || d["status"] == "error" && d["error"] == sess.ErrorMessage
		}
		if h.sb.count("terminate") != 1 || !ended {
			t.Fatalf("sandbox calls %v, browser told of the error: %v", h.sb.calls, ended)
		}
		if _, err := h.m.Diff(ctx, h.user.ID, id, ""); !errors.Is(err, session.ErrNotActive) {
			t.Fatalf("diff of an ended session: %v", err)
		}
	})
}

// TestCreateRefusesBadRepoInput: 400s that name the field, nothing made.
func TestCreateRefusesBadRepoInput(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		h := newHarness(t, st, "followup")
		for field, in := range map[string]session.RepoInput{
			"repoUrl":    {RepoURL: "ssh://git@github.com/o/r.git"},
			"repoPath":   {RepoPath: "/tmp"}, // no roots configured
			"branch":     {Branch: "a..b"},
			"ref":        {Ref: "x", Branch: "y"},
			"sourceType": {SourceType: "tag"},
		} {
			_, err := h.m.Create(context.Background(), h.user, session.CreateInput{Workspace: "w", Repo: in})
			e, ok := apperr.As(err)
			if !ok || e.Kind != apperr.KindInvalid || e.Details["field"] != field {
				t.Errorf("%s: %v", field, err)
			}
		}
		n, _ := st.Sessions().CountActive(context.Background(), h.user.ID)
		if n != 0 {
			t.Fatalf("%d sessions made", n)
		}
	})
}
