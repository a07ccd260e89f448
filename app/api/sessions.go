package api

import (
	"encoding/base64"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/app/session"
	"github.com/agentops/agentops/store"
)

func bindSessions(s *Server, m *http.ServeMux) {
	m.HandleFunc("GET /api/sessions", s.requireUser(s.listSessions))
	m.HandleFunc("POST /api/sessions", s.requireUser(s.createSession))
	m.HandleFunc("GET /api/sessions/available-models", s.requireUser(s.availableModels))
	m.HandleFunc("POST /api/sessions/bulk-delete", s.requireUser(s.bulkDeleteSessions))
	m.HandleFunc("GET /api/sessions/{id}", s.requireUser(s.getSession))
	m.HandleFunc("PATCH /api/sessions/{id}", s.requireUser(s.renameSession))
	m.HandleFunc("DELETE /api/sessions/{id}", s.requireUser(s.terminateSession))
	m.HandleFunc("GET /api/sessions/{id}/messages", s.requireUser(s.listMessages))
	m.HandleFunc("POST /api/sessions/{id}/messages", s.requireUser(s.postMessage))
	m.HandleFunc("POST /api/sessions/{id}/prompt", s.requireUser(s.postPrompt))
	m.HandleFunc("POST /api/sessions/{id}/hibernate", s.requireUser(s.hibernateSession))
	m.HandleFunc("POST /api/sessions/{id}/wake", s.requireUser(s.wakeSession))
	m.HandleFunc("POST /api/sessions/{id}/clear-queue", s.requireUser(s.clearQueue))
	m.HandleFunc("GET /api/sessions/{id}/git-state", s.requireUser(s.sessionGitState))
	m.HandleFunc("GET /api/sessions/{id}/files-changed", s.requireUser(s.sessionFilesChanged))
	m.HandleFunc("GET /api/sessions/{id}/diff", s.requireUser(s.sessionDiff))
	m.HandleFunc("POST /api/sessions/{id}/commit", s.requireUser(s.sessionCommit))
	m.HandleFunc("POST /api/sessions/{id}/push", s.requireUser(s.sessionPush))
	m.HandleFunc("GET /api/sessions/{id}/ws", s.sessionSocket)
	m.HandleFunc("GET /api/sessions/{id}/terminal", s.requireUser(s.terminalSocket))
}

// sessionJSON is upstream's AgentSession, as far as agentops has its fields.
type sessionJSON struct {
	ID           string  `json:"id"`
	UserID       string  `json:"userId"`
	Workspace    string  `json:"workspace"`
	Status       string  `json:"status"`
	Purpose      string  `json:"purpose"`
	Title        *string `json:"title,omitempty"`
	Agent        string  `json:"agent"`
	PersonaID    *string `json:"personaId,omitempty"`
	SandboxID    *string `json:"sandboxId,omitempty"`
	ErrorMessage *string `json:"errorMessage,omitempty"`
	CreatedAt    string  `json:"createdAt"`
	LastActiveAt string  `json:"lastActiveAt"`
	EndedAt      *string `json:"endedAt,omitempty"`
	// ActiveSeconds sums the running periods that ended; the current one
	// started at doStatus.runningStartedAt.
	ActiveSeconds int64 `json:"activeSeconds"`
	IsOwner       bool  `json:"isOwner"`
	// AgentSessionID is the coding agent's own session or thread id (new:
	// what a restarted or external runner resumes); absent before the
	// agent's first turn.
	AgentSessionID *string `json:"agentSessionId,omitempty"`
}

func toSessionJSON(s *store.Session) sessionJSON {
	return sessionJSON{ID: s.ID, UserID: s.UserID, Workspace: s.Workspace, Status: s.Status, Purpose: s.Purpose,
		Title: strPtr(s.Title), Agent: s.Agent, PersonaID: strPtr(s.PersonaID), SandboxID: strPtr(s.SandboxID),
		ErrorMessage: strPtr(s.ErrorMessage), CreatedAt: isoTime(s.CreatedAt), LastActiveAt: isoTime(s.LastActiveAt),
		EndedAt: isoTimePtr(s.EndedAt), ActiveSeconds: s.ActiveSeconds, IsOwner: true,
		AgentSessionID: strPtr(s.AgentSessionID)}
}

// sessionListItem is a session in GET /api/sessions: upstream's list adds
// the owner's name, email and avatar (its client shows them) and the
// participants. A user lists only their own sessions, and agentops has no
// sharing yet: the owner is the caller and there are no participants.
type sessionListItem struct {
	sessionJSON
	OwnerName        *string `json:"ownerName,omitempty"`
	OwnerEmail       *string `json:"ownerEmail,omitempty"`
	OwnerAvatarURL   *string `json:"ownerAvatarUrl,omitempty"`
	ParticipantCount int     `json:"participantCount"`
	Participants     []any   `json:"participants"`
}

// Session list cursors are opaque: base64 of "<created_at unix nanos>:<id>".
func encodeSessionCursor(c *store.SessionCursor) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.CreatedAt.UnixNano(), 10) + ":" + c.ID))
}

func decodeSessionCursor(s string) (store.SessionCursor, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return store.SessionCursor{}, apperr.Invalid("cursor", "cursor is not one this server issued")
	}
	ns, id, ok := strings.Cut(string(raw), ":")
	n, err := strconv.ParseInt(ns, 10, 64)
	if !ok || err != nil || id == "" {
		return store.SessionCursor{}, apperr.Invalid("cursor", "cursor is not one this server issued")
	}
	return store.SessionCursor{CreatedAt: time.Unix(0, n).UTC(), ID: id}, nil
}

// queryInt reads an integer query parameter within [lo, hi], def if absent.
func queryInt(r *http.Request, name string, def, lo, hi int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, apperr.Invalid(name, "%s must be a whole number from %d to %d", name, lo, hi)
	}
	return n, nil
}

func (s *Server) listSessions(w http.ResponseWriter, r *http.Request) {
	limit, err := queryInt(r, "limit", 20, 1, 100)
	if err != nil {
		writeError(w, r, err)
		return
	}
	var after store.SessionCursor
	if c := r.URL.Query().Get("cursor"); c != "" {
		if after, err = decodeSessionCursor(c); err != nil {
			writeError(w, r, err)
			return
		}
	}
	q := r.URL.Query().Get("q")
	if len(q) > 200 {
		writeError(w, r, apperr.Invalid("q", "q must be at most 200 bytes (a title is)"))
		return
	}
	page, err := s.sessions.List(r.Context(), principal(r).User.ID, r.URL.Query().Get("status"), q, after, limit)
	if err != nil {
		writeError(w, r, err)
		return
	}
	owner := principal(r).User
	out := make([]sessionListItem, 0, len(page.Sessions))
	for i := range page.Sessions {
		out = append(out, sessionListItem{sessionJSON: toSessionJSON(&page.Sessions[i]),
			OwnerName: strPtr(owner.Name), OwnerEmail: strPtr(owner.Email), OwnerAvatarURL: strPtr(owner.AvatarURL),
			Participants: []any{}})
	}
	body := map[string]any{"sessions": out, "hasMore": page.Next != nil}
	if page.Next != nil {
		body["cursor"] = encodeSessionCursor(page.Next)
	}
	writeJSON(w, http.StatusOK, body)
}

type createSessionRequest struct {
	Workspace     *string `json:"workspace"`
	Title         string  `json:"title"`
	Agent         string  `json:"agent"`
	InitialPrompt string  `json:"initialPrompt"`
	InitialModel  string  `json:"initialModel"`
	PersonaID     string  `json:"personaId"`

	RepoURL            string `json:"repoUrl"`
	RepoPath           string `json:"repoPath"`
	Branch             string `json:"branch"`
	Ref                string `json:"ref"`
	SourceType         string `json:"sourceType"`
	SourcePRNumber     int    `json:"sourcePrNumber"`
	SourceIssueNumber  int    `json:"sourceIssueNumber"`
	SourceRepoFullName string `json:"sourceRepoFullName"`
}

func wsURL(publicURL, id, userID string) string {
	u := publicURL
	switch {
	case strings.HasPrefix(u, "https://"):
		u = "wss://" + strings.TrimPrefix(u, "https://")
	case strings.HasPrefix(u, "http://"):
		u = "ws://" + strings.TrimPrefix(u, "http://")
	}
	return u + "/api/sessions/" + id + "/ws?role=client&userId=" + userID
}

func (s *Server) createSession(w http.ResponseWriter, r *http.Request) {
	var req createSessionRequest
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	if err := required("workspace", req.Workspace != nil); err != nil {
		writeError(w, r, err)
		return
	}
	p := principal(r)
	created, err := s.sessions.Create(r.Context(), p.User, session.CreateInput{
		Workspace: *req.Workspace, Title: req.Title, Agent: req.Agent, InitialPrompt: req.InitialPrompt,
		InitialModel: req.InitialModel, PersonaID: req.PersonaID,
		Repo: session.RepoInput{RepoURL: req.RepoURL, RepoPath: req.RepoPath, Branch: req.Branch, Ref: req.Ref,
			SourceType: req.SourceType, SourcePRNumber: req.SourcePRNumber, SourceIssueNumber: req.SourceIssueNumber,
			SourceRepoFullName: req.SourceRepoFullName},
	})
	if err != nil {
		writeError(w, r, err)
		return
	}
	body := map[string]any{"ok": true, "session": toSessionJSON(created.Session),
		"websocketUrl": wsURL(s.opts.PublicURL, created.Session.ID, p.User.ID)}
	if created.RunnerCommand != "" {
		body["runner"] = map[string]string{"command": created.RunnerCommand}
	}
	writeJSON(w, http.StatusCreated, body)
}

func (s *Server) availableModels(w http.ResponseWriter, r *http.Request) {
	prefs := principal(r).User.ModelPreferences
	var orgPrefs any
	if len(prefs) > 0 {
		orgPrefs = prefs
	}
	agents, err := s.sessions.Agents(r.Context(), principal(r).User.ID)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"models": session.UsableModels(agents), "orgModelPreferences": orgPrefs, "agents": agents})
}

func (s *Server) getSession(w http.ResponseWriter, r *http.Request) {
	sess, rs, err := s.sessions.Status(r.Context(), principal(r).User.ID, r.PathValue("id"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"session": toSessionJSON(sess), "doStatus": rs})
}

type renameRequest struct {
	Title *string `json:"title"`
}

func (s *Server) renameSession(w http.ResponseWriter, r *http.Request) {
	var req renameRequest
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	if err := required("title", req.Title != nil); err != nil {
		writeError(w, r, err)
		return
	}
	if err := s.sessions.Rename(r.Context(), principal(r).User.ID, r.PathValue("id"), *req.Title); err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"success": true})
}

func (s *Server) terminateSession(w http.ResponseWriter, r *http.Request) {
	if err := s.sessions.Terminate(r.Context(), principal(r).User.ID, r.PathValue("id"), "user_stopped"); err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"success": true})
}

type bulkDeleteRequest struct {
	SessionIDs []string `json:"sessionIds"`
}

func (s *Server) bulkDeleteSessions(w http.ResponseWriter, r *http.Request) {
	var req bulkDeleteRequest
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	res, err := s.sessions.BulkDelete(r.Context(), principal(r).User.ID, req.SessionIDs)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// parseAfter reads ?after= as epoch seconds or an ISO-8601 time.
func parseAfter(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if n, err := strconv.ParseFloat(v, 64); err == nil {
		// time.Unix(0, ns) holds about ±292 years around 1970; beyond
		// that, and for NaN and the infinities, the conversion is garbage.
		if math.IsNaN(n) || math.IsInf(n, 0) || math.Abs(n) > 9e9 {
			return time.Time{}, apperr.Invalid("after", "after must be epoch seconds between -9e9 and 9e9, or an ISO-8601 time")
		}
		return time.Unix(0, int64(n*1e9)).UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, apperr.Invalid("after", "after must be epoch seconds or an ISO-8601 time")
}

func (s *Server) listMessages(w http.ResponseWriter, r *http.Request) {
	limit, err := queryInt(r, "limit", 5000, 1, 5000)
	if err != nil {
		writeError(w, r, err)
		return
	}
	after, err := parseAfter(r.URL.Query().Get("after"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	msgs, err := s.sessions.Messages(r.Context(), principal(r).User.ID, r.PathValue("id"), store.MessageQuery{After: after, Limit: limit})
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := make([]session.MessageView, 0, len(msgs))
	for i := range msgs {
		out = append(out, session.ViewOf(&msgs[i], false))
	}
	writeJSON(w, http.StatusOK, map[string]any{"messages": out})
}

type promptRequest struct {
	Content   *string `json:"content"`
	Model     string  `json:"model"`
	QueueMode string  `json:"queueMode"`
	Interrupt bool    `json:"interrupt"`
}

func (s *Server) prompt(w http.ResponseWriter, r *http.Request) error {
	var req promptRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	content := ""
	if req.Content != nil {
		content = *req.Content
	}
	if content == "" && !req.Interrupt {
		return apperr.Invalid("content", "content is required")
	}
	p := principal(r)
	return s.sessions.Prompt(r.Context(), p.User, r.PathValue("id"), session.PromptInput{
		Content: content, Model: req.Model, Mode: req.QueueMode, Interrupt: req.Interrupt})
}

// postMessage is upstream's simple prompt.
func (s *Server) postMessage(w http.ResponseWriter, r *http.Request) {
	if err := s.prompt(w, r); err != nil {
		if errors.Is(err, session.ErrNotActive) {
			err = apperr.Invalid("", "Session is not active")
		}
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"success": true})
}

// postPrompt is upstream's full prompt: a terminal session is 409.
func (s *Server) postPrompt(w http.ResponseWriter, r *http.Request) {
	if err := s.prompt(w, r); err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"success": true})
}

func (s *Server) hibernateSession(w http.ResponseWriter, r *http.Request) {
	status, err := s.sessions.Hibernate(r.Context(), principal(r).User.ID, r.PathValue("id"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": status, "message": "Session is " + status})
}

func (s *Server) wakeSession(w http.ResponseWriter, r *http.Request) {
	status, err := s.sessions.Wake(r.Context(), principal(r).User.ID, r.PathValue("id"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": status, "message": "Session is " + status})
}

func (s *Server) clearQueue(w http.ResponseWriter, r *http.Request) {
	n, err := s.sessions.ClearQueue(r.Context(), principal(r).User.ID, r.PathValue("id"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"cleared": n})
}
