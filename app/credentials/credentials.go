// Package credentials keeps the provider keys of users and of the org
// (anthropic, openai, google, github, and custom OpenAI-compatible
// endpoints), sealed with the instance keyring, and turns them into the
// environment of a session's sandbox.
package credentials

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/keyring"
	"github.com/agentops/agentops/store"
)

// The built-in providers. Custom OpenAI-compatible endpoints are named
// CustomPrefix + a name.
const (
	Anthropic = "anthropic"
	OpenAI    = "openai"
	Google    = "google"
	GitHub    = "github"
	// CustomPrefix starts a custom provider's id: "custom-groq".
	CustomPrefix = "custom-"
)

// Limits of a credential.
const (
	MaxKeyBytes     = 16 << 10
	MaxBaseURLBytes = 2048
	MaxModels       = 100
	MaxModelBytes   = 200
)

var customRE = regexp.MustCompile(`^custom-[a-z0-9][a-z0-9-]{0,39}$`)

// IsCustom reports whether provider names a custom endpoint.
func IsCustom(provider string) bool { return customRE.MatchString(provider) }

// ValidProvider checks a provider id.
func ValidProvider(provider string) error {
	switch provider {
	case Anthropic, OpenAI, Google, GitHub:
		return nil
	}
	if IsCustom(provider) {
		return nil
	}
	return apperr.Invalid("provider", "provider must be anthropic, openai, google, github or custom-<name> (lower-case letters, digits and dashes, up to 40), not %q", provider)
}

// Keys is the part of the instance keyring that credentials use
// (implemented by app/keys.Ring).
type Keys interface {
	// ForSeal takes the keyring lock in tx and returns the keyring and
	// the key to seal with.
	ForSeal(ctx context.Context, tx *store.Store) (*keyring.Keyring, string, error)
	// Holding returns a keyring holding key id.
	Holding(ctx context.Context, id string) (*keyring.Keyring, error)
}

// Service stores and opens credentials.
type Service struct {
	st   *store.Store
	keys Keys
	now  func() time.Time
	log  *slog.Logger
	// http makes CheckUser's request; nil: a client with checkTimeout.
	http *http.Client
}

// WithHTTPClient sets the client that key checks use (tests point it at
// a local server; nil restores the default).
func (s *Service) WithHTTPClient(c *http.Client) *Service {
	s.http = c
	return s
}

// New returns the credentials service. now may be nil (time.Now).
func New(st *store.Store, keys Keys, now func() time.Time, log *slog.Logger) *Service {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	return &Service{st: st, keys: keys, now: now, log: log}
}

// Input is what PUT sets: the key, and for endpoints that have one, the
// base URL and the models it serves.
type Input struct {
	Key     string
	BaseURL string
	Models  []string
}

// View is a credential without its secret.
type View struct {
	ID             string
	Provider       string
	CredentialType string
	BaseURL        string
	Models         []string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

func viewOf(c *store.Credential) View {
	return View{ID: c.ID, Provider: c.Provider, CredentialType: c.CredentialType, BaseURL: c.BaseURL,
		Models: c.Models, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
}

func hasControl(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0
}

func (in *Input) validate(provider string) error {
	if err := ValidProvider(provider); err != nil {
		return err
	}
	in.Key = strings.TrimSpace(in.Key)
	switch {
	case in.Key == "":
		return apperr.Invalid("key", "key is required")
	case len(in.Key) > MaxKeyBytes:
		return apperr.Invalid("key", "key must be at most %d bytes", MaxKeyBytes)
	case hasControl(in.Key):
		return apperr.Invalid("key", "key must not contain control characters (line breaks, tabs)")
	}
	in.BaseURL = strings.TrimSpace(in.BaseURL)
	if in.BaseURL != "" {
		if provider != Anthropic && provider != OpenAI && !IsCustom(provider) {
			return apperr.Invalid("baseUrl", "baseUrl is only for anthropic, openai and custom providers")
		}
		u, err := url.Parse(in.BaseURL)
		if len(in.BaseURL) > MaxBaseURLBytes || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || hasControl(in.BaseURL) {
			return apperr.Invalid("baseUrl", "baseUrl must be an http(s) URL of at most %d bytes", MaxBaseURLBytes)
		}
	} else if IsCustom(provider) {
		return apperr.Invalid("baseUrl", "baseUrl is required for a custom provider")
	}
	if len(in.Models) > MaxModels {
		return apperr.Invalid("models", "models may list at most %d models", MaxModels)
	}
	for _, m := range in.Models {
		if m == "" || len(m) > MaxModelBytes || hasControl(m) || strings.Contains(m, ",") {
			return apperr.Invalid("models", "each model must be 1 to %d bytes without commas or control characters", MaxModelBytes)
		}
	}
	return nil
}

// aad binds a sealed secret to its owner and provider, so that a sealed
// value copied to another row does not open.
func aad(owner, provider string) []byte {
	return []byte("agentops credential\x00" + owner + "\x00" + provider)
}

type secret struct {
	Key string `json:"key"`
}

func (s *Service) set(ctx context.Context, owner, userID, setBy, provider string, in Input) (*View, error) {
	if err := in.validate(provider); err != nil {
		return nil, err
	}
	plain, err := json.Marshal(secret{Key: in.Key})
	if err != nil {
		return nil, err
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	c := &store.Credential{ID: uuid.NewString(), Owner: owner, UserID: userID, Provider: provider, CredentialType: "api_key",
		BaseURL: in.BaseURL, Models: in.Models, SetBy: setBy, CreatedAt: now, UpdatedAt: now}
	err = s.st.InTx(ctx, func(tx *store.Store) error {
		kr, id, err := s.keys.ForSeal(ctx, tx)
		if err != nil {
			return err
		}
		if c.Sealed, err = kr.SealWith(id, plain, aad(owner, provider)); err != nil {
			return err
		}
		c.KeyID = id
		return tx.Credentials().Upsert(ctx, c)
	})
	if err != nil {
		return nil, err
	}
	v := viewOf(c)
	return &v, nil
}

func (s *Service) list(ctx context.Context, owner string) ([]View, error) {
	rows, err := s.st.Credentials().List(ctx, owner)
	if err != nil {
		return nil, err
	}
	out := make([]View, 0, len(rows))
	for i := range rows {
		out = append(out, viewOf(&rows[i]))
	}
	return out, nil
}

func (s *Service) remove(ctx context.Context, owner, provider string) error {
	if err := ValidProvider(provider); err != nil {
		return err
	}
	err := s.st.Credentials().Delete(ctx, owner, provider)
	if errors.Is(err, store.ErrNotFound) {
		return apperr.NotFound("Credential")
	}
	return err
}

// ListUser returns the user's credentials (no secrets), by provider.
func (s *Service) ListUser(ctx context.Context, userID string) ([]View, error) {
	return s.list(ctx, store.UserOwner(userID))
}

// SetUser stores (or replaces) the user's credential for provider.
func (s *Service) SetUser(ctx context.Context, userID, provider string, in Input) (*View, error) {
	return s.set(ctx, store.UserOwner(userID), userID, userID, provider, in)
}

// DeleteUser removes the user's credential for provider.
func (s *Service) DeleteUser(ctx context.Context, userID, provider string) error {
	return s.remove(ctx, store.UserOwner(userID), provider)
}

// ListOrg returns the org-wide keys (no secrets), by provider.
func (s *Service) ListOrg(ctx context.Context) ([]View, error) { return s.list(ctx, store.OrgOwner) }

// SetOrg stores (or replaces) the org-wide key for provider; adminID is
// recorded as who set it.
func (s *Service) SetOrg(ctx context.Context, adminID, provider string, in Input) (*View, error) {
	return s.set(ctx, store.OrgOwner, "", adminID, provider, in)
}

// DeleteOrg removes the org-wide key for provider.
func (s *Service) DeleteOrg(ctx context.Context, provider string) error {
	return s.remove(ctx, store.OrgOwner, provider)
}

// open returns a credential's secret key.
func (s *Service) open(ctx context.Context, c *store.Credential) (string, error) {
	id, err := keyring.KeyOf(c.Sealed)
	if err != nil {
		return "", fmt.Errorf("credential %s/%s: %w", c.Owner, c.Provider, err)
	}
	kr, err := s.keys.Holding(ctx, id)
	if err != nil {
		return "", fmt.Errorf("credential %s/%s: %w", c.Owner, c.Provider, err)
	}
	plain, err := kr.Open(c.Sealed, aad(c.Owner, c.Provider))
	if err != nil {
		return "", fmt.Errorf("credential %s/%s: %w", c.Owner, c.Provider, err)
	}
	var sec secret
	if err := json.Unmarshal(plain, &sec); err != nil {
		return "", fmt.Errorf("credential %s/%s: %w", c.Owner, c.Provider, err)
	}
	return sec.Key, nil
}

// Resolved is a provider's key as a session gets it: the owner's, else
// the org's.
type Resolved struct {
	Provider string
	Key      string
	BaseURL  string
	Models   []string
	Org      bool // the org's key, the user has none
}

// Resolve returns, for each provider for which the user or the org has a
// key, the user's if they have one, else the org's, by provider.
func (s *Service) Resolve(ctx context.Context, userID string) ([]Resolved, error) {
	rows, err := s.st.Credentials().ListOwners(ctx, store.UserOwner(userID), store.OrgOwner)
	if err != nil {
		return nil, err
	}
	chosen := map[string]*store.Credential{}
	var order []string
	for i := range rows {
		c := &rows[i]
		prev, ok := chosen[c.Provider]
		if !ok {
			order = append(order, c.Provider)
		}
		if !ok || prev.Owner == store.OrgOwner && c.Owner != store.OrgOwner {
			chosen[c.Provider] = c
		}
	}
	slices.Sort(order)
	out := make([]Resolved, 0, len(order))
	for _, p := range order {
		c := chosen[p]
		key, err := s.open(ctx, c)
		if err != nil {
			return nil, err
		}
		out = append(out, Resolved{Provider: p, Key: key, BaseURL: c.BaseURL, Models: c.Models, Org: c.Owner == store.OrgOwner})
	}
	return out, nil
}

// CredentialsEnv is the environment a session of the user gets: see Env.
func (s *Service) CredentialsEnv(ctx context.Context, userID string) (map[string]string, error) {
	res, err := s.Resolve(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("open the stored credentials: %w", err)
	}
	return Env(res), nil
}

// Reseal re-seals with key id, inside tx, every credential that another
// key sealed (see app/keys.Rotate).
func (s *Service) Reseal(ctx context.Context, tx *store.Store, kr *keyring.Keyring, id string) (int, error) {
	n := 0
	for {
		batch, err := tx.Credentials().NotSealedBy(ctx, id, 200)
		if err != nil {
			return n, err
		}
		if len(batch) == 0 {
			return n, nil
		}
		for i := range batch {
			c := &batch[i]
			a := aad(c.Owner, c.Provider)
			plain, err := kr.Open(c.Sealed, a)
			if err != nil {
				return n, fmt.Errorf("open credential %s/%s: %w", c.Owner, c.Provider, err)
			}
			sealed, err := kr.SealWith(id, plain, a)
			if err != nil {
				return n, err
			}
			ok, err := tx.Credentials().Reseal(ctx, c.ID, c.Sealed, sealed, id)
			if err != nil {
				return n, err
			}
			if !ok {
				return n, fmt.Errorf("credential %s/%s changed during the re-seal", c.Owner, c.Provider)
			}
			n++
		}
	}
}

// CountByKey returns how many credentials each key sealed.
func (s *Service) CountByKey(ctx context.Context, st *store.Store) (map[string]int, error) {
	return st.Credentials().CountByKey(ctx)
}

// VerifyAll opens every stored credential with kr (after a restore or a
// migrate-data: the key must have moved with the data) and returns how
// many it opened; the first that does not open is an error naming it.
func VerifyAll(ctx context.Context, st *store.Store, kr *keyring.Keyring) (int, error) {
	n, after := 0, ""
	for {
		page, err := st.Credentials().Page(ctx, after, 500)
		if err != nil {
			return n, err
		}
		if len(page) == 0 {
			return n, nil
		}
		for i := range page {
			c := &page[i]
			if _, err := kr.Open(c.Sealed, aad(c.Owner, c.Provider)); err != nil {
				return n, fmt.Errorf("credential %s/%s does not open with this instance key: %w", c.Owner, c.Provider, err)
			}
			n++
		}
		after = page[len(page)-1].ID
	}
}

// SealImported validates and seals an imported key for owner and provider
// with key id of kr, exactly as SetUser/SetOrg would store it; it returns
// the credential row (not yet inserted).
func SealImported(kr *keyring.Keyring, id, owner, userID, provider string, in Input, now time.Time) (*store.Credential, error) {
	if err := in.validate(provider); err != nil {
		return nil, err
	}
	plain, err := json.Marshal(secret{Key: in.Key})
	if err != nil {
		return nil, err
	}
	now = now.UTC().Truncate(time.Microsecond)
	c := &store.Credential{ID: uuid.NewString(), Owner: owner, UserID: userID, Provider: provider, CredentialType: "api_key",
		BaseURL: in.BaseURL, Models: in.Models, CreatedAt: now, UpdatedAt: now}
	if c.Sealed, err = kr.SealWith(id, plain, aad(owner, provider)); err != nil {
		return nil, err
	}
	c.KeyID = id
	return c, nil
}
