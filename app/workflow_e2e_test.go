package app_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/agentops/agentops/app"
	"github.com/agentops/agentops/internal/testutil/eventually"
	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

// wfExecution is an execution as the API shows it.
type wfExecution struct {
	ID          string         `json:"id"`
	WorkflowID  string         `json:"workflowId"`
	SessionID   string         `json:"sessionId"`
	TriggerID   *string        `json:"triggerId"`
	TriggerType string         `json:"triggerType"`
	Status      string         `json:"status"`
	ResumeToken *string        `json:"resumeToken"`
	Variables   map[string]any `json:"variables"`
	Outputs     map[string]any `json:"outputs"`
	Error       *string        `json:"error"`
	Approval    *struct{ StepID, Prompt string }
	Steps       []wfStep        `json:"steps"`
	Raw         json.RawMessage `json:"-"`
}

type wfStep struct {
	StepID   string          `json:"stepId"`
	Attempt  int             `json:"attempt"`
	Status   string          `json:"status"`
	Output   json.RawMessage `json:"output"`
	Error    *string         `json:"error"`
	Sequence int64           `json:"sequence"`
	Index    *int            `json:"workflowStepIndex"`
}

func (s *server) syncWorkflow(id, data string) {
	s.t.Helper()
	s.mustJSON("POST", "/api/workflows/sync", s.token, map[string]any{"id": id, "name": "wf " + id, "data": json.RawMessage(data)}, 200, nil)
}

func (s *server) execution(id string) wfExecution {
	s.t.Helper()
	var out struct {
		Execution wfExecution `json:"execution"`
	}
	s.mustJSON("GET", "/api/executions/"+id, s.token, nil, 200, &out)
	return out.Execution
}

// waitExecution polls an execution until match holds.
func (s *server) waitExecution(id string, what string, match func(e wfExecution) bool) wfExecution {
	s.t.Helper()
	var e wfExecution
	eventually.NoError(s.t, 60*time.Second, "execution "+id+" to become "+what, func() error {
		if e = s.execution(id); match(e) {
			return nil
		}
		return fmt.Errorf("execution %s never became %s; last: status %s error %v steps %+v", id, what, e.Status, e.Error, e.Steps)
	})
	return e
}

func statusIs(st string) func(wfExecution) bool {
	return func(e wfExecution) bool { return e.Status == st }
}

func sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// post sends a raw request with headers and decodes the JSON reply.
func (s *server) post(method, path string, body []byte, hdr map[string]string) (int, map[string]any) {
	s.t.Helper()
	req, _ := http.NewRequest(method, s.url+path, bytes.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		s.t.Fatalf("%s %s: not JSON: %s", method, path, raw)
	}
	return res.StatusCode, out
}

func (s *server) executionCount() int {
	s.t.Helper()
	var out struct{ Executions []wfExecution }
	s.mustJSON("GET", "/api/executions?limit=200", s.token, nil, 200, &out)
	return len(out.Executions)
}

const reviewWorkflow = `{"steps":[
	{"id":"build","type":"bash","command":"echo built >> log.txt; echo \"ref=$(echo \"$WORKFLOW_VARIABLES\" | sed 's/.*\"ref\":\"\\([^\"]*\\)\".*/\\1/')\"","outputVariable":"build"},
	{"id":"review","type":"agent","goal":"review the change","outputVariable":"review"},
	{"id":"gate","type":"approval","prompt":"Deploy to prod?"},
	{"id":"deploy","type":"bash","command":"echo deployed >> log.txt; cat log.txt","outputVariable":"deploy"}
]}`

// TestWorkflowWebhookToApprovalToCompletion: a signed webhook starts an
// execution in a workflow session whose runner runs a bash step, an agent
// step (the script agent) and stops at an approval; approving resumes it
// after the approval (nothing runs twice) to completion; all of it is
// visible through the API.
func TestWorkflowWebhookToApprovalToCompletion(t *testing.T) {
	eachDialect(t, func(t *testing.T, d store.Dialect) {
		s := startServer(t, d, "local")
		s.syncWorkflow("review-deploy", reviewWorkflow)
		var trig struct {
			ID         string
			WebhookURL string `json:"webhookUrl"`
			Config     map[string]any
		}
		s.mustJSON("POST", "/api/triggers", s.token, map[string]any{"workflowId": "review-deploy", "name": "on push",
			"config":          map[string]any{"type": "webhook", "path": "github/push", "secret": "s3cret"},
			"variableMapping": map[string]any{"ref": "$.ref"}}, 201, &trig)
		if trig.WebhookURL != s.url+"/webhooks/github/push" || trig.Config["hasSecret"] != true || trig.Config["secret"] != nil {
			t.Fatalf("trigger: %+v", trig)
		}

		body := []byte(`{"ref":"refs/heads/main","after":"abc"}`)
		code, reply := s.post("POST", "/webhooks/github/push", body, map[string]string{
			"Content-Type": "application/json", "X-Hub-Signature-256": "sha256=" + sign("s3cret", body), "X-GitHub-Delivery": "d-1"})
		if code != 202 || reply["received"] != true || reply["dispatched"] != true || reply["status"] != "pending" ||
			reply["workflowId"] != "review-deploy" || reply["executionId"] == nil || reply["sessionId"] == nil {
			t.Fatalf("delivery: %d %v", code, reply)
		}
		id := reply["executionId"].(string)

		e := s.waitExecution(id, "waiting_approval", statusIs(store.ExecWaitingApproval))
		if e.TriggerType != "webhook" || e.Variables["ref"] != "refs/heads/main" || e.ResumeToken == nil || e.Approval == nil ||
			e.Approval.StepID != "gate" || e.Approval.Prompt != "Deploy to prod?" {
			t.Fatalf("waiting execution: %+v", e)
		}
		if got := stepTrace(e.Steps); got != "build/1:completed review/1:completed gate/1:waiting_approval" {
			t.Fatalf("trace before approval: %s", got)
		}
		if e.Outputs["review"] != "You said: review the change" {
			t.Fatalf("agent step output: %v", e.Outputs)
		}
		if !strings.Contains(fmt.Sprint(e.Outputs["build"]), "ref=refs/heads/main") {
			t.Fatalf("bash saw the variables: %v", e.Outputs["build"])
		}
		// The agent step is a turn in the workflow session's transcript.
		msgs := s.messages(e.SessionID)
		found := false
		for _, m := range msgs {
			found = found || (m.Role == "assistant" && m.Content == "You said: review the change")
		}
		if !found {
			t.Fatalf("the agent's turn is not in the session transcript: %+v", msgs)
		}
		// The owner has an actionable approval message in their inbox.
		var inbox struct {
			Messages []struct {
				MessageType        string `json:"messageType"`
				Content            string `json:"content"`
				Read               bool   `json:"read"`
				ContextExecutionID string `json:"contextExecutionId"`
				ContextSessionID   string `json:"contextSessionId"`
			} `json:"messages"`
		}
		s.mustJSON("GET", "/api/me/notifications?unreadOnly=true", s.token, nil, 200, &inbox)
		approvals := 0
		for _, m := range inbox.Messages {
			if m.MessageType == "approval" && m.ContextExecutionID == id && m.ContextSessionID == e.SessionID &&
				m.Content == "Deploy to prod?" && !m.Read {
				approvals++
			}
		}
		if approvals != 1 {
			t.Fatalf("approval notifications for the execution: %d in %+v", approvals, inbox.Messages)
		}
		// The session sleeps while it waits.
		eventually.True(t, 30*time.Second, "the workflow session to hibernate", func() bool { return s.sessionStatus(e.SessionID) == store.StatusHibernated })

		// A wrong token changes nothing.
		code, reply = s.post("POST", "/api/executions/"+id+"/approve", []byte(`{"approve":true,"resumeToken":"wrf_rt_nope"}`),
			map[string]string{"Authorization": "Bearer " + s.token})
		if code != 400 || reply["code"] != "VALIDATION_ERROR" {
			t.Fatalf("wrong token: %d %v", code, reply)
		}
		if s.execution(id).Status != store.ExecWaitingApproval {
			t.Fatal("a wrong token moved the execution")
		}
		var approved struct {
			Success bool
			Status  string
		}
		s.mustJSON("POST", "/api/executions/"+id+"/approve", s.token, map[string]any{"approve": true, "resumeToken": *e.ResumeToken}, 200, &approved)
		if !approved.Success || approved.Status != store.ExecRunning {
			t.Fatalf("approve: %+v", approved)
		}
		// The token is single use.
		code, _ = s.post("POST", "/api/executions/"+id+"/approve", []byte(`{"approve":true,"resumeToken":"`+*e.ResumeToken+`"}`),
			map[string]string{"Authorization": "Bearer " + s.token})
		if code != 400 {
			t.Fatalf("second approval: %d", code)
		}

		e = s.waitExecution(id, "completed", statusIs(store.ExecCompleted))
		if got := stepTrace(e.Steps); got != "build/1:completed review/1:completed gate/1:completed deploy/2:completed" {
			t.Fatalf("final trace: %s", got)
		}
		var gate map[string]any
		_ = json.Unmarshal(e.Steps[2].Output, &gate)
		if gate["decision"] != "approve" {
			t.Fatalf("approval record: %s", e.Steps[2].Output)
		}
		for i, st := range e.Steps {
			if i > 0 && st.Sequence <= e.Steps[i-1].Sequence || st.Index == nil || *st.Index != i {
				t.Fatalf("steps out of order: %+v", e.Steps)
			}
		}
		// Nothing before the approval ran again.
		if dep := fmt.Sprint(e.Outputs["deploy"]); !strings.Contains(dep, "built\ndeployed") || strings.Count(dep, "built") != 1 {
			t.Fatalf("deploy saw %q", dep)
		}
		eventually.True(t, 30*time.Second, "the workflow session to end", func() bool { return s.sessionStatus(e.SessionID) == store.StatusTerminated })

		// The same delivery again: deduplicated, nothing new.
		before := s.executionCount()
		code, reply = s.post("POST", "/webhooks/github/push", body, map[string]string{
			"X-Hub-Signature-256": "sha256=" + sign("s3cret", body), "X-GitHub-Delivery": "d-1"})
		if code != 200 || reply["deduplicated"] != true || reply["executionId"] != id || reply["status"] != "completed" {
			t.Fatalf("duplicate: %d %v", code, reply)
		}
		if s.executionCount() != before {
			t.Fatal("a duplicate started an execution")
		}
		var list struct{ Executions []wfExecution }
		s.mustJSON("GET", "/api/workflows/review-deploy/executions", s.token, nil, 200, &list)
		if len(list.Executions) != 1 || list.Executions[0].ID != id {
			t.Fatalf("workflow executions: %+v", list)
		}
	})
}

func stepTrace(steps []wfStep) string {
	var out []string
	for _, s := range steps {
		out = append(out, fmt.Sprintf("%s/%d:%s", s.StepID, s.Attempt, s.Status))
	}
	return strings.Join(out, " ")
}

// TestWebhookRefusals: unknown paths, wrong methods, missing and bad
// signatures and oversized bodies are refused with upstream's shapes and
// start nothing; a body without a delivery id is deduplicated by its hash.
func TestWebhookRefusals(t *testing.T) {
	s := startServer(t, store.SQLite, "local", func(c *app.Config) { c.Workflows.WebhookMaxBodyBytes = 1024 })
	s.syncWorkflow("quick", `{"steps":[{"id":"a","type":"bash","command":"true"}]}`)
	s.mustJSON("POST", "/api/triggers", s.token, map[string]any{"workflowId": "quick", "name": "signed",
		"config": map[string]any{"type": "webhook", "path": "signed", "method": "PUT", "secret": "k"}}, 201, nil)
	s.mustJSON("POST", "/api/triggers", s.token, map[string]any{"workflowId": "quick", "name": "open",
		"config": map[string]any{"type": "webhook", "path": "open/hook"}}, 201, nil)
	body := []byte(`{"x":1}`)
	good := sign("k", body)
	for _, c := range []struct {
		method, path string
		body         []byte
		hdr          map[string]string
		status       int
		message      string
	}{
		{"POST", "/webhooks/nope", body, nil, 404, "Webhook not found"},
		{"POST", "/webhooks/signed", body, map[string]string{"X-Webhook-Signature": good}, 405, "Method POST not allowed"},
		{"PUT", "/webhooks/signed", body, nil, 401, "Missing webhook signature"},
		{"PUT", "/webhooks/signed", body, map[string]string{"X-Webhook-Signature": sign("other", body)}, 401, "Invalid webhook signature"},
		{"PUT", "/webhooks/signed", body, map[string]string{"X-Webhook-Signature": "sha256=zz"}, 401, "Invalid webhook signature"},
		{"PUT", "/webhooks/signed", body, map[string]string{"X-Hub-Signature-256": good}, 401, "Invalid webhook signature"}, // GitHub's needs sha256=
		{"PUT", "/webhooks/signed", []byte(`{"x":2}`), map[string]string{"X-Webhook-Signature": good}, 401, "Invalid webhook signature"},
		{"POST", "/webhooks/open/hook", bytes.Repeat([]byte("a"), 2048), nil, 413, "Request body is larger than 1024 bytes"},
	} {
		code, reply := s.post(c.method, c.path, c.body, c.hdr)
		if code != c.status || reply["received"] != true || reply["message"] != c.message || reply["error"] == nil || reply["code"] == nil {
			t.Errorf("%s %s %v: %d %v, want %d %q", c.method, c.path, c.hdr, code, reply, c.status, c.message)
		}
	}
	if n := s.executionCount(); n != 0 {
		t.Fatalf("refused deliveries started %d executions", n)
	}
	// Both signature forms are accepted.
	for i, hdr := range []map[string]string{{"X-Webhook-Signature": good}, {"X-Webhook-Signature": "sha256=" + strings.ToUpper(good)},
		{"X-Hub-Signature-256": "sha256=" + good}} {
		hdr["X-Webhook-Id"] = fmt.Sprint("w-", i)
		if code, reply := s.post("PUT", "/webhooks/signed", body, hdr); code != 202 {
			t.Fatalf("%v: %d %v", hdr, code, reply)
		}
	}
	// No delivery id: the body's hash is the key. X-Request-Id counts only
	// when the sender sends it (the server's own request id never does).
	code, first := s.post("POST", "/webhooks/open/hook", []byte(`{"n":1}`), nil)
	code2, second := s.post("POST", "/webhooks/open/hook", []byte(`{"n":1}`), nil)
	if code != 202 || code2 != 200 || second["deduplicated"] != true || second["executionId"] != first["executionId"] {
		t.Fatalf("body-hash dedupe: %d %v / %d %v", code, first, code2, second)
	}
	code, _ = s.post("POST", "/webhooks/open/hook", []byte(`{"n":1}`), map[string]string{"X-Request-Id": "sender-1"})
	code2, _ = s.post("POST", "/webhooks/open/hook", []byte(`{"n":1}`), map[string]string{"X-Request-Id": "sender-1"})
	if code != 202 || code2 != 200 {
		t.Fatalf("X-Request-Id dedupe: %d then %d", code, code2)
	}
	// A disabled trigger is not found.
	var list struct{ Triggers []struct{ ID, Name string } }
	s.mustJSON("GET", "/api/triggers", s.token, nil, 200, &list)
	for _, tr := range list.Triggers {
		if tr.Name == "open" {
			s.mustJSON("POST", "/api/triggers/"+tr.ID+"/disable", s.token, nil, 200, nil)
		}
	}
	if code, _ := s.post("POST", "/webhooks/open/hook", []byte(`{"n":9}`), nil); code != 404 {
		t.Fatalf("disabled trigger: %d", code)
	}
}

// TestScheduleFiresOncePerMinute runs the server on a fake clock: a
// schedule trigger fires exactly once per minute it matches.
func TestScheduleFiresOncePerMinute(t *testing.T) {
	eachDialect(t, func(t *testing.T, d store.Dialect) {
		start := time.Now().UTC().Truncate(time.Minute).Add(20 * time.Second)
		clock := clockwork.NewFakeClockAt(start)
		s := startServer(t, d, "local", func(c *app.Config) { c.Clock = clock })
		s.syncWorkflow("tick", `{"steps":[{"id":"a","type":"bash","command":"echo tick"}]}`)
		var trig struct {
			ID       string
			NextRuns []string `json:"nextRuns"`
		}
		s.mustJSON("POST", "/api/triggers", s.token, map[string]any{"workflowId": "tick", "name": "every minute",
			"config": map[string]any{"type": "schedule", "cron": "* * * * *", "timezone": "Europe/Berlin"}}, 201, &trig)
		if len(trig.NextRuns) != 5 || trig.NextRuns[0] != start.Truncate(time.Minute).Add(time.Minute).Format("2006-01-02T15:04:05.000Z") {
			t.Fatalf("next runs: %v", trig.NextRuns)
		}
		scheduled := func() []wfExecution {
			var out struct{ Executions []wfExecution }
			s.mustJSON("GET", "/api/executions?limit=200", s.token, nil, 200, &out)
			var mine []wfExecution
			for _, e := range out.Executions {
				if e.TriggerType == "schedule" {
					mine = append(mine, e)
				}
			}
			return mine
		}
		for minute := 1; minute <= 2; minute++ {
			clock.Advance(time.Minute)
			eventually.True(t, 30*time.Second, fmt.Sprintf("execution %d", minute), func() bool { return len(scheduled()) >= minute })
			time.Sleep(300 * time.Millisecond) // a second firing would show by now
			got := scheduled()
			if len(got) != minute {
				t.Fatalf("minute %d: %d executions", minute, len(got))
			}
			bucket := start.Truncate(time.Minute).Add(time.Duration(minute) * time.Minute).Format("2006-01-02T15:04")
			trigger, _ := got[0].Variables["_trigger"].(map[string]any)
			if trigger["tickBucket"] != bucket || trigger["triggerId"] != trig.ID {
				t.Fatalf("minute %d: _trigger %v, want bucket %s", minute, trigger, bucket)
			}
		}
		for _, e := range scheduled() {
			s.waitExecution(e.ID, "completed", statusIs(store.ExecCompleted))
		}
	})
}

// TestWorkflowLimitsAndIdempotency: executions over the per-user and the
// global limits get upstream's 429; a clientRequestId used again returns
// its execution (200) even at the limit; cancelling frees a slot.
func TestWorkflowLimitsAndIdempotency(t *testing.T) {
	s := startServer(t, store.SQLite, "local", func(c *app.Config) {
		c.Workflows.MaxPerUser, c.Workflows.MaxGlobal = 1, 2
	})
	wait := `{"steps":[{"id":"gate","type":"approval","prompt":"go?"}]}`
	s.syncWorkflow("gated", wait)
	var first map[string]any
	s.mustJSON("POST", "/api/triggers/manual/run", s.token, map[string]any{"workflowId": "gated", "clientRequestId": "req-000001",
		"variables": map[string]any{"x": 1}}, 202, &first)
	if first["status"] != "pending" || first["dispatched"] != true {
		t.Fatalf("run: %v", first)
	}
	code, over := s.call("POST", "/api/triggers/manual/run", s.token, map[string]any{"workflowId": "gated"})
	var body map[string]any
	_ = json.Unmarshal(over, &body)
	if code != 429 || body["reason"] != "per_user_limit_exceeded:1" || body["activeUser"] != 1.0 || body["activeGlobal"] != 1.0 ||
		body["error"] != "Too many concurrent workflow executions" {
		t.Fatalf("per-user limit: %d %s", code, over)
	}
	var again map[string]any
	s.mustJSON("POST", "/api/triggers/manual/run", s.token, map[string]any{"workflowId": "gated", "clientRequestId": "req-000001"}, 200, &again)
	if again["executionId"] != first["executionId"] {
		t.Fatalf("idempotent run: %v vs %v", again, first)
	}

	// A second user fills the global limit.
	var inv struct{ Code string }
	s.mustJSON("POST", "/api/admin/invites", s.token, map[string]any{"email": "two@example.com"}, 201, &inv)
	var reg struct{ SessionToken string }
	s.mustJSON("POST", "/auth/email/register", "", map[string]any{"email": "two@example.com", "password": "another long passphrase",
		"inviteCode": inv.Code}, 200, &reg)
	other := &server{t: t, url: s.url, token: reg.SessionToken, cfg: s.cfg}
	other.syncWorkflow("gated", wait)
	other.mustJSON("POST", "/api/triggers/manual/run", other.token, map[string]any{"workflowId": "gated"}, 202, nil)
	var trig struct{ ID string }
	s.mustJSON("POST", "/api/triggers", s.token, map[string]any{"workflowId": "gated", "name": "hook",
		"config": map[string]any{"type": "webhook", "path": "gated"}}, 201, &trig)
	wcode, wbody := s.post("POST", "/webhooks/gated", []byte(`{}`), nil)
	if wcode != 429 || wbody["reason"] != "per_user_limit_exceeded:1" || wbody["received"] != true || wbody["queued"] != false {
		t.Fatalf("webhook at the limit: %d %v", wcode, wbody)
	}
	// The other user is under its own limit but not under the global one.
	other.syncWorkflow("second", wait)
	code, over = other.call("POST", "/api/triggers/manual/run", other.token, map[string]any{"workflowId": "second"})
	_ = json.Unmarshal(over, &body)
	if code != 429 || body["reason"] != "per_user_limit_exceeded:1" {
		t.Fatalf("other user: %d %s", code, over)
	}

	// Cancelling frees the slot; the cancelled execution's session ends.
	id := first["executionId"].(string)
	s.waitExecution(id, "waiting", statusIs(store.ExecWaitingApproval))
	var cancelled struct{ Status string }
	s.mustJSON("POST", "/api/executions/"+id+"/cancel", s.token, map[string]any{"reason": "changed my mind"}, 200, &cancelled)
	if cancelled.Status != store.ExecCancelled {
		t.Fatalf("cancel: %+v", cancelled)
	}
	e := s.execution(id)
	if e.Error == nil || *e.Error != "cancelled: changed my mind" {
		t.Fatalf("cancelled execution: %+v", e)
	}
	eventually.True(t, 30*time.Second, "the cancelled execution's session to end", func() bool { return s.sessionStatus(e.SessionID) == store.StatusTerminated })
	if code, _ := s.call("POST", "/api/executions/"+id+"/cancel", s.token, nil); code != 400 {
		t.Fatalf("cancelling twice: %d", code)
	}
	s.mustJSON("POST", "/api/triggers/"+trig.ID+"/run", s.token, map[string]any{}, 202, nil)

	// Denying an approval cancels the execution.
	var run map[string]any
	var otherList struct{ Executions []wfExecution }
	eventually.True(t, 30*time.Second, "the other user's execution to wait", func() bool {
		other.mustJSON("GET", "/api/executions?status=waiting_approval", other.token, nil, 200, &otherList)
		return len(otherList.Executions) == 1
	})
	oe := otherList.Executions[0]
	other.mustJSON("POST", "/api/executions/"+oe.ID+"/approve", other.token, map[string]any{"approve": false,
		"resumeToken": *oe.ResumeToken, "reason": "no"}, 200, &run)
	oe = other.execution(oe.ID)
	if oe.Status != store.ExecCancelled || oe.Error == nil || *oe.Error != "approval_denied: no" || stepTrace(oe.Steps) != "gate/1:cancelled" {
		t.Fatalf("denied: %+v", oe)
	}
	// Another user's execution is not found.
	if code, _ := s.call("GET", "/api/executions/"+oe.ID, s.token, nil); code != 404 {
		t.Fatalf("another user's execution: %d", code)
	}
}

// TestWorkflowSurvivesServerRestart kills the server (SIGKILL) while an
// execution's bash step runs; the runner keeps going, reconnects to the
// restarted server and delivers the result, which completes the execution
// with every step run once.
func TestWorkflowSurvivesServerRestart(t *testing.T) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			dataDir := t.TempDir()
			p := startProc(t, dataDir, storetest.URL(t, d))
			s := &server{t: t, url: "http://" + p.addr}
			var reg struct{ SessionToken string }
			s.mustJSON("POST", "/auth/email/register", "", map[string]any{"email": "owner@example.com", "password": "a long passphrase"}, 200, &reg)
			s.token = reg.SessionToken
			s.syncWorkflow("slow", `{"steps":[
				{"id":"one","type":"bash","command":"echo one >> runs.txt; while [ ! -f go ]; do sleep 0.1; done"},
				{"id":"two","type":"bash","command":"echo two >> runs.txt; cat runs.txt","outputVariable":"runs"}]}`)
			var run map[string]any
			s.mustJSON("POST", "/api/triggers/manual/run", s.token, map[string]any{"workflowId": "slow"}, 202, &run)
			id, sess := run["executionId"].(string), run["sessionId"].(string)
			ws := filepath.Join(dataDir, "workspaces", sess)
			eventually.True(t, 30*time.Second, "step one to start", func() bool {
				b, _ := os.ReadFile(filepath.Join(ws, "runs.txt"))
				return string(b) == "one\n"
			})
			p.kill()
			// The step finishes while the server is down.
			if err := os.WriteFile(filepath.Join(ws, "go"), nil, 0o600); err != nil {
				t.Fatal(err)
			}
			time.Sleep(500 * time.Millisecond)
			p.start()
			e := s.waitExecution(id, "completed", statusIs(store.ExecCompleted))
			if stepTrace(e.Steps) != "one/1:completed two/1:completed" || !strings.Contains(fmt.Sprint(e.Outputs["runs"]), "one\ntwo") ||
				strings.Count(fmt.Sprint(e.Outputs["runs"]), "one") != 1 {
				t.Fatalf("after the restart: %s %v", stepTrace(e.Steps), e.Outputs)
			}
			eventually.True(t, 30*time.Second, "the workflow session to end", func() bool { return s.sessionStatus(sess) == store.StatusTerminated })
		})
	}
}

// TestWebhookPayloadWithNUL: a sender's JSON may hold \u0000, which
// neither database stores; the delivery is accepted and the character
// reaches the workflow's variables as U+FFFD.
func TestWebhookPayloadWithNUL(t *testing.T) {
	eachDialect(t, func(t *testing.T, d store.Dialect) {
		s := startServer(t, d, "external")
		s.syncWorkflow("quick", `{"steps":[{"id":"a","type":"bash","command":"true"}]}`)
		s.mustJSON("POST", "/api/triggers", s.token, map[string]any{"workflowId": "quick", "name": "open",
			"config": map[string]any{"type": "webhook", "path": "nul"}, "variableMapping": map[string]any{"ref": "$.ref"}}, 201, nil)
		code, reply := s.post("POST", "/webhooks/nul", []byte(`{"ref":"main\u0000x"}`), nil)
		if code != 202 {
			t.Fatalf("delivery: %d %v", code, reply)
		}
		e := s.execution(reply["executionId"].(string))
		if e.Variables["ref"] != "main\uFFFDx" {
			t.Fatalf("variables: %v", e.Variables)
		}
	})
}
