package api

import (
	"encoding/json"
	"net/http"

	"github.com/agentops/agentops/app/workflow"
	"github.com/agentops/agentops/store"
)

func bindExecutions(s *Server, m *http.ServeMux) {
	m.HandleFunc("GET /api/executions", s.requireUser(s.listExecutions))
	m.HandleFunc("GET /api/executions/{id}", s.requireUser(s.getExecution))
	m.HandleFunc("GET /api/executions/{id}/steps", s.requireUser(s.executionSteps))
	m.HandleFunc("POST /api/executions/{id}/cancel", s.requireUser(s.cancelExecution))
	m.HandleFunc("POST /api/executions/{id}/approve", s.requireUser(s.approveExecution))
	m.HandleFunc("POST /api/executions/{id}/complete", s.requireUser(s.completeExecution))
}

type approvalJSON struct {
	StepID      string `json:"stepId"`
	Prompt      string `json:"prompt"`
	RequestedAt string `json:"requestedAt"`
}

type executionJSON struct {
	ID              string          `json:"id"`
	WorkflowID      string          `json:"workflowId"`
	WorkflowName    string          `json:"workflowName"`
	WorkflowVersion string          `json:"workflowVersion"`
	WorkflowHash    string          `json:"workflowHash"`
	SessionID       *string         `json:"sessionId"`
	TriggerID       *string         `json:"triggerId"`
	TriggerName     *string         `json:"triggerName,omitempty"`
	Status          string          `json:"status"`
	TriggerType     string          `json:"triggerType"`
	TriggerMetadata json.RawMessage `json:"triggerMetadata"`
	Variables       json.RawMessage `json:"variables"`
	ResumeToken     *string         `json:"resumeToken"`
	Approval        *approvalJSON   `json:"approval"`
	Outputs         json.RawMessage `json:"outputs"`
	Steps           []stepJSON      `json:"steps,omitempty"`
	Error           *string         `json:"error"`
	AttemptCount    int             `json:"attemptCount"`
	StartedAt       string          `json:"startedAt"`
	CompletedAt     *string         `json:"completedAt"`
}

func rawOrNull(b json.RawMessage) json.RawMessage {
	if len(b) == 0 {
		return json.RawMessage("null")
	}
	return b
}

func toExecutionJSON(e *store.Execution) executionJSON {
	out := executionJSON{ID: e.ID, WorkflowID: e.WorkflowID, WorkflowName: e.WorkflowName, WorkflowVersion: e.WorkflowVersion,
		WorkflowHash: e.WorkflowHash, SessionID: strPtr(e.SessionID), TriggerID: strPtr(e.TriggerID), Status: e.Status,
		TriggerType: e.TriggerType, TriggerMetadata: rawOrNull(e.TriggerMetadata), Variables: rawOrNull(e.Variables),
		ResumeToken: strPtr(e.ResumeToken), Outputs: rawOrNull(e.Outputs), Error: strPtr(e.Error), AttemptCount: e.AttemptCount,
		StartedAt: isoTime(e.StartedAt), CompletedAt: isoTimePtr(e.CompletedAt)}
	if e.Status == store.ExecWaitingApproval {
		out.Approval = &approvalJSON{StepID: e.ResumeStepID, Prompt: e.ApprovalPrompt, RequestedAt: isoTime(e.ApprovalRequestedAt)}
	}
	return out
}

func toExecutionsJSON(list []store.Execution) []executionJSON {
	out := make([]executionJSON, 0, len(list))
	for i := range list {
		out = append(out, toExecutionJSON(&list[i]))
	}
	return out
}

type stepJSON struct {
	ID                string          `json:"id"`
	ExecutionID       string          `json:"executionId"`
	StepID            string          `json:"stepId"`
	Attempt           int             `json:"attempt"`
	Status            string          `json:"status"`
	Input             json.RawMessage `json:"input"`
	Output            json.RawMessage `json:"output"`
	Error             *string         `json:"error"`
	StartedAt         *string         `json:"startedAt"`
	CompletedAt       *string         `json:"completedAt"`
	CreatedAt         string          `json:"createdAt"`
	WorkflowStepIndex *int            `json:"workflowStepIndex"`
	Sequence          int64           `json:"sequence"`
}

func toStepsJSON(steps []store.ExecutionStep) []stepJSON {
	out := make([]stepJSON, 0, len(steps))
	for _, st := range steps {
		out = append(out, stepJSON{ID: st.ID, ExecutionID: st.ExecutionID, StepID: st.StepID, Attempt: st.Attempt, Status: st.Status,
			Input: rawOrNull(st.Input), Output: rawOrNull(st.Output), Error: strPtr(st.Error), StartedAt: isoTimePtr(st.StartedAt),
			CompletedAt: isoTimePtr(st.CompletedAt), CreatedAt: isoTime(st.CreatedAt), WorkflowStepIndex: st.WorkflowStepIndex,
			Sequence: st.Seq})
	}
	return out
}

func (s *Server) listExecutions(w http.ResponseWriter, r *http.Request) {
	limit, offset, err := pageParams(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	list, err := s.workflows.ListExecutions(r.Context(), principal(r).User.ID,
		workflow.ExecutionFilter{WorkflowID: q.Get("workflowId"), Status: q.Get("status")}, limit, offset)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"executions": toExecutionsJSON(list), "limit": limit, "offset": offset})
}

func (s *Server) getExecution(w http.ResponseWriter, r *http.Request) {
	d, err := s.workflows.GetExecution(r.Context(), principal(r).User.ID, r.PathValue("id"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := toExecutionJSON(d.Execution)
	out.TriggerName = strPtr(d.TriggerName)
	out.Steps = toStepsJSON(d.Steps)
	writeJSON(w, http.StatusOK, map[string]any{"execution": out})
}

func (s *Server) executionSteps(w http.ResponseWriter, r *http.Request) {
	steps, err := s.workflows.Steps(r.Context(), principal(r).User.ID, r.PathValue("id"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"steps": toStepsJSON(steps)})
}

func (s *Server) cancelExecution(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Reason string `json:"reason"`
	}
	if r.ContentLength != 0 {
		if err := decodeJSON(w, r, &req); err != nil {
			writeError(w, r, err)
			return
		}
	}
	e, err := s.workflows.Cancel(r.Context(), principal(r).User.ID, r.PathValue("id"), req.Reason)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "status": e.Status})
}

func (s *Server) approveExecution(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Approve     *bool  `json:"approve"`
		ResumeToken string `json:"resumeToken"`
		Reason      string `json:"reason"`
	}
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	if err := required("approve", req.Approve != nil); err != nil {
		writeError(w, r, err)
		return
	}
	e, err := s.workflows.Approve(r.Context(), principal(r).User.ID, r.PathValue("id"), workflow.ApproveInput{
		Approve: *req.Approve, ResumeToken: req.ResumeToken, Reason: req.Reason})
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "status": e.Status})
}

func (s *Server) completeExecution(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Status  *string               `json:"status"`
		Outputs json.RawMessage       `json:"outputs"`
		Steps   []workflow.StepReport `json:"steps"`
		Error   string                `json:"error"`
	}
	if err := decodeJSONLimit(w, r, &req, 8<<20); err != nil {
		writeError(w, r, err)
		return
	}
	if err := required("status", req.Status != nil); err != nil {
		writeError(w, r, err)
		return
	}
	e, err := s.workflows.Complete(r.Context(), principal(r).User.ID, r.PathValue("id"), workflow.CompleteInput{
		Status: *req.Status, Outputs: req.Outputs, Steps: req.Steps, Error: req.Error})
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "status": e.Status, "completedAt": isoTimePtr(e.CompletedAt)})
}
