package credentials_test

import (
	"context"
	"testing"

	"github.com/agentops/agentops/app/credentials"
	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

// TestRepoToken: a user's own github token goes to any http(s) host; the
// org's only to github.com, so nobody can have it sent to their server.
func TestRepoToken(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		svc := newService(t, st)
		alice, bob := mkUser(t, st, "alice@example.com"), mkUser(t, st, "bob@example.com")
		admin := mkUser(t, st, "admin@example.com")
		if _, err := svc.SetOrg(ctx, admin, "github", credentials.Input{Key: "ghp_org"}); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.SetUser(ctx, alice, "github", credentials.Input{Key: "ghp_alice"}); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct{ user, url, want string }{
			{alice, "https://github.com/o/r.git", "ghp_alice"},
			{alice, "https://git.example.com/o/r.git", "ghp_alice"},
			{alice, "http://127.0.0.1:8080/r.git", "ghp_alice"},
			{alice, "file:///srv/r.git", ""},
			{bob, "https://github.com/o/r.git", "ghp_org"},
			{bob, "https://GitHub.com/o/r.git", "ghp_org"},
			{bob, "https://evil.example/o/r.git", ""},
			{bob, "https://github.com.evil.example/r.git", ""},
		} {
			got, err := svc.RepoToken(ctx, c.user, c.url)
			if err != nil || got != c.want {
				t.Errorf("%s %s: %q %v, want %q", c.user[:4], c.url, got, err, c.want)
			}
		}
	})
}
