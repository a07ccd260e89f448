// Package runner is the runner side of the session protocol (`agentops
// runner`): it connects to a session's WebSocket, runs the prompts the
// server dispatches through an Agent, and streams the turns back.
//
// Every frame the runner sends (except the `ping` keepalive) carries a
// sequence number that grows for the life of the session. Frames stay in
// a bounded buffer until the server acks them; after a reconnect the
// server's `init` says what it persisted (`lastSeq`) and the runner
// replays the rest, so nothing the agent produced is lost or duplicated.
// See ARCHITECTURE.md, "The session actor", and the upstream runner
// protocol (reference/upstream-runtime.md §2).
//
// The package imports app/protocol and nothing of the server: runners run
// on other machines.
package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/app/runner/agent"
)

// Config is what Run needs. ServerURL, SessionID, Token and Agent are
// required; zero durations and sizes take the defaults below.
type Config struct {
	// ServerURL is the server's base URL, http(s)://host:port (a path
	// prefix is kept). The runner dials
	// ws(s)://host:port/api/sessions/<SessionID>/ws?role=runner&token=<Token>.
	ServerURL string
	SessionID string
	Token     string
	Agent     agent.Agent
	// Workspace is the agent's working directory (Prompt.Workspace).
	Workspace string
	Logger    *slog.Logger // nil: discard

	PingInterval time.Duration // keepalive `ping` period; default 30s
	ReconnectMin time.Duration // first reconnect delay; default 1s
	ReconnectMax time.Duration // reconnect delay cap; default 30s
	// GiveUpAfter ends Run with an error when no connection could be
	// established (up to `init`) for this long, counted from the start or
	// from the last connection's end; default 10m.
	GiveUpAfter time.Duration
	// MaxUnacked bounds the frames kept until the server acks them;
	// when it is reached the agent's output blocks until acks arrive.
	// Default 10000.
	MaxUnacked int
	// Version is this runner's agentops version, sent in the handshake
	// (protocol.VersionHeader). A server that runs another version asks
	// the runner to restart once its turn has ended: Run then returns
	// ErrRestart. Empty: none is sent, and the server never asks.
	Version string
}

// ErrRestart is Run's result when the server asked this runner to restart
// because it runs another agentops version (protocol.CloseRestart): the
// process should exit and be started again from the current binary.
var ErrRestart = errors.New("runner: the server runs another agentops version and asked this runner to restart")

// Defaults.
const (
	DefaultPingInterval = 30 * time.Second
	DefaultReconnectMin = time.Second
	DefaultReconnectMax = 30 * time.Second
	DefaultGiveUpAfter  = 10 * time.Minute
	DefaultMaxUnacked   = 10000
)

// maxRejections is how many times in a row the server may reject the
// token (HTTP 401/403/404 on upgrade, or close 1008) before Run gives up:
// upstream's runner treats five consecutive upgrade failures as a rotated
// token.
const maxRejections = 5

// Timeouts that are not worth a setting.
var (
	initTimeout  = 30 * time.Second // from upgrade to the server's init
	dialTimeout  = 30 * time.Second
	writeTimeout = 30 * time.Second
	closeTimeout = 2 * time.Second // waiting for the peer's close frame on exit
)

func (c Config) withDefaults() (Config, error) {
	switch {
	case c.ServerURL == "":
		return c, errors.New("runner: ServerURL is required")
	case c.SessionID == "":
		return c, errors.New("runner: SessionID is required")
	case c.Token == "":
		return c, errors.New("runner: Token is required")
	case c.Agent == nil:
		return c, errors.New("runner: Agent is required")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.PingInterval <= 0 {
		c.PingInterval = DefaultPingInterval
	}
	if c.ReconnectMin <= 0 {
		c.ReconnectMin = DefaultReconnectMin
	}
	if c.ReconnectMax <= 0 {
		c.ReconnectMax = DefaultReconnectMax
	}
	c.ReconnectMax = max(c.ReconnectMax, c.ReconnectMin)
	if c.GiveUpAfter <= 0 {
		c.GiveUpAfter = DefaultGiveUpAfter
	}
	if c.MaxUnacked <= 0 {
		c.MaxUnacked = DefaultMaxUnacked
	}
	return c, nil
}

// SocketURL is the runner socket's URL for a server base URL.
func SocketURL(serverURL, sessionID, token string) (string, error) {
	u, err := url.Parse(serverURL)
	if err != nil {
		return "", fmt.Errorf("runner: server URL %q: %w", serverURL, err)
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "ws"
	case "https", "wss":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("runner: server URL %q: scheme must be http or https", serverURL)
	}
	if u.Host == "" {
		return "", fmt.Errorf("runner: server URL %q has no host", serverURL)
	}
	prefix := strings.TrimRight(u.EscapedPath(), "/")
	u.Path = strings.TrimRight(u.Path, "/") + "/api/sessions/" + sessionID + "/ws"
	u.RawPath = prefix + "/api/sessions/" + url.PathEscape(sessionID) + "/ws"
	u.RawQuery = url.Values{"role": {protocol.RoleRunner}, "token": {token}}.Encode()
	u.Fragment = ""
	return u.String(), nil
}

// redact hides the token in an error message (dial errors quote the URL).
func (r *runner) redact(s string) string {
	s = strings.ReplaceAll(s, url.QueryEscape(r.cfg.Token), "REDACTED")
	return strings.ReplaceAll(s, r.cfg.Token, "REDACTED")
}

// redactURL hides the token in a socket URL for logs.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparseable URL)"
	}
	q := u.Query()
	if q.Has("token") {
		q.Set("token", "REDACTED")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// Run connects to the session and serves it until the server says stop,
// replaces this runner or ends the session (nil), ctx ends (ctx.Err()),
// the token is rejected five times in a row, or no connection succeeds
// for GiveUpAfter (an error).
func Run(ctx context.Context, cfg Config) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	wsURL, err := SocketURL(cfg.ServerURL, cfg.SessionID, cfg.Token)
	if err != nil {
		return err
	}
	r := &runner{
		cfg:   cfg,
		log:   cfg.Logger.With("session_id", cfg.SessionID, "agent", cfg.Agent.Name()),
		wsURL: wsURL,
		out:   newOutbox(cfg.MaxUnacked),
		inbox: newMailbox(),
		rpc:   newRPCs(),
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.execLoop(ctx)
	}()
	err = r.connectLoop(ctx)
	cancel()
	<-done
	if c, ok := cfg.Agent.(interface{ Close() error }); ok {
		if cerr := c.Close(); cerr != nil {
			r.log.Warn("closing the agent", "err", cerr)
		}
	}
	return err
}

// runner is one Run's state.
type runner struct {
	cfg   Config
	log   *slog.Logger
	wsURL string
	out   *outbox
	inbox *mailbox // commands for execLoop
	rpc   *rpcs
	// persona is the session's persona instruction files from the last
	// plugin-content; only the connection's read loop touches it (one
	// connection at a time).
	persona []protocol.PersonaFile

	// agentSession is the agent's own session id: from init, or as the
	// agent last reported it.
	sessMu       sync.Mutex
	agentSession string
}

func (r *runner) setAgentSession(id string) {
	r.sessMu.Lock()
	r.agentSession = id
	r.sessMu.Unlock()
}

func (r *runner) currentAgentSession() string {
	r.sessMu.Lock()
	defer r.sessMu.Unlock()
	return r.agentSession
}

// connEnd is why a connection ended.
type connEnd int

const (
	endRetry    connEnd = iota // reconnect
	endStop                    // the server said stop
	endReplaced                // a newer runner took over
	endEnded                   // the session is over
	endRejected                // the token was refused
	endRestart                 // the server runs another version: exit and start again
)

// connectLoop (re)connects until the session no longer needs this runner.
func (r *runner) connectLoop(ctx context.Context) error {
	var (
		attempt    int          // failures since the last good connection, for backoff
		rejections int          // token rejections in a row
		downSince  = time.Now() // start of the current outage
	)
	for {
		end, ready, why := r.connectOnce(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		switch end {
		case endStop:
			r.log.Info("server said stop")
			return nil
		case endReplaced:
			r.log.Info("replaced by a newer runner connection")
			return nil
		case endEnded:
			r.log.Info("the session has ended")
			return nil
		case endRestart:
			r.log.Info("the server runs another agentops version: exiting so that the runner restarts with it",
				"runner_version", r.cfg.Version, "reason", why)
			return ErrRestart
		}
		if ready {
			attempt = 0
			downSince = time.Now()
		}
		if end == endRejected {
			rejections++
			if rejections >= maxRejections {
				return fmt.Errorf("runner: the server rejected the runner token %d times in a row (last: %s)", rejections, why)
			}
		} else if ready {
			rejections = 0
		}
		down := time.Since(downSince)
		if down >= r.cfg.GiveUpAfter {
			return fmt.Errorf("runner: could not connect to %s for %s (last: %s)", redactURL(r.wsURL), down.Round(time.Millisecond), why)
		}
		delay := min(r.backoff(attempt), r.cfg.GiveUpAfter-down)
		attempt++
		r.log.Warn("runner connection lost; reconnecting", "reason", why, "in", delay.Round(time.Millisecond))
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// backoff is ReconnectMin·2^attempt capped at ReconnectMax, with "equal
// jitter" (a uniform pick in the upper half) so that runners cut off
// together do not come back together.
func (r *runner) backoff(attempt int) time.Duration {
	d := r.cfg.ReconnectMax
	if attempt < 30 {
		d = min(r.cfg.ReconnectMin<<attempt, r.cfg.ReconnectMax)
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// connectOnce dials and serves one connection. ready reports whether the
// server's init arrived (the connection counts as established); why
// describes the end for logs.
func (r *runner) connectOnce(ctx context.Context) (end connEnd, ready bool, why string) {
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	var opts *websocket.DialOptions
	if r.cfg.Version != "" {
		opts = &websocket.DialOptions{HTTPHeader: http.Header{protocol.VersionHeader: {r.cfg.Version}}}
	}
	conn, resp, err := websocket.Dial(dctx, r.wsURL, opts)
	cancel()
	if err != nil {
		if resp != nil {
			switch resp.StatusCode {
			case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound:
				return endRejected, false, fmt.Sprintf("HTTP %d on upgrade", resp.StatusCode)
			}
			return endRetry, false, fmt.Sprintf("HTTP %d on upgrade", resp.StatusCode)
		}
		return endRetry, false, r.redact(err.Error())
	}
	conn.SetReadLimit(protocol.MaxFrameBytes)
	r.log.Info("connected", "url", redactURL(r.wsURL))
	return r.serveConn(ctx, conn)
}
