package agentops_test

import (
	"os"
	"regexp"
	"testing"
)

// go.mod's go line is the real minimum: the oldest release that every
// dependency accepts (x/sys, x/text… ask for 1.26.0), not the patch
// release someone happened to build with; the README states the same.
func TestGoVersionAgrees(t *testing.T) {
	mod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)\.(\d+)$`).FindSubmatch(mod)
	if m == nil || string(m[2]) != "0" {
		t.Fatalf("go.mod's go line should be a minor release's first version (1.N.0): %q", m)
	}
	if !regexp.MustCompile(`Go ` + regexp.QuoteMeta(string(m[1])) + `(\.0)? or later`).Match(readme) {
		t.Fatalf("README does not say Go %s or later", m[1])
	}
}
