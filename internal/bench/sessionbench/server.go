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
// for it. With -replicas N, peers are all N replicas (this one first).
type server struct {
	*benchkit.Client
	peers []*server
}

// withServer starts agentops in this process on a free loopback port with
// a fresh database (o.replicas of them on one Postgres, sharing sessions),
// runs fn with the first, and stops them.
func withServer(ctx context.Context, o options, fn func(ctx context.Context, s *server) error) (err error) {
	dir, err := os.MkdirTemp("", "sessionbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	dbURL := filepath.Join(dir, "agentops.db")
	switch o.db {
	case "sqlite":
		if o.replicas > 1 {
			return errors.New("-replicas needs -db postgres")
		}
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
	var peers []*server
	for i := range max(1, o.replicas) {
		s, stop, err := startServer(ctx, o, dir, dbURL, i)
		if err != nil {
			return err
		}
		defer func() {
			if serr := stop(); serr != nil && err == nil {
				err = serr
			}
		}()
		peers = append(peers, s)
	}
	for _, s := range peers {
		s.peers = peers
	}
	return fn(ctx, peers[0])
}

// startServer starts replica i of o.replicas; stop stops it. The replicas
// share the database and the instance key; with more than one, each
// advertises its own address so that the others can relay its sessions.
func startServer(ctx context.Context, o options, dir, dbURL string, i int) (*server, func() error, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, nil, err
	}
	cfg := app.Config{
		Listen: addr, DataDir: filepath.Join(dir, fmt.Sprint("data", i)), DatabaseURL: dbURL, Sandbox: "external",
		StopRunnersOnShutdown: true, Version: "sessionbench", LogLevel: o.logLevel,
		InstanceKeyFile: filepath.Join(dir, "instance.key"),
	}
	if o.replicas > 1 {
		cfg.AdvertiseURL = "http://" + addr
	}
	if err := cfg.Resolve(); err != nil {
		return nil, nil, err
	}
	a, err := app.Open(ctx, cfg, logger(o.logLevel))
	if err != nil {
		return nil, nil, err
	}
	sctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(sctx) }()
	stop := func() error {
		defer a.Close()
		cancel()
		select {
		case serr := <-done:
			if serr != nil {
				return fmt.Errorf("serve: %w", serr)
			}
			return nil
		case <-time.After(30 * time.Second):
			return errors.New("the server did not stop within 30 s")
		}
	}
	s := &server{Client: benchkit.NewClient("http://"+addr, 64)}
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
			_ = stop()
			return nil, nil, fmt.Errorf("server not ready: %v", err)
		}
		select {
		case serr := <-done:
			a.Close()
			return nil, nil, fmt.Errorf("serve: %w", serr)
		case <-time.After(20 * time.Millisecond):
		}
	}
	return s, stop, nil
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
