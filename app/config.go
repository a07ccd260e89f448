// Package app is the composition root: configuration, wiring of the store,
// the domain services and the HTTP server, and the server's lifecycle.
package app

import (
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/agentops/agentops/app/api"
	"github.com/agentops/agentops/app/events"
	"github.com/agentops/agentops/app/sdnotify"
	"github.com/agentops/agentops/app/session"
	"github.com/agentops/agentops/realtime"
	"github.com/agentops/agentops/store"
)

// Config is every setting of the server. Each has a flag and an
// AGENTOPS_* environment variable (see the README's table).
type Config struct {
	Listen         string
	DataDir        string
	DatabaseURL    string
	PublicURL      string
	AllowedOrigins []string
	// TrustedProxies are the reverse proxies (addresses, CIDR ranges)
	// whose X-Forwarded-For names the client; none by default.
	TrustedProxies  []string
	OpenSignup      bool
	InstanceKeyFile string
	InstanceKey     string // the keyring itself, from AGENTOPS_INSTANCE_KEY
	LogLevel        string
	LogFormat       string
	Sandbox         string // local or external
	// DefaultAgent is used when a create names none; empty: the first of
	// claude-code, codex, opencode installed and usable for the caller,
	// else script.
	DefaultAgent string
	// AgentsDir is where `agentops agents install` puts CLIs and where
	// the server looks for them (besides PATH); default <data-dir>/agents.
	AgentsDir string
	// AgentsAllowRoot tells agent CLIs run as root that they are
	// sandboxed (Claude Code refuses its bypass mode as root otherwise).
	AgentsAllowRoot bool
	// RunnerUser, when set (the server must run as root), is the
	// unprivileged user local runners, and so their agents, run as: they
	// own their workspaces and cannot read the data dir, the instance key
	// or the database. Anything else that runs code for a session on this
	// machine (a terminal) runs as this user too. Empty: the server's own
	// user.
	RunnerUser string
	// WorkspacesDir holds local sessions' workspaces. Default
	// <data-dir>/workspaces; with RunnerUser, <data-dir>-workspaces beside
	// the data dir (which stays 0700), owned by that user. See
	// AgentStateDir.
	WorkspacesDir string
	// AgentNoProgress and AgentTurnTimeout are the per-turn deadlines
	// (zero: 2 minutes and 1 hour).
	AgentNoProgress, AgentTurnTimeout time.Duration
	// RepoRoots are the folders under which sessions may use repositories
	// on this machine (repoPath, file:// repoUrl); none: off.
	RepoRoots []string
	// GitHubAPIURL is GitHub's API base (default https://api.github.com/;
	// GitHub Enterprise: https://ghe.example.com/api/v3/).
	GitHubAPIURL string
	// PRRefreshInterval is how often open pull requests' state is read
	// again from GitHub (zero: 5 minutes).
	PRRefreshInterval time.Duration
	Version           string
	// RunnerCommand overrides the program local sandboxes start (default:
	// this executable's "runner" command). Tests point it at themselves.
	RunnerCommand []string
	// StopRunnersOnShutdown stops local runners when the server stops.
	// By default they keep running and reconnect to the next server, so a
	// restart does not interrupt sessions; tests turn this on.
	StopRunnersOnShutdown bool
	// SessionTimings overrides the session deadlines (tests shorten them).
	SessionTimings session.Timings
	// ArchiveAfter is how long terminated and errored sessions stay before
	// they are archived and their workspaces removed; 0 keeps them.
	ArchiveAfter time.Duration
	// Clock drives the scheduler (nil: the real clock); tests use a fake.
	Clock clockwork.Clock
	// Systemd, when set, is told when the server is ready and stopping and
	// gets watchdog pings (serve reads NOTIFY_SOCKET; nil sends nothing).
	Systemd *sdnotify.Notifier

	// Blob is the object storage driver: fs (files under DataDir/blobs)
	// or s3 (settings in S3).
	Blob string
	S3   S3Config
	// MaxUploadBytes bounds one artifact upload.
	MaxUploadBytes int64
	// MemoryMaxFiles caps each user's unpinned memory files.
	MemoryMaxFiles int

	// Workflows: the concurrency limits on active executions (per user
	// and in all) and the webhook body limit; zero takes the defaults.
	Workflows WorkflowConfig
	// PubSub carries events between replicas: memory (one server),
	// postgres (LISTEN/NOTIFY on the database) or redis (RedisURL).
	PubSub   string
	RedisURL string
	// Events tunes the user event bus (tests shorten its timings).
	Events events.Config
	// MetricsToken turns /metrics on: scrapers send it as a bearer token.
	// Empty: /metrics is a 404.
	MetricsToken string

	// Several replicas (docs/deploy.md): AdvertiseURL, where the other
	// replicas reach this one, turns session leases on (Postgres only);
	// RunnerURL is what runners dial (default: loopback for local
	// runners, the public URL for external ones); SessionLease is how
	// long a replica's sessions stay its own without a heartbeat.
	AdvertiseURL string
	RunnerURL    string
	SessionLease time.Duration
}

// WorkflowConfig holds the workflow settings.
type WorkflowConfig struct {
	MaxPerUser          int
	MaxGlobal           int
	WebhookMaxBodyBytes int64
}

// resolveWorkflows checks the workflow settings.
func (c *Config) resolveWorkflows() error {
	w := &c.Workflows
	for _, f := range []struct {
		flag string
		v    int64
	}{{"workflow-max-per-user", int64(w.MaxPerUser)}, {"workflow-max-global", int64(w.MaxGlobal)}, {"webhook-max-body-bytes", w.WebhookMaxBodyBytes}} {
		if f.v < 0 {
			return fmt.Errorf("--%s must be positive, not %d", f.flag, f.v)
		}
	}
	if w.MaxPerUser > 0 && w.MaxGlobal > 0 && w.MaxPerUser > w.MaxGlobal {
		return fmt.Errorf("--workflow-max-per-user (%d) cannot exceed --workflow-max-global (%d)", w.MaxPerUser, w.MaxGlobal)
	}
	// A webhook's payload travels to the runner in one frame (1 MiB).
	if w.WebhookMaxBodyBytes > 512<<10 {
		return fmt.Errorf("--webhook-max-body-bytes must be at most %d (a delivery's payload goes to the runner in one frame), not %d", 512<<10, w.WebhookMaxBodyBytes)
	}
	return nil
}

// S3Config is where the s3 blob driver stores objects.
type S3Config struct {
	Endpoint  string
	Region    string
	Bucket    string
	AccessKey string
	SecretKey string
	PathStyle bool
}

// DefaultMaxUploadBytes is --max-upload-bytes' default (100 MiB).
const DefaultMaxUploadBytes = 100 << 20

// resolveBlob checks the object storage settings.
func (c *Config) resolveBlob() error {
	if c.MaxUploadBytes == 0 {
		c.MaxUploadBytes = DefaultMaxUploadBytes
	}
	if c.MaxUploadBytes < 0 {
		return fmt.Errorf("--max-upload-bytes must be positive, not %d", c.MaxUploadBytes)
	}
	switch c.Blob {
	case "":
		c.Blob = "fs"
	case "fs":
	case "s3":
		var missing []string
		for _, f := range []struct{ flag, v string }{
			{"s3-endpoint", c.S3.Endpoint}, {"s3-bucket", c.S3.Bucket}, {"s3-access-key", c.S3.AccessKey}, {"s3-secret-key", c.S3.SecretKey},
		} {
			if f.v == "" {
				missing = append(missing, "--"+f.flag+" ("+"AGENTOPS_"+strings.ToUpper(strings.ReplaceAll(f.flag, "-", "_"))+")")
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("--blob s3 needs %s", strings.Join(missing, ", "))
		}
	default:
		return fmt.Errorf("--blob must be fs or s3, not %q", c.Blob)
	}
	return nil
}

// DefaultArchiveAfter is --archive-after's default.
const DefaultArchiveAfter = 7 * 24 * time.Hour

// DefaultMemoryMaxFiles is upstream's cap on a user's unpinned memory files.
const DefaultMemoryMaxFiles = 200

// DefaultListen is where serve listens unless told otherwise.
const DefaultListen = "127.0.0.1:8787"

// DefaultDataDir is $XDG_DATA_HOME/agentops, else ~/.local/share/agentops.
func DefaultDataDir() string {
	if x := os.Getenv("XDG_DATA_HOME"); x != "" {
		return filepath.Join(x, "agentops")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(".", "agentops-data")
	}
	return filepath.Join(home, ".local", "share", "agentops")
}

// Resolve fills the settings that default from others.
func (c *Config) Resolve() error {
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir()
	}
	if c.DatabaseURL == "" {
		c.DatabaseURL = filepath.Join(c.DataDir, "agentops.db")
	}
	if c.InstanceKeyFile == "" {
		c.InstanceKeyFile = filepath.Join(c.DataDir, "instance.key")
	}
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.PublicURL == "" {
		host, port, err := net.SplitHostPort(c.Listen)
		if err != nil {
			return fmt.Errorf("--listen %q: %w", c.Listen, err)
		}
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "localhost"
		}
		c.PublicURL = "http://" + net.JoinHostPort(host, port)
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	if len(c.AllowedOrigins) == 0 {
		c.AllowedOrigins = []string{c.PublicURL}
	}
	switch c.Sandbox {
	case "":
		c.Sandbox = "local"
	case "local", "external":
	default:
		return fmt.Errorf("--sandbox must be local or external, not %q", c.Sandbox)
	}
	if c.AgentsDir == "" {
		c.AgentsDir = filepath.Join(c.DataDir, "agents")
	}
	if err := c.resolveWorkspaces(); err != nil {
		return err
	}
	if _, err := api.ParseProxies(c.TrustedProxies); err != nil {
		return fmt.Errorf("--trusted-proxies: %w", err)
	}
	for i, r := range c.RepoRoots {
		r = strings.TrimSpace(r)
		if !filepath.IsAbs(r) {
			return fmt.Errorf("--repo-roots: %q is not an absolute path", r)
		}
		if fi, err := os.Stat(r); err != nil || !fi.IsDir() {
			return fmt.Errorf("--repo-roots: %s is not a folder on this machine", r)
		}
		c.RepoRoots[i] = filepath.Clean(r)
	}
	if c.PRRefreshInterval == 0 {
		c.PRRefreshInterval = 5 * time.Minute
	}
	if c.PRRefreshInterval < time.Second {
		return fmt.Errorf("--pr-refresh-interval: %s is too short (at least 1s)", c.PRRefreshInterval)
	}
	if c.GitHubAPIURL != "" {
		if u, err := url.Parse(c.GitHubAPIURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("--github-api-url: %q is not an http(s) URL", c.GitHubAPIURL)
		}
	}
	if err := c.resolveBlob(); err != nil {
		return err
	}
	switch {
	case c.MemoryMaxFiles == 0:
		c.MemoryMaxFiles = DefaultMemoryMaxFiles
	case c.MemoryMaxFiles < 1 || c.MemoryMaxFiles > 10_000_000:
		return fmt.Errorf("--memory-max-files must be from 1 to 10000000, not %d", c.MemoryMaxFiles)
	}
	if err := c.resolveWorkflows(); err != nil {
		return err
	}
	if err := c.resolvePubSub(); err != nil {
		return err
	}
	if err := c.resolveReplicas(); err != nil {
		return err
	}
	switch c.LogFormat {
	case "", "text", "json":
	default:
		return fmt.Errorf("--log-format must be text or json, not %q", c.LogFormat)
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		return err
	}
	return nil
}

// resolvePubSub picks the pub/sub driver's default for the database and
// refuses combinations that cannot work.
func (c *Config) resolvePubSub() error {
	onPostgres := store.IsPostgres(c.DatabaseURL)
	switch c.PubSub {
	case "":
		c.PubSub = "memory"
		if onPostgres {
			c.PubSub = "postgres"
		}
	case "memory", "postgres", "redis":
	default:
		return fmt.Errorf("--pubsub must be memory, postgres or redis, not %q", c.PubSub)
	}
	switch {
	case c.PubSub == "postgres" && !onPostgres:
		return fmt.Errorf("--pubsub postgres needs a Postgres database (--database-url postgres://…); with SQLite use memory (one server) or redis")
	case c.PubSub == "redis" && c.RedisURL == "":
		return fmt.Errorf("--pubsub redis needs --redis-url (AGENTOPS_REDIS_URL), e.g. redis://localhost:6379/0")
	case c.PubSub != "redis" && c.RedisURL != "":
		return fmt.Errorf("--redis-url is set but --pubsub is %s: add --pubsub redis (AGENTOPS_PUBSUB=redis) to use Redis", c.PubSub)
	case c.RedisURL != "":
		if err := realtime.ValidateRedisURL(c.RedisURL); err != nil {
			return fmt.Errorf("--redis-url: %w", err)
		}
	}
	return nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if s == "" {
		return slog.LevelInfo, nil
	}
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("--log-level must be debug, info, warn or error, not %q", s)
	}
	return l, nil
}

// NewLogger builds the process logger from the config.
func (c *Config) NewLogger() *slog.Logger {
	level, _ := parseLevel(c.LogLevel)
	opts := &slog.HandlerOptions{Level: level}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// resolveWorkspaces fills WorkspacesDir and checks that a runner user's
// workspaces are outside the data dir.
func (c *Config) resolveWorkspaces() error {
	switch {
	case c.WorkspacesDir != "":
	case c.RunnerUser != "":
		d := filepath.Clean(c.DataDir)
		c.WorkspacesDir = d + "-workspaces"
	default:
		c.WorkspacesDir = filepath.Join(c.DataDir, "workspaces")
		return nil
	}
	abs, err := filepath.Abs(c.WorkspacesDir)
	if err != nil {
		return fmt.Errorf("--workspaces-dir: %w", err)
	}
	c.WorkspacesDir = abs
	if c.RunnerUser == "" {
		return nil
	}
	data, err := filepath.Abs(c.DataDir)
	if err != nil {
		return fmt.Errorf("--data-dir: %w", err)
	}
	if rel, err := filepath.Rel(data, abs); err == nil && (rel == "." || !strings.HasPrefix(rel, "..")) {
		return fmt.Errorf("--workspaces-dir %s is inside the data dir %s: with --runner-user the workspaces must be outside it (the data dir stays out of the runner user's reach)", abs, data)
	}
	return nil
}

// AgentStateDir is where local sessions' agents keep their HOME, XDG and
// CLI state: <data-dir>/agent-state with the default workspaces, else
// .agent-state in WorkspacesDir (where a runner user can reach it).
func (c *Config) AgentStateDir() string {
	if c.RunnerUser == "" && c.WorkspacesDir == filepath.Join(c.DataDir, "workspaces") {
		return filepath.Join(c.DataDir, "agent-state")
	}
	return filepath.Join(c.WorkspacesDir, ".agent-state")
}
