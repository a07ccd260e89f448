package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"time"

	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/app/runner/agent"
)

// Workflow interpreter limits.
const (
	// wfMaxVisited bounds the steps one run visits (a definition has at
	// most 500; this guards against anything unexpected).
	wfMaxVisited = 1000
	// wfOutputCap bounds what a bash step keeps of each of stdout and
	// stderr, and what an http step keeps of a response body.
	wfOutputCap = 64 << 10
	// wfDefaultTimeout is the bash and http timeout when a step sets none.
	wfDefaultTimeout = 120 * time.Second
	wfMinTimeout     = time.Second
	wfMaxTimeout     = 600 * time.Second
	// wfWaitDelay bounds the wait for a killed command's output pipes (a
	// process that left the group may still hold them).
	wfWaitDelay = 5 * time.Second
)

// wfRun interprets one workflow-execute: the steps in order, one at a
// time. `parallel` runs its branches one after another (the upstream
// runner does the same); a conditional runs its then or else steps; an
// approval step stops the run with needs_approval; a resume continues
// after the approval step it names, with the outputs the run had.
type wfRun struct {
	r        *runner
	d        protocol.WorkflowDispatch
	attempt  int
	vars     map[string]any
	outputs  map[string]any
	steps    []protocol.WorkflowStepResult
	visited  int
	approval *protocol.WorkflowApproval
	// persona is the session's persona files, for agent steps.
	persona []protocol.PersonaFile
	// resumeAttempt is the attempt that stopped at the approval; steps a
	// resume finishes (the containers of the approval step) are recorded
	// under it, so each appears once in the trace.
	resumeAttempt int
}

// stepEnd is how a step (or a list of steps) ended.
type stepEnd int

const (
	endNext     stepEnd = iota // go on
	endApproval                // stopped at an approval step
	endFailed
	endCancelled
)

type wfOutcome struct {
	end stepEnd
	err string
}

// runWorkflow runs d and returns its envelope. ctx ending (an abort, the
// runner stopping) cancels the run.
func runWorkflow(ctx context.Context, r *runner, d protocol.WorkflowDispatch, persona []protocol.PersonaFile) protocol.WorkflowEnvelope {
	w := &wfRun{r: r, d: d, attempt: max(d.Payload.Runtime.Attempt, 1), vars: map[string]any{}, outputs: map[string]any{},
		steps: []protocol.WorkflowStepResult{}, persona: persona}
	var def protocol.WorkflowDefinition
	if err := json.Unmarshal(d.Payload.Workflow, &def); err != nil {
		return w.envelope(wfOutcome{end: endFailed, err: "invalid_workflow: " + err.Error()})
	}
	if len(d.Payload.Variables) > 0 && string(d.Payload.Variables) != "null" {
		if err := json.Unmarshal(d.Payload.Variables, &w.vars); err != nil {
			return w.envelope(wfOutcome{end: endFailed, err: "invalid_variables: " + err.Error()})
		}
	}
	var path []pathElem
	if d.Kind == protocol.WorkflowResume {
		if len(d.Payload.Outputs) > 0 && string(d.Payload.Outputs) != "null" {
			if err := json.Unmarshal(d.Payload.Outputs, &w.outputs); err != nil {
				return w.envelope(wfOutcome{end: endFailed, err: "invalid_outputs: " + err.Error()})
			}
		}
		var ok bool
		if path, ok = findStep(def.Steps, d.Payload.ResumeStepID); !ok {
			return w.envelope(wfOutcome{end: endFailed, err: "resume_step_not_found: " + d.Payload.ResumeStepID})
		}
		if d.Decision != "approve" {
			return w.envelope(wfOutcome{end: endCancelled, err: "approval_denied"})
		}
		w.resumeAttempt = d.Payload.ResumeAttempt
		if w.resumeAttempt <= 0 {
			w.resumeAttempt = w.attempt
		}
	}
	return w.envelope(w.execSteps(ctx, def.Steps, path))
}

func (w *wfRun) envelope(o wfOutcome) protocol.WorkflowEnvelope {
	env := protocol.WorkflowEnvelope{OK: true, ExecutionID: w.d.ExecutionID, Output: w.outputs, Steps: w.steps}
	switch o.end {
	case endNext:
		env.Status = protocol.EnvelopeOK
	case endApproval:
		env.Status = protocol.EnvelopeNeedsApproval
		env.RequiresApproval = w.approval
	case endCancelled:
		env.Status = protocol.EnvelopeCancelled
		env.Error = &o.err
	default:
		env.OK = false
		env.Status = protocol.EnvelopeFailed
		env.Error = &o.err
	}
	return env
}

// pathElem is one level of the way to a nested step: its index in a list
// and, if the step lies deeper, which list of that step holds the rest.
type pathElem struct {
	index  int
	branch string // then | else | steps
}

// findStep returns the path to the step with id.
func findStep(steps []protocol.WorkflowStep, id string) ([]pathElem, bool) {
	for i, s := range steps {
		if s.ID == id {
			return []pathElem{{index: i}}, true
		}
		for _, b := range []struct {
			name  string
			steps []protocol.WorkflowStep
		}{{"then", s.Then}, {"else", s.Else}, {"steps", s.Steps}} {
			if rest, ok := findStep(b.steps, id); ok {
				return append([]pathElem{{index: i, branch: b.name}}, rest...), true
			}
		}
	}
	return nil, false
}

// execSteps runs steps in order; with a resume path it starts after the
// step the path leads to.
func (w *wfRun) execSteps(ctx context.Context, steps []protocol.WorkflowStep, resume []pathElem) wfOutcome {
	start := 0
	if len(resume) > 0 {
		start = resume[0].index + 1
		if len(resume) > 1 {
			if o := w.resumeInto(ctx, steps[resume[0].index], resume[0].branch, resume[1:]); o.end != endNext {
				return o
			}
		}
	}
	for _, s := range steps[start:] {
		if o := w.execStep(ctx, s); o.end != endNext {
			return o
		}
	}
	return wfOutcome{}
}

// resumeInto finishes a container step that an approval inside it
// stopped: the rest of its branch, then its own record.
func (w *wfRun) resumeInto(ctx context.Context, s protocol.WorkflowStep, branch string, rest []pathElem) wfOutcome {
	var list []protocol.WorkflowStep
	var output any
	switch branch {
	case "then":
		list, output = s.Then, map[string]any{"condition": true, "branch": "then"}
	case "else":
		list, output = s.Else, map[string]any{"condition": false, "branch": "else"}
	default:
		list, output = s.Steps, map[string]any{"branchCount": len(s.Steps)}
	}
	i := len(w.steps)
	w.steps = append(w.steps, protocol.WorkflowStepResult{StepID: s.ID, Status: protocol.StepRunning, Attempt: w.resumeAttempt})
	o := w.execSteps(ctx, list, rest)
	w.closeContainer(i, o, output)
	return o
}

// closeContainer records a conditional's or parallel's end after its
// steps ran.
func (w *wfRun) closeContainer(i int, o wfOutcome, output any) {
	rec := &w.steps[i]
	switch o.end {
	case endNext:
		rec.Status = protocol.StepCompleted
		rec.CompletedAt = nowISO()
	case endApproval:
		rec.Status = protocol.StepWaitingApproval
	case endCancelled:
		rec.Status, rec.Error, rec.CompletedAt = protocol.StepCancelled, o.err, nowISO()
	default:
		rec.Status, rec.Error, rec.CompletedAt = protocol.StepFailed, o.err, nowISO()
	}
	rec.Output = mustJSON(output)
}

func nowISO() string { return time.Now().UTC().Format("2006-01-02T15:04:05.000Z") }

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(map[string]string{"unencodable": err.Error()})
	}
	return b
}

// stepInput is what a step's record shows as its input.
func stepInput(s protocol.WorkflowStep) json.RawMessage {
	in := map[string]any{"type": s.Type, "name": s.Name}
	if s.Name == "" {
		in["name"] = s.ID
	}
	set := func(k string, v any, ok bool) {
		if ok {
			in[k] = v
		}
	}
	set("command", s.Command, s.Command != "")
	set("cwd", s.Cwd, s.Cwd != "")
	set("tool", s.Tool, s.Tool != "")
	set("arguments", s.Arguments, len(s.Arguments) > 0)
	set("goal", s.Goal, s.Goal != "")
	set("content", s.Content, s.Content != "")
	set("message", s.Message, s.Message != "")
	set("context", s.Context, s.Context != "")
	set("condition", s.Condition, len(s.Condition) > 0)
	set("prompt", s.Prompt, s.Prompt != "")
	return mustJSON(in)
}

// execStep runs one step and records it.
func (w *wfRun) execStep(ctx context.Context, s protocol.WorkflowStep) wfOutcome {
	if w.visited >= wfMaxVisited {
		return wfOutcome{end: endFailed, err: fmt.Sprintf("max_steps_exceeded:%d", wfMaxVisited)}
	}
	w.visited++
	i := len(w.steps)
	w.steps = append(w.steps, protocol.WorkflowStepResult{StepID: s.ID, Status: protocol.StepRunning, Attempt: w.attempt,
		StartedAt: nowISO(), Input: stepInput(s)})
	rec := func() *protocol.WorkflowStepResult { return &w.steps[i] } // w.steps grows under nested steps

	switch s.Type {
	case protocol.StepConditional:
		cond := w.evaluate(s.Condition)
		list, branch := s.Else, "else"
		if cond {
			list, branch = s.Then, "then"
		}
		o := w.execSteps(ctx, list, nil)
		w.closeContainer(i, o, map[string]any{"condition": cond, "branch": branch})
		return o
	case protocol.StepParallel:
		// Branches run one after another.
		o := w.execSteps(ctx, s.Steps, nil)
		w.closeContainer(i, o, map[string]any{"branchCount": len(s.Steps)})
		return o
	case protocol.StepApproval:
		r := rec()
		r.Status = protocol.StepWaitingApproval
		r.Output = mustJSON(map[string]any{"prompt": s.Prompt})
		w.approval = &protocol.WorkflowApproval{StepID: s.ID, Prompt: s.Prompt, Items: []any{}}
		return wfOutcome{end: endApproval}
	}
	if !protocol.KnownStepType(s.Type) {
		r := rec()
		r.Status, r.CompletedAt = protocol.StepSkipped, nowISO()
		r.Output = mustJSON(map[string]any{"skipped": true, "reason": "unknown step type " + s.Type})
		return wfOutcome{}
	}

	var output any
	var err error
	switch s.Type {
	case protocol.StepBash:
		output, err = w.bash(ctx, s.ID, s.Command, s.Cwd, s.TimeoutMs)
	case protocol.StepTool:
		output, err = w.tool(ctx, s)
	case protocol.StepAgent, protocol.StepAgentMessage:
		output, err = w.agent(ctx, s)
	}
	r := rec()
	r.CompletedAt = nowISO()
	if output != nil {
		r.Output = mustJSON(output)
	}
	switch {
	case ctx.Err() != nil:
		r.Status, r.Error = protocol.StepCancelled, "cancelled"
		return wfOutcome{end: endCancelled, err: "cancelled"}
	case err != nil:
		r.Status, r.Error = protocol.StepFailed, err.Error()
		return wfOutcome{end: endFailed, err: err.Error()}
	}
	r.Status = protocol.StepCompleted
	if name := strings.TrimSpace(s.OutputVariable); name != "" {
		w.outputs[name] = output
	}
	return wfOutcome{}
}

// evaluate reads a condition: a boolean, or {variable, equals?} over the
// variables and then the outputs; without equals, the value's truth.
func (w *wfRun) evaluate(raw json.RawMessage) bool {
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		return b
	}
	var c struct {
		Variable string          `json:"variable"`
		Equals   json.RawMessage `json:"equals"`
	}
	if json.Unmarshal(raw, &c) != nil || c.Variable == "" {
		return false
	}
	v, ok := w.vars[c.Variable]
	if !ok {
		v, ok = w.outputs[c.Variable]
	}
	if len(c.Equals) > 0 {
		var want any
		if json.Unmarshal(c.Equals, &want) != nil {
			return false
		}
		return ok && reflect.DeepEqual(normalize(v), normalize(want))
	}
	return ok && truthy(v)
}

// normalize gives a value the shape json.Unmarshal into any gives, so that
// 1 (an int in Go) equals 1 (a float64 from JSON).
func normalize(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out any
	if json.Unmarshal(b, &out) != nil {
		return v
	}
	return out
}

// truthy is JavaScript's truth, as upstream's runner uses it.
func truthy(v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case bool:
		return v
	case string:
		return v != ""
	case float64:
		return v != 0
	case json.Number:
		f, err := v.Float64()
		return err == nil && f != 0
	}
	return true
}

// timeout clamps a step's timeoutMs to 1–600 s (120 s when unset).
func timeout(ms int64) time.Duration {
	if ms <= 0 {
		return wfDefaultTimeout
	}
	return min(max(time.Duration(ms)*time.Millisecond, wfMinTimeout), wfMaxTimeout)
}

// cappedBuffer keeps the first max bytes written and counts the rest.
type cappedBuffer struct {
	max     int
	buf     bytes.Buffer
	dropped int64
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	room := max(c.max-c.buf.Len(), 0)
	if room >= len(p) {
		c.buf.Write(p)
		return len(p), nil
	}
	c.buf.Write(p[:room])
	c.dropped += int64(len(p) - room)
	return len(p), nil
}

func (c *cappedBuffer) String() string {
	s := strings.ToValidUTF8(c.buf.String(), "\uFFFD")
	if c.dropped > 0 {
		s += fmt.Sprintf("\n...[truncated %d bytes]", c.dropped)
	}
	return s
}

// workdir resolves a step's cwd against the workspace.
func (w *wfRun) workdir(cwd string) string {
	base := w.r.cfg.Workspace
	if base == "" {
		base, _ = os.Getwd()
	}
	if cwd == "" {
		return base
	}
	if filepath.IsAbs(cwd) {
		return cwd
	}
	return filepath.Join(base, cwd)
}

// env is the environment of a step's commands: the runner's, plus the
// execution's ids and its variables and outputs as JSON.
func (w *wfRun) env(stepID string) []string {
	vars, _ := json.Marshal(w.vars)
	outs, _ := json.Marshal(w.outputs)
	return append(os.Environ(),
		"WORKFLOW_EXECUTION_ID="+w.d.ExecutionID,
		"WORKFLOW_STEP_ID="+stepID,
		"WORKFLOW_VARIABLES="+string(vars),
		"WORKFLOW_OUTPUTS="+string(outs),
	)
}

// bash runs command with `bash -c` in the workspace, in a process group
// of its own that is killed at the timeout or when the run is cancelled.
func (w *wfRun) bash(ctx context.Context, stepID, command, cwd string, timeoutMs int64) (any, error) {
	limit := timeout(timeoutMs)
	dir := w.workdir(cwd)
	stdout, stderr := &cappedBuffer{max: wfOutputCap}, &cappedBuffer{max: wfOutputCap}
	cmd := exec.Command("bash", "-c", command)
	cmd.Dir = dir
	cmd.Env = w.env(stepID)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = wfWaitDelay
	start := time.Now()
	out := map[string]any{"tool": "bash", "command": command, "cwd": dir, "timeoutMs": limit.Milliseconds()}
	if err := cmd.Start(); err != nil {
		return out, fmt.Errorf("bash_error: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	timer := time.NewTimer(limit)
	defer timer.Stop()
	var err error
	timedOut := false
	select {
	case err = <-done:
	case <-timer.C:
		timedOut = true
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		err = <-done
	case <-ctx.Done():
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		err = <-done
	}
	code := -1
	if cmd.ProcessState != nil {
		code = cmd.ProcessState.ExitCode()
	}
	out["exitCode"], out["stdout"], out["stderr"] = code, stdout.String(), stderr.String()
	out["durationMs"] = time.Since(start).Milliseconds()
	switch {
	case timedOut:
		return out, fmt.Errorf("bash_timeout:%d", limit.Milliseconds())
	case ctx.Err() != nil:
		return out, ctx.Err()
	case code != 0:
		return out, fmt.Errorf("bash_exit_code:%d", code)
	case err != nil:
		return out, fmt.Errorf("bash_error: %v", err)
	}
	return out, nil
}

// tool runs a tool step: bash and http; any other tool fails.
func (w *wfRun) tool(ctx context.Context, s protocol.WorkflowStep) (any, error) {
	switch s.Tool {
	case "bash":
		var a struct {
			Command   string `json:"command"`
			Cwd       string `json:"cwd"`
			TimeoutMs int64  `json:"timeoutMs"`
		}
		if err := json.Unmarshal(s.Arguments, &a); err != nil || strings.TrimSpace(a.Command) == "" {
			return nil, errors.New("workflow_tool_bash_missing_command")
		}
		return w.bash(ctx, s.ID, a.Command, a.Cwd, a.TimeoutMs)
	case "http":
		return w.http(ctx, s.Arguments)
	}
	return map[string]any{"tool": s.Tool}, fmt.Errorf("unknown_tool: %s", s.Tool)
}

// http sends one request; the response's status, headers and body (up to
// 64 KiB; parsed when it is JSON) are the output. A status of 400 or more
// fails the step, with the output kept.
func (w *wfRun) http(ctx context.Context, raw json.RawMessage) (any, error) {
	var a struct {
		Method    string            `json:"method"`
		URL       string            `json:"url"`
		Headers   map[string]string `json:"headers"`
		Body      json.RawMessage   `json:"body"`
		TimeoutMs int64             `json:"timeoutMs"`
	}
	if err := json.Unmarshal(raw, &a); err != nil || a.URL == "" {
		return nil, errors.New("workflow_tool_http_missing_url")
	}
	method := strings.ToUpper(a.Method)
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	contentType := ""
	if len(a.Body) > 0 && string(a.Body) != "null" {
		var str string
		if json.Unmarshal(a.Body, &str) == nil {
			body = strings.NewReader(str)
		} else {
			body, contentType = bytes.NewReader(a.Body), "application/json"
		}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout(a.TimeoutMs))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, a.URL, body)
	if err != nil {
		return nil, fmt.Errorf("http_error: %v", err)
	}
	for k, v := range a.Headers {
		req.Header.Set(k, v)
	}
	if contentType != "" && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return map[string]any{"tool": "http", "method": method, "url": a.URL}, fmt.Errorf("http_error: %v", err)
	}
	defer res.Body.Close()
	buf := &cappedBuffer{max: wfOutputCap}
	_, _ = io.Copy(buf, res.Body)
	headers := map[string]string{}
	for k := range res.Header {
		headers[k] = res.Header.Get(k)
	}
	out := map[string]any{"tool": "http", "method": method, "url": a.URL, "status": res.StatusCode, "headers": headers,
		"body": buf.String()}
	if buf.dropped == 0 && strings.Contains(res.Header.Get("Content-Type"), "json") {
		var parsed any
		if json.Unmarshal(buf.buf.Bytes(), &parsed) == nil {
			out["json"] = parsed
		}
	}
	if res.StatusCode >= 400 {
		return out, fmt.Errorf("http_status:%d", res.StatusCode)
	}
	return out, nil
}

// agent runs an agent step as a turn of the session's agent: its output
// streams into the session's transcript like any turn's, and its reply is
// the step's output (with await_response false, {"sent": true}).
// await_timeout_ms bounds the turn; interrupt has nothing to interrupt,
// since steps run one at a time.
func (w *wfRun) agent(ctx context.Context, s protocol.WorkflowStep) (any, error) {
	content := s.Goal
	if content == "" {
		content = s.Content
	}
	if content == "" {
		content = s.Message
	}
	if s.Context != "" {
		content = s.Context + "\n\n" + content
	}
	p := agent.Prompt{MessageID: fmt.Sprintf("wf-%s-%d-%s", w.d.ExecutionID, w.attempt, s.ID), Content: content,
		Workspace: w.r.cfg.Workspace, Persona: w.persona}
	out := w.r.out
	emit := func(f protocol.RunnerFrame) error { _, err := out.emit(ctx, f); return err }
	if err := emit(protocol.RunnerFrame{Type: protocol.RAgentStatus, Status: protocol.AgentThinking, MessageID: p.MessageID}); err != nil {
		return nil, err
	}
	tctx, cancel := ctx, context.CancelFunc(func() {})
	if s.AwaitTimeoutMs > 0 {
		tctx, cancel = context.WithTimeout(ctx, time.Duration(s.AwaitTimeoutMs)*time.Millisecond)
	}
	t := &turn{ctx: ctx, r: w.r, out: out, rpc: w.r.rpc, prompt: p, status: protocol.AgentThinking}
	runErr := runAgent(tctx, w.r.cfg.Agent, p, t)
	timedOut := errors.Is(tctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil
	cancel()
	created, turnID, finalText, usage := t.end()
	ending := agent.Ending{Canceled: timedOut || ctx.Err() != nil, Err: runErr}
	if timedOut {
		ending.CancelNote = fmt.Sprintf("await_timeout:%d", s.AwaitTimeoutMs)
	}
	_, errMsg := ending.Outcome()
	if created {
		f := agent.FinalizeFrame(turnID, ending, finalText, usage)
		if err := emit(f); errors.Is(err, ErrFrameTooLarge) {
			f.FinalText = nil
			_ = emit(f)
		}
	}
	_ = emit(protocol.RunnerFrame{Type: protocol.RAgentStatus, Status: protocol.AgentIdle, MessageID: p.MessageID})
	if errMsg != "" {
		return nil, errors.New(errMsg)
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if s.AwaitResponse != nil && !*s.AwaitResponse {
		return map[string]any{"sent": true}, nil
	}
	text := ""
	if finalText != nil {
		text = *finalText
	}
	return text, nil
}

// resultFrame is the workflow-execution-result frame for env, made to fit
// in one frame: when it does not, step outputs and then large outputs are
// replaced by a note that they were too large.
func resultFrame(env protocol.WorkflowEnvelope) protocol.RunnerFrame {
	f := protocol.RunnerFrame{Type: protocol.RWorkflowResult, ExecutionID: env.ExecutionID, Envelope: &env}
	if fits(f) {
		return f
	}
	tooLarge := json.RawMessage(`{"truncated":true,"reason":"the run's result was larger than one frame"}`)
	steps := make([]protocol.WorkflowStepResult, len(env.Steps))
	copy(steps, env.Steps)
	for i := range steps {
		if len(steps[i].Output) > 1024 {
			steps[i].Output = tooLarge
		}
	}
	env.Steps = steps
	if fits(f) {
		return f
	}
	outputs := map[string]any{}
	for k, v := range env.Output {
		if b, _ := json.Marshal(v); len(b) > 1024 {
			v = map[string]any{"truncated": true}
		}
		outputs[k] = v
	}
	env.Output = outputs
	for i := range steps {
		steps[i].Input = nil
	}
	return f
}

func fits(f protocol.RunnerFrame) bool {
	b, err := json.Marshal(f)
	return err == nil && len(b) < protocol.MaxFrameBytes-1024
}
