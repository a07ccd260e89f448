package workflow

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/agentops/agentops/app/apperr"
)

func TestCanonicalHash(t *testing.T) {
	a, err := ParseDefinition(json.RawMessage(`{"steps":[{"type":"bash","id":"a","command":"echo '<b>&</b>'","timeoutMs":1000}],"name":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"name":"x","steps":[{"command":"echo '<b>&</b>'","id":"a","timeoutMs":1000,"type":"bash"}]}`
	if string(a.Data) != want {
		t.Fatalf("canonical form\n got %s\nwant %s", a.Data, want)
	}
	if !strings.HasPrefix(a.Hash, "sha256:") || len(a.Hash) != len("sha256:")+64 {
		t.Fatalf("hash %q", a.Hash)
	}
	// Key order and whitespace do not matter; values do.
	b, err := ParseDefinition(json.RawMessage("{\n \"name\": \"x\", \"steps\": [ {\"timeoutMs\": 1000, \"command\": \"echo '<b>&</b>'\", \"id\": \"a\", \"type\": \"bash\"} ] }"))
	if err != nil {
		t.Fatal(err)
	}
	if a.Hash != b.Hash {
		t.Fatalf("same definition, different hashes: %s %s", a.Hash, b.Hash)
	}
	c, err := ParseDefinition(json.RawMessage(`{"name":"x","steps":[{"type":"bash","id":"a","command":"echo '<b>&</b>'","timeoutMs":1001}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Hash == a.Hash {
		t.Fatal("a different timeout must change the hash")
	}
	// Large numbers are kept as written, not rounded through float64.
	d, err := ParseDefinition(json.RawMessage(`{"steps":[{"id":"a","type":"custom","n":12345678901234567890}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(d.Data), "12345678901234567890") {
		t.Fatalf("number changed: %s", d.Data)
	}
}

func TestDefinitionErrorsNameThePath(t *testing.T) {
	cases := []struct {
		data, path, msg string
	}{
		{`[]`, "data", "must be an object"},
		{`{"steps":[]}`, "steps", "at least one step"},
		{`{}`, "steps", "is required"},
		{`{"steps":"x"}`, "steps", "array"},
		{`{"steps":[{"type":"bash","command":"x"}]}`, "steps[0].id", "required"},
		{`{"steps":[{"id":"a"}]}`, "steps[0].type", "required"},
		{`{"steps":[{"id":"a","type":"bash"}]}`, "steps[0].command", "required"},
		{`{"steps":[{"id":"a","type":"bash","command":"x","timeoutMs":999}]}`, "steps[0].timeoutMs", "from 1000 to 600000"},
		{`{"steps":[{"id":"a","type":"bash","command":"x","timeoutMs":1.5}]}`, "steps[0].timeoutMs", "whole number"},
		{`{"steps":[{"id":"a","type":"bash","command":"x"},{"id":"b","type":"bash","command":"y"},
			{"id":"c","type":"conditional","condition":true,"then":[{"id":"d","type":"bash"}]}]}`, "steps[2].then[0].command", "required"},
		{`{"steps":[{"id":"a","type":"conditional","then":[]}]}`, "steps[0].condition", "required"},
		{`{"steps":[{"id":"a","type":"conditional","condition":{"equals":1}}]}`, "steps[0].condition.variable", "required"},
		{`{"steps":[{"id":"a","type":"conditional","condition":"yes"}]}`, "steps[0].condition", "boolean"},
		{`{"steps":[{"id":"a","type":"parallel","steps":[{"id":"b","type":"approval"}]}]}`, "steps[0].steps[0].prompt", "required"},
		{`{"steps":[{"id":"a","type":"parallel"}]}`, "steps[0].steps", "required"},
		{`{"steps":[{"id":"a","type":"agent"}]}`, "steps[0].goal", "goal, content or message"},
		{`{"steps":[{"id":"a","type":"agent_message","content":"x","await_timeout_ms":10}]}`, "steps[0].await_timeout_ms", "from 1000"},
		{`{"steps":[{"id":"a","type":"agent","goal":"x","interrupt":"yes"}]}`, "steps[0].interrupt", "boolean"},
		{`{"steps":[{"id":"a","type":"tool","tool":"http","arguments":{"url":"ftp://x"}}]}`, "steps[0].arguments.url", "http or https"},
		{`{"steps":[{"id":"a","type":"tool","tool":"http","arguments":{"url":"http://x","method":"BREW"}}]}`, "steps[0].arguments.method", "one of"},
		{`{"steps":[{"id":"a","type":"tool","tool":"bash"}]}`, "steps[0].arguments", "required for the bash tool"},
		{`{"steps":[{"id":"a","type":"tool","tool":"bash","arguments":{}}]}`, "steps[0].arguments.command", "required"},
		{`{"steps":[{"id":"a","type":"tool"}]}`, "steps[0].tool", "required"},
		{`{"steps":[{"id":"a","type":"bash","command":"x"},{"id":"a","type":"custom"}]}`, "steps[1].id", "already the id of steps[0]"},
		{`{"steps":[{"id":"a","type":"bash","command":"x","name":5}]}`, "steps[0].name", "must be a string"},
	}
	for _, c := range cases {
		_, err := ParseDefinition(json.RawMessage(c.data))
		e, ok := apperr.As(err)
		if !ok || e.Kind != apperr.KindInvalid {
			t.Errorf("%s: error %v, want a 400", c.data, err)
			continue
		}
		if e.Details["field"] != c.path || !strings.Contains(e.Message, c.msg) || !strings.HasPrefix(e.Message, "Invalid workflow definition: ") {
			t.Errorf("%s:\n got field %v, message %q\nwant field %s, message containing %q", c.data, e.Details["field"], e.Message, c.path, c.msg)
		}
	}
}

func TestDefinitionLimitsAndUnknownTypes(t *testing.T) {
	// Unknown types and unknown tools are stored as written.
	d, err := ParseDefinition(json.RawMessage(`{"steps":[{"id":"a","type":"loop","steps":"anything"},{"id":"b","type":"tool","tool":"slack","arguments":{"x":1}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(d.Data), `"type":"loop"`) {
		t.Fatalf("unknown step dropped: %s", d.Data)
	}
	// Too deep.
	deep := `{"id":"leaf","type":"bash","command":"x"}`
	for i := range MaxDepth + 1 {
		deep = `{"id":"p` + string(rune('a'+i)) + `","type":"parallel","steps":[` + deep + `]}`
	}
	if _, err := ParseDefinition(json.RawMessage(`{"steps":[` + deep + `]}`)); err == nil || !strings.Contains(err.Error(), "deep") {
		t.Fatalf("nesting beyond %d levels: %v", MaxDepth, err)
	}
	// Too many.
	var b strings.Builder
	b.WriteString(`{"steps":[`)
	for i := range MaxSteps + 1 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`{"id":"s` + strings.Repeat("x", i%7) + string(rune(0x4e00+i)) + `","type":"custom"}`)
	}
	b.WriteString(`]}`)
	if _, err := ParseDefinition(json.RawMessage(b.String())); err == nil || !strings.Contains(err.Error(), "too many") {
		t.Fatalf("%d steps: %v", MaxSteps+1, err)
	}
	// Several problems are listed.
	_, err = ParseDefinition(json.RawMessage(`{"steps":[{"id":"a","type":"bash"},{"id":"b","type":"approval"}]}`))
	e, _ := apperr.As(err)
	if list, _ := e.Details["errors"].([]FieldError); len(list) != 2 || list[1].Path != "steps[1].prompt" {
		t.Fatalf("errors: %+v", e.Details)
	}
}

func TestStepIndex(t *testing.T) {
	idx := StepIndex(json.RawMessage(`{"steps":[{"id":"a","type":"bash","command":"x"},
		{"id":"c","type":"conditional","condition":true,"then":[{"id":"t","type":"approval","prompt":"p"}],"else":[{"id":"e","type":"x"}]},
		{"id":"z","type":"parallel","steps":[{"id":"p1","type":"bash","command":"x"}]}]}`))
	want := map[string]int{"a": 0, "c": 1, "t": 2, "e": 3, "z": 4, "p1": 5}
	for k, v := range want {
		if idx[k] != v {
			t.Errorf("index of %s: %d, want %d (%v)", k, idx[k], v, idx)
		}
	}
}

func TestSchedules(t *testing.T) {
	for _, bad := range []struct{ cron, tz, field string }{
		{"* * * *", "", "config.cron"},
		{"@hourly", "", "config.cron"},
		{"CRON_TZ=UTC * * * * *", "", "config.cron"},
		{"61 * * * *", "", "config.cron"},
		{"* * 30 2 *", "", "config.cron"},
		{"* * * * *", "Mars/Olympus", "config.timezone"},
		{"* * * * *", "Local", "config.timezone"},
		{"", "", "config.cron"},
	} {
		_, err := ParseSchedule(bad.cron, bad.tz)
		e, ok := apperr.As(err)
		if !ok || e.Kind != apperr.KindInvalid || e.Details["field"] != bad.field {
			t.Errorf("%q in %q: %v", bad.cron, bad.tz, err)
		}
	}
	// 09:30 on weekdays in Berlin, across the switch to summer time.
	s, err := ParseSchedule("30 9 * * 1-5", "Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2025, 3, 28, 12, 0, 0, 0, time.UTC) // a Friday
	got := s.NextN(from, 3)
	want := []time.Time{
		time.Date(2025, 3, 31, 7, 30, 0, 0, time.UTC), // Monday, CEST (UTC+2)
		time.Date(2025, 4, 1, 7, 30, 0, 0, time.UTC),
		time.Date(2025, 4, 2, 7, 30, 0, 0, time.UTC),
	}
	for i := range want {
		if i >= len(got) || !got[i].Equal(want[i]) {
			t.Fatalf("next runs %v, want %v", got, want)
		}
	}
	every, _ := ParseSchedule("*/15 * * * *", "")
	now := time.Date(2025, 1, 1, 10, 31, 0, 0, time.UTC)
	if l := every.Latest(now.Add(-5*time.Minute), now); !l.Equal(time.Date(2025, 1, 1, 10, 30, 0, 0, time.UTC)) {
		t.Fatalf("latest in the window: %v", l)
	}
	if l := every.Latest(now.Add(-time.Minute), now); !l.IsZero() {
		t.Fatalf("nothing in (10:30, 10:31]: %v", l)
	}
}

func TestMapping(t *testing.T) {
	_, m, err := ParseMapping(json.RawMessage(`{"ref":"$.pull_request.head.ref","first":"$.items.0.name","all":"$"}`))
	if err != nil {
		t.Fatal(err)
	}
	var payload any
	_ = json.Unmarshal([]byte(`{"pull_request":{"head":{"ref":"main"}},"items":[{"name":"x"}]}`), &payload)
	vars := map[string]any{}
	ApplyMapping(m, payload, vars)
	if vars["ref"] != "main" || vars["first"] != "x" || vars["all"] == nil {
		t.Fatalf("vars: %v", vars)
	}
	ApplyMapping(map[string]string{"gone": "$.nope.x"}, payload, vars)
	if _, ok := vars["gone"]; ok {
		t.Fatal("a missing path sets nothing")
	}
	for _, bad := range []string{`{"x":"a.b"}`, `{"x":"$."}`, `{"x":"$..a"}`, `{"_trigger":"$.a"}`, `{"x":1}`, `[]`} {
		if _, _, err := ParseMapping(json.RawMessage(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
