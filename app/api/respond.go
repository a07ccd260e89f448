package api

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/app/jsonnul"
	"github.com/agentops/agentops/store"
)

// DefaultMaxBodyBytes bounds a JSON request body.
const DefaultMaxBodyBytes = 1 << 20

// timeLayout renders REST timestamps: ISO-8601 in UTC with milliseconds.
const timeLayout = "2006-01-02T15:04:05.000Z"

func isoTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// isoTimePtr renders an optional time as null when it is zero.
func isoTimePtr(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := isoTime(t)
	return &s
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

var kindStatus = map[apperr.Kind]int{
	apperr.KindInvalid:      http.StatusBadRequest,
	apperr.KindUnauthorized: http.StatusUnauthorized,
	apperr.KindForbidden:    http.StatusForbidden,
	apperr.KindNotFound:     http.StatusNotFound,
	apperr.KindConflict:     http.StatusConflict,
	apperr.KindTooLarge:     http.StatusRequestEntityTooLarge,
	apperr.KindTooMany:      http.StatusTooManyRequests,
	apperr.KindUnavailable:  http.StatusServiceUnavailable,
	apperr.KindInternal:     http.StatusInternalServerError,

	apperr.KindMethodNotAllowed: http.StatusMethodNotAllowed,
	apperr.KindTimeout:          http.StatusRequestTimeout,
	apperr.KindStorageFull:      http.StatusInsufficientStorage,
}

var kindCode = map[apperr.Kind]string{
	apperr.KindInvalid:      "VALIDATION_ERROR",
	apperr.KindUnauthorized: "UNAUTHORIZED",
	apperr.KindForbidden:    "FORBIDDEN",
	apperr.KindNotFound:     "NOT_FOUND",
	apperr.KindConflict:     "CONFLICT",
	apperr.KindTooLarge:     "PAYLOAD_TOO_LARGE",
	apperr.KindTooMany:      "RATE_LIMITED",
	apperr.KindUnavailable:  "UNAVAILABLE",
	apperr.KindInternal:     "INTERNAL_ERROR",

	apperr.KindMethodNotAllowed: "METHOD_NOT_ALLOWED",
	apperr.KindTimeout:          "REQUEST_TIMEOUT",
	apperr.KindStorageFull:      "STORAGE_FULL",
}

// errTooSlow is the 408 for a body that fell behind BodyTiming.
func errTooSlow() *apperr.Error {
	return &apperr.Error{Kind: apperr.KindTimeout, Message: "The request body arrived too slowly"}
}

// writeError renders err as the one error body. Domain errors keep their
// message; anything else is logged and answered as a 500 that names the
// request id, never the internal error.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	if store.IsStorageFull(err) {
		if sw := storageWatchFrom(r.Context()); sw != nil {
			sw.full(err)
		}
		err = errStorageFull
	}
	e, ok := apperr.As(err)
	if !ok {
		switch {
		case errors.Is(err, errBodyTooSlow):
			e = errTooSlow()
		case errors.Is(err, store.ErrNotFound):
			e = apperr.NotFound("Resource")
		case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
			return // the client went away; nobody is listening
		default:
			slog.ErrorContext(r.Context(), "request failed", "err", err, "method", r.Method, "path", r.URL.Path, "request_id", requestIDFrom(r.Context()))
			writeJSON(w, http.StatusInternalServerError, map[string]any{
				"error": "Internal server error", "code": "INTERNAL_ERROR", "requestId": requestIDFrom(r.Context()),
			})
			return
		}
	}
	status := kindStatus[e.Kind]
	body := map[string]any{}
	for k, v := range e.Extra {
		body[k] = v
	}
	body["error"] = e.Message
	if e.Word != "" {
		body["error"] = e.Word
		if e.Message != "" {
			body["message"] = e.Message
		}
	}
	code := e.Code
	if code == "" {
		code = kindCode[e.Kind]
		if e.Word != "" {
			code = strings.ToUpper(e.Word)
		}
	}
	body["code"] = code
	if len(e.Details) > 0 {
		body["details"] = e.Details
	}
	if retry, ok := e.Extra["retryAfterSeconds"].(int); ok {
		w.Header().Set("Retry-After", fmt.Sprint(retry))
	}
	writeJSON(w, status, body)
}

// decodeJSON reads a JSON object body into v. Unknown fields are ignored
// (upstream clients send fields we may not model); malformed JSON and
// wrong types are 400 with the failing field; a body over the limit is 413.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	return decodeJSONLimit(w, r, v, DefaultMaxBodyBytes)
}

// decodeJSONLimit is decodeJSON with a body limit of its own. The body
// must be one JSON object (or, for a v that is a slice, one array): a
// top-level null would decode into nothing and let a handler act on zero
// values. Strings may not hold NUL characters, which neither database
// stores in text.
func decodeJSONLimit(w http.ResponseWriter, r *http.Request, v any, limit int64) error {
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	var raw json.RawMessage
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(&raw); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return jsonError(err)
		}
		return apperr.Invalid("", "Request body must hold a single JSON value")
	}
	if first := firstByte(raw); first != '{' && first != '[' {
		return apperr.Invalid("", "Request body must be a JSON object")
	}
	if jsonnul.Has(raw) {
		field := nulJSONField(raw)
		return apperr.Invalid(field, "%s has a NUL character (\\u0000): text cannot hold it", cmp.Or(field, "The request body"))
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return jsonError(err)
	}
	return nil
}

// nulJSONField returns the path ("content", "files[1].content") of the
// first string in a JSON text that holds a NUL character; "" for the top
// level or if there is none.
func nulJSONField(raw []byte) string {
	type level struct {
		object bool
		key    string
		index  int
	}
	var stack []level
	path := func() string {
		var b strings.Builder
		for _, l := range stack {
			if l.object {
				if b.Len() > 0 {
					b.WriteByte('.')
				}
				b.WriteString(l.key)
			} else {
				fmt.Fprintf(&b, "[%d]", l.index)
			}
		}
		return b.String()
	}
	// afterValue moves the innermost array on to its next element.
	afterValue := func() {
		if n := len(stack); n > 0 && !stack[n-1].object {
			stack[n-1].index++
		}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	expectKey := false
	for {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				stack = append(stack, level{object: true})
				expectKey = true
			case '[':
				stack = append(stack, level{})
				expectKey = false
			case '}', ']':
				stack = stack[:len(stack)-1]
				afterValue()
				expectKey = len(stack) > 0 && stack[len(stack)-1].object
			}
		case string:
			if expectKey {
				stack[len(stack)-1].key = t
				expectKey = false
				continue
			}
			if strings.ContainsRune(t, 0) {
				return path()
			}
			afterValue()
			expectKey = len(stack) > 0 && stack[len(stack)-1].object
		default:
			afterValue()
			expectKey = len(stack) > 0 && stack[len(stack)-1].object
		}
	}
}

func firstByte(b []byte) byte {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return c
	}
	return 0
}

func jsonError(err error) error {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
		mbe *http.MaxBytesError
	)
	switch {
	case errors.Is(err, errBodyTooSlow):
		return errTooSlow()
	case errors.As(err, &mbe):
		return &apperr.Error{Kind: apperr.KindTooLarge, Message: fmt.Sprintf("Request body is larger than %d bytes", mbe.Limit),
			Details: map[string]any{"limit": mbe.Limit}}
	case errors.Is(err, io.EOF):
		return apperr.Invalid("", "Request body is empty: a JSON object is required")
	case errors.As(err, &syn), errors.Is(err, io.ErrUnexpectedEOF):
		e := apperr.Invalid("", "Malformed JSON in request body")
		if syn != nil {
			e.Details = map[string]any{"offset": syn.Offset}
		}
		return e
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return apperr.Invalid("", "Request body must be a JSON object")
		}
		return apperr.Invalid(field, "%s must be %s, not %s", field, jsonTypeName(typ.Type.Kind().String()), typ.Value)
	}
	return apperr.Invalid("", "Invalid request body: %v", err)
}

func jsonTypeName(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "an array"
	case "map", "struct":
		return "an object"
	case "ptr", "interface":
		return "a value of another type"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer"
	}
	return "a number"
}

// required reports a missing field as a 400 naming it.
func required(field string, present bool) error {
	if !present {
		return apperr.Invalid(field, "%s is required", field)
	}
	return nil
}
