package importer_test

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentops/agentops/app/auth"
	"github.com/agentops/agentops/app/credentials"
	"github.com/agentops/agentops/app/importer"
	"github.com/agentops/agentops/keyring"
	"github.com/agentops/agentops/search"
	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/blob"
	"github.com/agentops/agentops/store/blob/fsblob"
	"github.com/agentops/agentops/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

const upstreamKey = "test-encryption-key-0123456789"

// The fixture: a hand-written DDL of just the upstream tables and columns
// the importer reads (plus one table it does not import and one it does
// not know), with realistic rows.
const fixtureDDL = `
CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT UNIQUE NOT NULL, name TEXT, avatar_url TEXT, github_id TEXT,
  git_name TEXT, git_email TEXT, onboarding_completed INTEGER DEFAULT 0, role TEXT NOT NULL DEFAULT 'member',
  idle_timeout_seconds INTEGER DEFAULT 900, model_preferences TEXT, ui_queue_mode TEXT DEFAULT 'followup', timezone TEXT,
  password_hash TEXT, identity_provider TEXT, created_at TEXT, updated_at TEXT);
CREATE TABLE sessions (id TEXT PRIMARY KEY, user_id TEXT NOT NULL, workspace TEXT NOT NULL, status TEXT NOT NULL,
  title TEXT, purpose TEXT NOT NULL DEFAULT 'interactive', error_message TEXT, persona_id TEXT,
  active_seconds INTEGER NOT NULL DEFAULT 0, created_at TEXT, last_active_at TEXT);
CREATE TABLE messages (id TEXT PRIMARY KEY, session_id TEXT NOT NULL, role TEXT NOT NULL, content TEXT NOT NULL, parts TEXT,
  author_id TEXT, author_email TEXT, author_name TEXT, created_at TEXT, created_at_epoch INTEGER);
CREATE TABLE orchestrator_memory_files (id TEXT PRIMARY KEY, user_id TEXT NOT NULL, org_id TEXT NOT NULL DEFAULT 'default',
  path TEXT NOT NULL, title TEXT NOT NULL DEFAULT '', content TEXT NOT NULL, relevance REAL NOT NULL DEFAULT 1.0,
  pinned INTEGER NOT NULL DEFAULT 0, version INTEGER NOT NULL DEFAULT 1, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
  last_accessed_at TEXT NOT NULL);
CREATE TABLE credentials (id TEXT PRIMARY KEY, owner_type TEXT NOT NULL, owner_id TEXT NOT NULL, provider TEXT NOT NULL,
  credential_type TEXT NOT NULL, encrypted_data TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE org_api_keys (id TEXT PRIMARY KEY, provider TEXT NOT NULL UNIQUE, encrypted_key TEXT NOT NULL, set_by TEXT,
  created_at TEXT, updated_at TEXT);
CREATE TABLE workflows (id TEXT PRIMARY KEY, user_id TEXT NOT NULL, slug TEXT, name TEXT NOT NULL, description TEXT,
  version TEXT NOT NULL DEFAULT '1.0.0', data TEXT NOT NULL, enabled INTEGER DEFAULT 1, tags TEXT, created_at TEXT, updated_at TEXT);
CREATE TABLE triggers (id TEXT PRIMARY KEY, user_id TEXT NOT NULL, workflow_id TEXT, name TEXT NOT NULL, enabled INTEGER DEFAULT 1,
  type TEXT NOT NULL, config TEXT NOT NULL, variable_mapping TEXT, last_run_at TEXT, created_at TEXT, updated_at TEXT);
CREATE TABLE workflow_executions (id TEXT PRIMARY KEY, workflow_id TEXT, user_id TEXT NOT NULL, trigger_id TEXT, status TEXT NOT NULL,
  trigger_type TEXT NOT NULL, trigger_metadata TEXT, variables TEXT, outputs TEXT, error TEXT, started_at TEXT NOT NULL,
  completed_at TEXT, workflow_version TEXT, workflow_hash TEXT, workflow_snapshot TEXT, idempotency_key TEXT, session_id TEXT);
CREATE TABLE channel_bindings (id TEXT PRIMARY KEY, user_id TEXT);
CREATE TABLE some_future_table (id TEXT PRIMARY KEY);
`

// upstreamHash makes a password hash as upstream's email sign-in does.
func upstreamHash(pw string) string {
	salt := make([]byte, 16)
	rand.Read(salt)
	key, _ := pbkdf2.Key(sha256.New, pw, salt, 100_000, 32)
	return "pbkdf2:100000:" + hex.EncodeToString(salt) + ":" + hex.EncodeToString(key)
}

func seal(key []byte, plain string) string {
	blk, _ := aes.NewCipher(key)
	g, _ := cipher.NewGCM(blk)
	iv := make([]byte, 12)
	rand.Read(iv)
	return base64.StdEncoding.EncodeToString(append(iv, g.Seal(nil, iv, []byte(plain), nil)...))
}

// sealA and sealB encrypt as upstream's two schemes do.
func sealA(secret, plain string) string {
	return seal([]byte((secret + strings.Repeat("0", 32))[:32]), plain)
}

func sealB(secret, plain string) string {
	key, _ := pbkdf2.Key(sha256.New, secret, []byte("agent-ops-credentials"), 100_000, 32)
	return seal(key, plain)
}

func q(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func fixtureRows(title string) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+";\n", args...) }
	w("INSERT INTO users VALUES ('u-alice','Alice@Example.com','Alice',NULL,NULL,'Alice','alice@example.com',1,'admin',900,'[\"claude-sonnet\"]','followup','Europe/Paris',%s,'email','2026-01-02 10:00:00','2026-01-02 10:00:00')", q(upstreamHash("alice-old-password")))
	w("INSERT INTO users VALUES ('u-bob','bob@example.com','Bob',NULL,'123',NULL,NULL,1,'member',900,NULL,'steer',NULL,NULL,'github','2026-01-03 10:00:00','2026-01-03 10:00:00')")
	w("INSERT INTO sessions VALUES ('s-1','u-alice','acme/api','terminated',%s,'interactive',NULL,NULL,120,'2026-02-01 09:00:00','2026-02-01 09:30:00')", q(title))
	w("INSERT INTO sessions VALUES ('s-2','u-bob','acme/web','running','Fix the build','interactive',NULL,NULL,10,'2026-02-02 09:00:00','2026-02-02 09:05:00')")
	w(`INSERT INTO messages VALUES ('m-1','s-1','user','List the files',NULL,'u-alice','alice@example.com','Alice','2026-02-01 09:00:01',1769936401)`)
	w(`INSERT INTO messages VALUES ('m-2','s-1','assistant','Here they are: go.mod' || char(0) || '.','[{"type":"text","text":"Here they are"},{"type":"tool-call","callId":"c1","toolName":"bash","status":"completed","args":{"cmd":"ls"},"result":"go.mod"}]',NULL,NULL,NULL,'2026-02-01 09:00:05',1769936405)`)
	w(`INSERT INTO messages VALUES ('m-3','s-2','user','Fix the build please',NULL,'u-bob','bob@example.com','Bob','2026-02-02 09:00:01',1770022801)`)
	w(`INSERT INTO orchestrator_memory_files VALUES ('mem-1','u-alice','default','preferences/style.md','Style','Alice prefers tabulated output and terse answers',1.2,0,1,'2026-01-05 10:00:00','2026-01-05 10:00:00','2026-01-05 10:00:00')`)
	w(`INSERT INTO orchestrator_memory_files VALUES ('mem-2','u-bob','default','projects/web.md','','The web project deploys with zeppelinctl',1.0,1,2,'2026-01-05 10:00:00','2026-01-05 10:00:00','2026-01-05 10:00:00')`)
	w("INSERT INTO credentials VALUES ('c-1','user','u-alice','anthropic','api_key',%s,'2026-01-06 10:00:00','2026-01-06 10:00:00')", q(sealB(upstreamKey, `{"api_key":"sk-ant-alice"}`)))
	w("INSERT INTO credentials VALUES ('c-2','user','u-bob','github','oauth2',%s,'2026-01-06 10:00:00','2026-01-06 10:00:00')", q(sealB(upstreamKey, `{"access_token":"gho_bob","refresh_token":"r"}`)))
	w("INSERT INTO credentials VALUES ('c-3','user','u-bob','slack','oauth2',%s,'2026-01-06 10:00:00','2026-01-06 10:00:00')", q(sealB(upstreamKey, `{"access_token":"xoxb"}`)))
	w("INSERT INTO org_api_keys VALUES ('k-1','openai',%s,'u-alice','2026-01-06 10:00:00','2026-01-06 10:00:00')", q(sealA(upstreamKey, "sk-org-openai")))
	w(`INSERT INTO workflows VALUES ('wf-deploy','u-alice','deploy','Deploy','Deploys','1.0.0','{"steps":[{"id":"s1","type":"agent_message","content":"deploy"}]}',1,'["ops"]','2026-01-07T10:00:00.000Z','2026-01-07T10:00:00.000Z')`)
	w(`INSERT INTO triggers VALUES ('t-hook','u-alice','wf-deploy','On push',1,'webhook','{"type":"webhook","path":"acme-deploy","method":"POST","secret":"s3cret-hook"}',NULL,NULL,'2026-01-07T10:00:00.000Z','2026-01-07T10:00:00.000Z')`)
	w(`INSERT INTO workflow_executions VALUES ('x-1','wf-deploy','u-alice','t-hook','completed','webhook','{}','{}','{"ok":true}',NULL,'2026-01-08T10:00:00.000Z','2026-01-08T10:01:00.000Z','1.0.0',NULL,NULL,'webhook:abc',NULL)`)
	w(`INSERT INTO workflow_executions VALUES ('x-2','wf-deploy','u-alice',NULL,'running','manual',NULL,'{}',NULL,NULL,'2026-01-09T10:00:00.000Z',NULL,'1.0.0',NULL,NULL,NULL,NULL)`)
	w("INSERT INTO channel_bindings VALUES ('cb-1','u-alice')")
	return b.String()
}

func writeDump(t *testing.T, ddl, rows string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "export.sql")
	if err := os.WriteFile(p, []byte("PRAGMA defer_foreign_keys=TRUE;\n"+ddl+rows), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

type env struct {
	blob blob.Storage
	st   *store.Store
	kr   *keyring.Keyring
	auth *auth.Service
}

func newEnv(t *testing.T, st *store.Store) *env {
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
		dump := writeDump(t, fixtureDDL, fixtureRows(long))
		r2 := t.TempDir()
		for name, body := range map[string]string{
			"backups/u-alice/sessions/s-1/artifacts/1769936405000_report.txt": "the report",
			"avatars/u-alice/1769936405000.png":                              "png",
		} {
			p := filepath.Join(r2, filepath.FromSlash(name))
			os.MkdirAll(filepath.Dir(p), 0o700)
			os.WriteFile(p, []byte(body), 0o600)
		}

		// A dry run reports and writes nothing.
		rep, err := e.run(t, importer.Options{Source: dump, UpstreamKey: " " + upstreamKey + "\n", DryRun: true})
		if err != nil {
			t.Fatalf("dry run: %v", err)
		}
		if got := line(rep, "users"); !strings.Contains(got, "2 to import") {
			t.Fatalf("dry run users line = %q", got)
		}
		if n, _ := st.Users().Count(ctx); n != 0 {
			t.Fatalf("dry run wrote %d users", n)
		}

		rep, err = e.run(t, importer.Options{Source: dump, UpstreamKey: upstreamKey, R2Dir: r2})
		if err != nil {
			t.Fatalf("import: %v", err)
		}
		var out strings.Builder
		rep.Write(&out)
		t.Log("\n" + out.String())
		for table, want := range map[string]string{"users": "2 to import", "sessions": "2 to import", "messages": "3 to import",
			"orchestrator_memory_files": "2 to import", "credentials": "2 to import", "org_api_keys": "1 to import",
			"workflows": "1 to import", "triggers": "1 to import", "workflow_executions": "2 to import",
			"r2 objects": "1 to import  1 skipped: 1 not a session artifact"} {
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
		for _, want := range []string{"session s-1: title shortened", "message m-2: NUL", "running → hibernated", "executions that were still running"} {
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

		// Sessions and transcripts.
		s1, err := st.Sessions().Get(ctx, "s-1")
		if err != nil || s1.UserID != "u-alice" || len(s1.Title) > 200 || s1.Status != store.StatusTerminated {
			t.Fatalf("s-1 = %+v, %v", s1, err)
		}
		s2, _ := st.Sessions().Get(ctx, "s-2")
		if s2.Status != store.StatusHibernated {
			t.Fatalf("running session imported as %s", s2.Status)
		}
		msgs, err := st.Messages().List(ctx, "s-1", store.MessageQuery{})
		if err != nil || len(msgs) != 2 || msgs[0].ID != "m-1" || msgs[1].ToolCalls != 1 || strings.ContainsRune(msgs[1].Content, 0) {
			t.Fatalf("transcript = %+v, %v", msgs, err)
		}
		// Memory search finds imported memories.
		hits, err := st.MemoryFiles().Search(ctx, search.Query{UserID: "u-bob", Text: "zeppelinctl"})
		if err != nil || len(hits) != 1 {
			t.Fatalf("memory search = %+v, %v", hits, err)
		}
		// Credentials open with the instance keyring.
		if n, err := credentials.VerifyAll(ctx, st, e.kr); err != nil || n != 3 {
			t.Fatalf("verify credentials: %d, %v", n, err)
		}
		if c, err := st.Credentials().Get(ctx, store.UserOwner("u-bob"), "github"); err != nil || c.UserID != "u-bob" {
			t.Fatalf("bob's github credential: %+v, %v", c, err)
		}
		tr, err := st.Triggers().GetByWebhookPath(ctx, "acme-deploy")
		if err != nil || tr.ID != "t-hook" || tr.WebhookSecret == "" || strings.Contains(string(tr.Config), "s3cret") {
			t.Fatalf("trigger = %+v, %v", tr, err)
		}

		// The R2 object is the session's artifact.
		obj, err := e.blob.Get(ctx, "backups/u-alice/sessions/s-1/artifacts/1769936405000_report.txt", nil)
		if err != nil {
			t.Fatalf("imported artifact: %v", err)
		}
		obj.Body.Close()

		// Run again: everything is skipped, nothing duplicated.
		rep, err = e.run(t, importer.Options{Source: dump, UpstreamKey: upstreamKey, R2Dir: r2})
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
		rows := fixtureRows("A title")
		noMessages := strings.Replace(fixtureDDL, "CREATE TABLE messages", "CREATE TABLE messages_renamed", 1)
		noColumn := strings.Replace(fixtureDDL, "workspace TEXT NOT NULL, status", "status", 1)
		cases := []struct {
			name, dump, key, want string
		}{
			{"missing core table", writeDump(t, noMessages, strings.ReplaceAll(rows, "INSERT INTO messages ", "INSERT INTO messages_renamed ")), upstreamKey, "table messages"},
			{"missing column", writeDump(t, noColumn, strings.ReplaceAll(rows, "'acme/api',", "")), upstreamKey, "column sessions.workspace"},
			{"wrong key", writeDump(t, fixtureDDL, rows), "not-the-key", "does not decrypt credential c-1"},
			{"truncated dump", writeDump(t, fixtureDDL, rows[:len(rows)-40]), upstreamKey, "truncated"},
		}
		for _, c := range cases {
			t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
				if c.name == "missing column" {
					// The row without the column no longer fits: drop it.
					c.dump = writeDump(t, noColumn, "")
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
		dump := writeDump(t, fixtureDDL, fixtureRows("t"))
		_, err := e.run(t, importer.Options{Source: dump, UpstreamKey: upstreamKey})
		if err == nil || !strings.Contains(err.Error(), "bob@example.com") {
			t.Fatalf("clash: %v", err)
		}
		if n, _ := st.Users().Count(ctx); n != 1 {
			t.Fatalf("a refused import wrote users: %d", n)
		}
		if _, err := e.run(t, importer.Options{Source: dump, UpstreamKey: upstreamKey, MergeUsers: true}); err != nil {
			t.Fatalf("merge: %v", err)
		}
		s2, err := st.Sessions().Get(ctx, "s-2")
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
	dump := writeDump(t, fixtureDDL, fixtureRows("t"))
	src, err := store.OpenForeignSQLite(ctx, dump, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "upstream.sqlite")
	if _, err := src.DB.ExecContext(ctx, "VACUUM INTO ?", file); err != nil {
		t.Fatal(err)
	}
	src.Close()
	rep, err := e.run(t, importer.Options{Source: file, UpstreamKey: upstreamKey})
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
	if _, err := e.run(t, importer.Options{Source: bad, UpstreamKey: upstreamKey}); err == nil || !importer.IsRefused(err) {
		t.Fatalf("a cut SQLite file: %v", err)
	}
}
