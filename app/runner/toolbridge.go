package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/google/uuid"

	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/app/runner/agent"
	"github.com/agentops/agentops/app/runner/tools"
)

// toolHandler answers the agent's MCP tool calls (tools.Bridge): memory
// through the mem-* RPCs, ask_user through a question frame whose answer
// the read loop hands back here instead of to the agent.
type toolHandler struct {
	r *runner

	mu        sync.Mutex
	waiting   map[string]chan any            // question id → its answer
	approvals map[string]chan approvalResult // invocation id → its result
}

type approvalResult struct {
	approved bool
	reason   string
}

func newToolHandler(r *runner) *toolHandler {
	return &toolHandler{r: r, waiting: map[string]chan any{}, approvals: map[string]chan approvalResult{}}
}

// deliverApproval hands an approval-result to its waiting call.
func (h *toolHandler) deliverApproval(id string, approved bool, reason string) bool {
	h.mu.Lock()
	ch := h.approvals[id]
	delete(h.approvals, id)
	h.mu.Unlock()
	if ch == nil {
		return false
	}
	ch <- approvalResult{approved, reason}
	return true
}

// Approve asks the session's owner to approve a tool call and waits for
// the answer (approval-request, approval-result); a denial carries its
// reason.
func (h *toolHandler) Approve(ctx context.Context, toolName string, args json.RawMessage, diff string) (bool, string, error) {
	id := "inv_" + uuid.NewString()
	ch := make(chan approvalResult, 1)
	h.mu.Lock()
	h.approvals[id] = ch
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.approvals, id)
		h.mu.Unlock()
	}()
	if w := h.r.cfg.ToolWaits; w != nil {
		w.Begin()
		defer w.End()
	}
	f := protocol.RunnerFrame{Type: protocol.RApprovalRequest, InvocationID: id, ToolName: toolName, Args: args, Diff: diff}
	if _, err := h.r.out.emit(ctx, f); err != nil {
		return false, "", err
	}
	select {
	case <-ctx.Done():
		return false, "", ctx.Err()
	case res := <-ch:
		return res.approved, res.reason, nil
	}
}

// permissionPrompt answers Claude Code's permission-prompt tool:
// {tool_name, input, tool_use_id} → {"behavior":"allow","updatedInput"}
// or {"behavior":"deny","message"}.
func (h *toolHandler) permissionPrompt(ctx context.Context, raw json.RawMessage) tools.Result {
	var a struct {
		ToolName string          `json:"tool_name"`
		Input    json.RawMessage `json:"input"`
	}
	if err := json.Unmarshal(raw, &a); err != nil || a.ToolName == "" {
		return tools.Errorf("permission_prompt needs tool_name and input")
	}
	if len(a.Input) == 0 {
		a.Input = json.RawMessage("{}")
	}
	deny := func(msg string) tools.Result {
		b, _ := json.Marshal(map[string]any{"behavior": "deny", "message": msg})
		return tools.Result{Text: string(b)}
	}
	ok, reason, err := h.Approve(ctx, a.ToolName, a.Input, agent.EditDiff(a.ToolName, a.Input))
	switch {
	case err != nil:
		return deny("the approval could not be asked: " + err.Error())
	case !ok:
		if reason == "" {
			reason = "denied by the user"
		}
		return deny("The user denied this: " + reason)
	}
	b, _ := json.Marshal(map[string]any{"behavior": "allow", "updatedInput": a.Input})
	return tools.Result{Text: string(b)}
}

// deliver hands an answer to a waiting ask_user; false when the question
// is not one of ours.
func (h *toolHandler) deliver(questionID string, answer any) bool {
	h.mu.Lock()
	ch := h.waiting[questionID]
	delete(h.waiting, questionID)
	h.mu.Unlock()
	if ch == nil {
		return false
	}
	ch <- answer // buffered
	return true
}

func (h *toolHandler) Call(ctx context.Context, tool string, raw json.RawMessage) tools.Result {
	var a struct {
		Path       *string         `json:"path"`
		Content    *string         `json:"content"`
		Operations json.RawMessage `json:"operations"`
		Query      *string         `json:"query"`
		Limit      *int            `json:"limit"`
		Question   *string         `json:"question"`
		Options    []string        `json:"options"`
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		return tools.Errorf("invalid arguments for " + tool + ": " + err.Error())
	}
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	missing := func(field string) tools.Result {
		return tools.Errorf(fmt.Sprintf("%s needs %q", tool, field))
	}
	var req protocol.RunnerFrame
	switch tool {
	case tools.MemoryRead:
		req = protocol.RunnerFrame{Type: protocol.RMemRead, Path: str(a.Path)}
	case tools.MemoryWrite:
		if a.Path == nil || *a.Path == "" {
			return missing("path")
		}
		if a.Content == nil {
			return missing("content")
		}
		req = protocol.RunnerFrame{Type: protocol.RMemWrite, Path: *a.Path, Content: *a.Content}
	case tools.MemoryPatch:
		if a.Path == nil || *a.Path == "" {
			return missing("path")
		}
		if len(a.Operations) == 0 {
			return missing("operations")
		}
		req = protocol.RunnerFrame{Type: protocol.RMemPatch, Path: *a.Path, Operations: a.Operations}
	case tools.MemoryDelete:
		if a.Path == nil || *a.Path == "" {
			return missing("path")
		}
		req = protocol.RunnerFrame{Type: protocol.RMemRm, Path: *a.Path}
	case tools.MemorySearch:
		if a.Query == nil || strings.TrimSpace(*a.Query) == "" {
			return missing("query")
		}
		req = protocol.RunnerFrame{Type: protocol.RMemSearch, Query: *a.Query}
		if a.Limit != nil {
			req.Limit = *a.Limit
		}
	case tools.PermissionPrompt:
		return h.permissionPrompt(ctx, raw)
	case tools.AskUser:
		if a.Question == nil || strings.TrimSpace(*a.Question) == "" {
			return missing("question")
		}
		return h.ask(ctx, *a.Question, a.Options)
	default:
		return tools.Errorf("unknown tool " + tool)
	}
	res, err := h.r.rpc.call(ctx, h.r.out, req)
	if err != nil {
		return tools.Errorf(err.Error())
	}
	out, _ := json.Marshal(res)
	return tools.Result{Text: string(out)}
}

// ask sends a question to the session's browsers and waits for its
// answer (or its expiry, which the server reports as agent.Expired).
func (h *toolHandler) ask(ctx context.Context, question string, options []string) tools.Result {
	id := "q_" + uuid.NewString()
	ch := make(chan any, 1)
	h.mu.Lock()
	h.waiting[id] = ch
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.waiting, id)
		h.mu.Unlock()
	}()
	if w := h.r.cfg.ToolWaits; w != nil {
		w.Begin()
		defer w.End()
	}
	f := protocol.RunnerFrame{Type: protocol.RQuestion, MessageID: h.r.currentMessageID(), QuestionID: id, Text: question, Options: options}
	if _, err := h.r.out.emit(ctx, f); err != nil {
		return tools.Errorf("the question could not be sent: " + err.Error())
	}
	select {
	case <-ctx.Done():
		return tools.Errorf("the question was canceled: " + ctx.Err().Error())
	case ans := <-ch:
		if s, ok := ans.(string); ok {
			if s == agent.Expired {
				return tools.Result{Text: tools.NoAnswer}
			}
			return tools.Result{Text: s}
		}
		b, _ := json.Marshal(ans)
		return tools.Result{Text: string(b)}
	}
}
