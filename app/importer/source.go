package importer

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// sourceTable is an upstream table the importer reads: the columns it
// needs (a dump without them is refused) and the ones it reads when
// present (added by later upstream versions).
type sourceTable struct {
	name     string
	core     bool // a dump without the table is refused
	required []string
	optional []string
}

var sourceTables = []sourceTable{
	{name: "users", core: true,
		required: []string{"id", "email", "name", "avatar_url", "role", "git_name", "git_email", "onboarding_completed",
			"idle_timeout_seconds", "ui_queue_mode", "model_preferences", "created_at", "updated_at"},
		optional: []string{"password_hash", "identity_provider", "timezone"}},
	{name: "sessions", core: true,
		required: []string{"id", "user_id", "workspace", "status", "title", "purpose", "error_message", "persona_id",
			"active_seconds", "created_at", "last_active_at"}},
	{name: "messages", core: true,
		required: []string{"id", "session_id", "role", "content", "parts", "author_id", "author_email", "author_name", "created_at"},
		optional: []string{"created_at_epoch"}},
	{name: "orchestrator_memory_files", core: true,
		required: []string{"id", "user_id", "path", "title", "content", "relevance", "pinned", "version", "created_at",
			"updated_at", "last_accessed_at"}},
	{name: "credentials", core: true,
		required: []string{"id", "owner_type", "owner_id", "provider", "credential_type", "encrypted_data", "created_at", "updated_at"}},
	{name: "workflows", core: true,
		required: []string{"id", "user_id", "slug", "name", "description", "version", "data", "enabled", "tags", "created_at", "updated_at"}},
	{name: "triggers", core: true,
		required: []string{"id", "user_id", "workflow_id", "name", "enabled", "type", "config", "variable_mapping", "last_run_at",
			"created_at", "updated_at"}},
	{name: "workflow_executions", core: true,
		required: []string{"id", "workflow_id", "user_id", "trigger_id", "status", "trigger_type", "trigger_metadata", "variables",
			"outputs", "error", "started_at", "completed_at", "workflow_version", "workflow_hash", "workflow_snapshot",
			"idempotency_key", "session_id"}},
	{name: "org_api_keys",
		required: []string{"provider", "encrypted_key", "set_by", "created_at", "updated_at"}},
	{name: "custom_providers",
		required: []string{"provider_id", "base_url", "encrypted_key", "models", "set_by", "created_at", "updated_at"}},
	{name: "agent_personas",
		required: []string{"id", "name", "slug", "description", "icon", "visibility", "is_default", "default_model", "created_by",
			"created_at", "updated_at"}},
	{name: "agent_persona_files",
		required: []string{"id", "persona_id", "filename", "content", "sort_order", "created_at", "updated_at"}},
	{name: "session_git_state",
		required: []string{"session_id", "source_type", "source_pr_number", "source_issue_number", "source_repo_full_name",
			"source_repo_url", "branch", "base_branch", "commit_count", "ref", "pr_number", "pr_title", "pr_state", "pr_url",
			"pr_created_at", "pr_merged_at", "agent_authored", "created_at", "updated_at"}},
	{name: "session_files_changed",
		required: []string{"session_id", "file_path", "status", "additions", "deletions", "created_at", "updated_at"}},
	{name: "workflow_execution_steps",
		required: []string{"id", "execution_id", "step_id", "attempt", "status", "input_json", "output_json", "error",
			"started_at", "completed_at", "created_at"}},
	{name: "workflow_version_history",
		required: []string{"id", "workflow_id", "workflow_version", "workflow_hash", "workflow_data", "source", "notes", "created_by", "created_at"}},
	{name: "invites",
		required: []string{"id", "code", "email", "role", "invited_by", "accepted_at", "accepted_by", "expires_at", "created_at"}},
	{name: "api_tokens",
		required: []string{"id", "user_id", "name", "token_hash", "prefix", "expires_at", "revoked_at", "created_at"},
		optional: []string{"last_used_at", "scopes"}},
}

// upstreamTables are the other tables of upstream's schema: known, and
// not imported by this version (reported with their row counts).
// Search tables (FTS5 and their shadow tables) are rebuilt, not read.
var upstreamTables = []string{
	"auth_sessions", "mcp_oauth_clients", "org_settings", "org_repositories",
	"org_service_configs", "persona_tools", "org_repo_persona_defaults",
	"session_threads", "screenshots", "session_participants",
	"session_share_links", "agent_memories", "integrations", "workflow_mutation_proposals",
	"workflow_schedule_ticks", "pending_approvals", "orchestrator_identities",
	"mailbox_messages", "session_tasks", "session_task_dependencies", "user_notification_preferences",
	"user_identity_links", "channel_bindings", "channel_thread_mappings", "user_telegram_config", "org_slack_installs",
	"slack_link_verifications", "model_catalog_cache", "action_policies", "action_invocations",
	"disabled_actions", "mcp_tool_cache", "org_plugins", "org_plugin_artifacts", "org_plugin_settings", "skills",
	"persona_skills", "org_default_skills", "analytics_events", "github_installations", "session_audit_log",
	"orchestrator_memories", "d1_migrations",
}

// checkSchema reads the source's catalog: a missing core table or a
// missing column the importer reads refuses the import; other tables are
// counted and reported.
func (im *importer) checkSchema(ctx context.Context) error {
	rows, err := im.src.QueryContext(ctx, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
	if err != nil {
		return refuse("read the source's tables: %v", err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return err
		}
		names = append(names, n)
	}
	rows.Close()
	im.cols = map[string]map[string]bool{}
	for _, n := range names {
		cr, err := im.src.QueryContext(ctx, "SELECT name FROM pragma_table_info(?)", n)
		if err != nil {
			return refuse("read the columns of %s: %v", n, err)
		}
		cols := map[string]bool{}
		for cr.Next() {
			var c string
			if err := cr.Scan(&c); err != nil {
				cr.Close()
				return err
			}
			cols[c] = true
		}
		cr.Close()
		im.cols[n] = cols
	}
	var missing []string
	for _, t := range sourceTables {
		cols, ok := im.cols[t.name]
		if !ok {
			if t.core {
				missing = append(missing, "table "+t.name)
			}
			continue
		}
		for _, c := range t.required {
			if !cols[c] {
				missing = append(missing, "column "+t.name+"."+c)
			}
		}
	}
	if len(missing) > 0 {
		return refuse("the dump lacks %s, which the importer reads (is it an export of agent-ops' D1 database, complete and current?)", strings.Join(missing, ", "))
	}
	known := map[string]bool{}
	for _, t := range sourceTables {
		known[t.name] = true
	}
	for _, t := range upstreamTables {
		known[t] = true
	}
	for _, n := range names {
		switch {
		case known[n] && !isSourceTable(n):
			var c int
			if err := im.src.QueryRowContext(ctx, "SELECT count(*) FROM "+quote(n)).Scan(&c); err != nil {
				return refuse("count %s: %v", n, err)
			}
			if c > 0 && n != "d1_migrations" {
				im.rep.NotImported[n] = c
			}
		case known[n], strings.HasPrefix(n, "sqlite_"), strings.HasPrefix(n, "_cf_"), isSearchTable(n):
		default:
			im.rep.Unknown = append(im.rep.Unknown, n)
		}
	}
	return nil
}

func isSourceTable(n string) bool {
	for _, t := range sourceTables {
		if t.name == n {
			return true
		}
	}
	return false
}

// isSearchTable: upstream's FTS5 tables and their shadow tables.
func isSearchTable(n string) bool {
	return strings.Contains(n, "_fts")
}

func quote(ident string) string { return `"` + strings.ReplaceAll(ident, `"`, `""`) + `"` }

// row is one source row, by column name.
type row map[string]any

// readTable reads the columns the importer uses of a table (required and
// those optional ones present), in rowid order.
func (im *importer) readTable(ctx context.Context, name string) ([]row, error) {
	var t sourceTable
	for _, st := range sourceTables {
		if st.name == name {
			t = st
		}
	}
	cols, ok := im.cols[name]
	if !ok {
		return nil, nil
	}
	use := append([]string(nil), t.required...)
	for _, c := range t.optional {
		if cols[c] {
			use = append(use, c)
		}
	}
	q := make([]string, len(use))
	for i, c := range use {
		q[i] = quote(c)
	}
	rows, err := im.src.QueryContext(ctx, "SELECT "+strings.Join(q, ", ")+" FROM "+quote(name)+" ORDER BY rowid")
	if err != nil {
		return nil, refuse("read %s: %v", name, err)
	}
	defer rows.Close()
	var out []row
	for rows.Next() {
		vals := make([]any, len(use))
		ptrs := make([]any, len(use))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, refuse("read %s: %v", name, err)
		}
		r := row{}
		for i, c := range use {
			r[c] = vals[i]
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, refuse("read %s: %v", name, err)
	}
	return out, nil
}

// str returns a text column ("" for NULL), with what agentops cannot
// store removed: NUL characters and invalid UTF-8. fixed is set when it
// changed anything.
func (r row) str(col string, fixed *bool) string {
	var s string
	switch v := r[col].(type) {
	case nil:
		return ""
	case string:
		s = v
	case []byte:
		s = string(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	default:
		s = fmt.Sprint(v)
	}
	clean := s
	if strings.ContainsRune(clean, 0) {
		clean = strings.ReplaceAll(clean, "\x00", "")
	}
	if !utf8.ValidString(clean) {
		clean = strings.ToValidUTF8(clean, "\uFFFD")
	}
	if clean != s && fixed != nil {
		*fixed = true
	}
	return clean
}

func (r row) int(col string) int64 {
	switch v := r[col].(type) {
	case int64:
		return v
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return 0
		}
		return int64(v)
	case string:
		n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		return n
	case []byte:
		n, _ := strconv.ParseInt(strings.TrimSpace(string(v)), 10, 64)
		return n
	}
	return 0
}

func (r row) float(col string) float64 {
	switch v := r[col].(type) {
	case int64:
		return float64(v)
	case float64:
		return v
	case string:
		f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
		return f
	}
	return 0
}

func (r row) bool(col string) bool { return r.int(col) != 0 }

func (r row) null(col string) bool { return r[col] == nil }

// timeOf parses upstream's three timestamp encodings: SQL text
// ('YYYY-MM-DD HH:MM:SS', UTC), ISO-8601, and epoch seconds or
// milliseconds. Zero when absent or unreadable.
func (r row) time(col string) time.Time {
	switch v := r[col].(type) {
	case int64:
		return epoch(v)
	case float64:
		return epoch(int64(v))
	case nil:
		return time.Time{}
	}
	s := strings.TrimSpace(r.str(col, nil))
	if s == "" {
		return time.Time{}
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return epoch(n)
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

func epoch(n int64) time.Time {
	if n > 100_000_000_000 { // milliseconds
		return time.UnixMilli(n).UTC()
	}
	return time.Unix(n, 0).UTC()
}

// orTime returns t, else def.
func orTime(t, def time.Time) time.Time {
	if t.IsZero() {
		return def
	}
	return t
}

// truncate cuts s to at most n bytes at a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func sortedKeys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
