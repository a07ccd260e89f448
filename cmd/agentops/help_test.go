package agentops_test

import (
	"regexp"
	"strings"
	"testing"
)

// --help names each setting's environment variable, shows value types
// (never a word the usage text quotes in backticks) and no
// [=true|false] after booleans.
func TestHelpShowsEnvironmentVariables(t *testing.T) {
	isolateEnv(t)
	out, _, err := execute(t, "", "serve", "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"--sandbox string", "AGENTOPS_SANDBOX", "`agentops runner`",
		"--open-signup ", "AGENTOPS_OPEN_SIGNUP", "AGENTOPS_LISTEN", "AGENTOPS_S3_SECRET_KEY",
		"AGENTOPS_DATA_DIR", "AGENTOPS_DATABASE_URL", "AGENTOPS_LOG_LEVEL",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("serve --help lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "[=true|false]") || strings.Contains(out, "--sandbox agentops") {
		t.Errorf("serve --help:\n%s", out)
	}
	// Every flag line of a setting names its variable; per-command
	// arguments (--help here; --email of user create) name none.
	flagLine := regexp.MustCompile(`^\s+(?:-\w, )?--([a-z0-9-]+)`)
	for _, line := range strings.Split(out, "\n") {
		m := flagLine.FindStringSubmatch(line)
		if m == nil || m[1] == "help" {
			continue
		}
		env := "AGENTOPS_" + strings.ToUpper(strings.ReplaceAll(m[1], "-", "_"))
		if !strings.Contains(line, env) {
			t.Errorf("flag line does not name %s: %q", env, line)
		}
	}
	out, _, err = execute(t, "", "user", "create", "--help")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "AGENTOPS_EMAIL") || !strings.Contains(out, "--email string") || strings.Contains(out, "[=true|false]") {
		t.Errorf("user create --help:\n%s", out)
	}
}
