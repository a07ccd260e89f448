package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/app/auth"
	"github.com/agentops/agentops/app/events"
	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/realtime"
)

// The user event bus: the caller's own events over Server-Sent Events
// (GET /api/events) or a WebSocket (GET /api/events/ws), authenticated by
// a bearer token or a ticket from POST /api/events/ticket.
func bindEvents(s *Server, m *http.ServeMux) {
	m.HandleFunc("POST /api/events/ticket", s.requireUser(s.createEventTicket))
	m.HandleFunc("GET /api/events", s.eventStream)
	m.HandleFunc("GET /api/events/ws", s.eventSocket)
}

func (s *Server) createEventTicket(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	t, err := s.events.IssueTicket(r.Context(), p.User.ID, p.AuthSessionID, p.APITokenID)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ticket": t.Ticket, "expiresAt": isoTime(t.ExpiresAt)})
}

// lastEventID is where the client resumes: EventSource's Last-Event-ID
// header on its own reconnects, else ?lastEventId= for a new stream.
func lastEventID(r *http.Request) (string, error) {
	id := r.Header.Get("Last-Event-ID")
	if id == "" {
		id = r.URL.Query().Get("lastEventId")
	}
	if id == "" {
		return "", nil
	}
	if _, _, err := events.ParseID(id); err != nil {
		return "", apperr.Invalid("lastEventId", "Last-Event-ID %q is not an event id: %v", id, err)
	}
	return id, nil
}

// streamAuth authenticates an event stream: a ticket (?ticket=), which the
// stream then holds, or a bearer token. resume says whether the request
// continues a stream (it has a Last-Event-ID).
func (s *Server) streamAuth(r *http.Request, resume bool) (*auth.Principal, *events.TicketHold, error) {
	ctx := r.Context()
	ticket := r.URL.Query().Get("ticket")
	if ticket == "" {
		p, err := s.auth.Authenticate(ctx, BearerToken(r))
		return p, nil, err
	}
	hold, err := s.events.ClaimTicket(ctx, ticket, resume)
	if err != nil {
		return nil, nil, err
	}
	p, err := s.auth.PrincipalFor(ctx, hold.AuthSessionID, hold.APITokenID)
	if err != nil {
		hold.Release()
		return nil, nil, err
	}
	return p, hold, nil
}

// streamCheck is what a stream checks while it lasts: its credential is
// still valid, and it still holds its ticket.
func (s *Server) streamCheck(p *auth.Principal, hold *events.TicketHold) func(context.Context) error {
	return func(ctx context.Context) error {
		if _, err := s.auth.PrincipalFor(ctx, p.AuthSessionID, p.APITokenID); err != nil {
			return err
		}
		if hold != nil {
			return hold.Refresh(ctx)
		}
		return nil
	}
}

// eventStream serves GET /api/events as Server-Sent Events.
func (s *Server) eventStream(w http.ResponseWriter, r *http.Request) {
	lastID, err := lastEventID(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	p, hold, err := s.streamAuth(r, lastID != "")
	if err != nil {
		writeError(w, r, err)
		return
	}
	if hold != nil {
		defer hold.Release()
	}
	sink := realtime.NewSSE(w, realtime.SSEOptions{WriteTimeout: s.events.Config().WriteTimeout})
	err = s.events.Follow(r.Context(), p.User.ID, sink, events.FollowOptions{LastEventID: lastID, Check: s.streamCheck(p, hold)})
	if !sink.Started() {
		writeError(w, r, err) // nothing sent yet: a plain error answer
		return
	}
	s.log.Debug("event stream ended", "user_id", p.User.ID, "reason", err, "request_id", requestIDFrom(r.Context()))
}

// closeText fits a close reason into the 123 bytes a close frame allows.
func closeText(s string) string {
	const limit = 123
	if len(s) <= limit {
		return s
	}
	s = s[:limit]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// isWebSocketUpgrade reports whether r asks for a WebSocket.
func isWebSocketUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// eventSocket serves GET /api/events/ws. The client may send
// {"type":"ping"} (answered {"type":"pong"}); anything else it sends is
// ignored, as upstream does with "subscribe".
func (s *Server) eventSocket(w http.ResponseWriter, r *http.Request) {
	if !s.socketPreflight(w, r, true) {
		return
	}
	lastID, err := lastEventID(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	p, hold, err := s.streamAuth(r, lastID != "")
	if err != nil {
		writeError(w, r, err)
		return
	}
	if hold != nil {
		defer hold.Release()
	}
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols:   []string{protocol.Subprotocol},
		OriginPatterns: s.originPatterns(),
	})
	if err != nil {
		return // Accept has answered
	}
	c.SetReadLimit(4096)
	// The connection is hijacked: nothing cancels the request's context
	// when the client goes; the reader does.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	sink := realtime.NewWS(c, s.events.Config().WriteTimeout)
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		defer cancel()
		for {
			_, data, err := c.Read(ctx)
			if err != nil {
				return
			}
			var msg struct {
				Type string `json:"type"`
			}
			if json.Unmarshal(data, &msg) == nil && msg.Type == "ping" {
				if sink.Send(ctx, realtime.Frame{Data: []byte(`{"type":"pong"}`)}) != nil {
					return
				}
			}
		}
	})
	err = s.events.Follow(ctx, p.User.ID, sink, events.FollowOptions{LastEventID: lastID, Check: s.streamCheck(p, hold)})
	var ae *apperr.Error
	switch {
	case errors.Is(err, events.ErrUnavailable):
		_ = c.Close(websocket.StatusGoingAway, "server shutting down; reconnect")
	case errors.As(err, &ae) && ae.Kind == apperr.KindUnauthorized:
		_ = c.Close(websocket.StatusPolicyViolation, closeText(ae.Message))
	default: // the client went away or does not read
		_ = c.CloseNow()
	}
	s.log.Debug("event socket ended", "user_id", p.User.ID, "reason", err, "request_id", requestIDFrom(r.Context()))
}
