package session_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/agentops/agentops/store"
)

// failWrites makes the database refuse a write: a trigger named name
// aborts event (INSERT, UPDATE) on table when cond, an SQL condition on
// NEW, holds. The returned function removes the trigger.
func failWrites(t *testing.T, st *store.Store, name, event, table, cond string) (remove func()) {
	t.Helper()
	ctx := context.Background()
	var create, drop []string
	if st.Dialect() == store.SQLite {
		create = []string{fmt.Sprintf(`CREATE TRIGGER %s BEFORE %s ON %s WHEN %s BEGIN SELECT RAISE(ABORT, 'injected failure'); END`,
			name, event, table, cond)}
		drop = []string{"DROP TRIGGER " + name}
	} else {
		create = []string{
			fmt.Sprintf(`CREATE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$`, name),
			fmt.Sprintf(`CREATE TRIGGER %s BEFORE %s ON %s FOR EACH ROW WHEN (%s) EXECUTE FUNCTION %s()`, name, event, table, cond, name),
		}
		drop = []string{fmt.Sprintf("DROP TRIGGER %s ON %s", name, table), fmt.Sprintf("DROP FUNCTION %s()", name)}
	}
	for _, q := range create {
		if _, err := st.DB().ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	return func() {
		for _, q := range drop {
			if _, err := st.DB().ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func queued(t *testing.T, st *store.Store, id string) []string {
	t.Helper()
	q, err := st.PromptQueue().List(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range q {
		out = append(out, fmt.Sprintf("%s:%s:%d", p.Content, p.Status, p.Priority))
	}
	return out
}
