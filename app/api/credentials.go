package api

import (
	"net/http"

	"github.com/agentops/agentops/app/credentials"
)

func bindCredentials(s *Server, m *http.ServeMux) {
	m.HandleFunc("GET /api/auth/me/credentials", s.requireUser(s.listCredentials))
	m.HandleFunc("PUT /api/auth/me/credentials/{provider}", s.requireUser(s.putCredential))
	m.HandleFunc("DELETE /api/auth/me/credentials/{provider}", s.requireUser(s.deleteCredential))
	m.HandleFunc("POST /api/auth/me/credentials/{provider}/test", s.requireUser(s.testCredential))
	m.HandleFunc("GET /api/admin/llm-keys", s.requireAdmin(s.listOrgKeys))
	m.HandleFunc("PUT /api/admin/llm-keys/{provider}", s.requireAdmin(s.putOrgKey))
	m.HandleFunc("DELETE /api/admin/llm-keys/{provider}", s.requireAdmin(s.deleteOrgKey))
}

// credentialJSON is a user's credential as the client's UserCredential
// sees it; the secret never leaves the server.
type credentialJSON struct {
	ID             string   `json:"id"`
	Provider       string   `json:"provider"`
	CredentialType string   `json:"credentialType"`
	IsSet          bool     `json:"isSet"`
	BaseURL        string   `json:"baseUrl,omitempty"`
	Models         []string `json:"models,omitempty"`
	CreatedAt      string   `json:"createdAt"`
	UpdatedAt      string   `json:"updatedAt"`
}

func toCredentialJSON(v *credentials.View) credentialJSON {
	return credentialJSON{ID: v.ID, Provider: v.Provider, CredentialType: v.CredentialType, IsSet: true,
		BaseURL: v.BaseURL, Models: v.Models, CreatedAt: isoTime(v.CreatedAt), UpdatedAt: isoTime(v.UpdatedAt)}
}

// orgKeyJSON is an org-wide key as upstream's admin page sees it.
type orgKeyJSON struct {
	Provider  string   `json:"provider"`
	IsSet     bool     `json:"isSet"`
	BaseURL   string   `json:"baseUrl,omitempty"`
	Models    []string `json:"models,omitempty"`
	UpdatedAt string   `json:"updatedAt"`
}

func toOrgKeyJSON(v *credentials.View) orgKeyJSON {
	return orgKeyJSON{Provider: v.Provider, IsSet: true, BaseURL: v.BaseURL, Models: v.Models, UpdatedAt: isoTime(v.UpdatedAt)}
}

type credentialRequest struct {
	Key     *string  `json:"key"`
	BaseURL string   `json:"baseUrl"`
	Models  []string `json:"models"`
}

// decodeCredential reads {key, baseUrl?, models?}.
func decodeCredential(w http.ResponseWriter, r *http.Request) (credentials.Input, error) {
	var req credentialRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return credentials.Input{}, err
	}
	if err := required("key", req.Key != nil); err != nil {
		return credentials.Input{}, err
	}
	return credentials.Input{Key: *req.Key, BaseURL: req.BaseURL, Models: req.Models}, nil
}

// listCredentials is a bare array, as upstream's client expects.
func (s *Server) listCredentials(w http.ResponseWriter, r *http.Request) {
	views, err := s.credentials.ListUser(r.Context(), principal(r).User.ID)
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := make([]credentialJSON, 0, len(views))
	for i := range views {
		out = append(out, toCredentialJSON(&views[i]))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) putCredential(w http.ResponseWriter, r *http.Request) {
	in, err := decodeCredential(w, r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	v, err := s.credentials.SetUser(r.Context(), principal(r).User.ID, r.PathValue("provider"), in)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "credential": toCredentialJSON(v)})
}

func (s *Server) deleteCredential(w http.ResponseWriter, r *http.Request) {
	if err := s.credentials.DeleteUser(r.Context(), principal(r).User.ID, r.PathValue("provider")); err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

func (s *Server) listOrgKeys(w http.ResponseWriter, r *http.Request) {
	views, err := s.credentials.ListOrg(r.Context())
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := make([]orgKeyJSON, 0, len(views))
	for i := range views {
		out = append(out, toOrgKeyJSON(&views[i]))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) putOrgKey(w http.ResponseWriter, r *http.Request) {
	in, err := decodeCredential(w, r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	v, err := s.credentials.SetOrg(r.Context(), principal(r).User.ID, r.PathValue("provider"), in)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "key": toOrgKeyJSON(v)})
}

func (s *Server) deleteOrgKey(w http.ResponseWriter, r *http.Request) {
	if err := s.credentials.DeleteOrg(r.Context(), r.PathValue("provider")); err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

// testCredential makes one cheap call to the provider with the stored key:
// {ok:true}, or {ok:false, error} saying why the provider did not accept it.
func (s *Server) testCredential(w http.ResponseWriter, r *http.Request) {
	res, err := s.credentials.CheckUser(r.Context(), principal(r).User.ID, r.PathValue("provider"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	body := map[string]any{"ok": res.OK}
	if !res.OK {
		body["error"] = res.Error
	}
	writeJSON(w, http.StatusOK, body)
}
