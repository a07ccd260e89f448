// Package apperr defines the typed errors that domain code returns and the
// API layer renders as the one error body {"error","code","details"?}.
package apperr

import (
	"errors"
	"fmt"
)

// Kind classifies an error; the API maps each kind to a status code.
type Kind int

// The kinds of domain error.
const (
	KindInternal     Kind = iota
	KindInvalid           // 400
	KindUnauthorized      // 401
	KindForbidden         // 403
	KindNotFound          // 404
	KindConflict          // 409
	KindTooLarge          // 413
	KindTooMany           // 429
	KindUnavailable       // 503
)

// Error is a domain error with what the client needs to act on it.
type Error struct {
	Kind Kind
	// Word is upstream's machine-readable error word where it has one
	// ("invalid_credentials"); the message is used when it is empty.
	Word    string
	Message string
	// Code overrides the default code of the kind (e.g. "TOO_MANY_ATTEMPTS").
	Code string
	// Details go under "details" (the failing field, say).
	Details map[string]any
	// Extra fields sit beside "error" and "code" (retryAfterSeconds, say).
	Extra map[string]any
	Err   error
}

func (e *Error) Error() string {
	msg := e.Message
	switch {
	case msg == "":
		msg = e.Word
	case e.Word != "":
		msg += " (" + e.Word + ")"
	}
	if e.Err != nil {
		return msg + ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// As returns the *Error in err's chain, if any.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// Invalid is a 400 about one field.
func Invalid(field, format string, args ...any) *Error {
	e := &Error{Kind: KindInvalid, Message: fmt.Sprintf(format, args...)}
	if field != "" {
		e.Details = map[string]any{"field": field}
	}
	return e
}

// NotFound is a 404 for a resource ("API key", "Invite").
func NotFound(resource string) *Error {
	return &Error{Kind: KindNotFound, Message: resource + " not found"}
}

// Forbidden is a 403.
func Forbidden(msg string) *Error { return &Error{Kind: KindForbidden, Message: msg} }

// Unauthorized is a 401.
func Unauthorized(msg string) *Error { return &Error{Kind: KindUnauthorized, Message: msg} }

// Conflict is a 409.
func Conflict(msg string) *Error { return &Error{Kind: KindConflict, Message: msg} }

// Word builds an error whose "error" is a machine-readable word and whose
// code is that word in upper case.
func Word(kind Kind, word string) *Error {
	return &Error{Kind: kind, Word: word}
}

// WordHint is Word with a sentence for a person, rendered as "message"
// beside the word, where the word alone puzzles ("not_allowed").
func WordHint(kind Kind, word, hint string) *Error {
	return &Error{Kind: kind, Word: word, Message: hint}
}

// KindMethodNotAllowed is a 405 (a webhook whose trigger takes another
// method). It stands apart from the block above so that kinds added there
// keep their values.
const KindMethodNotAllowed Kind = 100

// KindTimeout is a 408: the request body arrived too slowly.
const KindTimeout Kind = 101

// KindStorageFull is a 507: the database or disk has no room.
const KindStorageFull Kind = 102
