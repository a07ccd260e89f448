// Package auth owns users, passwords, login tokens, API keys, invites and
// the rules of who may do what. Handlers call it; it calls the store.
package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/mail"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/store"
)

// Config holds the auth rules. Zero fields take the defaults below.
type Config struct {
	// OpenSignup lets anyone register; otherwise sign-ups after the first
	// need an invite.
	OpenSignup bool
	// LoginTTL is how long a login token lives (default 7 days).
	LoginTTL time.Duration
	// MaxLoginFailures within LoginFailureWindow locks an email out until
	// the oldest failure leaves the window (defaults 5 and 15 minutes).
	MaxLoginFailures   int
	LoginFailureWindow time.Duration
	// InviteTTL is how long an invite is valid (default 7 days).
	InviteTTL time.Duration
	// OrgName is shown on invite pages (default "agentops").
	OrgName string
	// Now is the clock (default time.Now); tests move it.
	Now func() time.Time
}

func (c *Config) setDefaults() {
	if c.LoginTTL == 0 {
		c.LoginTTL = 7 * 24 * time.Hour
	}
	if c.MaxLoginFailures == 0 {
		c.MaxLoginFailures = 5
	}
	if c.LoginFailureWindow == 0 {
		c.LoginFailureWindow = 15 * time.Minute
	}
	if c.InviteTTL == 0 {
		c.InviteTTL = 7 * 24 * time.Hour
	}
	if c.OrgName == "" {
		c.OrgName = "agentops"
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Service is the auth domain.
type Service struct {
	st      *store.Store
	cfg     Config
	log     *slog.Logger
	hashing *hashGate
}

// New returns the auth service over st.
func New(st *store.Store, cfg Config, log *slog.Logger) *Service {
	cfg.setDefaults()
	if log == nil {
		log = slog.Default()
	}
	return &Service{st: st, cfg: cfg, log: log, hashing: newHashGate(0)}
}

func (s *Service) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Microsecond) }

// Principal is an authenticated caller.
type Principal struct {
	User *store.User
	// Exactly one of these is set: the login session or the API key used.
	AuthSessionID string
	APITokenID    string
	// ViaLoginLink: the login session came from a one-time login link,
	// which may set a password without the current one.
	ViaLoginLink bool
}

// IsAdmin reports whether the caller has the admin role.
func (p *Principal) IsAdmin() bool { return p.User.Role == store.RoleAdmin }

// touchEvery throttles last_used_at writes: one per minute per token is
// enough to show activity and keeps reads from becoming writes.
const touchEvery = time.Minute

var errUnauthenticated = apperr.Unauthorized("Missing or invalid authentication")

// Authenticate resolves a bearer token (a login token or an `sk_` key).
// Unknown, expired and revoked tokens are all 401.
func (s *Service) Authenticate(ctx context.Context, token string) (*Principal, error) {
	if token == "" || len(token) > 256 {
		return nil, errUnauthenticated
	}
	now := s.now()
	hash := HashToken(token)
	if isAPIKey(token) {
		t, err := s.st.APITokens().GetValid(ctx, hash, now)
		if errors.Is(err, store.ErrNotFound) {
			return nil, errUnauthenticated
		} else if err != nil {
			return nil, err
		}
		if now.Sub(t.LastUsedAt) > touchEvery {
			if err := s.st.APITokens().Touch(ctx, t.ID, now); err != nil {
				s.log.Warn("record api key use", "err", err)
			}
		}
		return &Principal{User: t.User, APITokenID: t.ID}, nil
	}
	a, err := s.st.AuthSessions().GetValid(ctx, hash, now)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errUnauthenticated
	} else if err != nil {
		return nil, err
	}
	if now.Sub(a.LastUsedAt) > touchEvery {
		if err := s.st.AuthSessions().Touch(ctx, a.ID, now); err != nil {
			s.log.Warn("record login use", "err", err)
		}
	}
	return &Principal{User: a.User, AuthSessionID: a.ID, ViaLoginLink: a.Provider == loginLinkProvider}, nil
}

// NormalizeEmail trims and lower-cases an email and checks its form.
func NormalizeEmail(raw string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(raw))
	if e == "" {
		return "", apperr.Invalid("email", "Email is required")
	}
	if len(e) > 254 {
		return "", apperr.Invalid("email", "Email is too long")
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || a.Name != "" {
		return "", apperr.Invalid("email", "Email is not a valid address")
	}
	return e, nil
}

// CheckPasswordPolicy validates a new password's length.
func CheckPasswordPolicy(field, pw string) error {
	if len(pw) < MinPasswordLen {
		return apperr.Invalid(field, "Password must be at least %d characters", MinPasswordLen)
	}
	if len(pw) > MaxPasswordLen {
		return apperr.Invalid(field, "Password must be at most %d bytes", MaxPasswordLen)
	}
	return nil
}

// NeedsSetup reports whether no user exists yet (the first-run screen).
func (s *Service) NeedsSetup(ctx context.Context) (bool, error) {
	n, err := s.st.Users().Count(ctx)
	return n == 0, err
}

// RegisterInput is a sign-up.
type RegisterInput struct {
	Email, Password, Name, InviteCode string
}

// Register creates an account and logs it in. The first account becomes
// admin; later ones need an invite (by code, or addressed to the email)
// unless open sign-up is on.
func (s *Service) Register(ctx context.Context, in RegisterInput) (string, *store.User, error) {
	email, err := NormalizeEmail(in.Email)
	if err != nil {
		return "", nil, err
	}
	if err := CheckPasswordPolicy("password", in.Password); err != nil {
		return "", nil, err
	}
	if len(in.Name) > 255 {
		return "", nil, apperr.Invalid("name", "Name must be at most 255 characters")
	}
	hash, err := s.hashPassword(ctx, in.Password)
	if err != nil {
		return "", nil, err
	}
	var user *store.User
	var token string
	err = s.st.InTx(ctx, func(tx *store.Store) error {
		// Serialize sign-ups so that two first users cannot both be admin.
		if err := tx.LockKey(ctx, "auth.register"); err != nil {
			return err
		}
		now := s.now()
		if _, err := tx.Users().GetByEmail(ctx, email); err == nil {
			return errEmailTaken()
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		count, err := tx.Users().Count(ctx)
		if err != nil {
			return err
		}
		role := store.RoleMember
		var invite *store.Invite
		switch {
		case count == 0:
			role = store.RoleAdmin
		case in.InviteCode != "":
			inv, err := tx.Invites().GetByCode(ctx, in.InviteCode)
			if errors.Is(err, store.ErrNotFound) || (err == nil && (!inv.AcceptedAt.IsZero() || !inv.ExpiresAt.After(now))) {
				e := apperr.Word(apperr.KindInvalid, "invalid_invite")
				e.Message = "Invite code is unknown, used or expired"
				e.Details = map[string]any{"field": "inviteCode"}
				return e
			} else if err != nil {
				return err
			}
			if inv.Email != "" && inv.Email != email {
				return apperr.WordHint(apperr.KindInvalid, "not_allowed", "This invite is for another email address: sign up with the address it was sent to")
			}
			invite, role = inv, inv.Role
		default:
			inv, err := tx.Invites().FindOpenForEmail(ctx, email, now)
			if err == nil {
				invite, role = inv, inv.Role
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			} else if !s.cfg.OpenSignup {
				return apperr.WordHint(apperr.KindInvalid, "not_allowed", "Sign-up needs an invite: ask an admin of this server for an invite code")
			}
		}
		user = newUser(email, in.Name, hash, role, now)
		if err := tx.Users().Create(ctx, user); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return errEmailTaken()
			}
			return err
		}
		if invite != nil {
			if err := tx.Invites().MarkAccepted(ctx, invite.ID, user.ID, now); err != nil {
				return fmt.Errorf("use invite: %w", err)
			}
		}
		token, err = s.startSession(ctx, tx, user.ID, "email")
		return err
	})
	if err != nil {
		return "", nil, err
	}
	s.log.Info("user registered", "user_id", user.ID, "role", user.Role)
	return token, user, nil
}

func newUser(email, name, hash, role string, now time.Time) *store.User {
	return &store.User{
		ID: uuid.NewString(), Email: email, Name: strings.TrimSpace(name), PasswordHash: hash, Role: role,
		IdleTimeoutSeconds: 900, UIQueueMode: "followup", IdentityProvider: "email",
		CreatedAt: now, UpdatedAt: now,
	}
}

func (s *Service) startSession(ctx context.Context, st *store.Store, userID, provider string) (string, error) {
	token := newLoginToken()
	now := s.now()
	err := st.AuthSessions().Create(ctx, &store.AuthSession{
		ID: uuid.NewString(), UserID: userID, TokenHash: HashToken(token), Provider: provider,
		ExpiresAt: now.Add(s.cfg.LoginTTL), CreatedAt: now,
	})
	return token, err
}

// Login checks an email and password from a client address and returns a
// new login token. Failures count per email and address: past the limit
// that pair gets 429 with retryAfterSeconds until the oldest failure leaves
// the window, whatever the password, while the same email from another
// address is unaffected (a stranger cannot lock out the owner).
func (s *Service) Login(ctx context.Context, rawEmail, password, client string) (string, error) {
	if strings.TrimSpace(rawEmail) == "" || password == "" {
		return "", apperr.Invalid("", "Email and password are required")
	}
	email := strings.ToLower(strings.TrimSpace(rawEmail))
	now := s.now()
	n, oldest, err := s.st.LoginFailures().Since(ctx, email, client, now.Add(-s.cfg.LoginFailureWindow))
	if err != nil {
		return "", err
	}
	if n >= s.cfg.MaxLoginFailures {
		retry := oldest.Add(s.cfg.LoginFailureWindow).Sub(now)
		secs := max(1, int(math.Ceil(retry.Seconds())))
		e := apperr.WordHint(apperr.KindTooMany, "too_many_attempts",
			fmt.Sprintf("Too many failed logins for this email from this address; try again in %d seconds (an admin can clear this with agentops user unlock)", secs))
		e.Extra = map[string]any{"retryAfterSeconds": secs}
		return "", e
	}
	u, err := s.st.Users().GetByEmail(ctx, email)
	ok := false
	switch {
	case errors.Is(err, store.ErrNotFound), err == nil && u.PasswordHash == "":
		_, _ = s.checkPassword(ctx, dummyHash(), password) // same cost as a real check
	case err != nil:
		return "", err
	default:
		if len(password) > MaxPasswordLen {
			// Never right, but it costs what a check costs: the answer's
			// timing must not tell a known email from an unknown one.
			_, _ = s.checkPassword(ctx, dummyHash(), password[:MaxPasswordLen])
			break
		}
		ok, err = s.checkPassword(ctx, u.PasswordHash, password)
		if err != nil {
			s.log.Error("stored password hash is unreadable", "user_id", u.ID, "err", err)
			ok = false
		}
	}
	if !ok {
		if err := s.st.LoginFailures().Record(ctx, email, client, now); err != nil {
			return "", err
		}
		return "", errBadCredentials()
	}
	if err := s.st.LoginFailures().Clear(ctx, email, client); err != nil {
		return "", err
	}
	if NeedsRehash(u.PasswordHash) {
		// An imported upstream hash: replace it with our own now that we
		// know the password (a failure only leaves the old, valid hash).
		if h, err := s.hashPassword(ctx, password); err == nil {
			u.PasswordHash, u.UpdatedAt = h, s.now()
			if err := s.st.Users().Update(ctx, u, "password_hash"); err != nil {
				s.log.Warn("re-hash imported password", "user_id", u.ID, "err", err)
			}
		}
	}
	return s.startSession(ctx, s.st, u.ID, "email")
}

// Logout ends the login session the caller used; an API key stays valid.
func (s *Service) Logout(ctx context.Context, p *Principal, token string) error {
	if p.AuthSessionID == "" {
		return nil
	}
	return s.st.AuthSessions().DeleteByHash(ctx, HashToken(token))
}

// ChangePassword checks the current password and sets a new one; every
// other login session of the user ends.
//
// A login made with a one-time login link sets the password without the
// current one (its user may never have had one, or forgot it).
func (s *Service) ChangePassword(ctx context.Context, p *Principal, current, next string) error {
	if current == "" && !p.ViaLoginLink {
		return apperr.Invalid("currentPassword", "Current password is required")
	}
	if err := CheckPasswordPolicy("newPassword", next); err != nil {
		return err
	}
	if !p.ViaLoginLink {
		if p.User.PasswordHash == "" {
			return errBadCredentials()
		}
		ok, err := s.checkPassword(ctx, p.User.PasswordHash, current)
		if err != nil || !ok {
			return errBadCredentials()
		}
	}
	hash, err := s.hashPassword(ctx, next)
	if err != nil {
		return err
	}
	return s.st.InTx(ctx, func(tx *store.Store) error {
		u := *p.User
		u.PasswordHash, u.UpdatedAt = hash, s.now()
		if err := tx.Users().Update(ctx, &u, "password_hash"); err != nil {
			return err
		}
		_, err := tx.AuthSessions().DeleteForUser(ctx, u.ID, p.AuthSessionID)
		return err
	})
}

// SetPassword sets a user's password by email (the CLI's set-password);
// it ends all of the user's login sessions.
func (s *Service) SetPassword(ctx context.Context, rawEmail, password string) error {
	email, err := NormalizeEmail(rawEmail)
	if err != nil {
		return err
	}
	if err := CheckPasswordPolicy("password", password); err != nil {
		return err
	}
	hash, err := s.hashPassword(ctx, password)
	if err != nil {
		return err
	}
	return s.st.InTx(ctx, func(tx *store.Store) error {
		u, err := tx.Users().GetByEmail(ctx, email)
		if errors.Is(err, store.ErrNotFound) {
			return apperr.NotFound("User " + email)
		} else if err != nil {
			return err
		}
		u.PasswordHash, u.UpdatedAt = hash, s.now()
		if err := tx.Users().Update(ctx, u, "password_hash"); err != nil {
			return err
		}
		if _, err := tx.AuthSessions().DeleteForUser(ctx, u.ID, ""); err != nil {
			return err
		}
		// A new password is a fresh start: the old failures no longer lock
		// anyone out.
		_, err = tx.LoginFailures().ClearEmail(ctx, email)
		return err
	})
}

// Unlock clears the failed-login limit of an email, from every address
// (`agentops user unlock`), and says how many failures it forgot. The
// email need not belong to a user: unknown emails are limited too.
func (s *Service) Unlock(ctx context.Context, rawEmail string) (int, error) {
	email, err := NormalizeEmail(rawEmail)
	if err != nil {
		return 0, err
	}
	return s.st.LoginFailures().ClearEmail(ctx, email)
}

// CreateUser adds an account from the command line. The first account is
// always admin.
func (s *Service) CreateUser(ctx context.Context, rawEmail, name, password string, admin bool) (*store.User, error) {
	email, err := NormalizeEmail(rawEmail)
	if err != nil {
		return nil, err
	}
	var hash string
	if password != "" {
		if err := CheckPasswordPolicy("password", password); err != nil {
			return nil, err
		}
		if hash, err = s.hashPassword(ctx, password); err != nil {
			return nil, err
		}
	}
	var u *store.User
	err = s.st.InTx(ctx, func(tx *store.Store) error {
		if err := tx.LockKey(ctx, "auth.register"); err != nil {
			return err
		}
		n, err := tx.Users().Count(ctx)
		if err != nil {
			return err
		}
		role := store.RoleMember
		if admin || n == 0 {
			role = store.RoleAdmin
		}
		u = newUser(email, name, hash, role, s.now())
		if err := tx.Users().Create(ctx, u); errors.Is(err, store.ErrConflict) {
			return errEmailTaken()
		} else if err != nil {
			return err
		}
		return nil
	})
	return u, err
}

func errEmailTaken() *apperr.Error {
	return apperr.WordHint(apperr.KindInvalid, "email_already_registered", "An account with this email exists already: log in instead")
}

func errBadCredentials() *apperr.Error {
	return apperr.WordHint(apperr.KindUnauthorized, "invalid_credentials", "Wrong email or password")
}
