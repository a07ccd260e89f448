package app_test

import (
	"encoding/json"
	"testing"

	"github.com/agentops/agentops/store"
)

// TestWorkflowAPIBadInput: malformed and invalid requests to the workflow
// routes get a 4xx with the common error body naming the field, and change
// nothing.
func TestWorkflowAPIBadInput(t *testing.T) {
	s := startServer(t, store.SQLite, "local")
	s.syncWorkflow("w", `{"steps":[{"id":"a","type":"bash","command":"true"}]}`)
	var before struct{ Workflows []map[string]any }
	s.mustJSON("GET", "/api/workflows", s.token, nil, 200, &before)

	cases := []struct {
		method, path string
		body         any
		status       int
		code, field  string
	}{
		{"POST", "/api/workflows/sync", `{not json`, 400, "VALIDATION_ERROR", ""},
		{"POST", "/api/workflows/sync", map[string]any{"name": "x", "data": map[string]any{"steps": []any{}}}, 400, "VALIDATION_ERROR", "id"},
		{"POST", "/api/workflows/sync", map[string]any{"id": "bad id!", "name": "x", "data": map[string]any{"steps": []any{}}}, 400, "VALIDATION_ERROR", "id"},
		{"POST", "/api/workflows/sync", map[string]any{"id": "w", "name": 5, "data": map[string]any{}}, 400, "VALIDATION_ERROR", "name"},
		{"POST", "/api/workflows/sync", map[string]any{"id": "w", "name": "x"}, 400, "VALIDATION_ERROR", "data"},
		{"POST", "/api/workflows/sync", map[string]any{"id": "w", "name": "x", "data": map[string]any{"steps": []any{
			map[string]any{"id": "a", "type": "bash", "command": "x"}, map[string]any{"id": "b", "type": "parallel",
				"steps": []any{map[string]any{"id": "c", "type": "bash", "timeoutMs": 5}}}}}}, 400, "VALIDATION_ERROR", "steps[1].steps[0].command"},
		{"POST", "/api/workflows/sync-all", map[string]any{}, 400, "VALIDATION_ERROR", "workflows"},
		{"PUT", "/api/workflows/w", map[string]any{"slug": 5}, 400, "VALIDATION_ERROR", "slug"},
		{"PUT", "/api/workflows/w", map[string]any{"data": map[string]any{"steps": "x"}}, 400, "VALIDATION_ERROR", "steps"},
		{"PUT", "/api/workflows/w", map[string]any{"enabled": "yes"}, 400, "VALIDATION_ERROR", "enabled"},
		{"PUT", "/api/workflows/nope", map[string]any{"name": "x"}, 404, "NOT_FOUND", ""},
		{"POST", "/api/workflows/w/rollback", map[string]any{}, 400, "VALIDATION_ERROR", "targetWorkflowHash"},
		{"GET", "/api/workflows/w/history?limit=0", nil, 400, "VALIDATION_ERROR", "limit"},
		{"POST", "/api/triggers", map[string]any{"workflowId": "w", "name": "t"}, 400, "VALIDATION_ERROR", "config"},
		{"POST", "/api/triggers", map[string]any{"workflowId": "w", "name": "t", "config": map[string]any{"type": "schedule", "cron": "61 * * * *"}}, 400, "VALIDATION_ERROR", "config.cron"},
		{"POST", "/api/triggers", map[string]any{"workflowId": "w", "name": "t", "config": map[string]any{"type": "schedule", "cron": "* * * * *", "timezone": "Atlantis"}}, 400, "VALIDATION_ERROR", "config.timezone"},
		{"POST", "/api/triggers", map[string]any{"workflowId": "w", "name": "t", "config": map[string]any{"type": "webhook", "path": "x"}, "variableMapping": map[string]any{"v": "a.b"}}, 400, "VALIDATION_ERROR", "variableMapping.v"},
		{"POST", "/api/triggers", map[string]any{"workflowId": "nope", "name": "t", "config": map[string]any{"type": "manual"}}, 404, "NOT_FOUND", ""},
		{"PATCH", "/api/triggers/nope", map[string]any{"name": "x"}, 404, "NOT_FOUND", ""},
		{"POST", "/api/triggers/manual/run", map[string]any{}, 400, "VALIDATION_ERROR", "workflowId"},
		{"POST", "/api/triggers/manual/run", map[string]any{"workflowId": "w", "clientRequestId": "short"}, 400, "VALIDATION_ERROR", "clientRequestId"},
		{"POST", "/api/triggers/manual/run", map[string]any{"workflowId": "w", "variables": "x"}, 400, "VALIDATION_ERROR", "variables"},
		{"POST", "/api/triggers/manual/run", map[string]any{"workflowId": "nope"}, 404, "NOT_FOUND", ""},
		{"GET", "/api/executions?status=done", nil, 400, "VALIDATION_ERROR", "status"},
		{"GET", "/api/executions/nope", nil, 404, "NOT_FOUND", ""},
		{"POST", "/api/executions/nope/approve", map[string]any{"approve": true, "resumeToken": "x"}, 404, "NOT_FOUND", ""},
		{"POST", "/api/executions/nope/approve", map[string]any{"resumeToken": "x"}, 400, "VALIDATION_ERROR", "approve"},
		{"POST", "/api/executions/nope/complete", map[string]any{"status": "done"}, 400, "VALIDATION_ERROR", "status"},
	}
	for _, c := range cases {
		if str, ok := c.body.(string); ok {
			code, reply := s.post(c.method, c.path, []byte(str), map[string]string{"Authorization": "Bearer " + s.token})
			if code != c.status || reply["code"] != c.code {
				t.Errorf("%s %s %q: %d %v, want %d %s", c.method, c.path, str, code, reply, c.status, c.code)
			}
			continue
		}
		code, raw := s.call(c.method, c.path, s.token, c.body)
		var body struct {
			Error   string
			Code    string
			Details map[string]any
		}
		_ = json.Unmarshal(raw, &body)
		field, _ := body.Details["field"].(string)
		if code != c.status || body.Code != c.code || body.Error == "" || field != c.field {
			t.Errorf("%s %s %v:\n got %d %s\nwant %d %s field %q", c.method, c.path, c.body, code, raw, c.status, c.code, c.field)
		}
	}
	var after struct{ Workflows []map[string]any }
	s.mustJSON("GET", "/api/workflows", s.token, nil, 200, &after)
	if len(after.Workflows) != 1 || after.Workflows[0]["workflowHash"] != before.Workflows[0]["workflowHash"] || s.executionCount() != 0 {
		t.Fatalf("bad input changed something: %v", after.Workflows)
	}
	var hist struct{ History []map[string]any }
	s.mustJSON("GET", "/api/workflows/w/history", s.token, nil, 200, &hist)
	if len(hist.History) != 1 {
		t.Fatalf("history: %d snapshots", len(hist.History))
	}
	// Unauthenticated callers get nothing.
	if code, _ := s.call("GET", "/api/workflows", "", nil); code != 401 {
		t.Fatalf("no token: %d", code)
	}
}
