package workflow

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/app/protocol"
)

// Limits of a definition.
const (
	MaxDataBytes   = 256 << 10
	MaxSteps       = 500
	MaxDepth       = 16
	MaxStepIDBytes = 100
	// Bash and tool timeouts: 1 s to 600 s, 120 s by default.
	MinTimeoutMs     = 1000
	MaxTimeoutMs     = 600000
	DefaultTimeoutMs = 120000
	// MinAwaitTimeoutMs is the least await_timeout_ms of agent steps;
	// MaxAwaitTimeoutMs the most (a day).
	MinAwaitTimeoutMs = 1000
	MaxAwaitTimeoutMs = 86400000
	// maxReportedErrors bounds the errors listed in a 400's details.
	maxReportedErrors = 20
)

// Definition is a validated workflow definition in canonical form.
type Definition struct {
	// Data is the canonical JSON of the definition: keys sorted, no HTML
	// escaping, numbers as written.
	Data json.RawMessage
	// Hash is "sha256:" and the hex SHA-256 of Data.
	Hash string
}

// FieldError is one problem of a definition, at a path such as
// steps[2].then[0].command.
type FieldError struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

// ParseDefinition validates a workflow's data and returns it in canonical
// form. Steps of known types are checked field by field; a step of an
// unknown type needs only an id and a type (it is reported as skipped when
// it runs). The error is a 400 whose details name the first failing path
// and list up to 20 problems.
func ParseDefinition(raw json.RawMessage) (*Definition, error) {
	if len(raw) > MaxDataBytes {
		return nil, invalidDefinition([]FieldError{{Path: "", Message: fmt.Sprintf("must be at most %d bytes of JSON", MaxDataBytes)}})
	}
	v, err := decodeJSON(raw)
	if err != nil {
		return nil, invalidDefinition([]FieldError{{Path: "", Message: "is not valid JSON"}})
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, invalidDefinition([]FieldError{{Path: "", Message: "must be an object"}})
	}
	val := &validator{ids: map[string]string{}}
	steps, present := obj["steps"]
	switch {
	case !present:
		val.fail("steps", "is required")
	default:
		val.steps("steps", steps, 1, true)
	}
	if len(val.errs) > 0 {
		return nil, invalidDefinition(val.errs)
	}
	data, err := Canonical(obj)
	if err != nil {
		return nil, err
	}
	return &Definition{Data: data, Hash: HashOf(data)}, nil
}

// HashOf is the hash of canonical data.
func HashOf(canonical []byte) string {
	sum := sha256.Sum256(canonical)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Canonical encodes v as canonical JSON: object keys sorted (encoding/json
// sorts map keys), no HTML escaping, no trailing newline. Numbers decoded
// with decodeJSON keep their literal form.
func Canonical(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("canonical json: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// CanonicalJSON re-encodes raw JSON canonically.
func CanonicalJSON(raw json.RawMessage) (json.RawMessage, error) {
	v, err := decodeJSON(raw)
	if err != nil {
		return nil, err
	}
	return Canonical(v)
}

// decodeJSON decodes one JSON value keeping numbers as json.Number.
func decodeJSON(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("trailing data after the JSON value")
	}
	return v, nil
}

func invalidDefinition(errs []FieldError) error {
	first := errs[0]
	where := first.Path
	if where == "" {
		where = "data"
	}
	e := apperr.Invalid(first.Path, "Invalid workflow definition: %s %s", where, first.Message)
	if first.Path == "" {
		e.Details = map[string]any{"field": "data"}
	}
	if len(errs) > maxReportedErrors {
		errs = errs[:maxReportedErrors]
	}
	e.Details["errors"] = errs
	return e
}

type validator struct {
	errs  []FieldError
	ids   map[string]string // step id → path of its first use
	count int
}

func (v *validator) fail(path, format string, args ...any) {
	v.errs = append(v.errs, FieldError{Path: path, Message: fmt.Sprintf(format, args...)})
}

// steps checks an array of steps at path.
func (v *validator) steps(path string, val any, depth int, nonEmpty bool) {
	arr, ok := val.([]any)
	if !ok {
		v.fail(path, "must be an array of steps")
		return
	}
	if nonEmpty && len(arr) == 0 {
		v.fail(path, "must hold at least one step")
		return
	}
	if depth > MaxDepth {
		v.fail(path, "nests steps more than %d levels deep", MaxDepth)
		return
	}
	for i, s := range arr {
		v.step(fmt.Sprintf("%s[%d]", path, i), s, depth)
	}
}

func (v *validator) step(path string, val any, depth int) {
	v.count++
	if v.count == MaxSteps+1 {
		v.fail(path, "is one step too many: a workflow holds at most %d", MaxSteps)
	}
	if v.count > MaxSteps {
		return
	}
	s, ok := val.(map[string]any)
	if !ok {
		v.fail(path, "must be an object")
		return
	}
	f := fields{v: v, path: path, m: s}
	if id, ok := f.requiredString("id"); ok {
		if len(id) > MaxStepIDBytes {
			v.fail(path+".id", "must be at most %d bytes", MaxStepIDBytes)
		} else if prev, dup := v.ids[id]; dup {
			v.fail(path+".id", "%q is already the id of %s: step ids are unique in a workflow", id, prev)
		} else {
			v.ids[id] = path
		}
	}
	typ, _ := f.requiredString("type")
	f.optionalString("name")
	f.optionalString("outputVariable")
	switch typ {
	case protocol.StepBash:
		f.requiredString("command")
		f.optionalString("cwd")
		f.optionalInt("timeoutMs", MinTimeoutMs, MaxTimeoutMs)
	case protocol.StepTool:
		tool, _ := f.requiredString("tool")
		v.toolArguments(path, tool, s["arguments"])
	case protocol.StepAgent, protocol.StepAgentMessage:
		n := 0
		for _, k := range []string{"goal", "content", "message"} {
			if txt, ok := f.optionalString(k); ok && strings.TrimSpace(txt) != "" {
				n++
			}
		}
		if n == 0 {
			v.fail(path+".goal", "is required: an agent step needs a goal, content or message")
		}
		f.optionalString("context")
		f.optionalBool("interrupt")
		f.optionalBool("await_response")
		f.optionalInt("await_timeout_ms", MinAwaitTimeoutMs, MaxAwaitTimeoutMs)
	case protocol.StepConditional:
		v.condition(path+".condition", s["condition"], s)
		for _, branch := range []string{"then", "else"} {
			if b, ok := s[branch]; ok && b != nil {
				v.steps(path+"."+branch, b, depth+1, false)
			}
		}
	case protocol.StepParallel:
		if b, ok := s["steps"]; ok {
			v.steps(path+".steps", b, depth+1, true)
		} else {
			v.fail(path+".steps", "is required")
		}
	case protocol.StepApproval:
		f.requiredString("prompt")
	}
}

// condition checks a conditional's condition: a boolean, or
// {variable, equals?}.
func (v *validator) condition(path string, val any, step map[string]any) {
	if _, present := step["condition"]; !present {
		v.fail(path, "is required")
		return
	}
	switch c := val.(type) {
	case bool:
	case map[string]any:
		name, ok := c["variable"].(string)
		if !ok || strings.TrimSpace(name) == "" {
			v.fail(path+".variable", "is required: a non-empty string")
		}
	default:
		v.fail(path, "must be a boolean or {variable, equals?}")
	}
}

// Tools the runner has.
const (
	ToolBash = "bash"
	ToolHTTP = "http"
)

var httpMethods = map[string]bool{"GET": true, "HEAD": true, "POST": true, "PUT": true, "PATCH": true, "DELETE": true, "OPTIONS": true}

// toolArguments checks the arguments of the tools the runner has; other
// tools are stored as written (they fail with unknown_tool when they run).
func (v *validator) toolArguments(path, tool string, val any) {
	ap := path + ".arguments"
	if val == nil {
		if tool == ToolBash || tool == ToolHTTP {
			v.fail(ap, "is required for the %s tool", tool)
		}
		return
	}
	args, ok := val.(map[string]any)
	if !ok {
		v.fail(ap, "must be an object")
		return
	}
	f := fields{v: v, path: ap, m: args}
	switch tool {
	case ToolBash:
		f.requiredString("command")
		f.optionalString("cwd")
		f.optionalInt("timeoutMs", MinTimeoutMs, MaxTimeoutMs)
	case ToolHTTP:
		if raw, ok := f.requiredString("url"); ok {
			u, err := url.Parse(raw)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				v.fail(ap+".url", "must be an http or https URL")
			}
		}
		if m, ok := f.optionalString("method"); ok && !httpMethods[strings.ToUpper(m)] {
			v.fail(ap+".method", "must be one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS")
		}
		if h, ok := args["headers"]; ok && h != nil {
			hm, ok := h.(map[string]any)
			if !ok {
				v.fail(ap+".headers", "must be an object of strings")
			}
			for k, hv := range hm {
				if _, ok := hv.(string); !ok {
					v.fail(ap+".headers."+k, "must be a string")
				}
			}
		}
		f.optionalInt("timeoutMs", MinTimeoutMs, MaxTimeoutMs)
	}
}

// fields reads typed fields of one object for the validator.
type fields struct {
	v    *validator
	path string
	m    map[string]any
}

func (f fields) requiredString(k string) (string, bool) {
	val, ok := f.m[k]
	s, isStr := val.(string)
	if !ok || !isStr || strings.TrimSpace(s) == "" {
		if ok && !isStr && val != nil {
			f.v.fail(f.path+"."+k, "must be a string")
		} else {
			f.v.fail(f.path+"."+k, "is required")
		}
		return "", false
	}
	return s, true
}

func (f fields) optionalString(k string) (string, bool) {
	val, ok := f.m[k]
	if !ok || val == nil {
		return "", false
	}
	s, isStr := val.(string)
	if !isStr {
		f.v.fail(f.path+"."+k, "must be a string")
		return "", false
	}
	return s, true
}

func (f fields) optionalBool(k string) {
	if val, ok := f.m[k]; ok && val != nil {
		if _, isBool := val.(bool); !isBool {
			f.v.fail(f.path+"."+k, "must be a boolean")
		}
	}
}

func (f fields) optionalInt(k string, lo, hi int64) {
	val, ok := f.m[k]
	if !ok || val == nil {
		return
	}
	n, isNum := val.(json.Number)
	i, err := n.Int64()
	if !isNum || err != nil {
		f.v.fail(f.path+"."+k, "must be a whole number")
		return
	}
	if i < lo || i > hi {
		f.v.fail(f.path+"."+k, "must be from %d to %d", lo, hi)
	}
}

// StepIndex numbers the steps of a definition in document order (depth
// first: a conditional, then its then and else steps, then the next
// step), by id. Malformed data gives an empty map.
func StepIndex(data json.RawMessage) map[string]int {
	var def protocol.WorkflowDefinition
	out := map[string]int{}
	if json.Unmarshal(data, &def) != nil {
		return out
	}
	var walk func([]protocol.WorkflowStep)
	walk = func(steps []protocol.WorkflowStep) {
		for _, s := range steps {
			if _, dup := out[s.ID]; !dup {
				out[s.ID] = len(out)
			}
			walk(s.Then)
			walk(s.Else)
			walk(s.Steps)
		}
	}
	walk(def.Steps)
	return out
}
