// Package importertest holds the test fixture of import-upstream: a
// hand-written DDL of just the upstream tables and columns the importer
// reads, realistic rows, and a copy of an R2 bucket.
package importertest

import (
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
)

// Key is the fixture deployment's ENCRYPTION_KEY.
const Key = "test-encryption-key-0123456789"

// The fixture: a hand-written DDL of just the upstream tables and columns
// the importer reads (plus one table it does not import and one it does
// not know), with realistic rows.
const DDL = `
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
CREATE TABLE api_tokens (id TEXT PRIMARY KEY, user_id TEXT NOT NULL, name TEXT NOT NULL, token_hash TEXT UNIQUE NOT NULL,
  prefix TEXT, scopes TEXT DEFAULT '[]', last_used_at TEXT, expires_at TEXT, revoked_at TEXT, created_at TEXT);
CREATE TABLE agent_personas (id TEXT PRIMARY KEY, org_id TEXT NOT NULL DEFAULT 'default', name TEXT NOT NULL, slug TEXT NOT NULL,
  description TEXT, icon TEXT, visibility TEXT NOT NULL DEFAULT 'shared', is_default INTEGER NOT NULL DEFAULT 0, default_model TEXT,
  created_by TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE agent_persona_files (id TEXT PRIMARY KEY, persona_id TEXT NOT NULL, filename TEXT NOT NULL, content TEXT NOT NULL,
  sort_order INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE session_git_state (id TEXT PRIMARY KEY, session_id TEXT NOT NULL, source_type TEXT, source_pr_number INTEGER,
  source_issue_number INTEGER, source_repo_full_name TEXT, source_repo_url TEXT, branch TEXT, base_branch TEXT, commit_count INTEGER DEFAULT 0,
  ref TEXT, pr_number INTEGER, pr_title TEXT, pr_state TEXT, pr_url TEXT, pr_created_at TEXT, pr_merged_at TEXT,
  agent_authored INTEGER DEFAULT 1, created_at TEXT, updated_at TEXT);
CREATE TABLE session_files_changed (id TEXT PRIMARY KEY, session_id TEXT NOT NULL, file_path TEXT NOT NULL, status TEXT NOT NULL,
  additions INTEGER DEFAULT 0, deletions INTEGER DEFAULT 0, created_at TEXT, updated_at TEXT);
CREATE TABLE workflow_execution_steps (id TEXT PRIMARY KEY, execution_id TEXT NOT NULL, step_id TEXT NOT NULL, attempt INTEGER NOT NULL,
  status TEXT NOT NULL, input_json TEXT, output_json TEXT, error TEXT, started_at TEXT, completed_at TEXT, created_at TEXT NOT NULL);
CREATE TABLE invites (id TEXT PRIMARY KEY, code TEXT NOT NULL UNIQUE, email TEXT, role TEXT NOT NULL DEFAULT 'member', invited_by TEXT,
  accepted_at TEXT, accepted_by TEXT, expires_at TEXT NOT NULL, created_at TEXT);
CREATE TABLE workflow_version_history (id TEXT PRIMARY KEY, workflow_id TEXT NOT NULL, workflow_version TEXT, workflow_hash TEXT NOT NULL,
  workflow_data TEXT NOT NULL, source TEXT NOT NULL, source_proposal_id TEXT, notes TEXT, created_by TEXT, created_at TEXT NOT NULL);
CREATE TABLE custom_providers (id TEXT PRIMARY KEY, provider_id TEXT NOT NULL UNIQUE, display_name TEXT NOT NULL, base_url TEXT NOT NULL,
  encrypted_key TEXT, models TEXT NOT NULL DEFAULT '[]', show_all_models INTEGER NOT NULL DEFAULT 0, set_by TEXT, created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL);
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

// AliceAPIKey is Alice's upstream API key (a second one is revoked).
const AliceAPIKey = "sk_0123456789abcdef0123456789abcdef"

func tokenHash(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

// InviteCode is an open invite (for carol@example.com).
const InviteCode = "c0ffee00c0ffee00c0ffee00c0ffee00"

// Passwords of the fixture's users (Bob signed in with GitHub: none).
const AlicePassword = "alice-old-password"

// WebhookSecret signs deliveries to the trigger at WebhookPath.
const (
	WebhookSecret = "s3cret-hook"
	WebhookPath   = "acme-deploy"
)

// Session1 is Alice's session (upstream ids are UUIDs; Bob's session has
// an id that is not, which the importer replaces).
const Session1 = "0b6f2d7e-3c41-4a8e-9d2f-6c1e5a7b8c90"

// Rows are the fixture's rows; title is session s-1's title.
func Rows(title string) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+";\n", args...) }
	w("INSERT INTO users VALUES ('u-alice','Alice@Example.com','Alice',NULL,NULL,'Alice','alice@example.com',1,'admin',900,'[\"claude-sonnet\"]','followup','Europe/Paris',%s,'email','2026-01-02 10:00:00','2026-01-02 10:00:00')", q(upstreamHash(AlicePassword)))
	w("INSERT INTO users VALUES ('u-bob','bob@example.com','Bob',NULL,'123',NULL,NULL,1,'member',900,NULL,'steer',NULL,NULL,'github','2026-01-03 10:00:00','2026-01-03 10:00:00')")
	w("INSERT INTO agent_personas VALUES ('p-reviewer','default','Reviewer','reviewer','Reviews diffs','eye','shared',1,NULL,'u-alice','2026-01-04 10:00:00','2026-01-04 10:00:00')")
	w("INSERT INTO agent_persona_files VALUES ('pf-2','p-reviewer','style.md','Be terse.',1,'2026-01-04 10:00:00','2026-01-04 10:00:00')")
	w("INSERT INTO agent_persona_files VALUES ('pf-1','p-reviewer','role.md','You review diffs.',0,'2026-01-04 10:00:00','2026-01-04 10:00:00')")
	w("INSERT INTO sessions VALUES ('"+Session1+"','u-alice','acme/api','terminated',%s,'interactive',NULL,'p-reviewer',120,'2026-02-01 09:00:00','2026-02-01 09:30:00')", q(title))
	w("INSERT INTO sessions VALUES ('s-2','u-bob','acme/web','running','Fix the build','interactive',NULL,NULL,10,'2026-02-02 09:00:00','2026-02-02 09:05:00')")
	w(`INSERT INTO messages VALUES ('m-1','` + Session1 + `','user','List the files',NULL,'u-alice','alice@example.com','Alice','2026-02-01 09:00:01',1769936401)`)
	w(`INSERT INTO messages VALUES ('m-2','` + Session1 + `','assistant','Here they are: go.mod' || char(0) || '.','[{"type":"text","text":"Here they are"},{"type":"tool-call","callId":"c1","toolName":"bash","status":"completed","args":{"cmd":"ls"},"result":"go.mod"}]',NULL,NULL,NULL,'2026-02-01 09:00:05',1769936405)`)
	w(`INSERT INTO messages VALUES ('m-3','s-2','user','Fix the build please',NULL,'u-bob','bob@example.com','Bob','2026-02-02 09:00:01',1770022801)`)
	w(`INSERT INTO orchestrator_memory_files VALUES ('mem-1','u-alice','default','preferences/style.md','Style','Alice prefers tabulated output and terse answers',1.2,0,1,'2026-01-05 10:00:00','2026-01-05 10:00:00','2026-01-05 10:00:00')`)
	w(`INSERT INTO orchestrator_memory_files VALUES ('mem-2','u-bob','default','projects/web.md','','The web project deploys with zeppelinctl',1.0,1,2,'2026-01-05 10:00:00','2026-01-05 10:00:00','2026-01-05 10:00:00')`)
	w("INSERT INTO credentials VALUES ('c-1','user','u-alice','anthropic','api_key',%s,'2026-01-06 10:00:00','2026-01-06 10:00:00')", q(sealB(Key, `{"api_key":"sk-ant-alice"}`)))
	w("INSERT INTO credentials VALUES ('c-2','user','u-bob','github','oauth2',%s,'2026-01-06 10:00:00','2026-01-06 10:00:00')", q(sealB(Key, `{"access_token":"gho_bob","refresh_token":"r"}`)))
	w("INSERT INTO credentials VALUES ('c-3','user','u-bob','slack','oauth2',%s,'2026-01-06 10:00:00','2026-01-06 10:00:00')", q(sealB(Key, `{"access_token":"xoxb"}`)))
	w("INSERT INTO org_api_keys VALUES ('k-1','openai',%s,'u-alice','2026-01-06 10:00:00','2026-01-06 10:00:00')", q(sealA(Key, "sk-org-openai")))
	w(`INSERT INTO workflows VALUES ('wf-deploy','u-alice','deploy','Deploy','Deploys','1.0.0','{"steps":[{"id":"s1","type":"agent_message","content":"deploy"}]}',1,'["ops"]','2026-01-07T10:00:00.000Z','2026-01-07T10:00:00.000Z')`)
	w(`INSERT INTO triggers VALUES ('t-hook','u-alice','wf-deploy','On push',1,'webhook','{"type":"webhook","path":"acme-deploy","method":"POST","secret":"s3cret-hook"}',NULL,NULL,'2026-01-07T10:00:00.000Z','2026-01-07T10:00:00.000Z')`)
	w(`INSERT INTO workflow_executions VALUES ('x-1','wf-deploy','u-alice','t-hook','completed','webhook','{}','{}','{"ok":true}',NULL,'2026-01-08T10:00:00.000Z','2026-01-08T10:01:00.000Z','1.0.0',NULL,NULL,'webhook:abc',NULL)`)
	w(`INSERT INTO workflow_executions VALUES ('x-2','wf-deploy','u-alice',NULL,'running','manual',NULL,'{}',NULL,NULL,'2026-01-09T10:00:00.000Z',NULL,'1.0.0',NULL,NULL,NULL,NULL)`)
	w("INSERT INTO api_tokens VALUES ('k-alice','u-alice','CI',%s,'sk_abcd...wxyz','[]',NULL,NULL,NULL,'2026-01-10 10:00:00')", q(tokenHash(AliceAPIKey)))
	w("INSERT INTO api_tokens VALUES ('k-old','u-alice','old',%s,'sk_0000...0000','[]',NULL,NULL,'2026-01-11 10:00:00','2026-01-10 10:00:00')", q(tokenHash("sk_revoked")))
	w("INSERT INTO session_git_state VALUES ('g-1','" + Session1 + "','branch',NULL,NULL,'acme/api','https://github.com/acme/api'," +
		"'agent/list','main',2,NULL,7,'List files','merged','https://github.com/acme/api/pull/7','2026-02-01T09:20:00.000Z','2026-02-01T10:00:00.000Z',1,'2026-02-01 09:00:00','2026-02-01 10:00:00')")
	w("INSERT INTO session_files_changed VALUES ('" + Session1 + ":README.md','" + Session1 + "','README.md','modified',3,1,'2026-02-01 09:10:00','2026-02-01 09:10:00')")
	w(`INSERT INTO workflow_execution_steps VALUES ('st-2','x-1','s2',1,'completed','{}','{"ok":true}',NULL,'2026-01-08T10:00:30.000Z','2026-01-08T10:01:00.000Z','2026-01-08 10:00:30')`)
	w(`INSERT INTO workflow_execution_steps VALUES ('st-1','x-1','s1',1,'completed','{}','{}',NULL,'2026-01-08T10:00:00.000Z','2026-01-08T10:00:30.000Z','2026-01-08 10:00:31')`)
	w("INSERT INTO invites VALUES ('i-1','" + InviteCode + "','carol@example.com','member','u-alice',NULL,NULL,'2099-01-01T00:00:00.000Z','2026-01-12 10:00:00')")
	w("INSERT INTO invites VALUES ('i-2','0000ffff','bob@example.com','member','u-alice','2026-01-03 10:00:00','u-bob','2026-01-09T00:00:00.000Z','2026-01-02 10:00:00')")
	w(`INSERT INTO workflow_version_history VALUES ('v-1','wf-deploy','0.9.0','x','{"steps":[{"id":"s1","type":"agent_message","content":"deploy it"}]}','sync',NULL,'first',NULL,'2026-01-06T10:00:00.000Z')`)
	w(`INSERT INTO custom_providers VALUES ('cp-1','together','Together','https://api.together.xyz/v1',%s,'[{"id":"meta-llama/Llama-3-70b","name":"Llama"}]',0,'u-alice','2026-01-06 10:00:00','2026-01-06 10:00:00')`, q(sealA(Key, "tg-key")))
	w(`INSERT INTO custom_providers VALUES ('cp-2','ollama','Ollama','http://127.0.0.1:11434/v1',NULL,'[]',0,'u-alice','2026-01-06 10:00:00','2026-01-06 10:00:00')`)
	w("INSERT INTO channel_bindings VALUES ('cb-1','u-alice')")
	return b.String()
}

// WriteDump writes a dump as wrangler d1 export does.
func WriteDump(t *testing.T, ddl, rows string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "export.sql")
	if err := os.WriteFile(p, []byte("PRAGMA defer_foreign_keys=TRUE;\n"+ddl+rows), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// WriteR2 writes a copy of the R2 bucket: one session artifact of s-1
// and an avatar (not imported).
func WriteR2(t *testing.T) string {
	t.Helper()
	r2 := t.TempDir()
	for name, body := range map[string]string{
		"backups/u-alice/sessions/" + Session1 + "/artifacts/1769936405000_report.txt": "the report",
		"avatars/u-alice/1769936405000.png":                                            "png",
	} {
		p := filepath.Join(r2, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return r2
}
