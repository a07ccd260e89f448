package api

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/agentops/agentops/app/workflow"
	"github.com/agentops/agentops/store"
)

func bindTriggers(s *Server, m *http.ServeMux) {
	m.HandleFunc("GET /api/triggers", s.requireUser(s.listTriggers))
	m.HandleFunc("POST /api/triggers", s.requireUser(s.createTrigger))
	m.HandleFunc("POST /api/triggers/manual/run", s.requireUser(s.manualRun))
	m.HandleFunc("GET /api/triggers/{id}", s.requireUser(s.getTrigger))
	m.HandleFunc("PATCH /api/triggers/{id}", s.requireUser(s.updateTrigger))
	m.HandleFunc("DELETE /api/triggers/{id}", s.requireUser(s.deleteTrigger))
	m.HandleFunc("POST /api/triggers/{id}/enable", s.requireUser(s.enableTrigger))
	m.HandleFunc("POST /api/triggers/{id}/disable", s.requireUser(s.disableTrigger))
	m.HandleFunc("POST /api/triggers/{id}/run", s.requireUser(s.runTrigger))
}

type triggerJSON struct {
	ID              string          `json:"id"`
	WorkflowID      *string         `json:"workflowId"`
	WorkflowName    *string         `json:"workflowName"`
	Name            string          `json:"name"`
	Enabled         bool            `json:"enabled"`
	Type            string          `json:"type"`
	Config          map[string]any  `json:"config"`
	VariableMapping json.RawMessage `json:"variableMapping"`
	LastRunAt       *string         `json:"lastRunAt"`
	CreatedAt       string          `json:"createdAt"`
	UpdatedAt       string          `json:"updatedAt"`
	WebhookURL      string          `json:"webhookUrl,omitempty"`
	NextRuns        []string        `json:"nextRuns,omitempty"`
}

func (s *Server) toTriggerJSON(v *workflow.TriggerView) triggerJSON {
	c := v.Config
	cfg := map[string]any{"type": c.Type}
	switch c.Type {
	case store.TriggerWebhook:
		// The secret is never shown: hasSecret says whether there is one.
		cfg["path"], cfg["method"], cfg["hasSecret"] = c.Path, c.Method, v.HasSecret
		if len(c.Headers) > 0 {
			cfg["headers"] = c.Headers
		}
	case store.TriggerSchedule:
		cfg["cron"], cfg["timezone"], cfg["target"] = c.Cron, c.Timezone, c.Target
	}
	out := triggerJSON{ID: v.ID, WorkflowID: strPtr(v.WorkflowID), WorkflowName: strPtr(v.WorkflowName), Name: v.Name,
		Enabled: v.Enabled, Type: v.Type, Config: cfg, VariableMapping: v.VariableMapping, LastRunAt: isoTimePtr(v.LastRunAt),
		CreatedAt: isoTime(v.CreatedAt), UpdatedAt: isoTime(v.UpdatedAt)}
	if len(out.VariableMapping) == 0 {
		out.VariableMapping = json.RawMessage("null")
	}
	if v.Type == store.TriggerWebhook {
		out.WebhookURL = s.workflows.WebhookURL(c.Path)
	}
	for _, t := range v.NextRuns {
		out.NextRuns = append(out.NextRuns, isoTime(t))
	}
	return out
}

func (s *Server) listTriggers(w http.ResponseWriter, r *http.Request) {
	list, err := s.workflows.ListTriggers(r.Context(), principal(r).User.ID, r.URL.Query().Get("workflowId"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := make([]triggerJSON, 0, len(list))
	for _, v := range list {
		out = append(out, s.toTriggerJSON(v))
	}
	writeJSON(w, http.StatusOK, map[string]any{"triggers": out})
}

func (s *Server) getTrigger(w http.ResponseWriter, r *http.Request) {
	v, err := s.workflows.GetTrigger(r.Context(), principal(r).User.ID, r.PathValue("id"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"trigger": s.toTriggerJSON(v)})
}

type triggerRequest struct {
	WorkflowID      *string         `json:"workflowId"`
	Name            *string         `json:"name"`
	Enabled         *bool           `json:"enabled"`
	Config          json.RawMessage `json:"config"`
	VariableMapping json.RawMessage `json:"variableMapping"`
}

// createTrigger answers 201 with the bare trigger, as upstream does.
func (s *Server) createTrigger(w http.ResponseWriter, r *http.Request) {
	var req triggerRequest
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	for _, f := range []struct {
		name string
		ok   bool
	}{{"workflowId", req.WorkflowID != nil}, {"name", req.Name != nil}, {"config", len(req.Config) > 0}} {
		if err := required(f.name, f.ok); err != nil {
			writeError(w, r, err)
			return
		}
	}
	v, err := s.workflows.CreateTrigger(r.Context(), principal(r).User.ID, workflow.TriggerInput{
		WorkflowID: *req.WorkflowID, Name: *req.Name, Enabled: req.Enabled, Config: req.Config, VariableMapping: req.VariableMapping})
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, s.toTriggerJSON(v))
}

type triggerPatchRequest struct {
	WorkflowID      *string                            `json:"workflowId"`
	Name            *string                            `json:"name"`
	Enabled         *bool                              `json:"enabled"`
	Config          json.RawMessage                    `json:"config"`
	VariableMapping workflow.Optional[json.RawMessage] `json:"variableMapping"`
}

func (s *Server) updateTrigger(w http.ResponseWriter, r *http.Request) {
	var req triggerPatchRequest
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	if string(req.Config) == "null" {
		req.Config = nil
	}
	v, err := s.workflows.UpdateTrigger(r.Context(), principal(r).User.ID, r.PathValue("id"), workflow.TriggerPatch{
		WorkflowID: req.WorkflowID, Name: req.Name, Enabled: req.Enabled, Config: req.Config, VariableMapping: req.VariableMapping})
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "updatedAt": isoTime(v.UpdatedAt), "trigger": s.toTriggerJSON(v)})
}

func (s *Server) deleteTrigger(w http.ResponseWriter, r *http.Request) {
	if err := s.workflows.DeleteTrigger(r.Context(), principal(r).User.ID, r.PathValue("id")); err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"success": true})
}

func (s *Server) enableTrigger(w http.ResponseWriter, r *http.Request) {
	s.setTriggerEnabled(w, r, true)
}
func (s *Server) disableTrigger(w http.ResponseWriter, r *http.Request) {
	s.setTriggerEnabled(w, r, false)
}

func (s *Server) setTriggerEnabled(w http.ResponseWriter, r *http.Request, enabled bool) {
	if err := s.workflows.SetTriggerEnabled(r.Context(), principal(r).User.ID, r.PathValue("id"), enabled); err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"success": true})
}

// runRequest is a manual run's body; every top-level key is also kept for
// a trigger's variable mapping.
type runRequest struct {
	WorkflowID         string         `json:"workflowId"`
	ClientRequestID    string         `json:"clientRequestId"`
	Variables          map[string]any `json:"variables"`
	RepoURL            string         `json:"repoUrl"`
	Branch             string         `json:"branch"`
	Ref                string         `json:"ref"`
	SourceRepoFullName string         `json:"sourceRepoFullName"`
}

func decodeRun(w http.ResponseWriter, r *http.Request) (workflow.RunInput, error) {
	var raw json.RawMessage
	if r.ContentLength == 0 {
		raw = json.RawMessage(`{}`) // a run needs no body
	} else if err := decodeJSON(w, r, &raw); err != nil {
		return workflow.RunInput{}, err
	}
	var req runRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		return workflow.RunInput{}, jsonError(err)
	}
	var body map[string]any
	_ = json.Unmarshal(raw, &body)
	return workflow.RunInput{WorkflowID: req.WorkflowID, ClientRequestID: req.ClientRequestID, Variables: req.Variables,
		Body: body, RepoURL: req.RepoURL, Branch: req.Branch, Ref: req.Ref, SourceRepoFullName: req.SourceRepoFullName}, nil
}

// writeRun answers a run: 202 for a new execution, 200 when the
// clientRequestId was used already.
func (s *Server) writeRun(w http.ResponseWriter, started *workflow.Started) {
	e := started.Execution
	vars := json.RawMessage(e.Variables)
	body := map[string]any{"executionId": e.ID, "workflowId": e.WorkflowID, "workflowName": e.WorkflowName,
		"status": e.Status, "variables": vars, "sessionId": strPtr(e.SessionID), "dispatched": started.Dispatched}
	status := http.StatusAccepted
	if started.Duplicate {
		status = http.StatusOK
		body["dispatched"] = e.DispatchedAt != (time.Time{})
		body["message"] = "This clientRequestId started an execution already"
	} else {
		body["message"] = "Workflow execution started"
	}
	writeJSON(w, status, body)
}

func (s *Server) manualRun(w http.ResponseWriter, r *http.Request) {
	in, err := decodeRun(w, r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	started, err := s.workflows.RunWorkflow(r.Context(), principal(r).User.ID, in)
	if err != nil {
		writeError(w, r, err)
		return
	}
	s.writeRun(w, started)
}

func (s *Server) runTrigger(w http.ResponseWriter, r *http.Request) {
	in, err := decodeRun(w, r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	started, err := s.workflows.RunTrigger(r.Context(), principal(r).User.ID, r.PathValue("id"), in)
	if err != nil {
		writeError(w, r, err)
		return
	}
	s.writeRun(w, started)
}
