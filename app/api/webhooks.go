package api

import (
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/app/workflow"
)

func bindWebhooks(s *Server, m *http.ServeMux) {
	// Any method: the trigger says which one it takes (405 otherwise).
	m.HandleFunc("/webhooks/{path...}", s.webhook)
}

// webhook serves /webhooks/<path>: public, authenticated by the trigger's
// HMAC secret when it has one. Replies keep upstream's shapes.
func (s *Server) webhook(w http.ResponseWriter, r *http.Request) {
	limit := s.workflows.WebhookMaxBodyBytes()
	tooLarge := func() {
		msg := fmt.Sprintf("Request body is larger than %d bytes", limit)
		writeError(w, r, &apperr.Error{Kind: apperr.KindTooLarge, Message: msg,
			Extra: map[string]any{"received": true, "message": msg}, Details: map[string]any{"limit": limit}})
	}
	// A webhook is signed over its body, so it is read before anything is
	// checked: within the size cap, and the body deadline of every route.
	if r.ContentLength > limit {
		tooLarge()
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			tooLarge()
			return
		}
		if errors.Is(err, errBodyTooSlow) {
			writeError(w, r, err)
			return
		}
		writeError(w, r, apperr.Invalid("", "Could not read the request body"))
		return
	}
	started, err := s.workflows.Deliver(r.Context(), workflow.Delivery{Path: r.PathValue("path"), Method: r.Method,
		Header: r.Header, Query: r.URL.Query(), Body: body})
	if err != nil {
		writeError(w, r, err)
		return
	}
	e := started.Execution
	reply := map[string]any{"received": true, "executionId": e.ID, "workflowId": e.WorkflowID, "workflowName": e.WorkflowName,
		"status": e.Status, "sessionId": strPtr(e.SessionID)}
	if started.Duplicate {
		reply["deduplicated"] = true
		reply["message"] = "Duplicate delivery: this delivery started an execution already"
		writeJSON(w, http.StatusOK, reply)
		return
	}
	reply["dispatched"] = started.Dispatched
	reply["message"] = "Workflow execution started"
	writeJSON(w, http.StatusAccepted, reply)
}
