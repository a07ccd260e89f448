// Package app is the composition root: configuration, wiring of the store,
// the domain services and the HTTP server, and the server's lifecycle.
package app

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/agentops/agentops/app/session"
)

// Config is every setting of the server. Each has a flag and an
// AGENTOPS_* environment variable (see the README's table).
type Config struct {
	Listen          string
	DataDir         string
	DatabaseURL     string
	PublicURL       string
	AllowedOrigins  []string
	OpenSignup      bool
	InstanceKeyFile string
	InstanceKey     string // the keyring itself, from AGENTOPS_INSTANCE_KEY
	LogLevel        string
	LogFormat       string
	Sandbox         string // local or external
	DefaultAgent    string
	Version         string
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

	// Blob is the object storage driver: fs (files under DataDir/blobs)
	// or s3 (settings in S3).
	Blob string
	S3   S3Config
	// MaxUploadBytes bounds one artifact upload.
	MaxUploadBytes int64
	// MemoryMaxFiles caps each user's unpinned memory files.
	MemoryMaxFiles int
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
	if c.DefaultAgent == "" {
		c.DefaultAgent = "script"
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
