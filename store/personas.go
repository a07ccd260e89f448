package store

import (
	"context"
	"slices"
	"time"

	"github.com/uptrace/bun"
)

// Persona visibilities.
const (
	PersonaShared  = "shared"
	PersonaPrivate = "private"
)

// Persona is a named set of instruction files for agents.
type Persona struct {
	bun.BaseModel `bun:"table:personas"`

	ID           string    `bun:"id,pk"`
	Name         string    `bun:"name,notnull"`
	Slug         string    `bun:"slug,notnull"`
	Description  string    `bun:"description,nullzero"`
	Icon         string    `bun:"icon,nullzero"`
	DefaultModel string    `bun:"default_model,nullzero"`
	Visibility   string    `bun:"visibility,notnull"`
	IsDefault    bool      `bun:"is_default,notnull"`
	CreatedBy    string    `bun:"created_by,nullzero"`
	CreatedAt    time.Time `bun:"created_at,notnull"`
	UpdatedAt    time.Time `bun:"updated_at,notnull"`

	// Read-only, filled by List and Get.
	CreatorName string `bun:"creator_name,scanonly"`
	FileCount   int    `bun:"file_count,scanonly"`
}

// PersonaFile is one instruction file of a persona.
type PersonaFile struct {
	bun.BaseModel `bun:"table:persona_files"`

	ID        string    `bun:"id,pk"`
	PersonaID string    `bun:"persona_id,notnull"`
	Filename  string    `bun:"filename,notnull"`
	Content   string    `bun:"content,notnull"`
	SortOrder int       `bun:"sort_order,notnull"`
	CreatedAt time.Time `bun:"created_at,notnull"`
	UpdatedAt time.Time `bun:"updated_at,notnull"`
}

// Personas is the repository of personas and their files.
type Personas struct{ s *Store }

// Personas returns the persona repository.
func (s *Store) Personas() Personas { return Personas{s} }

func (r Personas) selectWithCounts(q *bun.SelectQuery) *bun.SelectQuery {
	return q.ModelTableExpr("personas AS p").ColumnExpr("p.*").
		ColumnExpr("u.name AS creator_name").
		ColumnExpr("(SELECT count(*) FROM persona_files AS f WHERE f.persona_id = p.id) AS file_count").
		Join("LEFT JOIN users AS u ON u.id = p.created_by")
}

// Create inserts a persona with its files; a taken slug is ErrConflict.
func (r Personas) Create(ctx context.Context, p *Persona, files []PersonaFile) error {
	return r.s.InTx(ctx, func(tx *Store) error {
		if p.IsDefault {
			if err := tx.Personas().clearDefault(ctx, ""); err != nil {
				return err
			}
		}
		if _, err := tx.w.NewInsert().Model(p).Exec(ctx); err != nil {
			return wrap("create persona", err)
		}
		if len(files) > 0 {
			if _, err := tx.w.NewInsert().Model(&files).Exec(ctx); err != nil {
				return wrap("create persona files", err)
			}
		}
		return nil
	})
}

// clearDefault takes the default flag from every persona but keep ("" for
// none).
func (r Personas) clearDefault(ctx context.Context, keep string) error {
	q := r.s.w.NewUpdate().Model((*Persona)(nil)).Set("is_default = ?", false).Where("is_default = ?", true)
	if keep != "" {
		q = q.Where("id <> ?", keep)
	}
	_, err := q.Exec(ctx)
	return wrap("clear default persona", err)
}

// Get returns a persona (with creator name and file count).
func (r Personas) Get(ctx context.Context, id string) (*Persona, error) {
	p := new(Persona)
	err := r.selectWithCounts(r.s.r.NewSelect().Model(p)).Where("p.id = ?", id).Scan(ctx)
	return p, wrap("get persona", err)
}

// Default returns the default persona.
func (r Personas) Default(ctx context.Context) (*Persona, error) {
	p := new(Persona)
	err := r.selectWithCounts(r.s.r.NewSelect().Model(p)).Where("p.is_default = ?", true).Limit(1).Scan(ctx)
	return p, wrap("get default persona", err)
}

// Visible lists the personas a user may see: every shared one and their
// own private ones, the default first, then by name.
func (r Personas) Visible(ctx context.Context, userID string) ([]Persona, error) {
	out := []Persona{}
	err := r.selectWithCounts(r.s.r.NewSelect().Model(&out)).
		Where("p.visibility = ? OR p.created_by = ?", PersonaShared, userID).
		OrderExpr("p.is_default DESC, p.name ASC, p.id ASC").Scan(ctx)
	return out, wrap("list personas", err)
}

// Update writes the named columns (updated_at always); making one the
// default (is_default among the columns) clears the others in the same
// transaction. An update that does not name is_default leaves every
// default flag as it is.
func (r Personas) Update(ctx context.Context, p *Persona, columns ...string) error {
	return r.s.InTx(ctx, func(tx *Store) error {
		if p.IsDefault && slices.Contains(columns, "is_default") {
			if err := tx.Personas().clearDefault(ctx, p.ID); err != nil {
				return err
			}
		}
		columns = append(append([]string(nil), columns...), "updated_at")
		res, err := tx.w.NewUpdate().Model(p).Column(columns...).WherePK().Exec(ctx)
		return affectedOne("update persona", res, err)
	})
}

// Delete removes a persona and its files.
func (r Personas) Delete(ctx context.Context, id string) error {
	res, err := r.s.w.NewDelete().Model((*Persona)(nil)).Where("id = ?", id).Exec(ctx)
	return affectedOne("delete persona", res, err)
}

// Files returns a persona's files by sort order, then file name.
func (r Personas) Files(ctx context.Context, personaID string) ([]PersonaFile, error) {
	out := []PersonaFile{}
	err := r.s.r.NewSelect().Model(&out).Where("persona_id = ?", personaID).
		OrderExpr("sort_order ASC, filename ASC").Scan(ctx)
	return out, wrap("list persona files", err)
}

// ReplaceFiles makes files the persona's whole set of files.
func (r Personas) ReplaceFiles(ctx context.Context, personaID string, files []PersonaFile, now time.Time) error {
	return r.s.InTx(ctx, func(tx *Store) error {
		if _, err := tx.w.NewDelete().Model((*PersonaFile)(nil)).Where("persona_id = ?", personaID).Exec(ctx); err != nil {
			return wrap("replace persona files", err)
		}
		if len(files) > 0 {
			if _, err := tx.w.NewInsert().Model(&files).Exec(ctx); err != nil {
				return wrap("replace persona files", err)
			}
		}
		_, err := tx.w.NewUpdate().Model((*Persona)(nil)).Set("updated_at = ?", now).Where("id = ?", personaID).Exec(ctx)
		return wrap("replace persona files", err)
	})
}

// PutFile adds a file, or replaces the persona's file of the same name.
func (r Personas) PutFile(ctx context.Context, f *PersonaFile) error {
	_, err := r.s.w.NewInsert().Model(f).
		On("CONFLICT (persona_id, filename) DO UPDATE").
		Set("content = EXCLUDED.content, sort_order = EXCLUDED.sort_order, updated_at = EXCLUDED.updated_at").Exec(ctx)
	return wrap("put persona file", err)
}

// DeleteFile removes one of a persona's files (a file of another persona
// is not found: upstream deleted by file id alone).
func (r Personas) DeleteFile(ctx context.Context, personaID, fileID string) error {
	res, err := r.s.w.NewDelete().Model((*PersonaFile)(nil)).Where("id = ? AND persona_id = ?", fileID, personaID).Exec(ctx)
	return affectedOne("delete persona file", res, err)
}
