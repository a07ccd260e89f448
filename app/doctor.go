package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/agentops/agentops/app/runner/agent/builtin"
	"github.com/agentops/agentops/keyring"
	"github.com/agentops/agentops/realtime"
	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/blob"
	"github.com/agentops/agentops/store/blob/fsblob"
	"github.com/agentops/agentops/store/blob/s3blob"
)

// Severity says how bad a finding is.
type Severity int

// Severities, from fine to broken.
const (
	OK Severity = iota
	Warn
	Fail
)

func (s Severity) String() string {
	switch s {
	case Warn:
		return "warn"
	case Fail:
		return "FAIL"
	}
	return "ok"
}

// Finding is one result of agentops doctor: what was checked, what was
// found, and, for a problem, how to fix it.
type Finding struct {
	Check    string // config, database, migrations, instance key, object storage, pub/sub, agents, dependencies, server
	Severity Severity
	Message  string
	Fix      string
}

// DoctorReport is every finding, in the order checked.
type DoctorReport struct {
	Findings []Finding
}

// Broken reports whether any finding is a failure (doctor exits 1).
func (r *DoctorReport) Broken() bool {
	return slices.ContainsFunc(r.Findings, func(f Finding) bool { return f.Severity == Fail })
}

func (r *DoctorReport) add(check string, sev Severity, fix, format string, args ...any) {
	r.Findings = append(r.Findings, Finding{Check: check, Severity: sev, Message: fmt.Sprintf(format, args...), Fix: fix})
}

// Write prints the report: one line per finding, the fix under it.
func (r *DoctorReport) Write(w io.Writer) {
	for _, f := range r.Findings {
		fmt.Fprintf(w, "%-4s  %-15s %s\n", f.Severity, f.Check, f.Message)
		if f.Fix != "" {
			fmt.Fprintf(w, "      %-15s fix: %s\n", "", f.Fix)
		}
	}
	var warns, fails int
	for _, f := range r.Findings {
		switch f.Severity {
		case Warn:
			warns++
		case Fail:
			fails++
		}
	}
	switch {
	case fails > 0:
		fmt.Fprintf(w, "\n%d problem(s) to fix, %d warning(s)\n", fails, warns)
	case warns > 0:
		fmt.Fprintf(w, "\nno problems, %d warning(s)\n", warns)
	default:
		fmt.Fprintln(w, "\nno problems")
	}
}

// DoctorOptions tune Doctor; the zero value checks the machine as it is.
type DoctorOptions struct {
	// ConfigErr is the error resolving the configuration gave, if any:
	// Doctor reports it and checks what it can.
	ConfigErr error
	// LookPath finds programs (default exec.LookPath); tests narrow it.
	LookPath func(name string) (string, error)
	// Timeout bounds each network check (default 10 s).
	Timeout time.Duration
}

// agentCLIs are the coding-agent programs the agent adapters drive: the
// registry name of the adapter, the program and the npm package that
// installs it.
var agentCLIs = []struct{ agent, program, npm string }{
	{"claude-code", "claude", "@anthropic-ai/claude-code"},
	{"codex", "codex", "@openai/codex"},
	{"opencode", "opencode", "opencode-ai"},
}

// Doctor checks what serve needs, read-only: it works against the data
// dir and database of a running server without disturbing it (it opens
// the database without migrating, never creates a database or a keyring,
// and writes only a probe object that it deletes). It takes no lock that
// serve holds.
func Doctor(ctx context.Context, cfg Config, opts DoctorOptions) *DoctorReport {
	if opts.LookPath == nil {
		opts.LookPath = exec.LookPath
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	r := &DoctorReport{}
	d := &doctor{cfg: cfg, opts: opts, r: r}
	d.config()
	st := d.database(ctx)
	if st != nil {
		d.migrations(ctx, st)
		d.instanceKey(ctx, st)
		st.Close()
	}
	d.objectStorage(ctx)
	d.pubsub(ctx)
	d.agents()
	d.dependencies()
	d.server(ctx)
	return r
}

type doctor struct {
	cfg  Config
	opts DoctorOptions
	r    *DoctorReport
}

func (d *doctor) config() {
	if err := d.opts.ConfigErr; err != nil {
		d.r.add("config", Fail, "correct the flag or its AGENTOPS_* variable (agentops serve --help lists them)", "%v", err)
		return
	}
	fi, err := os.Stat(d.cfg.DataDir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		d.r.add("config", Warn, "run `agentops serve` once (it creates the data dir), or point --data-dir / AGENTOPS_DATA_DIR at the existing one",
			"data dir %s does not exist yet", d.cfg.DataDir)
	case err != nil:
		d.r.add("config", Fail, "check the path and its permissions", "data dir %s: %v", d.cfg.DataDir, err)
	case !fi.IsDir():
		d.r.add("config", Fail, "point --data-dir / AGENTOPS_DATA_DIR at a directory", "data dir %s is not a directory", d.cfg.DataDir)
	case fi.Mode().Perm()&0o077 != 0:
		d.r.add("config", Warn, fmt.Sprintf("chmod 700 %s", d.cfg.DataDir),
			"data dir %s is readable by others (mode %o); it holds the database and the instance key", d.cfg.DataDir, fi.Mode().Perm())
	default:
		d.r.add("config", OK, "", "data dir %s", d.cfg.DataDir)
	}
	if d.cfg.MetricsToken != "" && len(d.cfg.MetricsToken) < 16 {
		d.r.add("config", Warn, "use a random token of 32 characters or more (openssl rand -hex 32)",
			"--metrics-token is short (%d characters)", len(d.cfg.MetricsToken))
	}
}

func (d *doctor) database(ctx context.Context) *store.Store {
	url := d.cfg.DatabaseURL
	if url == "" {
		return nil // the config failed before it could default
	}
	if !store.IsPostgres(url) {
		path := strings.TrimPrefix(strings.TrimPrefix(strings.TrimPrefix(url, "sqlite://"), "sqlite:"), "file:")
		if i := strings.IndexByte(path, '?'); i >= 0 {
			path = path[:i]
		}
		// Opening would create an empty database: doctor looks, never makes.
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			d.r.add("database", Warn, "run `agentops serve` (it creates and migrates the database), or point --database-url / AGENTOPS_DATABASE_URL at the existing one",
				"no SQLite database at %s yet", path)
			return nil
		} else if err != nil {
			d.r.add("database", Fail, "check the path in --database-url / AGENTOPS_DATABASE_URL and its permissions", "SQLite database %s: %v", path, err)
			return nil
		}
	}
	ctx, cancel := context.WithTimeout(ctx, d.opts.Timeout)
	defer cancel()
	st, err := store.Open(ctx, url, store.Options{MaxConns: 2})
	if err == nil {
		if err = st.Ping(ctx); err != nil {
			st.Close()
		}
	}
	if err != nil {
		fix := "check the path in --database-url / AGENTOPS_DATABASE_URL: it must be an agentops SQLite file"
		if store.IsPostgres(url) {
			fix = "check --database-url / AGENTOPS_DATABASE_URL (host, port, user, password, database name) and that Postgres is running and reachable from here"
		}
		if errors.Is(err, store.ErrNoFTS5) {
			fix = "use an agentops binary built with -tags sqlite_fts5 (the Makefile's and the release builds are)"
		}
		d.r.add("database", Fail, fix, "cannot open the database %s: %v", store.RedactURL(url), err)
		return nil
	}
	d.r.add("database", OK, "", "%s database at %s answers", st.Dialect(), store.RedactURL(url))
	return st
}

func (d *doctor) migrations(ctx context.Context, st *store.Store) {
	states, unknown, err := st.PeekMigrations(ctx)
	if err != nil {
		d.r.add("migrations", Fail, "check that --database-url is an agentops database", "cannot read the applied migrations: %v", err)
		return
	}
	if len(unknown) > 0 {
		d.r.add("migrations", Fail, "upgrade this agentops binary to the version that migrated the database",
			"the database has migrations this binary does not know (%s): a newer agentops migrated it", strings.Join(unknown, ", "))
		return
	}
	if n := store.Pending(states); n > 0 {
		d.r.add("migrations", Warn, "`agentops migrate` applies them (serve does too when it starts)",
			"%d of %d migrations are not applied", n, len(states))
		return
	}
	d.r.add("migrations", OK, "", "all %d migrations applied", len(states))
}

func (d *doctor) instanceKey(ctx context.Context, st *store.Store) {
	recorded, err := st.Meta().Get(ctx, keyringMetaKey)
	if errors.Is(err, store.ErrNotFound) {
		d.r.add("instance key", Warn, "run `agentops serve` once: it creates the keyring and records it in the database",
			"the database records no instance key yet")
		return
	} else if err != nil {
		d.r.add("instance key", Fail, "check the database", "cannot read the recorded instance key: %v", err)
		return
	}
	id, check, _ := strings.Cut(recorded, ":")
	var kr *keyring.Keyring
	source := "AGENTOPS_INSTANCE_KEY"
	if d.cfg.InstanceKey != "" {
		if kr, err = keyring.Parse([]byte(d.cfg.InstanceKey)); err != nil {
			d.r.add("instance key", Fail, "set AGENTOPS_INSTANCE_KEY to the keyring file's JSON (or unset it to use --instance-key-file)",
				"AGENTOPS_INSTANCE_KEY is not a keyring: %v", err)
			return
		}
	} else {
		source = d.cfg.InstanceKeyFile
		kr, err = keyring.Load(d.cfg.InstanceKeyFile)
		if errors.Is(err, fs.ErrNotExist) {
			d.r.add("instance key", Fail, fmt.Sprintf("restore the keyring this database was set up with (key %s) to %s from your backup, or give it with --instance-key-file / AGENTOPS_INSTANCE_KEY; without it serve refuses to start and stored credentials cannot be opened", id, d.cfg.InstanceKeyFile),
				"the instance key file %s is missing", d.cfg.InstanceKeyFile)
			return
		} else if err != nil {
			d.r.add("instance key", Fail, "restore the keyring file from your backup", "cannot read the instance key: %v", err)
			return
		}
		if fi, err := os.Stat(d.cfg.InstanceKeyFile); err == nil && fi.Mode().Perm()&0o077 != 0 {
			d.r.add("instance key", Warn, "chmod 600 "+d.cfg.InstanceKeyFile, "the instance key file is readable by others (mode %o)", fi.Mode().Perm())
		}
	}
	if err := kr.Verify(id, check); err != nil {
		d.r.add("instance key", Fail, fmt.Sprintf("give the keyring this database was set up with (it holds key %s) with --instance-key-file or AGENTOPS_INSTANCE_KEY; every replica needs the same keyring", id),
			"the keyring in %s cannot open this database's check value: %v", source, err)
		return
	}
	d.r.add("instance key", OK, "", "the keyring in %s opens this database (primary key %s)", source, kr.PrimaryID())
}

func (d *doctor) objectStorage(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, d.opts.Timeout)
	defer cancel()
	var storage blob.Storage
	where := filepath.Join(d.cfg.DataDir, "blobs")
	fix := "check that " + where + " is writable by the user agentops runs as"
	switch d.cfg.Blob {
	case "s3":
		where = d.cfg.S3.Endpoint + " bucket " + d.cfg.S3.Bucket
		fix = "check --s3-endpoint, --s3-bucket (it must exist), --s3-region, the access key and secret, and --s3-path-style (MinIO and most self-hosted services need it)"
		s3, err := s3blob.New(ctx, s3blob.Options{Endpoint: d.cfg.S3.Endpoint, Region: d.cfg.S3.Region, Bucket: d.cfg.S3.Bucket,
			AccessKey: d.cfg.S3.AccessKey, SecretKey: d.cfg.S3.SecretKey, PathStyle: d.cfg.S3.PathStyle})
		if err != nil {
			d.r.add("object storage", Fail, fix, "cannot reach %s: %v", where, err)
			return
		}
		storage = s3
	case "fs":
		if _, err := os.Stat(d.cfg.DataDir); errors.Is(err, fs.ErrNotExist) {
			return // reported under config; nothing to probe
		}
		fsb, err := fsblob.New(where)
		if err != nil {
			d.r.add("object storage", Fail, fix, "%v", err)
			return
		}
		defer fsb.Close()
		storage = fsb
	default:
		return // a config error, reported
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	key := "doctor-probe/" + hex.EncodeToString(rnd[:])
	payload := []byte("agentops doctor probe")
	if _, err := storage.Put(ctx, key, bytes.NewReader(payload), blob.PutOptions{ContentType: "text/plain", Size: int64(len(payload))}); err != nil {
		d.r.add("object storage", Fail, fix, "cannot write a probe object to %s: %v", where, err)
		return
	}
	defer func() { _ = storage.Delete(context.WithoutCancel(ctx), key) }()
	obj, err := storage.Get(ctx, key, nil)
	if err != nil {
		d.r.add("object storage", Fail, fix, "wrote a probe object to %s but cannot read it: %v", where, err)
		return
	}
	got, err := io.ReadAll(obj.Body)
	obj.Body.Close()
	if err != nil || !bytes.Equal(got, payload) {
		d.r.add("object storage", Fail, fix, "the probe object read back from %s differs (%v)", where, err)
		return
	}
	if err := storage.Delete(ctx, key); err != nil {
		d.r.add("object storage", Fail, fix, "cannot delete the probe object %s from %s: %v", key, where, err)
		return
	}
	d.r.add("object storage", OK, "", "%s (%s): wrote, read and deleted a probe", d.cfg.Blob, where)
}

func (d *doctor) pubsub(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, d.opts.Timeout)
	defer cancel()
	quiet := slog.New(slog.DiscardHandler)
	var ps realtime.PubSub
	var err error
	var fix string
	switch d.cfg.PubSub {
	case "memory":
		d.r.add("pub/sub", OK, "", "memory (in-process): one server; use postgres or redis for replicas")
		return
	case "postgres":
		fix = "check --database-url: LISTEN/NOTIFY runs on the same Postgres (a pooler in transaction mode, like PgBouncer's, cannot carry it)"
		ps, err = realtime.NewPostgres(ctx, d.cfg.DatabaseURL, realtime.PostgresOptions{Logger: quiet})
	case "redis":
		fix = "start Redis, or correct --redis-url / AGENTOPS_REDIS_URL (redis://[user:password@]host:port[/db]; rediss:// for TLS)"
		ps, err = realtime.NewRedis(ctx, d.cfg.RedisURL, realtime.RedisOptions{Logger: quiet})
	default:
		return // a config error, reported
	}
	if err != nil {
		d.r.add("pub/sub", Fail, fix, "%s: %v", d.cfg.PubSub, err)
		return
	}
	defer ps.Close()
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	topic := "doctor:" + hex.EncodeToString(rnd[:])
	sub, err := ps.Subscribe(ctx, topic)
	if err != nil {
		d.r.add("pub/sub", Fail, fix, "%s: subscribe: %v", d.cfg.PubSub, err)
		return
	}
	defer sub.Close()
	start := time.Now()
	if err := ps.Publish(ctx, topic, []byte("ping")); err != nil {
		d.r.add("pub/sub", Fail, fix, "%s: publish: %v", d.cfg.PubSub, err)
		return
	}
	for {
		select {
		case m, ok := <-sub.C():
			if !ok {
				d.r.add("pub/sub", Fail, fix, "%s: the subscription ended: %v", d.cfg.PubSub, sub.Err())
				return
			}
			if string(m.Payload) == "ping" {
				d.r.add("pub/sub", OK, "", "%s: a message went round in %s", d.cfg.PubSub, time.Since(start).Round(time.Millisecond))
				return
			}
		case <-ctx.Done():
			d.r.add("pub/sub", Fail, fix, "%s: a published message did not come back within %s", d.cfg.PubSub, d.opts.Timeout)
			return
		}
	}
}

func (d *doctor) agents() {
	known := builtin.Registry().Names()
	if d.cfg.DefaultAgent != "" && !slices.Contains(known, d.cfg.DefaultAgent) {
		fix := fmt.Sprintf("set --default-agent / AGENTOPS_DEFAULT_AGENT to one of: %s", strings.Join(known, ", "))
		for _, c := range agentCLIs {
			if c.agent == d.cfg.DefaultAgent {
				fix = fmt.Sprintf("this agentops has no %s adapter yet: %s", c.agent, fix)
			}
		}
		d.r.add("agents", Fail, fix, "--default-agent %q is not an agent this server knows (serve refuses to start)", d.cfg.DefaultAgent)
	}
	installed := 0
	for _, c := range agentCLIs {
		path, err := d.opts.LookPath(c.program)
		if err != nil {
			if c.agent == d.cfg.DefaultAgent && slices.Contains(known, c.agent) {
				d.r.add("agents", Fail, fmt.Sprintf("npm install -g %s (or put `%s` on the PATH of the user agentops runs as)", c.npm, c.program),
					"%s is the default agent but `%s` is not installed", c.agent, c.program)
			}
			continue
		}
		installed++
		d.r.add("agents", OK, "", "%s: %s %s", c.agent, path, programVersion(path))
	}
	if slices.Contains(known, "script") {
		d.r.add("agents", OK, "", "script: built in")
	}
	if installed == 0 {
		d.r.add("agents", Warn, "install one: npm install -g @anthropic-ai/claude-code (or @openai/codex, opencode-ai)",
			"no coding-agent CLI (claude, codex, opencode) is installed: sessions can use only the script agent")
	}
}

func (d *doctor) dependencies() {
	for _, dep := range []struct {
		program, pkg, why string
		sev               Severity
	}{
		{"git", "git", "session workspaces are git repositories", Fail},
		{"node", "nodejs", "the agent CLIs run on Node.js", Warn},
		{"npm", "npm", "the agent CLIs install with npm", Warn},
	} {
		sev := dep.sev
		if dep.program == "git" && d.cfg.Sandbox == "external" {
			sev = Warn // runners run elsewhere; they need git there
		}
		path, err := d.opts.LookPath(dep.program)
		if err != nil {
			d.r.add("dependencies", sev, "apt-get install "+dep.pkg, "%s is not installed (%s)", dep.program, dep.why)
			continue
		}
		d.r.add("dependencies", OK, "", "%s: %s %s", dep.program, path, programVersion(path))
	}
}

// server says whether a server answers at --listen, and its version.
func (d *doctor) server(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+d.cfg.Listen+"/health", nil)
	if err != nil {
		return
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		d.r.add("server", OK, "", "no server answers at %s", d.cfg.Listen)
		return
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	d.r.add("server", OK, "", "a server answers at %s: %d %s", d.cfg.Listen, res.StatusCode, strings.TrimSpace(string(body)))
}

// programVersion runs `program --version` (5 s at most) and returns its
// first line, or "(version unknown)".
func programVersion(path string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "--version")
	cmd.Stdin = nil
	out, err := cmd.Output()
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if err != nil || line == "" {
		return "(version unknown)"
	}
	return line
}
