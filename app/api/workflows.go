package api

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/agentops/agentops/app/workflow"
	"github.com/agentops/agentops/store"
)

func bindWorkflows(s *Server, m *http.ServeMux) {
	m.HandleFunc("GET /api/workflows", s.requireUser(s.listWorkflows))
	m.HandleFunc("POST /api/workflows/sync", s.requireUser(s.syncWorkflow))
	m.HandleFunc("POST /api/workflows/sync-all", s.requireUser(s.syncAllWorkflows))
	m.HandleFunc("GET /api/workflows/{id}", s.requireUser(s.getWorkflow))
	m.HandleFunc("PUT /api/workflows/{id}", s.requireUser(s.updateWorkflow))
	m.HandleFunc("DELETE /api/workflows/{id}", s.requireUser(s.deleteWorkflow))
	m.HandleFunc("GET /api/workflows/{id}/executions", s.requireUser(s.workflowExecutions))
	m.HandleFunc("GET /api/workflows/{id}/history", s.requireUser(s.workflowHistory))
	m.HandleFunc("POST /api/workflows/{id}/rollback", s.requireUser(s.rollbackWorkflow))
}

// syncAllMaxBytes bounds a sync-all body (up to 500 definitions).
const syncAllMaxBytes = 32 << 20

type workflowJSON struct {
	ID           string          `json:"id"`
	Slug         *string         `json:"slug"`
	Name         string          `json:"name"`
	Description  *string         `json:"description"`
	Version      string          `json:"version"`
	Data         json.RawMessage `json:"data"`
	Enabled      bool            `json:"enabled"`
	Tags         []string        `json:"tags"`
	WorkflowHash string          `json:"workflowHash"`
	CreatedAt    string          `json:"createdAt"`
	UpdatedAt    string          `json:"updatedAt"`
}

func toWorkflowJSON(w *store.Workflow) workflowJSON {
	return workflowJSON{ID: w.ID, Slug: strPtr(w.Slug), Name: w.Name, Description: strPtr(w.Description), Version: w.Version,
		Data: w.Data, Enabled: w.Enabled, Tags: workflow.Tags(w), WorkflowHash: w.Hash,
		CreatedAt: isoTime(w.CreatedAt), UpdatedAt: isoTime(w.UpdatedAt)}
}

func (s *Server) listWorkflows(w http.ResponseWriter, r *http.Request) {
	list, err := s.workflows.List(r.Context(), principal(r).User.ID)
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := make([]workflowJSON, 0, len(list))
	for i := range list {
		out = append(out, toWorkflowJSON(&list[i]))
	}
	writeJSON(w, http.StatusOK, map[string]any{"workflows": out})
}

func (s *Server) getWorkflow(w http.ResponseWriter, r *http.Request) {
	wf, err := s.workflows.Get(r.Context(), principal(r).User.ID, r.PathValue("id"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"workflow": toWorkflowJSON(wf)})
}

type syncRequest struct {
	ID          *string         `json:"id"`
	Slug        *string         `json:"slug"`
	Name        *string         `json:"name"`
	Description *string         `json:"description"`
	Version     string          `json:"version"`
	Data        json.RawMessage `json:"data"`
	Tags        *[]string       `json:"tags"`
	Enabled     *bool           `json:"enabled"`
}

func (q *syncRequest) input(prefix string) (workflow.SyncInput, error) {
	for _, f := range []struct {
		name string
		ok   bool
	}{{"id", q.ID != nil}, {"name", q.Name != nil}, {"data", len(q.Data) > 0 && string(q.Data) != "null"}} {
		if err := required(prefix+f.name, f.ok); err != nil {
			return workflow.SyncInput{}, err
		}
	}
	return workflow.SyncInput{ID: *q.ID, Slug: q.Slug, Name: *q.Name, Description: q.Description, Version: q.Version,
		Data: q.Data, Tags: q.Tags, Enabled: q.Enabled}, nil
}

func (s *Server) syncWorkflow(w http.ResponseWriter, r *http.Request) {
	var req syncRequest
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	in, err := req.input("")
	if err != nil {
		writeError(w, r, err)
		return
	}
	wf, err := s.workflows.Sync(r.Context(), principal(r).User.ID, in)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "id": wf.ID, "workflow": toWorkflowJSON(wf)})
}

func (s *Server) syncAllWorkflows(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Workflows *[]syncRequest `json:"workflows"`
	}
	if err := decodeJSONLimit(w, r, &req, syncAllMaxBytes); err != nil {
		writeError(w, r, err)
		return
	}
	if err := required("workflows", req.Workflows != nil); err != nil {
		writeError(w, r, err)
		return
	}
	ins := make([]workflow.SyncInput, 0, len(*req.Workflows))
	for i := range *req.Workflows {
		in, err := (*req.Workflows)[i].input("workflows[" + strconv.Itoa(i) + "].")
		if err != nil {
			writeError(w, r, err)
			return
		}
		ins = append(ins, in)
	}
	synced, deleted, err := s.workflows.SyncAll(r.Context(), principal(r).User.ID, ins)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "synced": synced, "deleted": deleted})
}

type updateWorkflowRequest struct {
	Name        *string                   `json:"name"`
	Description workflow.Optional[string] `json:"description"`
	Slug        workflow.Optional[string] `json:"slug"`
	Version     *string                   `json:"version"`
	Enabled     *bool                     `json:"enabled"`
	Tags        *[]string                 `json:"tags"`
	Data        json.RawMessage           `json:"data"`
}

func (s *Server) updateWorkflow(w http.ResponseWriter, r *http.Request) {
	var req updateWorkflowRequest
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	wf, err := s.workflows.Update(r.Context(), principal(r).User.ID, r.PathValue("id"), workflow.Patch{
		Name: req.Name, Description: req.Description, Slug: req.Slug, Version: req.Version, Enabled: req.Enabled,
		Tags: req.Tags, Data: req.Data})
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"workflow": toWorkflowJSON(wf)})
}

func (s *Server) deleteWorkflow(w http.ResponseWriter, r *http.Request) {
	if err := s.workflows.Delete(r.Context(), principal(r).User.ID, r.PathValue("id")); err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"success": true})
}

// pageParams reads ?limit= (1–200, default 50) and ?offset= (default 0).
func pageParams(r *http.Request) (limit, offset int, err error) {
	if limit, err = queryInt(r, "limit", 50, 1, 200); err != nil {
		return 0, 0, err
	}
	offset, err = queryInt(r, "offset", 0, 0, 1<<30)
	return limit, offset, err
}

func (s *Server) workflowExecutions(w http.ResponseWriter, r *http.Request) {
	limit, offset, err := pageParams(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	list, err := s.workflows.WorkflowExecutions(r.Context(), principal(r).User.ID, r.PathValue("id"), limit, offset)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"executions": toExecutionsJSON(list)})
}

type versionJSON struct {
	ID               string          `json:"id"`
	WorkflowID       string          `json:"workflowId"`
	Version          string          `json:"version"`
	Name             string          `json:"name"`
	WorkflowHash     string          `json:"workflowHash"`
	WorkflowData     json.RawMessage `json:"workflowData"`
	Source           string          `json:"source"`
	SourceProposalID *string         `json:"sourceProposalId"`
	Notes            *string         `json:"notes"`
	CreatedBy        *string         `json:"createdBy"`
	CreatedAt        string          `json:"createdAt"`
	Sequence         int64           `json:"sequence"`
}

func (s *Server) workflowHistory(w http.ResponseWriter, r *http.Request) {
	limit, offset, err := pageParams(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	wf, hist, err := s.workflows.History(r.Context(), principal(r).User.ID, r.PathValue("id"), limit, offset)
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := make([]versionJSON, 0, len(hist))
	for _, v := range hist {
		out = append(out, versionJSON{ID: v.ID, WorkflowID: wf.ID, Version: v.Version, Name: v.Name, WorkflowHash: v.Hash,
			WorkflowData: v.Data, Source: v.Source, Notes: strPtr(v.Notes), CreatedBy: strPtr(v.CreatedBy),
			CreatedAt: isoTime(v.CreatedAt), Sequence: v.Seq})
	}
	writeJSON(w, http.StatusOK, map[string]any{"currentWorkflowHash": wf.Hash, "history": out})
}

func (s *Server) rollbackWorkflow(w http.ResponseWriter, r *http.Request) {
	var req struct {
		TargetWorkflowHash *string `json:"targetWorkflowHash"`
		Version            *string `json:"version"`
		Notes              string  `json:"notes"`
	}
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	if err := required("targetWorkflowHash", req.TargetWorkflowHash != nil); err != nil {
		writeError(w, r, err)
		return
	}
	wf, changed, err := s.workflows.Rollback(r.Context(), principal(r).User.ID, r.PathValue("id"), workflow.RollbackInput{
		TargetHash: *req.TargetWorkflowHash, Version: req.Version, Notes: req.Notes})
	if err != nil {
		writeError(w, r, err)
		return
	}
	body := map[string]any{"success": true, "workflow": toWorkflowJSON(wf)}
	if !changed {
		body["message"] = "The workflow already has this definition"
	}
	writeJSON(w, http.StatusOK, body)
}
