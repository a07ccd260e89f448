package store

import (
	"context"
	"time"

	"github.com/uptrace/bun"
)

// OrgOwner is the owner of the org-wide credentials.
const OrgOwner = "org"

// UserOwner is the owner of a user's credentials.
func UserOwner(userID string) string { return "user:" + userID }

// Credential is one provider key of a user or of the org, sealed with the
// instance keyring. Sealed names the key that sealed it; KeyID repeats it
// so that a rotation can find what it must re-seal.
type Credential struct {
	bun.BaseModel `bun:"table:credentials"`

	ID             string    `bun:"id,pk"`
	Owner          string    `bun:"owner,notnull"`
	UserID         string    `bun:"user_id,nullzero"`
	Provider       string    `bun:"provider,notnull"`
	CredentialType string    `bun:"credential_type,notnull"`
	Sealed         string    `bun:"sealed,notnull"`
	KeyID          string    `bun:"key_id,notnull"`
	BaseURL        string    `bun:"base_url,nullzero"`
	Models         []string  `bun:"models,type:jsonb,nullzero"`
	SetBy          string    `bun:"set_by,nullzero"`
	CreatedAt      time.Time `bun:"created_at,notnull"`
	UpdatedAt      time.Time `bun:"updated_at,notnull"`
}

// Credentials is the repository of sealed credentials.
type Credentials struct{ s *Store }

// Credentials returns the credential repository.
func (s *Store) Credentials() Credentials { return Credentials{s} }

// Upsert stores c as its owner's credential for its provider, replacing
// the secret, base URL and models of an existing one (which keeps its id
// and creation time; c is updated to match the row).
func (r Credentials) Upsert(ctx context.Context, c *Credential) error {
	_, err := r.s.w.NewInsert().Model(c).
		On("CONFLICT (owner, provider) DO UPDATE").
		Set("credential_type = EXCLUDED.credential_type").
		Set("sealed = EXCLUDED.sealed").Set("key_id = EXCLUDED.key_id").
		Set("base_url = EXCLUDED.base_url").Set("models = EXCLUDED.models").
		Set("set_by = EXCLUDED.set_by").Set("updated_at = EXCLUDED.updated_at").
		Returning("id, created_at").
		Exec(ctx)
	return wrap("store credential", err)
}

// List returns an owner's credentials ordered by provider.
func (r Credentials) List(ctx context.Context, owner string) ([]Credential, error) {
	var out []Credential
	err := r.s.r.NewSelect().Model(&out).Where("owner = ?", owner).OrderExpr("provider ASC").Scan(ctx)
	return out, wrap("list credentials", err)
}

// ListOwners returns the credentials of several owners, ordered by owner,
// then provider.
func (r Credentials) ListOwners(ctx context.Context, owners ...string) ([]Credential, error) {
	var out []Credential
	err := r.s.r.NewSelect().Model(&out).Where("owner IN (?)", bun.In(owners)).OrderExpr("owner ASC, provider ASC").Scan(ctx)
	return out, wrap("list credentials", err)
}

// Get returns an owner's credential for provider.
func (r Credentials) Get(ctx context.Context, owner, provider string) (*Credential, error) {
	c := new(Credential)
	err := r.s.r.NewSelect().Model(c).Where("owner = ?", owner).Where("provider = ?", provider).Scan(ctx)
	return c, wrap("get credential", err)
}

// Delete removes an owner's credential for provider (ErrNotFound if none).
func (r Credentials) Delete(ctx context.Context, owner, provider string) error {
	res, err := r.s.w.NewDelete().Model((*Credential)(nil)).Where("owner = ?", owner).Where("provider = ?", provider).Exec(ctx)
	return affectedOne("delete credential", res, err)
}

// NotSealedBy returns up to limit credentials whose key is not keyID,
// oldest id first, for re-sealing.
func (r Credentials) NotSealedBy(ctx context.Context, keyID string, limit int) ([]Credential, error) {
	var out []Credential
	err := r.s.w.NewSelect().Model(&out).Where("key_id <> ?", keyID).OrderExpr("id ASC").Limit(int64(limit)).Scan(ctx)
	return out, wrap("list credentials to re-seal", err)
}

// CountByKey returns how many credentials each key sealed.
func (r Credentials) CountByKey(ctx context.Context) (map[string]int, error) {
	var rows []struct {
		KeyID string `bun:"key_id"`
		N     int    `bun:"n"`
	}
	err := r.s.w.NewSelect().Model((*Credential)(nil)).Column("key_id").ColumnExpr("count(*) AS n").Group("key_id").Scan(ctx, &rows)
	if err != nil {
		return nil, wrap("count credentials by key", err)
	}
	out := map[string]int{}
	for _, r := range rows {
		out[r.KeyID] = r.N
	}
	return out, nil
}

// Reseal replaces a credential's sealed secret, only if it still holds
// oldSealed (a concurrent write wins), and reports whether it did.
func (r Credentials) Reseal(ctx context.Context, id, oldSealed, sealed, keyID string) (bool, error) {
	res, err := r.s.w.NewUpdate().Model((*Credential)(nil)).
		Set("sealed = ?", sealed).Set("key_id = ?", keyID).
		Where("id = ?", id).Where("sealed = ?", oldSealed).Exec(ctx)
	if err != nil {
		return false, wrap("re-seal credential", err)
	}
	n, err := res.RowsAffected()
	return n == 1, wrap("re-seal credential", err)
}

// Page returns up to limit credentials in id order after the id after
// ("" for the first page).
func (r Credentials) Page(ctx context.Context, after string, limit int) ([]Credential, error) {
	var out []Credential
	err := r.s.r.NewSelect().Model(&out).Where("id > ?", after).Order("id").Limit(int64(limit)).Scan(ctx)
	return out, wrap("list credentials", err)
}
