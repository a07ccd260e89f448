package protocol

import "encoding/json"

// Workflow frames (upstream-runtime.md §2.3–2.4 and §5). The server sends
// workflow-execute to the runner of a workflow-purpose session; the runner
// interprets the steps and answers with one workflow-execution-result.
const (
	SWorkflowExecute = "workflow-execute"          // ServerFrame.ExecutionID, .Workflow
	RWorkflowResult  = "workflow-execution-result" // RunnerFrame.ExecutionID, .Envelope
)

// Dispatch kinds.
const (
	WorkflowRun    = "run"
	WorkflowResume = "resume"
)

// WorkflowDispatch is workflow-execute's payload (upstream's `payload`).
type WorkflowDispatch struct {
	Kind         string `json:"kind"` // run | resume
	ExecutionID  string `json:"executionId"`
	WorkflowHash string `json:"workflowHash,omitempty"`
	// ResumeToken and Decision ("approve") come with a resume.
	ResumeToken string          `json:"resumeToken,omitempty"`
	Decision    string          `json:"decision,omitempty"`
	Payload     WorkflowPayload `json:"payload"`
}

// WorkflowPayload is what a run needs.
type WorkflowPayload struct {
	// Workflow is the definition: {"steps": [...], ...}.
	Workflow  json.RawMessage `json:"workflow"`
	Trigger   json.RawMessage `json:"trigger,omitempty"`
	Variables json.RawMessage `json:"variables"`
	Runtime   WorkflowRuntime `json:"runtime"`
	// agentops: a resume continues after the approval step ResumeStepID
	// with the outputs the execution had when it stopped; upstream's
	// runner replays from the start instead.
	Outputs      json.RawMessage `json:"outputs,omitempty"`
	ResumeStepID string          `json:"resumeStepId,omitempty"`
	// ResumeAttempt is the attempt that stopped at the approval: the
	// steps a resume finishes that it started (the approval's containers)
	// are recorded under it.
	ResumeAttempt int `json:"resumeAttempt,omitempty"`
}

// WorkflowRuntime says which dispatch this is.
type WorkflowRuntime struct {
	// Attempt counts the dispatches of the execution; step records are
	// keyed by it.
	Attempt        int    `json:"attempt"`
	IdempotencyKey string `json:"idempotencyKey,omitempty"`
}

// Envelope statuses.
const (
	EnvelopeOK            = "ok"
	EnvelopeNeedsApproval = "needs_approval"
	EnvelopeCancelled     = "cancelled"
	EnvelopeFailed        = "failed"
)

// Step statuses in a trace.
const (
	StepRunning         = "running"
	StepCompleted       = "completed"
	StepFailed          = "failed"
	StepCancelled       = "cancelled"
	StepSkipped         = "skipped"
	StepWaitingApproval = "waiting_approval"
)

// WorkflowEnvelope is a run's result, with upstream's fields.
type WorkflowEnvelope struct {
	OK               bool                 `json:"ok"`
	Status           string               `json:"status"`
	ExecutionID      string               `json:"executionId"`
	Output           map[string]any       `json:"output"`
	Steps            []WorkflowStepResult `json:"steps"`
	RequiresApproval *WorkflowApproval    `json:"requiresApproval"`
	Error            *string              `json:"error"`
}

// WorkflowStepResult is one step's record in the trace.
type WorkflowStepResult struct {
	StepID      string          `json:"stepId"`
	Status      string          `json:"status"`
	Attempt     int             `json:"attempt"`
	StartedAt   string          `json:"startedAt,omitempty"` // RFC 3339
	CompletedAt string          `json:"completedAt,omitempty"`
	Input       json.RawMessage `json:"input,omitempty"`
	Output      json.RawMessage `json:"output,omitempty"`
	Error       string          `json:"error,omitempty"`
}

// WorkflowApproval is the checkpoint a run stopped at. The server issues
// the resume token; a runner's is ignored.
type WorkflowApproval struct {
	StepID      string `json:"stepId"`
	Prompt      string `json:"prompt"`
	Items       []any  `json:"items"`
	ResumeToken string `json:"resumeToken,omitempty"`
}

// Workflow step types the runner interprets. Any other type is recorded as
// skipped when it runs.
const (
	StepBash         = "bash"
	StepTool         = "tool"
	StepAgent        = "agent"
	StepAgentMessage = "agent_message"
	StepConditional  = "conditional"
	StepParallel     = "parallel"
	StepApproval     = "approval"
)

// KnownStepType reports whether the runner interprets steps of type t.
func KnownStepType(t string) bool {
	switch t {
	case StepBash, StepTool, StepAgent, StepAgentMessage, StepConditional, StepParallel, StepApproval:
		return true
	}
	return false
}

// WorkflowDefinition is a workflow's data as the runner reads it.
type WorkflowDefinition struct {
	Steps []WorkflowStep `json:"steps"`
}

// WorkflowStep is one step, with upstream's field names. The server
// validates the fields of known types; a step of an unknown type keeps only
// id, type and name here, whatever else it holds.
type WorkflowStep struct {
	ID             string `json:"id"`
	Type           string `json:"type"`
	Name           string `json:"name,omitempty"`
	OutputVariable string `json:"outputVariable,omitempty"`

	// bash
	Command   string `json:"command,omitempty"`
	Cwd       string `json:"cwd,omitempty"`
	TimeoutMs int64  `json:"timeoutMs,omitempty"`

	// tool
	Tool      string          `json:"tool,omitempty"`
	Arguments json.RawMessage `json:"arguments,omitempty"`

	// agent, agent_message
	Goal           string `json:"goal,omitempty"`
	Content        string `json:"content,omitempty"`
	Message        string `json:"message,omitempty"`
	Context        string `json:"context,omitempty"`
	Interrupt      bool   `json:"interrupt,omitempty"`
	AwaitResponse  *bool  `json:"await_response,omitempty"`
	AwaitTimeoutMs int64  `json:"await_timeout_ms,omitempty"`

	// conditional: a boolean or {variable, equals?}
	Condition json.RawMessage `json:"condition,omitempty"`
	Then      []WorkflowStep  `json:"then,omitempty"`
	Else      []WorkflowStep  `json:"else,omitempty"`

	// parallel
	Steps []WorkflowStep `json:"steps,omitempty"`

	// approval
	Prompt string `json:"prompt,omitempty"`
}

// UnmarshalJSON decodes every field of a known type, and only id, type and
// name of an unknown one (its other fields may be anything).
func (s *WorkflowStep) UnmarshalJSON(b []byte) error {
	var head struct {
		ID   string `json:"id"`
		Type string `json:"type"`
		Name string `json:"name"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return err
	}
	if !KnownStepType(head.Type) {
		*s = WorkflowStep{ID: head.ID, Type: head.Type, Name: head.Name}
		return nil
	}
	type plain WorkflowStep
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*s = WorkflowStep(p)
	return nil
}
