package agentops_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	fx "github.com/agentops/agentops/app/importer/importertest"
	"github.com/agentops/agentops/store"
)

// import-upstream into a data dir that does not exist yet (created and
// migrated), with the command's own refusals; user login-link prints a
// link for any user.
func TestImportUpstreamCommand(t *testing.T) {
	eachDialect(t, func(t *testing.T, d store.Dialect) {
		e := newBareEnv(t, d)
		e.dataDir = filepath.Join(e.dataDir, "new")
		dump := fx.WriteDump(t, fx.DDL, fx.Rows("A title"))
		empty := filepath.Join(t.TempDir(), "empty.key")
		os.WriteFile(empty, []byte(" \n"), 0o600)

		_, _, err := e.run("", "import-upstream")
		wantErrContains(t, err, "--d1 is required")
		_, _, err = e.run("", "import-upstream", "--d1", dump, "--upstream-encryption-key-file", empty)
		wantErrContains(t, err, "is empty")
		_, _, err = e.run("", "import-upstream", "--d1", filepath.Join(t.TempDir(), "missing.sql"))
		wantErrContains(t, err, "missing.sql")

		key := filepath.Join(t.TempDir(), "upstream.key")
		os.WriteFile(key, []byte(fx.Key+"\n"), 0o600)
		out := e.mustRun("", "import-upstream", "--d1", dump, "--upstream-encryption-key-file", key, "--public-url", "https://ops.example/")
		if !strings.Contains(out, "messages                     3 to import") ||
			!strings.Contains(out, "bob@example.com  https://ops.example/login/link/") {
			t.Fatalf("import output:\n%s", out)
		}
		link := e.mustRun("", "user", "login-link", "--email", "Alice@Example.com", "--public-url", "https://ops.example")
		if !strings.HasPrefix(link, "https://ops.example/login/link/") {
			t.Fatalf("login-link printed %q", link)
		}
		_, _, err = e.run("", "user", "login-link", "--email", "nobody@example.com")
		wantErrContains(t, err, "User not found")
	})
}
