package store

import "strings"

// The table registry: one list of every table that holds an instance's
// data, used by the schema-parity test, backup, restore and migrate-data.
// (Gitea's models/db does the same: tables are registered once and every
// tool that walks the schema reads the one list.)

// Table is one registered table. Its columns and primary key are read
// from the database (Describe), so that registering a table is one line
// and a column added by a migration needs no change here.
type Table struct {
	Name string
}

// tables lists every data table, each after every table its foreign keys
// reference, so that copying them in this order never breaks a key.
//
// To add a table: add one line, {Name: "your_table"}, after the last table
// it references (TestRegistryCoversSchema fails until you do, and
// TestRegistryForeignKeyOrder fails if it is too early). Leave out only
// what is rebuilt rather than copied: schema_migrations (each database's
// own migration record), search_* (the search provider's index, rebuilt
// from memory_files by RebuildSearch) and migrate_data_progress
// (migrate-data's own marker on its target).
//
// Migrations create tables but insert no rows: migrate-data copies into a
// freshly migrated database and refuses one that already holds rows.
var tables = []Table{
	{Name: "instance_meta"},
	{Name: "users"},
	{Name: "auth_sessions"},
	{Name: "api_tokens"},
	{Name: "invites"},
	{Name: "login_failures"},
	{Name: "sessions"},
	{Name: "session_git_state"},
	{Name: "session_files_changed"},
	{Name: "messages"},
	{Name: "prompt_queue"},
	{Name: "interactive_prompts"},
	{Name: "user_event_streams"},
	{Name: "user_events"},
	{Name: "event_tickets"},
	{Name: "memory_files"},
	{Name: "memory_usage"},
	{Name: "scheduled_jobs"},
	{Name: "personas"},
	{Name: "persona_files"},
	{Name: "credentials"},
	{Name: "notifications"},
	{Name: "workflows"},
	{Name: "workflow_versions"},
	{Name: "workflow_triggers"},
	{Name: "workflow_executions"},
	{Name: "workflow_execution_steps"},
	{Name: "workflow_schedule_ticks"},
	{Name: "login_links"},
	{Name: "action_invocations"},
	{Name: "replicas"},
	{Name: "session_leases"},
}

// Tables returns the registered tables in foreign-key order (parents
// first). Delete in the reverse order.
func Tables() []Table { return append([]Table(nil), tables...) }

// UnregisteredTable reports whether a table of the schema is deliberately
// outside the registry (see tables).
func UnregisteredTable(name string) bool {
	switch name {
	case "schema_migrations", MigrateDataProgressTable:
		return true
	}
	return strings.HasPrefix(name, "search_")
}

// MigrateDataProgressTable is the table in which migrate-data records its
// progress on its target. It is created by migrate-data, not by a
// migration, and is dropped when the copy is verified.
const MigrateDataProgressTable = "migrate_data_progress"
