// Package cluster lets replicas of one agentops reach each other: a
// request for a session that another replica runs is forwarded there
// (REST calls and WebSocket upgrades alike), signed with a secret every
// replica derives from the instance keyring, so the owner serves it and a
// forwarded request is never forwarded again.
package cluster

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
)

// Header carries "<replica id>:<hex HMAC of it>" on forwarded requests.
const Header = "X-Agentops-Replica"

// Forwarder sends requests for sessions owned elsewhere to their owner.
type Forwarder struct {
	// Self is this replica's id.
	Self string
	// Secret signs forwarded requests: derived from the primary key the
	// database records, which every replica has.
	Secret []byte
	// Accept are the secrets a forwarded request may be signed with
	// (one per key of the keyring, Secret's among them): a replica that
	// started before a key rotation was recorded still signs with the
	// old key, which the others keep until it is removed.
	Accept [][]byte
	// Owner returns the advertise URL of the replica that runs the
	// session, or "" to serve it here.
	Owner func(ctx context.Context, sessionID string) (string, error)
	Log   *slog.Logger
}

func sign(secret []byte, id string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("agentops replica " + id))
	return id + ":" + hex.EncodeToString(m.Sum(nil))
}

// forwarded reports whether r came from another replica with a valid
// signature.
func (f *Forwarder) forwarded(r *http.Request) bool {
	v := r.Header.Get(Header)
	if v == "" {
		return false
	}
	id, _, ok := strings.Cut(v, ":")
	if !ok {
		return false
	}
	for _, s := range f.Accept {
		if hmac.Equal([]byte(v), []byte(sign(s, id))) {
			return true
		}
	}
	return false
}

// SessionOf returns the session a request is about: the session-scoped
// routes /api/sessions/{id} and below (REST, the browser and runner
// sockets), and the workspace routes /api/files/{find,search,read,list}
// with ?sessionId= (the workspace is on the owner's machine). Other
// routes are served wherever they land.
func SessionOf(r *http.Request) string {
	if rest, ok := strings.CutPrefix(r.URL.Path, "/api/sessions/"); ok {
		id, _, _ := strings.Cut(rest, "/")
		return id
	}
	switch r.URL.Path {
	case "/api/files/find", "/api/files/search", "/api/files/read", "/api/files/list":
		return r.URL.Query().Get("sessionId")
	}
	return ""
}

// Wrap forwards session-scoped requests to the session's owner and
// serves the others with next.
func (f *Forwarder) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := SessionOf(r)
		if id == "" {
			next.ServeHTTP(w, r)
			return
		}
		if f.forwarded(r) {
			r.Header.Del(Header)
			next.ServeHTTP(w, r)
			return
		}
		r.Header.Del(Header) // a client's own value is not trusted
		owner, err := f.Owner(r.Context(), id)
		if err != nil || owner == "" {
			if err != nil {
				f.Log.Warn("find session owner", "session_id", id, "err", err)
			}
			next.ServeHTTP(w, r)
			return
		}
		target, err := url.Parse(owner)
		if err != nil {
			f.Log.Warn("bad advertise URL", "url", owner, "err", err)
			next.ServeHTTP(w, r)
			return
		}
		p := &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(target)
				pr.SetXForwarded()
				pr.Out.Host = pr.In.Host
				pr.Out.Header.Set(Header, sign(f.Secret, f.Self))
			},
			ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
				f.Log.Warn("forward to session owner", "session_id", id, "owner", owner, "err", err)
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = w.Write([]byte(`{"error":"The server running this session cannot be reached; retry","code":"UNAVAILABLE"}`))
			},
		}
		p.ServeHTTP(w, r)
	})
}
