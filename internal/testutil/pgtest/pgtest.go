// Package pgtest starts a throwaway PostgreSQL server from the installed
// binaries, for tests: a fresh cluster in a temporary directory, trust
// authentication, listening on a free loopback port, with durability off
// (fsync) because nothing in it outlives the test run.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Server is a running throwaway PostgreSQL.
type Server struct {
	dir    string
	bindir string
	port   int
	asUser string // run commands through runuser as this user ("" = as ourselves)
}

// ErrNotInstalled means no PostgreSQL server binaries were found.
var ErrNotInstalled = errors.New("postgresql server binaries not found: install Debian's postgresql package (`apt-get install postgresql`) or set AGENTOPS_PG_BINDIR")

// BinDir finds the directory holding initdb and pg_ctl: AGENTOPS_PG_BINDIR,
// else the newest /usr/lib/postgresql/*/bin, else initdb on PATH.
func BinDir() (string, error) {
	if d := os.Getenv("AGENTOPS_PG_BINDIR"); d != "" {
		return d, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", ErrNotInstalled
}

func versionOf(bindir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(bindir)))
	return v
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start creates a cluster under a new temporary directory and starts it.
func Start(ctx context.Context) (*Server, error) {
	bindir, err := BinDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "agentops-pg-")
	if err != nil {
		return nil, fmt.Errorf("create postgres dir: %w", err)
	}
	s := &Server{dir: dir, bindir: bindir}
	// initdb refuses to run as root: run the server as the postgres user.
	if os.Geteuid() == 0 {
		if _, err := user.Lookup("postgres"); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("running as root needs the postgres system user (created by Debian's postgresql package): %w", err)
		}
		s.asUser = "postgres"
		if out, err := exec.CommandContext(ctx, "chown", "-R", "postgres:postgres", dir).CombinedOutput(); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("chown %s: %v: %s", dir, err, out)
		}
	}
	data := filepath.Join(dir, "data")
	if out, err := s.run(ctx, "initdb", "-D", data, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"); err != nil {
		s.cleanup()
		return nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	for attempt := 0; ; attempt++ {
		s.port, err = freePort()
		if err != nil {
			s.cleanup()
			return nil, err
		}
		// TCP only: a Unix socket's path is limited to 107 bytes, which
		// a nested temporary directory (a test's under testenv's) exceeds.
		opts := fmt.Sprintf("-p %d -c unix_socket_directories='' -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 -c shared_buffers=64MB", s.port)
		out, err := s.run(ctx, "pg_ctl", "-D", data, "-l", filepath.Join(dir, "log"), "-w", "-t", "60", "-o", opts, "start")
		if err == nil {
			break
		}
		if attempt >= 3 {
			logTail, _ := os.ReadFile(filepath.Join(dir, "log"))
			s.cleanup()
			return nil, fmt.Errorf("pg_ctl start: %v: %s\n%s", err, out, logTail)
		}
	}
	return s, nil
}

func (s *Server) run(ctx context.Context, tool string, args ...string) ([]byte, error) {
	bin := filepath.Join(s.bindir, tool)
	var cmd *exec.Cmd
	if s.asUser != "" {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", s.asUser, "--", bin}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, bin, args...)
	}
	cmd.Dir = s.dir
	return cmd.CombinedOutput()
}

// URL is the admin connection URL (database "postgres").
func (s *Server) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.port)
}

// Stop shuts the server down and removes its files.
func (s *Server) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := s.run(ctx, "pg_ctl", "-D", filepath.Join(s.dir, "data"), "-m", "immediate", "-w", "stop")
	s.cleanup()
	if err != nil {
		return fmt.Errorf("pg_ctl stop: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (s *Server) cleanup() { os.RemoveAll(s.dir) }

// CreateDatabase makes an empty database named prefix_<random> on the
// server at adminURL and returns its URL, and drop, which removes it
// (closing what is still connected to it).
func CreateDatabase(ctx context.Context, adminURL, prefix string) (dbURL string, drop func(), err error) {
	u, err := url.Parse(adminURL)
	if err != nil {
		return "", nil, fmt.Errorf("parse postgres url: %w", err)
	}
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return "", nil, fmt.Errorf("connect to postgres: %w", err)
	}
	defer conn.Close(ctx)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := prefix + "_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, fmt.Errorf("create database: %w", err)
	}
	u.Path = "/" + name
	drop = func() {
		dctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if c, err := pgx.Connect(dctx, adminURL); err == nil {
			_, _ = c.Exec(dctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(dctx)
		}
	}
	return u.String(), drop, nil
}
