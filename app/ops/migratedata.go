package ops

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/agentops/agentops/app/credentials"
	"github.com/agentops/agentops/app/keys"
	"github.com/agentops/agentops/keyring"
	"github.com/agentops/agentops/store"
)

// MigrateOptions configure MigrateData.
type MigrateOptions struct {
	// From and To are database URLs: an SQLite file or a postgres:// URL.
	From, To string
	// Force empties a target that holds data (other than an interrupted
	// migrate-data of the same source, which is resumed).
	Force bool
	// BatchRows is how many rows each read and insert carries (default 1000).
	BatchRows int
	// Keyring, when set, is checked against the target: it must open the
	// database's key record and every sealed credential. Nil: not checked.
	Keyring *keyring.Keyring
	// Progress reports the copy (nil: quiet).
	Progress *Progress
	Log      *slog.Logger
	// OnBatch, if set, is called after each committed batch (tests
	// interrupt the copy there).
	OnBatch func(table string, rows int64)
}

// TableResult is one table's copy.
type TableResult struct {
	Name   string
	Rows   int64
	Bytes  int64
	Digest string
}

// MigrateResult is what MigrateData did.
type MigrateResult struct {
	// Resumed: the target held an interrupted copy of the same source.
	Resumed    bool
	Tables     []TableResult
	SearchDocs int
	Sequences  int
	// KeyChecked: the keyring opened the target's key record and
	// Credentials sealed credentials.
	KeyChecked  bool
	Credentials int
	Snapshot    time.Time
	Elapsed     time.Duration
	// The phases' durations: copying, verifying, rebuilding the index.
	Copy, Verify, Search time.Duration
}

// ErrTargetNotEmpty: the target holds data migrate-data did not put there.
var ErrTargetNotEmpty = errors.New("the target database is not empty")

// OpenExisting opens a database that must already exist: an SQLite file
// is not created (a typo in a path would otherwise read as an empty
// database).
func OpenExisting(ctx context.Context, url string) (*store.Store, error) {
	if !store.IsPostgres(url) {
		p := strings.TrimPrefix(strings.TrimPrefix(strings.TrimPrefix(url, "sqlite://"), "sqlite:"), "file:")
		if i := strings.IndexByte(p, '?'); i >= 0 {
			p = p[:i]
		}
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("database %s: %w", p, err)
		}
	}
	return store.Open(ctx, url, store.Options{MaxConns: 4})
}

// checkSource refuses a source whose schema this binary does not match.
func checkSource(applied []string, d store.Dialect, url string) error {
	known, err := store.KnownVersions(d)
	if err != nil {
		return err
	}
	missing, err := store.CheckVersions(applied, known)
	if err != nil {
		return fmt.Errorf("source %s: %w", store.RedactURL(url), err)
	}
	if len(missing) > 0 {
		return fmt.Errorf("source %s lacks migrations %v: run `agentops migrate up --database-url %s` on it first (with the server stopped)",
			store.RedactURL(url), missing, store.RedactURL(url))
	}
	return nil
}

// MigrateData copies every registered table from one database to another
// (either dialect to either), in foreign-key order and in batches, from
// one consistent snapshot of the source; then verifies each table's row
// count and content digest, fixes sequences, rebuilds the search index
// and checks that the keyring opens the target's sealed credentials.
//
// Each batch is committed together with a progress marker on the target,
// so an interrupted run resumes where it stopped. The source may be live:
// writes made after the snapshot are not copied.
func MigrateData(ctx context.Context, o MigrateOptions) (*MigrateResult, error) {
	start := time.Now()
	if o.BatchRows <= 0 {
		o.BatchRows = 1000
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.From == o.To {
		return nil, errors.New("--from and --to are the same database")
	}
	src, err := OpenExisting(ctx, o.From)
	if err != nil {
		return nil, fmt.Errorf("open source: %w", err)
	}
	defer src.Close()
	sn, err := src.BeginSnapshot(ctx)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	defer sn.Close()
	res := &MigrateResult{Snapshot: time.Now().UTC()}
	applied, err := sn.AppliedVersions(ctx)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	if err := checkSource(applied, src.Dialect(), o.From); err != nil {
		return nil, err
	}

	dst, err := store.Open(ctx, o.To, store.Options{MaxConns: 4})
	if err != nil {
		return nil, fmt.Errorf("open target: %w", err)
	}
	defer dst.Close()
	if _, err := dst.Migrate(ctx); err != nil {
		return nil, fmt.Errorf("migrate target: %w", err)
	}
	if err := dst.PrepareBulkLoad(ctx); err != nil {
		return nil, err
	}
	dstApplied, err := dst.AppliedVersions(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkSource(dstApplied, dst.Dialect(), o.To); err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}

	source := store.RedactURL(o.From)
	resume, err := dst.HasProgress(ctx)
	if err != nil {
		return nil, err
	}
	var done map[string]store.TableProgress
	if resume {
		was, progress, err := dst.Progress(ctx)
		if err != nil {
			return nil, err
		}
		switch {
		case was == source:
			done = progress
			res.Resumed = true
			o.Progress.Printf("resuming an interrupted migrate-data from %s", source)
		case !o.Force:
			return nil, fmt.Errorf("%w: it holds an interrupted migrate-data from %s, not from %s (run it again with that --from, or use --force to start over)", ErrTargetNotEmpty, was, source)
		default:
			resume = false
		}
	}
	if !resume {
		full, err := dst.NonEmptyTables(ctx)
		if err != nil {
			return nil, err
		}
		if len(full) > 0 || o.Force {
			if !o.Force {
				return nil, fmt.Errorf("%w: %s hold rows; migrate-data fills an empty database (use --force to delete them first)", ErrTargetNotEmpty, strings.Join(full, ", "))
			}
			if err := dst.EmptyAll(ctx); err != nil {
				return nil, err
			}
			if err := dst.DropProgress(ctx); err != nil {
				return nil, err
			}
		}
		if err := dst.StartProgress(ctx, source); err != nil {
			return nil, err
		}
	}
	o.Progress.Printf("copying a snapshot of %s (%s) taken at %s; later writes to it are not copied: stop the server for the final cut-over",
		source, src.Dialect(), res.Snapshot.Format(time.RFC3339))

	t0 := time.Now()
	infos := map[string]store.TableInfo{}
	for _, t := range store.Tables() {
		info, err := sn.Describe(ctx, t.Name)
		if err != nil {
			return nil, fmt.Errorf("source: %w", err)
		}
		dinfo, err := dst.Describe(ctx, t.Name)
		if err != nil {
			return nil, fmt.Errorf("target: %w", err)
		}
		if err := sameColumns(info, dinfo); err != nil {
			return nil, err
		}
		infos[t.Name] = info
		tr, err := copyTable(ctx, sn, dst, info, done[t.Name], o)
		if err != nil {
			return nil, err
		}
		res.Tables = append(res.Tables, tr)
	}

	res.Copy = time.Since(t0)
	t0 = time.Now()
	o.Progress.Printf("verifying row counts and content digests")
	if err := verifyTables(ctx, sn, dst, infos, res, o); err != nil {
		return nil, err
	}
	res.Verify = time.Since(t0)
	t0 = time.Now()
	if res.Sequences, err = dst.FixSequences(ctx); err != nil {
		return nil, err
	}
	n, _ := dst.Count(ctx, "memory_files")
	o.Progress.Start("search index", "docs", n)
	if err := dst.ClearSearch(ctx); err != nil {
		return nil, err
	}
	last := 0
	res.SearchDocs, err = dst.MemoryFiles().RebuildSearch(ctx, 500, func(d int) { o.Progress.Add(int64(d-last), 0); last = d })
	o.Progress.End()
	if err != nil {
		return nil, err
	}
	res.Search = time.Since(t0)
	if err := checkKey(ctx, dst, o.Keyring, res); err != nil {
		return nil, err
	}
	if err := dst.DropProgress(ctx); err != nil {
		return nil, err
	}
	res.Elapsed = time.Since(start)
	return res, nil
}

func sameColumns(a, b store.TableInfo) error {
	if len(a.Columns) != len(b.Columns) {
		return fmt.Errorf("table %s has %d columns on the source and %d on the target", a.Name, len(a.Columns), len(b.Columns))
	}
	have := map[string]store.Kind{}
	for _, c := range b.Columns {
		have[c.Name] = c.Kind
	}
	for _, c := range a.Columns {
		if k, ok := have[c.Name]; !ok || k != c.Kind {
			return fmt.Errorf("column %s.%s differs between source and target", a.Name, c.Name)
		}
	}
	return nil
}

// rowBytes estimates a row's size for the progress report.
func rowBytes(r store.Row) int64 {
	var n int64
	for _, v := range r {
		switch x := v.(type) {
		case string:
			n += int64(len(x))
		case []byte:
			n += int64(len(x))
		default:
			n += 8
		}
	}
	return n
}

func copyTable(ctx context.Context, sn *store.Snapshot, dst *store.Store, info store.TableInfo, p store.TableProgress, o MigrateOptions) (TableResult, error) {
	tr := TableResult{Name: info.Name}
	total, err := sn.Count(ctx, info.Name)
	if err != nil {
		return tr, err
	}
	o.Progress.Start(info.Name, "rows", total)
	defer o.Progress.End()
	tr.Rows = p.Rows
	o.Progress.Skip(p.Rows)
	if p.Done {
		return tr, nil
	}
	var after []any
	if p.LastKey != "" {
		if after, err = info.DecodeKey(p.LastKey); err != nil {
			return tr, err
		}
	}
	for {
		rows, err := sn.ReadBatch(ctx, info, after, o.BatchRows)
		if err != nil {
			return tr, fmt.Errorf("source: %w", err)
		}
		next := p
		next.Table = info.Name
		next.Rows += int64(len(rows))
		next.Done = len(rows) < o.BatchRows
		if len(rows) > 0 {
			after = info.KeyOf(rows[len(rows)-1])
			if next.LastKey, err = info.EncodeKey(after); err != nil {
				return tr, err
			}
		}
		err = dst.InTx(ctx, func(tx *store.Store) error {
			if err := tx.WriteBatch(ctx, info, rows); err != nil {
				return err
			}
			return tx.SetProgress(ctx, next)
		})
		if err != nil {
			return tr, fmt.Errorf("target: %w", err)
		}
		p = next
		var b int64
		for _, r := range rows {
			b += rowBytes(r)
		}
		tr.Rows, tr.Bytes = p.Rows, tr.Bytes+b
		o.Progress.Add(int64(len(rows)), b)
		if o.OnBatch != nil {
			o.OnBatch(info.Name, p.Rows)
		}
		if p.Done {
			return tr, nil
		}
	}
}

// verifyTables compares each table's row count and digest on the source
// snapshot and the target, reading both at once.
func verifyTables(ctx context.Context, sn *store.Snapshot, dst *store.Store, infos map[string]store.TableInfo, res *MigrateResult, o MigrateOptions) error {
	dsn, err := dst.BeginSnapshot(ctx)
	if err != nil {
		return err
	}
	defer dsn.Close()
	var bad []string
	for i := range res.Tables {
		tr := &res.Tables[i]
		info := infos[tr.Name]
		type out struct {
			d   store.Digest
			err error
		}
		ch := make(chan out, 1)
		go func() {
			d, err := dsn.DigestTable(ctx, info, o.BatchRows)
			ch <- out{d, err}
		}()
		sd, serr := sn.DigestTable(ctx, info, o.BatchRows)
		td := <-ch
		if serr != nil {
			return fmt.Errorf("verify %s on the source: %w", tr.Name, serr)
		}
		if td.err != nil {
			return fmt.Errorf("verify %s on the target: %w", tr.Name, td.err)
		}
		if sd.Rows != td.d.Rows || sd.String() != td.d.String() {
			bad = append(bad, fmt.Sprintf("%s (source %d rows, digest %.12s; target %d rows, digest %.12s)", tr.Name, sd.Rows, sd.String(), td.d.Rows, td.d.String()))
		}
		tr.Digest = sd.String()
	}
	if len(bad) > 0 {
		return fmt.Errorf("the target differs from the source snapshot in %s: if the source changed during an interrupted copy, run again with --force (with the server stopped)", strings.Join(bad, "; "))
	}
	return nil
}

// checkKey checks that kr opens the target's key record and every sealed
// credential.
func checkKey(ctx context.Context, dst *store.Store, kr *keyring.Keyring, res *MigrateResult) error {
	if kr == nil {
		return nil
	}
	if err := keys.Verify(ctx, dst, kr); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil // never served: nothing is sealed
		}
		return fmt.Errorf("the instance key does not open the copied database (use the source's key file): %w", err)
	}
	n, err := credentials.VerifyAll(ctx, dst, kr)
	if err != nil {
		return err
	}
	res.KeyChecked, res.Credentials = true, n
	return nil
}
