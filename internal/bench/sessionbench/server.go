package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/agentops/agentops/internal/bench/benchkit"
	"github.com/agentops/agentops/internal/testutil/pgtest"

	"github.com/agentops/agentops/app"
)

// server is the agentops server running in this process, and a REST client
// for it.
type server struct {
	*benchkit.Client
}

// withServer starts agentops in this process on a free loopback port with
// a fresh database, runs fn, and stops the server.
func withServer(ctx context.Context, o options, fn func(ctx context.Context, s *server) error) (err error) {
	dir, err := os.MkdirTemp("", "sessionbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	dbURL := filepath.Join(dir, "agentops.db")
	switch o.db {
	case "sqlite":
	case "postgres":
		admin := o.databaseURL
		if admin == "" {
			admin = os.Getenv("AGENTOPS_TEST_POSTGRES_URL")
		}
		if admin == "" {
			return errors.New("-db postgres needs -postgres-url or AGENTOPS_TEST_POSTGRES_URL (run under go run ./internal/testutil/testenv --)")
		}
		u, drop, err := pgtest.CreateDatabase(ctx, admin, "sessionbench")
		if err != nil {
			return err
		}
		defer drop()
		dbURL = u
	default:
		return fmt.Errorf("-db must be sqlite or postgres, not %q", o.db)
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	cfg := app.Config{
		Listen: addr, DataDir: filepath.Join(dir, "data"), DatabaseURL: dbURL, Sandbox: "external",
		StopRunnersOnShutdown: true, Version: "sessionbench", LogLevel: o.logLevel,
	}
	if err := cfg.Resolve(); err != nil {
		return err
	}
	a, err := app.Open(ctx, cfg, logger(o.logLevel))
	if err != nil {
		return err
	}
	defer a.Close()
	sctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(sctx) }()
	defer func() {
		stop()
		select {
		case serr := <-done:
			if serr != nil && err == nil {
				err = fmt.Errorf("serve: %w", serr)
			}
		case <-time.After(30 * time.Second):
			if err == nil {
				err = errors.New("the server did not stop within 30 s")
			}
		}
	}()
	s := &server{benchkit.NewClient("http://"+addr, 64)}
	deadline := time.Now().Add(15 * time.Second)
	for {
		res, err := s.HTTP.Get(s.URL + "/ready")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server not ready: %v", err)
		}
		select {
		case serr := <-done:
			return fmt.Errorf("serve: %w", serr)
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fn(ctx, s)
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	l.Close()
	return addr, nil
}
