package api

import (
	"net/http"

	"github.com/agentops/agentops/app/auth"
)

func bindAuthPublic(s *Server, m *http.ServeMux) {
	m.HandleFunc("GET /auth/providers", s.authProviders)
	m.HandleFunc("GET /auth/setup", s.authSetup)
	m.HandleFunc("POST /auth/email/register", s.authRegister)
	m.HandleFunc("POST /auth/email/login", s.authLogin)
	m.HandleFunc("POST /auth/login-link", s.authLoginLink)
}

type providerJSON struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
	Icon        string `json:"icon"`
	Protocol    string `json:"protocol"`
}

// authProviders lists the login methods: email and password only, for now.
func (s *Server) authProviders(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, []providerJSON{{ID: "email", DisplayName: "Email", Icon: "mail", Protocol: "credentials"}})
}

func (s *Server) authSetup(w http.ResponseWriter, r *http.Request) {
	needs, err := s.auth.NeedsSetup(r.Context())
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"needsSetup": needs})
}

type registerRequest struct {
	Email      *string `json:"email"`
	Password   *string `json:"password"`
	Name       string  `json:"name"`
	InviteCode string  `json:"inviteCode"`
}

func (s *Server) authRegister(w http.ResponseWriter, r *http.Request) {
	var req registerRequest
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	if err := required("email", req.Email != nil && *req.Email != ""); err != nil {
		writeError(w, r, err)
		return
	}
	if err := required("password", req.Password != nil && *req.Password != ""); err != nil {
		writeError(w, r, err)
		return
	}
	if req.InviteCode == "" {
		req.InviteCode = r.URL.Query().Get("invite_code")
	}
	token, _, err := s.auth.Register(r.Context(), auth.RegisterInput{
		Email: *req.Email, Password: *req.Password, Name: req.Name, InviteCode: req.InviteCode,
	})
	if err != nil {
		writeError(w, r, err)
		return
	}
	// Upstream answers 200 (not 201) with the token.
	writeJSON(w, http.StatusOK, map[string]string{"sessionToken": token})
}

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

func (s *Server) authLogin(w http.ResponseWriter, r *http.Request) {
	var req loginRequest
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	token, err := s.auth.Login(r.Context(), req.Email, req.Password, s.clientAddr(r))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"sessionToken": token})
}

type loginLinkRequest struct {
	Token *string `json:"token"`
}

// authLoginLink spends a one-time login link (POST, so that a link
// previewer fetching the web page spends nothing).
func (s *Server) authLoginLink(w http.ResponseWriter, r *http.Request) {
	var req loginLinkRequest
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	if err := required("token", req.Token != nil && *req.Token != ""); err != nil {
		writeError(w, r, err)
		return
	}
	token, err := s.auth.UseLoginLink(r.Context(), *req.Token)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"sessionToken": token})
}
