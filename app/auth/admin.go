package auth

import (
	"context"
	"errors"
	"strings"

	"github.com/google/uuid"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/store"
)

// ListUsers returns every user, oldest first.
func (s *Service) ListUsers(ctx context.Context) ([]store.User, error) {
	var all []store.User
	var after store.UserCursor
	for {
		page, err := s.st.Users().List(ctx, after, 500)
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if len(page) < 500 {
			return all, nil
		}
		last := page[len(page)-1]
		after = store.UserCursor{CreatedAt: last.CreatedAt, ID: last.ID}
	}
}

func validRole(role string) bool { return role == store.RoleAdmin || role == store.RoleMember }

// SetRole changes a user's role; the last admin cannot be demoted.
func (s *Service) SetRole(ctx context.Context, userID, role string) (*store.User, error) {
	if !validRole(role) {
		return nil, apperr.Invalid("role", "Valid role is required (admin or member)")
	}
	var u *store.User
	err := s.st.InTx(ctx, func(tx *store.Store) error {
		if err := tx.LockKey(ctx, "auth.admins"); err != nil {
			return err
		}
		var err error
		u, err = tx.Users().Get(ctx, userID)
		if errors.Is(err, store.ErrNotFound) {
			return apperr.NotFound("User")
		} else if err != nil {
			return err
		}
		if u.Role == role {
			return nil
		}
		if u.Role == store.RoleAdmin {
			n, err := tx.Users().CountAdmins(ctx)
			if err != nil {
				return err
			}
			if n <= 1 {
				return apperr.Invalid("role", "Cannot demote the last admin")
			}
		}
		u.Role, u.UpdatedAt = role, s.now()
		return tx.Users().Update(ctx, u, "role")
	})
	return u, err
}

// DeleteUser removes a user (and their logins and keys). Nobody can delete
// themselves, and the last admin cannot be deleted.
func (s *Service) DeleteUser(ctx context.Context, actorID, userID string) error {
	return s.st.InTx(ctx, func(tx *store.Store) error {
		if err := tx.LockKey(ctx, "auth.admins"); err != nil {
			return err
		}
		if err := checkDeletable(ctx, tx, actorID, userID); err != nil {
			return err
		}
		return tx.Users().Delete(ctx, userID)
	})
}

// CheckDeleteUser reports whether DeleteUser would delete the user now, so
// that the caller can end what the user has running first.
func (s *Service) CheckDeleteUser(ctx context.Context, actorID, userID string) error {
	return checkDeletable(ctx, s.st, actorID, userID)
}

// checkDeletable: not oneself, an existing user, and never the last admin.
func checkDeletable(ctx context.Context, st *store.Store, actorID, userID string) error {
	if actorID == userID {
		return apperr.Invalid("id", "Cannot delete yourself")
	}
	u, err := st.Users().Get(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return apperr.NotFound("User")
	} else if err != nil {
		return err
	}
	if u.Role == store.RoleAdmin {
		n, err := st.Users().CountAdmins(ctx)
		if err != nil {
			return err
		}
		if n <= 1 {
			return apperr.Invalid("id", "Cannot delete the last admin")
		}
	}
	return nil
}

// CreateInvite makes an invite for an optional email with a role.
func (s *Service) CreateInvite(ctx context.Context, invitedBy, rawEmail, role string) (*store.Invite, error) {
	if role == "" {
		role = store.RoleMember
	}
	if !validRole(role) {
		return nil, apperr.Invalid("role", "role must be admin or member")
	}
	email := ""
	if strings.TrimSpace(rawEmail) != "" {
		var err error
		if email, err = NormalizeEmail(rawEmail); err != nil {
			return nil, err
		}
	}
	now := s.now()
	inv := &store.Invite{
		ID: uuid.NewString(), Code: randomHex(16), Email: email, Role: role, InvitedBy: invitedBy,
		ExpiresAt: now.Add(s.cfg.InviteTTL), CreatedAt: now,
	}
	if err := s.st.Invites().Create(ctx, inv); err != nil {
		return nil, err
	}
	return inv, nil
}

// ListInvites returns every invite, newest first.
func (s *Service) ListInvites(ctx context.Context) ([]store.Invite, error) {
	return s.st.Invites().List(ctx)
}

// DeleteInvite removes an invite.
func (s *Service) DeleteInvite(ctx context.Context, id string) error {
	err := s.st.Invites().Delete(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return apperr.NotFound("Invite")
	}
	return err
}

// InviteStatus is an invite as the public lookup shows it.
type InviteStatus struct {
	Code    string `json:"code"`
	Role    string `json:"role"`
	OrgName string `json:"orgName"`
	Status  string `json:"status"` // valid, accepted or expired
}

// LookupInvite is the public view of an invite.
func (s *Service) LookupInvite(ctx context.Context, code string) (*InviteStatus, error) {
	inv, err := s.st.Invites().GetByCode(ctx, code)
	if errors.Is(err, store.ErrNotFound) {
		return nil, apperr.NotFound("Invite")
	} else if err != nil {
		return nil, err
	}
	st := "valid"
	switch {
	case !inv.AcceptedAt.IsZero():
		st = "accepted"
	case !inv.ExpiresAt.After(s.now()):
		st = "expired"
	}
	return &InviteStatus{Code: inv.Code, Role: inv.Role, OrgName: s.cfg.OrgName, Status: st}, nil
}

// AcceptInvite applies an open invite's role to the caller. An invite
// addressed to another email is refused.
func (s *Service) AcceptInvite(ctx context.Context, p *Principal, code string) (string, error) {
	var role string
	err := s.st.InTx(ctx, func(tx *store.Store) error {
		if err := tx.LockKey(ctx, "auth.admins"); err != nil {
			return err
		}
		now := s.now()
		inv, err := tx.Invites().GetByCode(ctx, code)
		if errors.Is(err, store.ErrNotFound) || (err == nil && (!inv.AcceptedAt.IsZero() || !inv.ExpiresAt.After(now))) {
			return apperr.NotFound("Invite")
		} else if err != nil {
			return err
		}
		if inv.Email != "" && inv.Email != p.User.Email {
			return apperr.Forbidden("This invite is addressed to another email")
		}
		if err := tx.Invites().MarkAccepted(ctx, inv.ID, p.User.ID, now); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return apperr.NotFound("Invite")
			}
			return err
		}
		role = inv.Role
		// Accepting a member invite never demotes an admin.
		if p.User.Role == store.RoleAdmin || p.User.Role == role {
			role = p.User.Role
			return nil
		}
		u := *p.User
		u.Role, u.UpdatedAt = role, now
		return tx.Users().Update(ctx, &u, "role")
	})
	return role, err
}
