package auth

import (
	"context"
	"errors"

	"github.com/agentops/agentops/store"
)

// PrincipalFor resolves a credential recorded earlier by its id (a login
// session or an API key, as a Principal names them): the caller, if the
// credential is still valid; 401 if it ended, expired or was revoked.
// Long-lived streams call it to notice that, and event tickets to act for
// the credential that issued them.
func (s *Service) PrincipalFor(ctx context.Context, authSessionID, apiTokenID string) (*Principal, error) {
	now := s.now()
	switch {
	case authSessionID != "":
		a, err := s.st.AuthSessions().GetValidByID(ctx, authSessionID, now)
		if errors.Is(err, store.ErrNotFound) {
			return nil, errUnauthenticated
		} else if err != nil {
			return nil, err
		}
		return &Principal{User: a.User, AuthSessionID: a.ID, ViaLoginLink: a.Provider == loginLinkProvider}, nil
	case apiTokenID != "":
		t, err := s.st.APITokens().GetValidByID(ctx, apiTokenID, now)
		if errors.Is(err, store.ErrNotFound) {
			return nil, errUnauthenticated
		} else if err != nil {
			return nil, err
		}
		return &Principal{User: t.User, APITokenID: t.ID}, nil
	}
	return nil, errUnauthenticated
}
