// Package importer imports an upstream (Cloudflare) agent-ops deployment:
// its D1 database, exported as a SQL dump or a SQLite file, and its R2
// objects copied to a folder. It plans the whole import first (reading the
// source, checking every row against agentops' rules, opening every
// encrypted value), so that a bad dump or a wrong key is refused before
// anything is written; then it writes one transaction per batch and skips
// what is already there, so that it can be run again.
package importer

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/agentops/agentops/keyring"
	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/blob"
)

// Options are what the command was given.
type Options struct {
	// Source is the D1 export: a .sql dump or a SQLite database file.
	Source string
	// R2Dir is a folder holding a copy of the R2 bucket ("" for none).
	R2Dir string
	// UpstreamKey is upstream's ENCRYPTION_KEY ("" when not given: the
	// credentials are then listed, not imported).
	UpstreamKey string
	DryRun      bool
	// MergeUsers merges an upstream user into the agentops account with
	// the same email; without it such a clash stops the import.
	MergeUsers bool
	// PublicURL prefixes the login links printed for the admin.
	PublicURL string
	// ScratchDir holds the scratch database a dump is loaded into.
	ScratchDir string
	// Progress, when set, receives a line per table as it is written.
	Progress io.Writer
	Now      func() time.Time
	Log      *slog.Logger
}

// LinkMaker creates a one-time login link token for a user inside tx
// (app/auth's CreateLoginLink).
type LinkMaker func(ctx context.Context, tx *store.Store, userID string) (token string, err error)

// Deps are the agentops side of the import.
type Deps struct {
	Store   *store.Store
	Keyring *keyring.Keyring
	// Blob receives R2 objects as artifacts (nil: no R2 import).
	Blob      blob.Storage
	LoginLink LinkMaker
}

// TableReport is one line of the report.
type TableReport struct {
	Table    string
	ToImport int
	// Skipped counts rows by reason.
	Skipped map[string]int
}

func (t *TableReport) skip(reason string) {
	if t.Skipped == nil {
		t.Skipped = map[string]int{}
	}
	t.Skipped[reason]++
}

// String is "TABLE  N to import  M skipped: reason, …".
func (t *TableReport) String() string {
	s := fmt.Sprintf("%-28s %d to import", t.Table, t.ToImport)
	if len(t.Skipped) == 0 {
		return s
	}
	reasons := make([]string, 0, len(t.Skipped))
	n := 0
	for r, c := range t.Skipped {
		reasons = append(reasons, fmt.Sprintf("%d %s", c, r))
		n += c
	}
	sort.Strings(reasons)
	return fmt.Sprintf("%s  %d skipped: %s", s, n, strings.Join(reasons, "; "))
}

// Link is a login link printed for the admin.
type Link struct {
	Email string
	URL   string
}

// Report is what an import did, or would do.
type Report struct {
	Tables []*TableReport
	// Problems are the fixes made and the rows left out, one sentence
	// each.
	Problems []string
	// NotImported lists upstream tables that agentops has no place for,
	// with their row counts.
	NotImported map[string]int
	// Unknown lists tables the importer does not know (a newer upstream).
	Unknown []string
	Links   []Link
	DryRun  bool
}

func (r *Report) table(name string) *TableReport {
	for _, t := range r.Tables {
		if t.Table == name {
			return t
		}
	}
	t := &TableReport{Table: name}
	r.Tables = append(r.Tables, t)
	return t
}

func (r *Report) problem(format string, args ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

// Write prints the report.
func (r *Report) Write(w io.Writer) {
	if r.DryRun {
		fmt.Fprintln(w, "dry run: nothing was written")
	}
	for _, t := range r.Tables {
		fmt.Fprintln(w, t.String())
	}
	names := make([]string, 0, len(r.NotImported))
	for n := range r.NotImported {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "%-28s %d not imported: agentops has no equivalent\n", n, r.NotImported[n])
	}
	for _, n := range r.Unknown {
		fmt.Fprintf(w, "%-28s unknown to this importer: not imported\n", n)
	}
	for _, p := range r.Problems {
		fmt.Fprintln(w, "problem: "+p)
	}
	for _, l := range r.Links {
		fmt.Fprintf(w, "%s  %s\n", l.Email, l.URL)
	}
}

// RefusedError means the source cannot be imported at all; nothing was
// written.
type RefusedError struct{ Reason string }

func (e *RefusedError) Error() string { return "import refused: " + e.Reason }

func refuse(format string, args ...any) error {
	return &RefusedError{Reason: fmt.Sprintf(format, args...)}
}

// IsRefused reports whether err is a refusal.
func IsRefused(err error) bool {
	var r *RefusedError
	return errors.As(err, &r)
}

// Run imports (or, with DryRun, plans) opts.Source into deps.Store.
func Run(ctx context.Context, deps Deps, opts Options) (*Report, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	opts.UpstreamKey = strings.TrimSpace(opts.UpstreamKey)
	src, err := store.OpenForeignSQLite(ctx, opts.Source, opts.ScratchDir)
	if err != nil {
		return nil, refuse("%v", err)
	}
	defer src.Close()
	im := &importer{deps: deps, opts: opts, src: src.DB, rep: &Report{DryRun: opts.DryRun, NotImported: map[string]int{}}}
	if err := im.checkSchema(ctx); err != nil {
		return im.rep, err
	}
	if err := im.plan(ctx); err != nil {
		return im.rep, err
	}
	if opts.DryRun {
		return im.rep, nil
	}
	if err := im.write(ctx); err != nil {
		return im.rep, err
	}
	return im.rep, nil
}

type importer struct {
	deps Deps
	opts Options
	src  *sql.DB
	rep  *Report
	cols map[string]map[string]bool // source table → its columns
	p    plan
}
