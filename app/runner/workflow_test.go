package runner

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/internal/testutil/eventually"
)

// execute is a workflow-execute frame.
func execute(kind, execID string, attempt int, workflow string, mut ...func(*protocol.WorkflowDispatch)) protocol.ServerFrame {
	d := &protocol.WorkflowDispatch{Kind: kind, ExecutionID: execID, Payload: protocol.WorkflowPayload{
		Workflow: json.RawMessage(workflow), Variables: json.RawMessage(`{"env":"prod","n":2}`),
		Runtime: protocol.WorkflowRuntime{Attempt: attempt}}}
	for _, m := range mut {
		m(d)
	}
	return protocol.ServerFrame{Type: protocol.SWorkflowExecute, ExecutionID: execID, Workflow: d}
}

// result reads frames up to the run's result and returns them with it.
func (c *fakeConn) result(execID string) ([]rframe, *protocol.WorkflowEnvelope) {
	c.t.Helper()
	frames := c.until(func(f rframe) bool { return f.Type == protocol.RWorkflowResult })
	f := frames[len(frames)-1]
	if f.ExecutionID != execID || f.Envelope == nil || f.Envelope.ExecutionID != execID {
		c.t.Fatalf("result for the wrong execution: %s", f.raw)
	}
	return frames, f.Envelope
}

// trace is "id:status" per step record.
func trace(env *protocol.WorkflowEnvelope) string {
	var out []string
	for _, s := range env.Steps {
		out = append(out, s.StepID+":"+s.Status)
	}
	return strings.Join(out, " ")
}

func stepOutput(t *testing.T, env *protocol.WorkflowEnvelope, id string) map[string]any {
	t.Helper()
	for _, s := range env.Steps {
		if s.StepID == id {
			var m map[string]any
			if err := json.Unmarshal(s.Output, &m); err != nil {
				t.Fatalf("output of %s: %s", id, s.Output)
			}
			return m
		}
	}
	t.Fatalf("no step %s in %s", id, trace(env))
	return nil
}

func TestWorkflowRunsStepsInOrder(t *testing.T) {
	var hits []string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits = append(hits, r.Method+" "+r.URL.Path+" "+r.Header.Get("X-Test"))
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/missing" {
			w.WriteHeader(404)
		}
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	defer api.Close()
	s := newFakeServer(t)
	cfg := s.testConfig(t)
	startRunner(t, cfg)
	c := s.conn()
	c.expectReady()
	wf := `{"steps":[
		{"id":"greet","type":"bash","command":"echo hello $(echo \"$WORKFLOW_VARIABLES\" | tr -d '\\n') > out.txt; cat out.txt; echo warn >&2","outputVariable":"greeting"},
		{"id":"ask","type":"agent","goal":"summarize","context":"ctx","outputVariable":"summary"},
		{"id":"check","type":"conditional","condition":{"variable":"env","equals":"prod"},
			"then":[{"id":"call","type":"tool","tool":"http","arguments":{"url":"` + api.URL + `/hook","method":"post","headers":{"X-Test":"1"},"body":{"a":1}},"outputVariable":"resp"}],
			"else":[{"id":"never","type":"bash","command":"touch never"}]},
		{"id":"fan","type":"parallel","steps":[{"id":"p1","type":"bash","command":"echo one"},{"id":"p2","type":"loop","whatever":true}]},
		{"id":"n-is-2","type":"conditional","condition":{"variable":"n","equals":2},"then":[{"id":"yes","type":"bash","command":"true"}]},
		{"id":"no-var","type":"conditional","condition":{"variable":"absent"},"else":[{"id":"else-ran","type":"bash","command":"true"}]}
	]}`
	c.send(execute(protocol.WorkflowRun, "e1", 1, wf))
	frames, env := c.result("e1")
	if env.Status != protocol.EnvelopeOK || !env.OK || env.Error != nil {
		t.Fatalf("envelope: %+v", env)
	}
	want := "greet:completed ask:completed check:completed call:completed fan:completed p1:completed p2:skipped n-is-2:completed yes:completed no-var:completed else-ran:completed"
	if got := trace(env); got != want {
		t.Fatalf("trace\n got %s\nwant %s", got, want)
	}
	for _, st := range env.Steps {
		if st.Attempt != 1 || st.StartedAt == "" || st.CompletedAt == "" {
			t.Errorf("record %+v", st)
		}
	}
	greet := stepOutput(t, env, "greet")
	if !strings.HasPrefix(greet["stdout"].(string), `hello {"env":"prod","n":2}`) || greet["stderr"] != "warn\n" || greet["exitCode"] != 0.0 {
		t.Errorf("bash output %v", greet)
	}
	if _, err := os.Stat(filepath.Join(cfg.Workspace, "out.txt")); err != nil {
		t.Errorf("bash runs in the workspace: %v", err)
	}
	if _, err := os.Stat(filepath.Join(cfg.Workspace, "never")); err == nil {
		t.Error("the else branch ran")
	}
	if env.Output["summary"] != "You said: ctx\n\nsummarize" {
		t.Errorf("agent output %v", env.Output["summary"])
	}
	resp, _ := env.Output["resp"].(map[string]any)
	if resp["status"] != 200.0 || resp["json"].(map[string]any)["ok"] != true {
		t.Errorf("http output %v", resp)
	}
	if len(hits) != 1 || hits[0] != "POST /hook 1" {
		t.Errorf("http calls %v", hits)
	}
	// The agent step streamed a turn into the session.
	var created, finalized bool
	for _, f := range frames {
		created = created || f.Type == protocol.RMessageCreate
		finalized = finalized || (f.Type == protocol.RMessageFinalize && f.Reason == protocol.FinishEndTurn)
	}
	if !created || !finalized {
		t.Errorf("agent step frames: %v", shape(frames))
	}
	if p2 := stepOutput(t, env, "p2"); p2["skipped"] != true {
		t.Errorf("unknown type output %v", p2)
	}
}

func TestWorkflowFailures(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }))
	defer api.Close()
	s := newFakeServer(t)
	cfg := s.testConfig(t)
	startRunner(t, cfg)
	c := s.conn()
	c.expectReady()
	cases := []struct {
		wf, trace, err string
	}{
		{`{"steps":[{"id":"a","type":"bash","command":"exit 3"},{"id":"b","type":"bash","command":"true"}]}`, "a:failed", "bash_exit_code:3"},
		{`{"steps":[{"id":"a","type":"tool","tool":"slack","arguments":{}}]}`, "a:failed", "unknown_tool: slack"},
		{`{"steps":[{"id":"a","type":"tool","tool":"http","arguments":{"url":"` + api.URL + `"}}]}`, "a:failed", "http_status:503"},
		{`{"steps":[{"id":"c","type":"conditional","condition":true,"then":[{"id":"a","type":"bash","command":"false"}]}]}`, "c:failed a:failed", "bash_exit_code:1"},
		{`{"steps":[{"id":"a","type":"agent","goal":"/fail nope"}]}`, "a:failed", "nope"},
		{`{"steps":[{"id":"a","type":"agent","goal":"/sleep 5000\nslow","await_timeout_ms":1000}]}`, "a:failed", "await_timeout:1000"},
	}
	for i, tc := range cases {
		id := "f" + string(rune('0'+i))
		c.send(execute(protocol.WorkflowRun, id, 1, tc.wf))
		_, env := c.result(id)
		if env.Status != protocol.EnvelopeFailed || env.OK || env.Error == nil || *env.Error != tc.err || trace(env) != tc.trace {
			t.Errorf("%s: status %s error %v trace %s; want error %s trace %s", tc.wf, env.Status, env.Error, trace(env), tc.err, tc.trace)
		}
	}

	// The timeout kills the command's whole process group, and output is capped.
	start := time.Now()
	c.send(execute(protocol.WorkflowRun, "t1", 1, `{"steps":[{"id":"a","type":"bash","command":"(sleep 30; touch late) & head -c 200000 /dev/zero | tr '\\0' x; sleep 30","timeoutMs":1000}]}`))
	_, env := c.result("t1")
	if took := time.Since(start); took > 8*time.Second {
		t.Fatalf("timeout took %s", took)
	}
	if env.Error == nil || *env.Error != "bash_timeout:1000" {
		t.Fatalf("timeout: %+v", env)
	}
	out := stepOutput(t, env, "a")
	stdout := out["stdout"].(string)
	if !strings.HasPrefix(stdout, strings.Repeat("x", 1000)) || !strings.Contains(stdout, "[truncated 134464 bytes]") || len(stdout) > wfOutputCap+100 {
		t.Fatalf("capped stdout: %d bytes, ends %q", len(stdout), stdout[max(0, len(stdout)-40):])
	}
}

func TestWorkflowApprovalAndResume(t *testing.T) {
	s := newFakeServer(t)
	cfg := s.testConfig(t)
	startRunner(t, cfg)
	c := s.conn()
	c.expectReady()
	wf := `{"steps":[
		{"id":"before","type":"bash","command":"echo run >> count.txt","outputVariable":"first"},
		{"id":"gate","type":"conditional","condition":true,"then":[
			{"id":"ok","type":"approval","prompt":"Ship it?"},
			{"id":"inside","type":"bash","command":"echo inside >> count.txt"}]},
		{"id":"after","type":"bash","command":"echo after >> count.txt"}]}`
	c.send(execute(protocol.WorkflowRun, "e1", 1, wf))
	_, env := c.result("e1")
	if env.Status != protocol.EnvelopeNeedsApproval || env.RequiresApproval == nil || env.RequiresApproval.StepID != "ok" ||
		env.RequiresApproval.Prompt != "Ship it?" {
		t.Fatalf("envelope %+v", env)
	}
	if got := trace(env); got != "before:completed gate:waiting_approval ok:waiting_approval" {
		t.Fatalf("trace %s", got)
	}
	count := func() string {
		b, _ := os.ReadFile(filepath.Join(cfg.Workspace, "count.txt"))
		return strings.ReplaceAll(strings.TrimSpace(string(b)), "\n", ",")
	}
	if count() != "run" {
		t.Fatalf("steps after the approval ran: %s", count())
	}
	outputs, _ := json.Marshal(env.Output)

	// The resume continues after the approval: nothing before it runs again.
	c.send(execute(protocol.WorkflowResume, "e1", 2, wf, func(d *protocol.WorkflowDispatch) {
		d.Decision = "approve"
		d.Payload.Outputs, d.Payload.ResumeStepID, d.Payload.ResumeAttempt = outputs, "ok", 1
	}))
	_, env = c.result("e1")
	if env.Status != protocol.EnvelopeOK {
		t.Fatalf("resumed: %+v", env)
	}
	if got := trace(env); got != "gate:completed inside:completed after:completed" {
		t.Fatalf("resumed trace %s", got)
	}
	if env.Steps[0].Attempt != 1 || env.Steps[1].Attempt != 2 {
		t.Fatalf("the resumed container keeps its attempt, new steps take the new one: %+v", env.Steps)
	}
	if count() != "run,inside,after" {
		t.Fatalf("count %s", count())
	}
	if _, ok := env.Output["first"]; !ok {
		t.Fatal("outputs from before the approval are kept")
	}

	// A resume naming a step the workflow lacks fails.
	c.send(execute(protocol.WorkflowResume, "e2", 2, wf, func(d *protocol.WorkflowDispatch) {
		d.Decision, d.Payload.ResumeStepID = "approve", "nope"
	}))
	if _, env = c.result("e2"); env.Error == nil || *env.Error != "resume_step_not_found: nope" {
		t.Fatalf("bad resume: %+v", env)
	}
}

func TestWorkflowDuplicateDispatchAndAbort(t *testing.T) {
	s := newFakeServer(t)
	cfg := s.testConfig(t)
	startRunner(t, cfg)
	c := s.conn()
	c.expectReady()
	wf := `{"steps":[{"id":"a","type":"bash","command":"echo x >> runs.txt; sleep 30"}]}`
	c.send(execute(protocol.WorkflowRun, "e1", 1, wf))
	c.send(execute(protocol.WorkflowRun, "e1", 1, wf)) // a re-send of the same attempt
	eventually.True(t, waitFor, "the step to start", func() bool {
		b, _ := os.ReadFile(filepath.Join(cfg.Workspace, "runs.txt"))
		return len(b) > 0
	})
	c.send(protocol.ServerFrame{Type: protocol.SAbort})
	frames, env := c.result("e1")
	if env.Status != protocol.EnvelopeCancelled || trace(env) != "a:cancelled" {
		t.Fatalf("aborted run: %+v (%v)", env, shape(frames))
	}
	if f := c.next(); f.Type != protocol.RAborted {
		t.Fatalf("after the result: %s", f.raw)
	}
	c.quiet(300 * time.Millisecond)
	if b, _ := os.ReadFile(filepath.Join(cfg.Workspace, "runs.txt")); string(b) != "x\n" {
		t.Fatalf("the duplicate ran too: %q", b)
	}
}
