package api

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/coder/websocket"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/app/session"
)

// Send queue sizes, in frames and in bytes: a browser that falls this far
// behind is closed with protocol.CloseSlowConsumer and reloads from REST.
const (
	clientQueue = 1024
	runnerQueue = 4096
	queueBytes  = 8 << 20
)

// sessionSocket serves GET /api/sessions/:id/ws for runners (?role=runner,
// authenticated by the session's runner token) and browsers (?role=client,
// authenticated as a user by a bearer header or the bearer.<token>
// subprotocol).
func (s *Server) sessionSocket(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Query().Get("role") {
	case protocol.RoleRunner:
		s.runnerSocket(w, r)
	case protocol.RoleClient, "":
		s.requireUser(s.clientSocket)(w, r)
	default:
		writeError(w, r, apperr.Invalid("role", "role must be runner or client"))
	}
}

func (s *Server) runnerSocket(w http.ResponseWriter, r *http.Request) {
	if !s.socketPreflight(w, r, false) {
		return
	}
	id := r.PathValue("id")
	if err := s.sessions.CheckRunnerToken(r.Context(), id, r.URL.Query().Get("token")); err != nil {
		writeError(w, r, err)
		return
	}
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return // Accept has answered
	}
	c.SetReadLimit(protocol.MaxFrameBytes)
	conn := newWSConn(c, "", runnerQueue, queueBytes)
	// At most a short token: it is logged and shown in the session's status.
	version := r.Header.Get(protocol.VersionHeader)
	if len(version) > 100 {
		version = version[:100]
	}
	sock, err := s.sessions.AttachVersionedRunner(r.Context(), id, conn, version)
	if err != nil {
		conn.Close(protocol.CloseSessionEnded, closeReason(err))
		<-conn.done
		return
	}
	s.opts.Metrics.SocketOpened("runner")
	defer s.opts.Metrics.SocketClosed("runner")
	s.readLoop(c, conn, sock.Frame)
	sock.Closed()
}

func (s *Server) clientSocket(w http.ResponseWriter, r *http.Request) {
	if !s.socketPreflight(w, r, true) {
		return
	}
	p := principal(r)
	id := r.PathValue("id")
	// Refuse before upgrading, so that a missing session is a plain 404.
	if _, err := s.sessions.Get(r.Context(), p.User.ID, id); err != nil {
		writeError(w, r, err)
		return
	}
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		// The first of these that the browser offers is answered:
		// agentops.v2 for clients that take part-level updates, else
		// upstream's valet.
		Subprotocols:   []string{protocol.SubprotocolV2, protocol.Subprotocol},
		OriginPatterns: s.originPatterns(),
	})
	if err != nil {
		return
	}
	c.SetReadLimit(protocol.MaxFrameBytes)
	conn := newWSConn(c, p.User.ID, clientQueue, queueBytes)
	conn.parts = c.Subprotocol() == protocol.SubprotocolV2
	sock, err := s.sessions.AttachClient(r.Context(), p.User, id, conn)
	if err != nil {
		conn.Close(protocol.CloseSessionEnded, closeReason(err))
		<-conn.done
		return
	}
	s.opts.Metrics.SocketOpened("browser")
	defer s.opts.Metrics.SocketClosed("browser")
	s.readLoop(c, conn, sock.Frame)
	sock.Closed()
}

// readLoop feeds frames to the session until the socket ends, then waits
// for the writer to finish.
func (s *Server) readLoop(c *websocket.Conn, conn *wsConn, handle func([]byte)) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-conn.closed: // the session closed the socket: stop reading
			<-conn.done
			cancel()
		case <-ctx.Done():
		}
	}()
	for {
		_, data, err := c.Read(ctx)
		if err != nil {
			if websocket.CloseStatus(err) == websocket.StatusMessageTooBig || errors.Is(err, websocket.ErrMessageTooBig) {
				conn.Close(protocol.CloseTooBig, "frame larger than the limit")
			} else {
				conn.Close(int(websocket.StatusNormalClosure), "")
			}
			break
		}
		handle(data)
	}
	select {
	case <-conn.done:
	case <-ctx.Done():
	}
	_ = c.CloseNow()
}

func closeReason(err error) string {
	if e, ok := apperr.As(err); ok {
		return e.Message
	}
	if errors.Is(err, session.ErrNotActive) {
		return "Session is not active"
	}
	return "session unavailable"
}

// socketPreflight answers, with the common error body, what the WebSocket
// library would answer in plain text: 426 for a request that is not an
// upgrade, and (for browser sockets) 403 for an Origin that may not open
// one. It reports whether the upgrade may go ahead.
func (s *Server) socketPreflight(w http.ResponseWriter, r *http.Request, browser bool) bool {
	if !isWebSocketUpgrade(r) {
		writeJSON(w, http.StatusUpgradeRequired, map[string]any{"error": "Expected WebSocket upgrade", "code": "UPGRADE_REQUIRED"})
		return false
	}
	if origin := r.Header.Get("Origin"); browser && origin != "" && !s.originAllowed(r, origin) {
		writeError(w, r, &apperr.Error{Kind: apperr.KindForbidden, Message: "This origin may not open a socket (--allowed-origins)",
			Details: map[string]any{"origin": origin}})
		return false
	}
	return true
}

// originAllowed applies the WebSocket library's rule: the request's own
// host, or a host that matches one of originPatterns.
func (s *Server) originAllowed(r *http.Request, origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	for _, p := range s.originPatterns() {
		if ok, _ := path.Match(strings.ToLower(p), strings.ToLower(u.Host)); ok {
			return true
		}
	}
	return false
}

// originPatterns lets the allowed origins open browser sockets (the
// public URL's host is always allowed).
func (s *Server) originPatterns() []string {
	var out []string
	for _, o := range s.opts.AllowedOrigins {
		if o == "*" {
			return []string{"*"}
		}
		if i := len("https://"); len(o) > i && o[:i] == "https://" {
			out = append(out, o[i:])
		} else if i := len("http://"); len(o) > i && o[:i] == "http://" {
			out = append(out, o[i:])
		}
	}
	return out
}
