package store_test

import (
	"context"
	"errors"
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
