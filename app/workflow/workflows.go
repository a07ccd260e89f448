package workflow

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/store"
)

// Optional is a JSON field of a partial update: absent (Set false), null
// (Set and Null) or a value.
type Optional[T any] struct {
	Set   bool
	Null  bool
	Value T
}

// UnmarshalJSON records that the field was present.
func (o *Optional[T]) UnmarshalJSON(b []byte) error {
	o.Set = true
	if string(b) == "null" {
		o.Null = true
		return nil
	}
	return json.Unmarshal(b, &o.Value)
}

// Snapshot sources.
const (
	SourceSync     = "sync"
	SourceUpdate   = "update"
	SourceRollback = "rollback"
)

// Field limits.
const (
	maxNameBytes        = 200
	maxDescriptionBytes = 4000
	maxVersionBytes     = 50
	maxTags             = 50
	maxTagBytes         = 50
	// MaxSyncAll bounds one sync-all.
	MaxSyncAll = 500
)

// ValidID reports whether s is a workflow id: 1 to 100 characters of
// [A-Za-z0-9._:-] (ids are chosen by clients, as upstream's are).
func ValidID(s string) bool {
	if s == "" || len(s) > 100 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

// SyncInput is one workflow of POST /api/workflows/sync (or sync-all).
type SyncInput struct {
	ID          string
	Slug        *string
	Name        string
	Description *string
	Version     string
	Data        json.RawMessage
	Tags        *[]string
	Enabled     *bool
}

// fields is a workflow's editable fields, checked.
type wfFields struct {
	slug, name, description, version string
	tags                             json.RawMessage
	def                              *Definition
}

func checkName(field, name string) error {
	if strings.TrimSpace(name) == "" || len(name) > maxNameBytes {
		return apperr.Invalid(field, "%s must be 1 to %d characters", field, maxNameBytes)
	}
	return nil
}

func checkSlug(field, slug string) error {
	if slug != "" && !ValidID(slug) {
		return apperr.Invalid(field, "%s must be 1 to 100 characters of letters, digits, '.', '_', ':' and '-'", field)
	}
	return nil
}

func checkVersion(field, v string) error {
	if strings.TrimSpace(v) == "" || len(v) > maxVersionBytes {
		return apperr.Invalid(field, "%s must be 1 to %d characters", field, maxVersionBytes)
	}
	return nil
}

func checkDescription(field, d string) error {
	if len(d) > maxDescriptionBytes {
		return apperr.Invalid(field, "%s must be at most %d characters", field, maxDescriptionBytes)
	}
	return nil
}

func encodeTags(field string, tags []string) (json.RawMessage, error) {
	if len(tags) > maxTags {
		return nil, apperr.Invalid(field, "%s may hold at most %d tags", field, maxTags)
	}
	for _, t := range tags {
		if strings.TrimSpace(t) == "" || len(t) > maxTagBytes {
			return nil, apperr.Invalid(field, "each tag is 1 to %d characters", maxTagBytes)
		}
	}
	if tags == nil {
		tags = []string{}
	}
	return Canonical(tags)
}

// prepareSync checks one sync input; prefix names its place in a
// sync-all ("workflows[3].").
func prepareSync(prefix string, in SyncInput) (*wfFields, error) {
	if !ValidID(in.ID) {
		return nil, apperr.Invalid(prefix+"id", "%sid must be 1 to 100 characters of letters, digits, '.', '_', ':' and '-'", prefix)
	}
	f := &wfFields{name: in.Name, version: in.Version}
	if f.version == "" {
		f.version = "1.0.0"
	}
	if in.Slug != nil {
		f.slug = *in.Slug
	}
	if in.Description != nil {
		f.description = *in.Description
	}
	for _, err := range []error{checkName(prefix+"name", f.name), checkSlug(prefix+"slug", f.slug),
		checkVersion(prefix+"version", f.version), checkDescription(prefix+"description", f.description)} {
		if err != nil {
			return nil, err
		}
	}
	if len(in.Data) == 0 || string(in.Data) == "null" {
		return nil, apperr.Invalid(prefix+"data", "%sdata is required", prefix)
	}
	def, err := ParseDefinition(in.Data)
	if err != nil {
		if e, ok := apperr.As(err); ok && prefix != "" {
			if field, _ := e.Details["field"].(string); field != "" {
				e.Details["field"] = prefix + "data." + field
			}
		}
		return nil, err
	}
	f.def = def
	if in.Tags != nil {
		if f.tags, err = encodeTags(prefix+"tags", *in.Tags); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// List returns the user's workflows.
func (s *Service) List(ctx context.Context, userID string) ([]store.Workflow, error) {
	return s.st.Workflows().List(ctx, userID)
}

// Get returns the user's workflow by id or slug.
func (s *Service) Get(ctx context.Context, userID, idOrSlug string) (*store.Workflow, error) {
	w, err := s.st.Workflows().Get(ctx, userID, idOrSlug)
	if errors.Is(err, store.ErrNotFound) {
		return nil, apperr.NotFound("Workflow")
	}
	return w, err
}

// Sync creates or replaces the user's workflow with in.ID, writing a
// snapshot when anything changed.
func (s *Service) Sync(ctx context.Context, userID string, in SyncInput) (*store.Workflow, error) {
	f, err := prepareSync("", in)
	if err != nil {
		return nil, err
	}
	var out *store.Workflow
	err = s.st.InTx(ctx, func(tx *store.Store) error {
		out, err = s.syncTx(ctx, tx, userID, in, f)
		return err
	})
	return out, err
}

func (s *Service) syncTx(ctx context.Context, tx *store.Store, userID string, in SyncInput, f *wfFields) (*store.Workflow, error) {
	now := s.now()
	w, err := tx.Workflows().GetByID(ctx, userID, in.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		w = &store.Workflow{UID: newID(), UserID: userID, ID: in.ID, Slug: f.slug, Name: f.name, Description: f.description,
			Version: f.version, Data: f.def.Data, Hash: f.def.Hash, Enabled: true, Tags: f.tags, CreatedAt: now, UpdatedAt: now}
		if w.Tags == nil {
			w.Tags = json.RawMessage(`[]`)
		}
		if in.Enabled != nil {
			w.Enabled = *in.Enabled
		}
		if err := tx.Workflows().Insert(ctx, w); err != nil {
			return nil, slugConflict(err)
		}
		return w, s.snapshot(ctx, tx, w, SourceSync, "", userID)
	case err != nil:
		return nil, err
	}
	var cols []string
	set := func(col string, changed bool) {
		if changed {
			cols = append(cols, col)
		}
	}
	set("slug", w.Slug != f.slug)
	set("name", w.Name != f.name)
	set("description", w.Description != f.description)
	set("version", w.Version != f.version)
	set("data", w.Hash != f.def.Hash)
	set("workflow_hash", w.Hash != f.def.Hash)
	w.Slug, w.Name, w.Description, w.Version = f.slug, f.name, f.description, f.version
	w.Data, w.Hash = f.def.Data, f.def.Hash
	if f.tags != nil && !sameJSON(f.tags, w.Tags) {
		w.Tags = f.tags
		cols = append(cols, "tags")
	}
	if in.Enabled != nil && *in.Enabled != w.Enabled {
		w.Enabled = *in.Enabled
		cols = append(cols, "enabled")
	}
	if len(cols) == 0 {
		return w, nil
	}
	w.UpdatedAt = now
	if err := tx.Workflows().Update(ctx, w, cols...); err != nil {
		return nil, slugConflict(err)
	}
	return w, s.snapshot(ctx, tx, w, SourceSync, "", userID)
}

func slugConflict(err error) error {
	if errors.Is(err, store.ErrConflict) {
		return apperr.Conflict("Another of your workflows has this slug")
	}
	return err
}

// snapshot appends w's definition to its history.
func (s *Service) snapshot(ctx context.Context, tx *store.Store, w *store.Workflow, source, notes, userID string) error {
	return tx.WorkflowVersions().Append(ctx, &store.WorkflowVersion{ID: newID(), WorkflowUID: w.UID, Version: w.Version,
		Name: w.Name, Hash: w.Hash, Data: w.Data, Source: source, Notes: notes, CreatedBy: userID, CreatedAt: s.now()})
}

// SyncAll makes the user's workflows exactly the given set: each is
// synced, and the user's workflows not in it are deleted. All or nothing.
func (s *Service) SyncAll(ctx context.Context, userID string, ins []SyncInput) (synced, deleted int, err error) {
	if len(ins) > MaxSyncAll {
		return 0, 0, apperr.Invalid("workflows", "workflows may hold at most %d workflows", MaxSyncAll)
	}
	prepared := make([]*wfFields, len(ins))
	seen := map[string]bool{}
	for i, in := range ins {
		prefix := fmt.Sprintf("workflows[%d].", i)
		if prepared[i], err = prepareSync(prefix, in); err != nil {
			return 0, 0, err
		}
		if seen[in.ID] {
			return 0, 0, apperr.Invalid(prefix+"id", "%sid %q appears twice", prefix, in.ID)
		}
		seen[in.ID] = true
	}
	err = s.st.InTx(ctx, func(tx *store.Store) error {
		existing, err := tx.Workflows().List(ctx, userID)
		if err != nil {
			return err
		}
		// Deletions first, so a slug can move to another workflow.
		for _, w := range existing {
			if !seen[w.ID] {
				if err := tx.Workflows().Delete(ctx, w.UID); err != nil {
					return err
				}
				deleted++
			}
		}
		for i, in := range ins {
			if _, err := s.syncTx(ctx, tx, userID, in, prepared[i]); err != nil {
				return err
			}
			synced++
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	return synced, deleted, nil
}

// Patch is PUT /api/workflows/:id: every field optional; description and
// slug may be null (cleared).
type Patch struct {
	Name        *string
	Description Optional[string]
	Slug        Optional[string]
	Version     *string
	Enabled     *bool
	Tags        *[]string
	Data        json.RawMessage
}

// Update applies a partial update and writes a snapshot when anything
// changed. data is validated as in sync.
func (s *Service) Update(ctx context.Context, userID, idOrSlug string, p Patch) (*store.Workflow, error) {
	var def *Definition
	if len(p.Data) > 0 && string(p.Data) != "null" {
		var err error
		if def, err = ParseDefinition(p.Data); err != nil {
			return nil, err
		}
	} else if string(p.Data) == "null" {
		return nil, apperr.Invalid("data", "data cannot be null")
	}
	var tags json.RawMessage
	checks := []error{}
	if p.Name != nil {
		checks = append(checks, checkName("name", *p.Name))
	}
	if p.Version != nil {
		checks = append(checks, checkVersion("version", *p.Version))
	}
	if p.Slug.Set && !p.Slug.Null {
		checks = append(checks, checkSlug("slug", p.Slug.Value))
	}
	if p.Description.Set && !p.Description.Null {
		checks = append(checks, checkDescription("description", p.Description.Value))
	}
	if p.Tags != nil {
		var err error
		tags, err = encodeTags("tags", *p.Tags)
		checks = append(checks, err)
	}
	for _, e := range checks {
		if e != nil {
			return nil, e
		}
	}
	var out *store.Workflow
	err := s.st.InTx(ctx, func(tx *store.Store) error {
		w, err := tx.Workflows().Get(ctx, userID, idOrSlug)
		if errors.Is(err, store.ErrNotFound) {
			return apperr.NotFound("Workflow")
		} else if err != nil {
			return err
		}
		var cols []string
		if p.Name != nil && *p.Name != w.Name {
			w.Name, cols = *p.Name, append(cols, "name")
		}
		if p.Version != nil && *p.Version != w.Version {
			w.Version, cols = *p.Version, append(cols, "version")
		}
		if p.Slug.Set && p.Slug.Value != w.Slug {
			w.Slug, cols = p.Slug.Value, append(cols, "slug")
		}
		if p.Description.Set && p.Description.Value != w.Description {
			w.Description, cols = p.Description.Value, append(cols, "description")
		}
		if p.Enabled != nil && *p.Enabled != w.Enabled {
			w.Enabled, cols = *p.Enabled, append(cols, "enabled")
		}
		if tags != nil && !sameJSON(tags, w.Tags) {
			w.Tags, cols = tags, append(cols, "tags")
		}
		if def != nil && def.Hash != w.Hash {
			w.Data, w.Hash, cols = def.Data, def.Hash, append(cols, "data", "workflow_hash")
		}
		out = w
		if len(cols) == 0 {
			return nil
		}
		w.UpdatedAt = s.now()
		if err := tx.Workflows().Update(ctx, w, cols...); err != nil {
			return slugConflict(err)
		}
		return s.snapshot(ctx, tx, w, SourceUpdate, "", userID)
	})
	return out, err
}

// Delete removes the user's workflow with its triggers and history. Its
// executions stay (with their own copy of the definition); active ones
// run to their end.
func (s *Service) Delete(ctx context.Context, userID, idOrSlug string) error {
	w, err := s.Get(ctx, userID, idOrSlug)
	if err != nil {
		return err
	}
	return s.st.Workflows().Delete(ctx, w.UID)
}

// History returns the workflow and its snapshots, newest first.
func (s *Service) History(ctx context.Context, userID, idOrSlug string, limit, offset int) (*store.Workflow, []store.WorkflowVersion, error) {
	w, err := s.Get(ctx, userID, idOrSlug)
	if err != nil {
		return nil, nil, err
	}
	h, err := s.st.WorkflowVersions().List(ctx, w.UID, limit, offset)
	return w, h, err
}

// RollbackInput is POST /api/workflows/:id/rollback.
type RollbackInput struct {
	TargetHash string
	Version    *string
	Notes      string
}

// Rollback restores the definition of the snapshot with the target hash,
// with the given version or the current one's patch number bumped, and
// writes a rollback snapshot. changed is false when the workflow already
// has that definition.
func (s *Service) Rollback(ctx context.Context, userID, idOrSlug string, in RollbackInput) (w *store.Workflow, changed bool, err error) {
	if strings.TrimSpace(in.TargetHash) == "" {
		return nil, false, apperr.Invalid("targetWorkflowHash", "targetWorkflowHash is required")
	}
	if in.Version != nil {
		if err := checkVersion("version", *in.Version); err != nil {
			return nil, false, err
		}
	}
	if len(in.Notes) > maxDescriptionBytes {
		return nil, false, apperr.Invalid("notes", "notes must be at most %d characters", maxDescriptionBytes)
	}
	err = s.st.InTx(ctx, func(tx *store.Store) error {
		w, err = tx.Workflows().Get(ctx, userID, idOrSlug)
		if errors.Is(err, store.ErrNotFound) {
			return apperr.NotFound("Workflow")
		} else if err != nil {
			return err
		}
		v, err := tx.WorkflowVersions().GetByHash(ctx, w.UID, in.TargetHash)
		if errors.Is(err, store.ErrNotFound) {
			return apperr.Invalid("targetWorkflowHash", "no snapshot of this workflow has hash %s", in.TargetHash)
		} else if err != nil {
			return err
		}
		if v.Hash == w.Hash && in.Version == nil {
			return nil
		}
		changed = true
		w.Data, w.Hash = v.Data, v.Hash
		if in.Version != nil {
			w.Version = *in.Version
		} else {
			w.Version = bumpPatch(w.Version)
		}
		w.UpdatedAt = s.now()
		if err := tx.Workflows().Update(ctx, w, "data", "workflow_hash", "version"); err != nil {
			return err
		}
		return s.snapshot(ctx, tx, w, SourceRollback, in.Notes, userID)
	})
	return w, changed, err
}

// bumpPatch increments the last dot-separated number of a version
// ("1.2.3" → "1.2.4"); a version that does not end in a number gets ".1".
func bumpPatch(v string) string {
	parts := strings.Split(v, ".")
	last := parts[len(parts)-1]
	if n, err := strconv.Atoi(last); err == nil && n >= 0 {
		parts[len(parts)-1] = strconv.Itoa(n + 1)
		return strings.Join(parts, ".")
	}
	out := v + ".1"
	if len(out) > maxVersionBytes {
		return v
	}
	return out
}

// sameJSON reports whether two JSON texts hold the same value (Postgres'
// jsonb gives back its own spacing and key order).
func sameJSON(a, b json.RawMessage) bool {
	ca, err1 := CanonicalJSON(a)
	cb, err2 := CanonicalJSON(b)
	return err1 == nil && err2 == nil && bytes.Equal(ca, cb)
}

// Tags decodes a workflow's tags.
func Tags(w *store.Workflow) []string {
	var out []string
	_ = json.Unmarshal(w.Tags, &out)
	if out == nil {
		out = []string{}
	}
	return slices.Clip(out)
}
