package importer_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/agentops/agentops/app/auth"
	"github.com/agentops/agentops/app/credentials"
	"github.com/agentops/agentops/app/importer"
	fx "github.com/agentops/agentops/app/importer/importertest"
	"github.com/agentops/agentops/keyring"
	"github.com/agentops/agentops/search"
	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/blob"
	"github.com/agentops/agentops/store/blob/fsblob"
	"github.com/agentops/agentops/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

type env struct {
	blob blob.Storage
	st   *store.Store
	kr   *keyring.Keyring
	auth *auth.Service
}

func newEnv(t *testing.T, st *store.Store) *env { return newEnvTB(t, st) }

func newEnvTB(t testing.TB, st *store.Store) *env {
	kr, err := keyring.Generate()
	if err != nil {
		t.Fatal(err)
	}
	b, err := fsblob.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return &env{st: st, kr: kr, auth: auth.New(st, auth.Config{}, nil), blob: b}
}

func (e *env) run(t *testing.T, opts importer.Options) (*importer.Report, error) {
	t.Helper()
	opts.ScratchDir = t.TempDir()
	opts.PublicURL = "https://agentops.example"
	return importer.Run(context.Background(), importer.Deps{Store: e.st, Keyring: e.kr, LoginLink: e.auth.CreateLoginLink, Blob: e.blob}, opts)
}

func line(rep *importer.Report, table string) string {
	for _, tr := range rep.Tables {
		if tr.Table == table {
			return tr.String()
		}
	}
	return ""
}

func TestImportUpstream(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		e := newEnv(t, st)
		long := strings.Repeat("ä", 150) // 300 bytes: over agentops' 200
		dump := fx.WriteDump(t, fx.DDL, fx.Rows(long))
		r2 := fx.WriteR2(t)

		// A dry run reports and writes nothing.
		rep, err := e.run(t, importer.Options{Source: dump, UpstreamKey: " " + fx.Key + "\n", DryRun: true})
		if err != nil {
			t.Fatalf("dry run: %v", err)
		}
		if got := line(rep, "users"); !strings.Contains(got, "2 to import") {
			t.Fatalf("dry run users line = %q", got)
		}
		if n, _ := st.Users().Count(ctx); n != 0 {
			t.Fatalf("dry run wrote %d users", n)
		}

		rep, err = e.run(t, importer.Options{Source: dump, UpstreamKey: fx.Key, R2Dir: r2})
		if err != nil {
			t.Fatalf("import: %v", err)
		}
		var out strings.Builder
		rep.Write(&out)
		t.Log("\n" + out.String())
		for table, want := range map[string]string{"users": "2 to import", "sessions": "2 to import", "messages": "3 to import",
			"orchestrator_memory_files": "2 to import", "credentials": "2 to import", "org_api_keys": "1 to import",
			"workflows": "1 to import", "triggers": "1 to import", "workflow_executions": "2 to import",
			"r2 objects": "1 to import  1 skipped: 1 not a session artifact", "api_tokens": "1 to import  1 skipped: 1 revoked",
			"agent_personas": "1 to import", "agent_persona_files": "2 to import", "session_git_state": "1 to import",
			"session_files_changed": "1 to import", "workflow_execution_steps": "2 to import", "invites": "2 to import", "workflow_version_history": "1 to import",
			"custom_providers": "1 to import  1 skipped: 1 no key (agentops needs one)"} {
			if got := line(rep, table); !strings.Contains(got, want) {
				t.Errorf("%s line = %q, want %q", table, got, want)
			}
		}
		if !strings.Contains(line(rep, "credentials"), "service slack has no agentops equivalent") {
			t.Errorf("credentials line does not list slack: %q", line(rep, "credentials"))
		}
		if rep.NotImported["channel_bindings"] != 1 || len(rep.Unknown) != 1 || rep.Unknown[0] != "some_future_table" {
			t.Errorf("not imported %v, unknown %v", rep.NotImported, rep.Unknown)
		}
		all := strings.Join(rep.Problems, "\n")
		for _, want := range []string{"session " + fx.Session1 + ": title shortened", "message m-2: NUL", "running → hibernated", "executions that were still running", "1 sessions had ids that are not UUIDs"} {
			if !strings.Contains(all, want) {
				t.Errorf("problems lack %q:\n%s", want, all)
			}
		}

		// Alice logs in with her old password; it is re-hashed.
		if _, err := e.auth.Login(ctx, "alice@example.com", "alice-old-password", "127.0.0.1"); err != nil {
			t.Fatalf("login with the upstream password: %v", err)
		}
		alice, _ := st.Users().Get(ctx, "u-alice")
		if !strings.HasPrefix(alice.PasswordHash, "$argon2id$") || alice.Role != store.RoleAdmin {
			t.Fatalf("alice after login: hash %q role %q", alice.PasswordHash[:10], alice.Role)
		}
		if _, err := e.auth.Login(ctx, "alice@example.com", "alice-old-password", "127.0.0.1"); err != nil {
			t.Fatalf("login after re-hash: %v", err)
		}
		// Bob signed in with GitHub: his printed link logs him in once.
		if len(rep.Links) != 1 || rep.Links[0].Email != "bob@example.com" || !strings.HasPrefix(rep.Links[0].URL, "https://agentops.example/login/link/") {
			t.Fatalf("links = %+v", rep.Links)
		}
		tok := strings.TrimPrefix(rep.Links[0].URL, "https://agentops.example/login/link/")
		if _, err := e.auth.UseLoginLink(ctx, tok); err != nil {
			t.Fatalf("use login link: %v", err)
		}
		if _, err := e.auth.UseLoginLink(ctx, tok); err == nil {
			t.Fatal("a login link worked twice")
		}

		// Alice's upstream API key works.
		if p, err := e.auth.Authenticate(ctx, fx.AliceAPIKey); err != nil || p.User.ID != "u-alice" {
			t.Fatalf("alice's upstream API key: %v", err)
		}
		if _, err := e.auth.Authenticate(ctx, "sk_revoked"); err == nil {
			t.Fatal("a revoked upstream key works")
		}

		// Sessions and transcripts.
		s1, err := st.Sessions().Get(ctx, fx.Session1)
		if err != nil || s1.UserID != "u-alice" || len(s1.Title) > 200 || s1.Status != store.StatusTerminated {
			t.Fatalf("s-1 = %+v, %v", s1, err)
		}
		if s1.PersonaID != "p-reviewer" {
			t.Fatalf("s-1's persona = %q", s1.PersonaID)
		}
		if files, err := st.Personas().Files(ctx, "p-reviewer"); err != nil || len(files) != 2 || files[0].Filename != "role.md" {
			t.Fatalf("persona files = %+v, %v", files, err)
		}
		if g, err := st.GitStates().Get(ctx, fx.Session1); err != nil || g.PRNumber != 7 || g.PRState != "merged" {
			t.Fatalf("git state = %+v, %v", g, err)
		}
		if files, err := st.GitStates().Files(ctx, fx.Session1); err != nil || len(files) != 1 || files[0].Additions != 3 {
			t.Fatalf("changed files = %+v, %v", files, err)
		}
		if steps, err := st.ExecutionSteps().List(ctx, "x-1"); err != nil || len(steps) != 2 || steps[0].StepID != "s2" {
			t.Fatalf("steps (in upstream's insertion order) = %+v, %v", steps, err)
		}
		if vs, err := st.WorkflowVersions().List(ctx, "wf-deploy", 10, 0); err != nil || len(vs) != 2 || vs[1].Version != "0.9.0" || vs[0].Seq != 2 {
			t.Fatalf("workflow versions (newest first) = %+v, %v", vs, err)
		}
		s2, err := st.Sessions().Get(ctx, uuid.NewSHA1(uuid.MustParse("5b0f3a52-8e4c-4d0e-9a57-6a1f0c2d7e11"), []byte("s-2")).String())
		if err != nil {
			t.Fatalf("bob's session under its derived id: %v", err)
		}
		if s2.Status != store.StatusHibernated {
			t.Fatalf("running session imported as %s", s2.Status)
		}
		msgs, err := st.Messages().List(ctx, fx.Session1, store.MessageQuery{})
		if err != nil || len(msgs) != 2 || msgs[0].ID != "m-1" || msgs[1].ToolCalls != 1 || strings.ContainsRune(msgs[1].Content, 0) {
			t.Fatalf("transcript = %+v, %v", msgs, err)
		}
		// Memory search finds imported memories.
		hits, err := st.MemoryFiles().Search(ctx, search.Query{UserID: "u-bob", Text: "zeppelinctl"})
		if err != nil || len(hits) != 1 {
			t.Fatalf("memory search = %+v, %v", hits, err)
		}
		// Credentials open with the instance keyring.
		if n, err := credentials.VerifyAll(ctx, st, e.kr); err != nil || n != 4 {
			t.Fatalf("verify credentials: %d, %v", n, err)
		}
		if c, err := st.Credentials().Get(ctx, store.UserOwner("u-bob"), "github"); err != nil || c.UserID != "u-bob" {
			t.Fatalf("bob's github credential: %+v, %v", c, err)
		}
		if c, err := st.Credentials().Get(ctx, store.OrgOwner, "custom-together"); err != nil || c.BaseURL != "https://api.together.xyz/v1" ||
			len(c.Models) != 1 || c.Models[0] != "meta-llama/Llama-3-70b" {
			t.Fatalf("custom provider: %+v, %v", c, err)
		}
		tr, err := st.Triggers().GetByWebhookPath(ctx, "acme-deploy")
		if err != nil || tr.ID != "t-hook" || tr.WebhookSecret == "" || strings.Contains(string(tr.Config), "s3cret") {
			t.Fatalf("trigger = %+v, %v", tr, err)
		}

		// The R2 object is the session's artifact.
		obj, err := e.blob.Get(ctx, "backups/u-alice/sessions/"+fx.Session1+"/artifacts/1769936405000_report.txt", nil)
		if err != nil {
			t.Fatalf("imported artifact: %v", err)
		}
		obj.Body.Close()

		// Run again: everything is skipped, nothing duplicated.
		rep, err = e.run(t, importer.Options{Source: dump, UpstreamKey: fx.Key, R2Dir: r2})
		if err != nil {
			t.Fatalf("second import: %v", err)
		}
		for _, tr := range rep.Tables {
			if tr.ToImport != 0 {
				t.Errorf("second run: %s", tr)
			}
		}
		if got := line(rep, "messages"); !strings.Contains(got, "3 already imported") {
			t.Errorf("second run messages = %q", got)
		}
	})
}

func TestImportUpstreamRefusals(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		e := newEnv(t, st)
		rows := fx.Rows("A title")
		noMessages := strings.Replace(fx.DDL, "CREATE TABLE messages", "CREATE TABLE messages_renamed", 1)
		noColumn := strings.Replace(fx.DDL, "workspace TEXT NOT NULL, status", "status", 1)
		cases := []struct {
			name, dump, key, want string
		}{
			{"missing core table", fx.WriteDump(t, noMessages, strings.ReplaceAll(rows, "INSERT INTO messages ", "INSERT INTO messages_renamed ")), fx.Key, "table messages"},
			{"missing column", fx.WriteDump(t, noColumn, strings.ReplaceAll(rows, "'acme/api',", "")), fx.Key, "column sessions.workspace"},
			{"wrong key", fx.WriteDump(t, fx.DDL, rows), "not-the-key", "does not decrypt credential c-1"},
			{"truncated dump", fx.WriteDump(t, fx.DDL, rows[:len(rows)-40]), fx.Key, "truncated"},
		}
		for _, c := range cases {
			t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
				if c.name == "missing column" {
					// The row without the column no longer fits: drop it.
					c.dump = fx.WriteDump(t, noColumn, "")
				}
				_, err := e.run(t, importer.Options{Source: c.dump, UpstreamKey: c.key})
				if err == nil || !importer.IsRefused(err) || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("err = %v, want a refusal naming %q", err, c.want)
				}
				if n, _ := st.Users().Count(ctx); n != 0 {
					t.Fatalf("a refused import wrote %d users", n)
				}
			})
		}
	})
}

func TestImportUpstreamEmailClash(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		e := newEnv(t, st)
		now := time.Now().UTC()
		if err := st.Users().Create(ctx, &store.User{ID: "local-bob", Email: "bob@example.com", Role: store.RoleAdmin, IdleTimeoutSeconds: 900,
			UIQueueMode: "followup", IdentityProvider: "email", CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
		if err := st.Users().Create(ctx, &store.User{ID: "local-alice", Email: "alice@example.com", Role: store.RoleMember, IdleTimeoutSeconds: 900,
			UIQueueMode: "followup", IdentityProvider: "email", CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
		if err := st.Workflows().Insert(ctx, &store.Workflow{UID: "local-wf", UserID: "local-alice", ID: "wf-deploy", Name: "Mine", Version: "1",
			Data: []byte(`{"steps":[]}`), Hash: "h", Enabled: true, Tags: []byte("[]"), CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
		dump := fx.WriteDump(t, fx.DDL, fx.Rows("t"))
		_, err := e.run(t, importer.Options{Source: dump, UpstreamKey: fx.Key})
		if err == nil || !strings.Contains(err.Error(), "alice@example.com, bob@example.com") {
			t.Fatalf("clash: %v", err)
		}
		if n, _ := st.Users().Count(ctx); n != 2 {
			t.Fatalf("a refused import wrote users: %d", n)
		}
		rep, err := e.run(t, importer.Options{Source: dump, UpstreamKey: fx.Key, MergeUsers: true})
		if err != nil {
			t.Fatalf("merge: %v", err)
		}
		// Alice's account already has a workflow with that id: it is
		// left out (and its trigger and executions), nothing breaks.
		if got := line(rep, "workflows"); !strings.Contains(got, "1 id or slug already used in the account") {
			t.Fatalf("workflows line after merge: %q", got)
		}
		if len(rep.Links) != 0 {
			t.Fatalf("merged users got login links: %+v", rep.Links)
		}
		if s1, err := st.Sessions().Get(ctx, fx.Session1); err != nil || s1.UserID != "local-alice" {
			t.Fatalf("alice's session after merge: %+v, %v", s1, err)
		}
		s2, err := st.Sessions().Get(ctx, uuid.NewSHA1(uuid.MustParse("5b0f3a52-8e4c-4d0e-9a57-6a1f0c2d7e11"), []byte("s-2")).String())
		if err != nil || s2.UserID != "local-bob" {
			t.Fatalf("bob's session after merge: %+v, %v", s2, err)
		}
	})
}

// A SQLite copy of the database (not a dump) imports the same way.
func TestImportUpstreamSQLiteFile(t *testing.T) {
	st := storetest.Open(t, store.SQLite)
	e := newEnv(t, st)
	ctx := context.Background()
	dump := fx.WriteDump(t, fx.DDL, fx.Rows("t"))
	src, err := store.OpenForeignSQLite(ctx, dump, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "upstream.sqlite")
	if _, err := src.DB.ExecContext(ctx, "VACUUM INTO ?", file); err != nil {
		t.Fatal(err)
	}
	src.Close()
	rep, err := e.run(t, importer.Options{Source: file, UpstreamKey: fx.Key})
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	if got := line(rep, "messages"); !strings.Contains(got, "3 to import") {
		t.Fatalf("messages = %q", got)
	}
	// A damaged file is refused, naming the problem.
	b, _ := os.ReadFile(file)
	bad := filepath.Join(t.TempDir(), "cut.sqlite")
	os.WriteFile(bad, b[:len(b)/2], 0o600)
	if _, err := e.run(t, importer.Options{Source: bad, UpstreamKey: fx.Key}); err == nil || !importer.IsRefused(err) {
		t.Fatalf("a cut SQLite file: %v", err)
	}
}
