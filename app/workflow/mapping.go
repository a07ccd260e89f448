package workflow

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/agentops/agentops/app/apperr"
)

// MaxMappings bounds a trigger's variable mapping.
const MaxMappings = 100

// ParseMapping checks a variable mapping: variable name → "$.a.b" path
// into the payload ("$" is the whole payload; a numeric segment indexes an
// array). It returns the mapping as canonical JSON (nil when empty).
func ParseMapping(raw json.RawMessage) (json.RawMessage, map[string]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil, nil
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, nil, apperr.Invalid("variableMapping", "variableMapping must be an object of variable name → \"$.path\"")
	}
	if len(m) > MaxMappings {
		return nil, nil, apperr.Invalid("variableMapping", "variableMapping may map at most %d variables", MaxMappings)
	}
	out := make(map[string]string, len(m))
	for name, v := range m {
		field := "variableMapping." + name
		if strings.TrimSpace(name) == "" || len(name) > 100 || strings.HasPrefix(name, "_") {
			return nil, nil, apperr.Invalid(field, "variable names are 1 to 100 characters and do not start with _ (reserved for _trigger and _payload)")
		}
		p, ok := v.(string)
		if !ok || !validPath(p) {
			return nil, nil, apperr.Invalid(field, "%s must be a path such as \"$.pull_request.head.ref\"", field)
		}
		out[name] = p
	}
	if len(out) == 0 {
		return nil, nil, nil
	}
	b, err := Canonical(out)
	return b, out, err
}

func validPath(p string) bool {
	if p == "$" {
		return true
	}
	rest, ok := strings.CutPrefix(p, "$.")
	if !ok || len(p) > 500 {
		return false
	}
	for _, seg := range strings.Split(rest, ".") {
		if seg == "" {
			return false
		}
	}
	return true
}

// Lookup follows a "$.a.b" path into v; ok is false when a segment is
// missing.
func Lookup(v any, path string) (any, bool) {
	if path == "$" {
		return v, true
	}
	rest, ok := strings.CutPrefix(path, "$.")
	if !ok {
		return nil, false
	}
	for _, seg := range strings.Split(rest, ".") {
		switch c := v.(type) {
		case map[string]any:
			if v, ok = c[seg]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			v = c[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// ApplyMapping sets vars[name] to the value at each mapped path of
// payload; paths that lead nowhere leave their variable unset.
func ApplyMapping(mapping map[string]string, payload any, vars map[string]any) {
	for name, p := range mapping {
		if v, ok := Lookup(payload, p); ok {
			vars[name] = v
		}
	}
}
