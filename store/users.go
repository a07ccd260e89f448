package store

import (
	"context"
	"time"

	"github.com/uptrace/bun"
)

// User is one person: profile, git identity and preferences.
type User struct {
	bun.BaseModel `bun:"table:users"`

	ID                  string    `bun:"id,pk"`
	Email               string    `bun:"email,notnull"`
	Name                string    `bun:"name,nullzero"`
	AvatarURL           string    `bun:"avatar_url,nullzero"`
	PasswordHash        string    `bun:"password_hash,nullzero"`
	Role                string    `bun:"role,notnull"`
	GitName             string    `bun:"git_name,nullzero"`
	GitEmail            string    `bun:"git_email,nullzero"`
	OnboardingCompleted bool      `bun:"onboarding_completed,notnull"`
	IdleTimeoutSeconds  int       `bun:"idle_timeout_seconds,notnull"`
	SandboxCPUCores     *float64  `bun:"sandbox_cpu_cores"`
	SandboxMemoryMiB    *int      `bun:"sandbox_memory_mib"`
	ModelPreferences    []string  `bun:"model_preferences,type:jsonb,nullzero"`
	UIQueueMode         string    `bun:"ui_queue_mode,notnull"`
	Timezone            string    `bun:"timezone,nullzero"`
	IdentityProvider    string    `bun:"identity_provider,notnull"`
	CreatedAt           time.Time `bun:"created_at,notnull"`
	UpdatedAt           time.Time `bun:"updated_at,notnull"`
}

// Roles a user can have.
const (
	RoleAdmin  = "admin"
	RoleMember = "member"
)

// Users is the repository of users.
type Users struct{ s *Store }

// Users returns the user repository.
func (s *Store) Users() Users { return Users{s} }

// Create inserts u. A taken email is ErrConflict.
func (r Users) Create(ctx context.Context, u *User) error {
	_, err := r.s.w.NewInsert().Model(u).Exec(ctx)
	return wrap("create user", err)
}

// Get returns the user with id.
func (r Users) Get(ctx context.Context, id string) (*User, error) {
	u := new(User)
	err := r.s.r.NewSelect().Model(u).Where("id = ?", id).Scan(ctx)
	return u, wrap("get user", err)
}

// GetByEmail returns the user with the (normalized) email.
func (r Users) GetByEmail(ctx context.Context, email string) (*User, error) {
	u := new(User)
	err := r.s.r.NewSelect().Model(u).Where("email = ?", email).Scan(ctx)
	return u, wrap("get user by email", err)
}

// Count returns how many users exist.
func (r Users) Count(ctx context.Context) (int, error) {
	n, err := r.s.r.NewSelect().Model((*User)(nil)).Count(ctx)
	return int(n), wrap("count users", err)
}

// CountAdmins returns how many admins exist.
func (r Users) CountAdmins(ctx context.Context) (int, error) {
	n, err := r.s.r.NewSelect().Model((*User)(nil)).Where("role = ?", RoleAdmin).Count(ctx)
	return int(n), wrap("count admins", err)
}

// UserCursor is the position after which a page of users starts. The zero
// value starts at the beginning.
type UserCursor struct {
	CreatedAt time.Time
	ID        string
}

// List returns users ordered by creation, oldest first, after the cursor,
// at most limit of them. The cursor holds values, not a row reference, so
// paging goes on even if the last user seen was deleted meanwhile.
func (r Users) List(ctx context.Context, after UserCursor, limit int) ([]User, error) {
	var out []User
	q := r.s.r.NewSelect().Model(&out).OrderExpr("created_at ASC, id ASC").Limit(int64(limit))
	if after.ID != "" {
		q = q.Where("(created_at > ? OR (created_at = ? AND id > ?))", after.CreatedAt, after.CreatedAt, after.ID)
	}
	err := q.Scan(ctx)
	return out, wrap("list users", err)
}

// Update writes the named columns of u (updated_at is always written).
func (r Users) Update(ctx context.Context, u *User, columns ...string) error {
	columns = append(append([]string(nil), columns...), "updated_at")
	res, err := r.s.w.NewUpdate().Model(u).Column(columns...).WherePK().Exec(ctx)
	return affectedOne("update user", res, err)
}

// Delete removes the user; their login sessions and tokens go with them.
func (r Users) Delete(ctx context.Context, id string) error {
	res, err := r.s.w.NewDelete().Model((*User)(nil)).Where("id = ?", id).Exec(ctx)
	return affectedOne("delete user", res, err)
}
