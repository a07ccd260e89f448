package jsonnul_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/agentops/agentops/app/jsonnul"
)

func TestHasAndReplace(t *testing.T) {
	for _, c := range []struct {
		in, out string
		has     bool
	}{
		{`{"a":"x\u0000y"}`, `{"a":"x\ufffdy"}`, true},
		{`{"a":"\u0000\u0000"}`, `{"a":"\ufffd\ufffd"}`, true},
		{`{"a":"C:\\u0000dir"}`, `{"a":"C:\\u0000dir"}`, false},
		{`{"a":"\\\u0000"}`, `{"a":"\\\ufffd"}`, true},
		{`{"a":"\u00001"}`, `{"a":"\ufffd1"}`, true},
		{`{"a":"\u0001"}`, `{"a":"\u0001"}`, false},
		{`"\`, `"\`, false},
		{``, ``, false},
	} {
		if got := jsonnul.Has([]byte(c.in)); got != c.has {
			t.Errorf("Has(%s) = %v", c.in, got)
		}
		if got := string(jsonnul.Replace([]byte(c.in))); got != c.out {
			t.Errorf("Replace(%s) = %s, want %s", c.in, got, c.out)
		}
	}
}

// FuzzReplace: after Replace, valid JSON stays valid and decodes to strings
// without NUL.
func FuzzReplace(f *testing.F) {
	for _, s := range []string{`{"a":"x\u0000y"}`, `["\\u0000","\u0000"]`, `"plain"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var before any
		if json.Unmarshal([]byte(s), &before) != nil {
			return
		}
		out := jsonnul.Replace([]byte(s))
		var after any
		if err := json.Unmarshal(out, &after); err != nil {
			t.Fatalf("Replace broke %q: %v", s, err)
		}
		if jsonnul.Has(out) {
			t.Fatalf("Replace left a NUL in %q", out)
		}
		if strings.Contains(fmt.Sprint(after), "\x00") {
			t.Fatalf("decoded NUL from %q", out)
		}
	})
}
