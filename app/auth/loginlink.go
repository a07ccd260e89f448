package auth

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/store"
)

// LoginLinkTTL is how long a login link stays valid.
const LoginLinkTTL = 7 * 24 * time.Hour

// loginLinkProvider marks the login sessions that a login link started.
const loginLinkProvider = "login_link"

// LoginLinkPath is the web client's page for a link; the token follows.
const LoginLinkPath = "/login/link/"

// CreateLoginLink makes a one-time login link token for a user, in st
// (a transaction of the caller's, or the service's store when nil).
func (s *Service) CreateLoginLink(ctx context.Context, st *store.Store, userID string) (string, error) {
	if st == nil {
		st = s.st
	}
	token := newLoginToken()
	now := s.now()
	err := st.LoginLinks().Create(ctx, &store.LoginLink{ID: uuid.NewString(), UserID: userID, TokenHash: HashToken(token),
		CreatedAt: now, ExpiresAt: now.Add(LoginLinkTTL)})
	return token, err
}

// CreateLoginLinkForEmail makes a login link for the user with email.
func (s *Service) CreateLoginLinkForEmail(ctx context.Context, email string) (string, error) {
	u, err := s.st.Users().GetByEmail(ctx, strings.ToLower(strings.TrimSpace(email)))
	if errors.Is(err, store.ErrNotFound) {
		return "", apperr.NotFound("User")
	} else if err != nil {
		return "", err
	}
	return s.CreateLoginLink(ctx, nil, u.ID)
}

// UseLoginLink spends a login link and returns a new login token for its
// user. An unknown, expired or used link is 401 invalid_login_link.
func (s *Service) UseLoginLink(ctx context.Context, token string) (string, error) {
	token = strings.TrimSpace(token)
	if token == "" {
		return "", apperr.Invalid("token", "token is required")
	}
	var session string
	err := s.st.InTx(ctx, func(tx *store.Store) error {
		l, err := tx.LoginLinks().Use(ctx, HashToken(token), s.now())
		if errors.Is(err, store.ErrNotFound) {
			return apperr.WordHint(apperr.KindUnauthorized, "invalid_login_link",
				"This login link is unknown, expired or already used: ask an admin for a new one")
		} else if err != nil {
			return err
		}
		session, err = s.startSession(ctx, tx, l.UserID, loginLinkProvider)
		return err
	})
	return session, err
}
