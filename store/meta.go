package store

import (
	"context"
	"time"

	"github.com/uptrace/bun"
)

// MetaEntry is one instance-wide setting (the keyring's check record, say).
type MetaEntry struct {
	bun.BaseModel `bun:"table:instance_meta"`

	Key       string    `bun:"key,pk"`
	Value     string    `bun:"value,notnull"`
	UpdatedAt time.Time `bun:"updated_at,notnull"`
}

// Meta is the repository of instance settings.
type Meta struct{ s *Store }

// Meta returns the instance settings repository.
func (s *Store) Meta() Meta { return Meta{s} }

// Get returns the value of key, or ErrNotFound.
func (r Meta) Get(ctx context.Context, key string) (string, error) {
	e := new(MetaEntry)
	err := r.s.r.NewSelect().Model(e).Where("key = ?", key).Scan(ctx)
	return e.Value, wrap("get setting "+key, err)
}

// Set writes key = value, replacing any previous value.
func (r Meta) Set(ctx context.Context, key, value string) error {
	e := &MetaEntry{Key: key, Value: value, UpdatedAt: Now()}
	_, err := r.s.w.NewInsert().Model(e).
		On("CONFLICT (key) DO UPDATE").
		Set("value = EXCLUDED.value").Set("updated_at = EXCLUDED.updated_at").
		Exec(ctx)
	return wrap("set setting "+key, err)
}

// SetIfAbsent writes key = value only when key has no value yet, and
// reports whether it wrote.
func (r Meta) SetIfAbsent(ctx context.Context, key, value string) (bool, error) {
	e := &MetaEntry{Key: key, Value: value, UpdatedAt: Now()}
	res, err := r.s.w.NewInsert().Model(e).On("CONFLICT (key) DO NOTHING").Exec(ctx)
	if err != nil {
		return false, wrap("set setting "+key, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}
