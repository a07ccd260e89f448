// Package persona holds personas: named sets of markdown instruction
// files that a session hands its agent in the handshake (plugin-content's
// personas). Shared personas are visible to everyone, private ones to
// their creator; only the creator or an admin changes one, and only an
// admin picks the default (used by sessions that name no persona).
package persona

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/store"
)

// Limits (upstream's, plus bounds it left open).
const (
	MaxNameChars        = 100
	MaxSlugChars        = 100
	MaxDescriptionChars = 500
	MaxIconChars        = 10
	MaxModelChars       = 255
	MaxFilenameChars    = 100
	MaxFileChars        = 100000
	MaxFiles            = 50
)

var slugRE = regexp.MustCompile(`^[a-z0-9-]+$`)

// Service is the persona domain.
type Service struct {
	st  *store.Store
	now func() time.Time
}

// New returns the service.
func New(st *store.Store) *Service {
	return &Service{st: st, now: func() time.Time { return store.Now() }}
}

// ErrNotFound is upstream's 404 body for a missing or hidden persona.
var ErrNotFound = apperr.NotFound("Persona")

// Caller is who acts.
type Caller struct {
	UserID string
	Admin  bool
}

// File is an instruction file as clients send it.
type File struct {
	Filename  *string `json:"filename"`
	Content   *string `json:"content"`
	SortOrder *int    `json:"sortOrder"`
}

// Input is a persona as clients send it (create: name and slug
// required; update: every field optional).
type Input struct {
	Name         *string `json:"name"`
	Slug         *string `json:"slug"`
	Description  *string `json:"description"`
	Icon         *string `json:"icon"`
	DefaultModel *string `json:"defaultModel"`
	Visibility   *string `json:"visibility"`
	IsDefault    *bool   `json:"isDefault"`
	Files        []File  `json:"files"`
}

func chars(field string, v *string, min, max int) error {
	if v == nil {
		return nil
	}
	if n := utf8.RuneCountInString(*v); n < min || n > max || !utf8.ValidString(*v) || strings.ContainsRune(*v, 0) {
		if min > 0 {
			return apperr.Invalid(field, "%s must be %d to %d characters of text", field, min, max)
		}
		return apperr.Invalid(field, "%s must be at most %d characters of text", field, max)
	}
	return nil
}

func (in *Input) validate(create bool) error {
	if create {
		if in.Name == nil {
			return apperr.Invalid("name", "name is required")
		}
		if in.Slug == nil {
			return apperr.Invalid("slug", "slug is required")
		}
	}
	for _, c := range []struct {
		field    string
		v        *string
		min, max int
	}{
		{"name", in.Name, 1, MaxNameChars}, {"slug", in.Slug, 1, MaxSlugChars}, {"description", in.Description, 0, MaxDescriptionChars},
		{"icon", in.Icon, 0, MaxIconChars}, {"defaultModel", in.DefaultModel, 0, MaxModelChars},
	} {
		if err := chars(c.field, c.v, c.min, c.max); err != nil {
			return err
		}
	}
	if in.Slug != nil && !slugRE.MatchString(*in.Slug) {
		return apperr.Invalid("slug", "slug must be lowercase letters, digits and dashes")
	}
	if in.Visibility != nil && *in.Visibility != store.PersonaShared && *in.Visibility != store.PersonaPrivate {
		return apperr.Invalid("visibility", "visibility must be shared or private")
	}
	return nil
}

// files validates and builds file rows.
func (s *Service) files(personaID string, in []File, field string) ([]store.PersonaFile, error) {
	if len(in) > MaxFiles {
		return nil, apperr.Invalid(field, "a persona has at most %d files", MaxFiles)
	}
	now := s.now()
	seen := map[string]bool{}
	out := make([]store.PersonaFile, 0, len(in))
	for i, f := range in {
		prefix := field
		if field != "" {
			prefix = field + "[" + strconv.Itoa(i) + "]."
		}
		if f.Filename == nil {
			return nil, apperr.Invalid(prefix+"filename", "%sfilename is required", prefix)
		}
		if f.Content == nil {
			return nil, apperr.Invalid(prefix+"content", "%scontent is required", prefix)
		}
		if err := chars(prefix+"filename", f.Filename, 1, MaxFilenameChars); err != nil {
			return nil, err
		}
		if strings.ContainsAny(*f.Filename, "/\\") || *f.Filename == "." || *f.Filename == ".." {
			return nil, apperr.Invalid(prefix+"filename", "%sfilename must be a plain file name (no / or \\)", prefix)
		}
		if err := chars(prefix+"content", f.Content, 1, MaxFileChars); err != nil {
			return nil, err
		}
		order := 0
		if f.SortOrder != nil {
			if *f.SortOrder < 0 {
				return nil, apperr.Invalid(prefix+"sortOrder", "%ssortOrder must be 0 or more", prefix)
			}
			order = *f.SortOrder
		}
		if seen[*f.Filename] {
			return nil, apperr.Invalid(prefix+"filename", "%sfilename %q appears twice", prefix, *f.Filename)
		}
		seen[*f.Filename] = true
		out = append(out, store.PersonaFile{ID: uuid.NewString(), PersonaID: personaID, Filename: *f.Filename,
			Content: *f.Content, SortOrder: order, CreatedAt: now, UpdatedAt: now})
	}
	return out, nil
}

// List returns the personas the caller can see.
func (s *Service) List(ctx context.Context, c Caller) ([]store.Persona, error) {
	return s.st.Personas().Visible(ctx, c.UserID)
}

// visible loads a persona the caller may see, else ErrNotFound.
func (s *Service) visible(ctx context.Context, c Caller, id string) (*store.Persona, error) {
	p, err := s.st.Personas().Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && p.Visibility == store.PersonaPrivate && p.CreatedBy != c.UserID) {
		return nil, ErrNotFound
	}
	return p, err
}

// editable loads a persona the caller may change.
func (s *Service) editable(ctx context.Context, c Caller, id string) (*store.Persona, error) {
	p, err := s.visible(ctx, c, id)
	if err != nil {
		return nil, err
	}
	if p.CreatedBy != c.UserID && !c.Admin {
		return nil, apperr.Forbidden("Only the creator or an admin can change this persona")
	}
	return p, nil
}

// Get returns a persona with its files.
func (s *Service) Get(ctx context.Context, c Caller, id string) (*store.Persona, []store.PersonaFile, error) {
	p, err := s.visible(ctx, c, id)
	if err != nil {
		return nil, nil, err
	}
	files, err := s.st.Personas().Files(ctx, id)
	return p, files, err
}

func conflict(err error) error {
	if errors.Is(err, store.ErrConflict) {
		return &apperr.Error{Kind: apperr.KindConflict, Message: "A persona with this slug already exists", Details: map[string]any{"field": "slug"}}
	}
	return err
}

// Create makes a persona with its files.
func (s *Service) Create(ctx context.Context, c Caller, in Input) (*store.Persona, []store.PersonaFile, error) {
	if err := in.validate(true); err != nil {
		return nil, nil, err
	}
	if in.IsDefault != nil && *in.IsDefault && !c.Admin {
		return nil, nil, apperr.Forbidden("Only admins can set a default persona")
	}
	now := s.now()
	p := &store.Persona{ID: uuid.NewString(), Name: *in.Name, Slug: *in.Slug, Visibility: store.PersonaShared,
		CreatedBy: c.UserID, CreatedAt: now, UpdatedAt: now}
	if in.Description != nil {
		p.Description = *in.Description
	}
	if in.Icon != nil {
		p.Icon = *in.Icon
	}
	if in.DefaultModel != nil {
		p.DefaultModel = *in.DefaultModel
	}
	if in.Visibility != nil {
		p.Visibility = *in.Visibility
	}
	if in.IsDefault != nil {
		p.IsDefault = *in.IsDefault
	}
	files, err := s.files(p.ID, in.Files, "files")
	if err != nil {
		return nil, nil, err
	}
	if err := s.st.Personas().Create(ctx, p, files); err != nil {
		return nil, nil, conflict(err)
	}
	p.FileCount = len(files)
	return p, files, nil
}

// Update changes the fields given.
func (s *Service) Update(ctx context.Context, c Caller, id string, in Input) error {
	if err := in.validate(false); err != nil {
		return err
	}
	if in.IsDefault != nil && !c.Admin {
		return apperr.Forbidden("Only admins can set a default persona")
	}
	p, err := s.editable(ctx, c, id)
	if err != nil {
		return err
	}
	var cols []string
	set := func(col string, dst *string, v *string) {
		if v != nil {
			*dst = *v
			cols = append(cols, col)
		}
	}
	set("name", &p.Name, in.Name)
	set("slug", &p.Slug, in.Slug)
	set("description", &p.Description, in.Description)
	set("icon", &p.Icon, in.Icon)
	set("default_model", &p.DefaultModel, in.DefaultModel)
	set("visibility", &p.Visibility, in.Visibility)
	if in.IsDefault != nil {
		p.IsDefault = *in.IsDefault
		cols = append(cols, "is_default")
	}
	if in.Files != nil {
		return apperr.Invalid("files", "files are changed with PUT /api/personas/:id/files")
	}
	if len(cols) == 0 {
		return nil
	}
	p.UpdatedAt = s.now()
	return conflict(s.st.Personas().Update(ctx, p, cols...))
}

// Delete removes a persona.
func (s *Service) Delete(ctx context.Context, c Caller, id string) error {
	if _, err := s.editable(ctx, c, id); err != nil {
		return err
	}
	return s.st.Personas().Delete(ctx, id)
}

// ReplaceFiles makes files the persona's whole set.
func (s *Service) ReplaceFiles(ctx context.Context, c Caller, id string, files []File) error {
	if _, err := s.editable(ctx, c, id); err != nil {
		return err
	}
	rows, err := s.files(id, files, "files")
	if err != nil {
		return err
	}
	return s.st.Personas().ReplaceFiles(ctx, id, rows, s.now())
}

// PutFile adds or replaces one file (by file name).
func (s *Service) PutFile(ctx context.Context, c Caller, id string, f File) error {
	if _, err := s.editable(ctx, c, id); err != nil {
		return err
	}
	rows, err := s.files(id, []File{f}, "")
	if err != nil {
		return err
	}
	return s.st.Personas().PutFile(ctx, &rows[0])
}

// DeleteFile removes one of the persona's files.
func (s *Service) DeleteFile(ctx context.Context, c Caller, id, fileID string) error {
	if _, err := s.editable(ctx, c, id); err != nil {
		return err
	}
	err := s.st.Personas().DeleteFile(ctx, id, fileID)
	if errors.Is(err, store.ErrNotFound) {
		return apperr.NotFound("Persona file")
	}
	return err
}

// Instructions returns the instruction files a session of the user
// passes to its agent: those of personaID, or of the default persona
// when personaID is empty (none when there is no default). A persona the
// user cannot see is ErrNotFound. It satisfies session.Personas.
func (s *Service) Instructions(ctx context.Context, userID, personaID string) ([]protocol.PersonaFile, error) {
	c := Caller{UserID: userID}
	var p *store.Persona
	var err error
	if personaID == "" {
		p, err = s.st.Personas().Default(ctx)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		if err == nil && p.Visibility == store.PersonaPrivate && p.CreatedBy != userID {
			return nil, nil
		}
	} else {
		p, err = s.visible(ctx, c, personaID)
	}
	if err != nil {
		return nil, err
	}
	files, err := s.st.Personas().Files(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	out := make([]protocol.PersonaFile, len(files))
	for i, f := range files {
		out[i] = protocol.PersonaFile{Filename: f.Filename, Content: f.Content, SortOrder: f.SortOrder}
	}
	return out, nil
}
