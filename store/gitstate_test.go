package store_test

import (
	"context"
	"errors"
	"github.com/google/uuid"
	"testing"

	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

func TestGitStatesRepository(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mkUser(t, s, "g@example.com", store.RoleMember, base)
		sess := mkAgentSession(t, s, u.ID, "running", base)

		if _, err := s.GitStates().Get(ctx, sess.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("no row yet: %v", err)
		}
		noErr(t, "create", s.GitStates().Create(ctx, &store.SessionGitState{SessionID: sess.ID, SourceType: "manual",
			SourceRepoURL: "https://github.com/o/r.git", Ref: "main", Branch: "agentops/12345678", AgentAuthored: true,
			CreatedAt: base, UpdatedAt: base}))
		noErr(t, "report", s.GitStates().Report(ctx, &store.SessionGitState{SessionID: sess.ID, Branch: "agentops/12345678",
			BaseBranch: "main", BaseCommit: "abc", HeadCommit: "def", CommitCount: 2, DirtyFiles: 3,
			ReportedAt: at(1e9), CreatedAt: at(1e9), UpdatedAt: at(1e9)}))
		g, err := s.GitStates().Get(ctx, sess.ID)
		noErr(t, "get", err)
		if g.SourceRepoURL != "https://github.com/o/r.git" || g.Ref != "main" || g.BaseCommit != "abc" || g.CommitCount != 2 ||
			g.DirtyFiles != 3 || !g.AgentAuthored || !g.CreatedAt.Equal(base) || !g.ReportedAt.Equal(at(1e9)) {
			t.Fatalf("git state %+v", g)
		}

		files := []store.SessionFileChange{
			{FilePath: "a.go", Status: "modified", Additions: 1, Deletions: 2},
			{FilePath: "b.bin", Status: "added", Binary: true},
			{FilePath: "new.go", OldPath: "old.go", Status: "renamed"},
		}
		noErr(t, "replace", s.GitStates().ReplaceFiles(ctx, sess.ID, files, base))
		noErr(t, "replace again", s.GitStates().ReplaceFiles(ctx, sess.ID, []store.SessionFileChange{
			{FilePath: "a.go", Status: "modified", Additions: 5},
			{FilePath: "c.go", Status: "added", Additions: 1},
		}, at(2e9)))
		got, err := s.GitStates().Files(ctx, sess.ID)
		noErr(t, "files", err)
		if len(got) != 2 || got[0].FilePath != "a.go" || got[0].Additions != 5 || got[0].Deletions != 0 ||
			!got[0].CreatedAt.Equal(base) || !got[0].UpdatedAt.Equal(at(2e9)) || got[1].FilePath != "c.go" {
			t.Fatalf("files %+v", got)
		}
		noErr(t, "clear", s.GitStates().ReplaceFiles(ctx, sess.ID, nil, at(3e9)))
		if got, _ := s.GitStates().Files(ctx, sess.ID); len(got) != 0 {
			t.Fatalf("files left %+v", got)
		}
	})
}

// TestGitWorkspacesMigrationMovesTheJSONColumns: git_workspaces moves what sessions
// held in git_state and files_changed into the new tables.
func TestGitWorkspacesMigrationMovesTheJSONColumns(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			all := loadMigrations(t, d)
			s := openRaw(t, storetest.URL(t, d))
			var move string
			for _, m := range all {
				if m.Name == "git_workspaces" {
					move = m.SQL
					break
				}
				if _, err := s.DB().ExecContext(ctx, m.SQL); err != nil {
					t.Fatalf("migration %s: %v", m.Version, err)
				}
			}
			u := mkUser(t, s, "m@example.com", store.RoleMember, base)
			// Sessions as the schema before the move knows them: only the
			// columns it has (later migrations add others).
			oldSession := func() *store.Session {
				sess := &store.Session{ID: uuid.NewString(), UserID: u.ID, Workspace: "w", Status: "running", Purpose: "interactive",
					Agent: "script", LastActiveAt: base, CreatedAt: base, UpdatedAt: base}
				_, err := s.DB().NewInsert().Model(sess).
					Column("id", "user_id", "workspace", "status", "purpose", "agent", "last_active_at", "created_at", "updated_at").Exec(ctx)
				noErr(t, "create session", err)
				return sess
			}
			with, without, odd := oldSession(), oldSession(), oldSession()
			_, err := s.DB().ExecContext(ctx, "UPDATE sessions SET git_state = ?, files_changed = ? WHERE id = ?",
				`{"branch":"feature","baseBranch":"main","commitCount":3}`,
				`[{"path":"a.go","status":"modified","additions":2,"deletions":1},{"path":"b.go","status":"added"},{"status":"added"}]`, with.ID)
			noErr(t, "set json", err)
			_, err = s.DB().ExecContext(ctx, "UPDATE sessions SET git_state = ?, files_changed = ? WHERE id = ?", `[1]`, `{"x":1}`, odd.ID)
			noErr(t, "set odd json", err)
			if _, err := s.DB().ExecContext(ctx, move); err != nil {
				t.Fatalf("migration git_workspaces: %v", err)
			}
			// The later migrations, so that the model (which knows their
			// columns) reads the moved rows.
			after := false
			for _, m := range all {
				if after {
					if _, err := s.DB().ExecContext(ctx, m.SQL); err != nil {
						t.Fatalf("migration %s: %v", m.Version, err)
					}
				}
				after = after || m.Name == "git_workspaces"
			}
			g, err := s.GitStates().Get(ctx, with.ID)
			noErr(t, "moved git state", err)
			if g.Branch != "feature" || g.BaseBranch != "main" || g.CommitCount != 3 {
				t.Fatalf("moved git state %+v", g)
			}
			files, err := s.GitStates().Files(ctx, with.ID)
			noErr(t, "moved files", err)
			if len(files) != 2 || files[0].FilePath != "a.go" || files[0].Additions != 2 || files[0].Deletions != 1 || files[1].Status != "added" {
				t.Fatalf("moved files %+v", files)
			}
			for _, id := range []string{without.ID, odd.ID} {
				if _, err := s.GitStates().Get(ctx, id); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("%s: a git state from nothing: %v", id, err)
				}
				if files, _ := s.GitStates().Files(ctx, id); len(files) != 0 {
					t.Errorf("%s: files from nothing: %+v", id, files)
				}
			}
		})
	}
}
