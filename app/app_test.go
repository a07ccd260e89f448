package app_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentops/agentops/app"
	"github.com/agentops/agentops/internal/testutil/eventually"
	"github.com/agentops/agentops/keyring"
	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

var quiet = slog.New(slog.DiscardHandler)

func eachDialect(t *testing.T, fn func(t *testing.T, d store.Dialect)) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) { fn(t, d) })
	}
}

// newConfig is a resolved config for a fresh data dir (not yet created)
// and a fresh database of dialect d.
func newConfig(t *testing.T, d store.Dialect) app.Config {
	t.Helper()
	cfg := app.Config{
		DataDir:     filepath.Join(t.TempDir(), "sub"),
		DatabaseURL: storetest.URL(t, d),
		Listen:      "127.0.0.1:0",
		Version:     "test",
	}
	if err := cfg.Resolve(); err != nil {
		t.Fatalf("resolve config: %v", err)
	}
	return cfg
}

// mustOpen opens the app and closes it when the test ends.
func mustOpen(t *testing.T, cfg app.Config) *app.App {
	t.Helper()
	a, err := app.Open(context.Background(), cfg, quiet)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// openAndClose opens the app once (the first run) and closes it.
func openAndClose(t *testing.T, cfg app.Config) string {
	t.Helper()
	a, err := app.Open(context.Background(), cfg, quiet)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	id := a.Keyring.PrimaryID()
	if err := a.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	return id
}

func bareKey(t *testing.T) string {
	t.Helper()
	k := make([]byte, keyring.KeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(k)
}

func keyringCheck(t *testing.T, st *store.Store) string {
	t.Helper()
	v, err := st.Meta().Get(context.Background(), "keyring.check")
	if err != nil {
		t.Fatalf("instance_meta keyring.check: %v", err)
	}
	return v
}

func TestOpenFirstRunAndReopen(t *testing.T) {
	eachDialect(t, func(t *testing.T, d store.Dialect) {
		cfg := newConfig(t, d)
		if _, err := os.Stat(cfg.DataDir); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("data dir exists before the first run (stat err %v)", err)
		}
		a := mustOpen(t, cfg)

		fi, err := os.Stat(cfg.DataDir)
		if err != nil || !fi.IsDir() {
			t.Fatalf("data dir not created: %v", err)
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("data dir mode %v: others and group must have no access", perm)
		}
		keyFile := filepath.Join(cfg.DataDir, "instance.key")
		fi, err = os.Stat(keyFile)
		if err != nil {
			t.Fatalf("instance.key not created: %v", err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("instance.key mode %v, want 0600", perm)
		}
		onDisk, err := keyring.Load(keyFile)
		if err != nil {
			t.Fatalf("load instance.key: %v", err)
		}
		id := a.Keyring.PrimaryID()
		if onDisk.PrimaryID() != id {
			t.Errorf("instance.key holds key %s, the app uses %s", onDisk.PrimaryID(), id)
		}
		check, err := a.Keyring.Check(id)
		if err != nil {
			t.Fatal(err)
		}
		recorded := keyringCheck(t, a.Store)
		if recorded != id+":"+check {
			t.Errorf("keyring.check = %q, want %q", recorded, id+":"+check)
		}
		if err := a.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}

		// The second run uses the same key and leaves the record alone.
		b := mustOpen(t, cfg)
		if b.Keyring.PrimaryID() != id {
			t.Errorf("reopen uses key %s, first run used %s", b.Keyring.PrimaryID(), id)
		}
		if got := keyringCheck(t, b.Store); got != recorded {
			t.Errorf("keyring.check changed on reopen: %q, was %q", got, recorded)
		}
	})
}

func TestOpenAppliesMigrations(t *testing.T) {
	eachDialect(t, func(t *testing.T, d store.Dialect) {
		a := mustOpen(t, newConfig(t, d))
		states, err := a.Store.MigrationStatus(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		all, err := store.LoadMigrations(d)
		if err != nil {
			t.Fatal(err)
		}
		if len(states) != len(all) || len(all) == 0 {
			t.Fatalf("status lists %d migrations, want %d", len(states), len(all))
		}
		if n := store.Pending(states); n != 0 {
			t.Errorf("%d migrations pending after Open, want 0", n)
		}
	})
}

func TestOpenRefusesAnotherKeyring(t *testing.T) {
	eachDialect(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		cfg := newConfig(t, d)
		openAndClose(t, cfg)
		keyFile := filepath.Join(cfg.DataDir, "instance.key")
		original, err := os.ReadFile(keyFile)
		if err != nil {
			t.Fatal(err)
		}
		recorded := func() string {
			st, err := store.Open(ctx, cfg.DatabaseURL, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			return keyringCheck(t, st)
		}
		before := recorded()

		t.Run("other key in the environment", func(t *testing.T) {
			other := cfg
			other.InstanceKey = bareKey(t)
			a, err := app.Open(ctx, other, quiet)
			if err == nil {
				a.Close()
				t.Fatal("Open accepted an AGENTOPS_INSTANCE_KEY that did not set up this database")
			}
			if !errors.Is(err, keyring.ErrMismatch) {
				t.Errorf("error %v, want keyring.ErrMismatch", err)
			}
		})

		t.Run("other key file", func(t *testing.T) {
			kr, err := keyring.Generate()
			if err != nil {
				t.Fatal(err)
			}
			other := cfg
			other.InstanceKeyFile = filepath.Join(t.TempDir(), "other.key")
			if err := kr.Save(other.InstanceKeyFile); err != nil {
				t.Fatal(err)
			}
			a, err := app.Open(ctx, other, quiet)
			if err == nil {
				a.Close()
				t.Fatal("Open accepted a key file that did not set up this database")
			}
			if !errors.Is(err, keyring.ErrMismatch) {
				t.Errorf("error %v, want keyring.ErrMismatch", err)
			}
		})

		t.Run("key file deleted", func(t *testing.T) {
			if err := os.Remove(keyFile); err != nil {
				t.Fatal(err)
			}
			a, err := app.Open(ctx, cfg, quiet)
			if err == nil {
				a.Close()
				t.Fatal("Open succeeded without the instance key that set up this database")
			}
			if !strings.Contains(err.Error(), "AGENTOPS_INSTANCE_KEY") {
				t.Errorf("error %q does not say how to give the key", err)
			}
			if _, err := os.Stat(keyFile); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("Open wrote a new instance.key (stat err %v): it must never invent a key for a sealed database", err)
			}
			if err := os.WriteFile(keyFile, original, 0o600); err != nil {
				t.Fatal(err)
			}
		})

		if after := recorded(); after != before {
			t.Errorf("refused opens changed keyring.check from %q to %q", before, after)
		}
		// The rightful key still opens it.
		openAndClose(t, cfg)
	})
}

func TestOpenRotatedKeyring(t *testing.T) {
	eachDialect(t, func(t *testing.T, d store.Dialect) {
		cfg := newConfig(t, d)
		first := openAndClose(t, cfg)
		kr, err := keyring.Load(cfg.InstanceKeyFile)
		if err != nil {
			t.Fatal(err)
		}
		rotated, err := kr.WithNewPrimary()
		if err != nil {
			t.Fatal(err)
		}
		if err := rotated.Save(cfg.InstanceKeyFile); err != nil {
			t.Fatal(err)
		}
		// A keyring that still holds the recorded key opens the database.
		a := mustOpen(t, cfg)
		if got := a.Keyring.PrimaryID(); got != rotated.PrimaryID() || got == first {
			t.Errorf("primary = %s, want the rotated key %s", got, rotated.PrimaryID())
		}
		a.Close()

		// Dropping the recorded key makes the keyring unable to open it.
		dropped, err := rotated.Without(first)
		if err != nil {
			t.Fatal(err)
		}
		if err := dropped.Save(cfg.InstanceKeyFile); err != nil {
			t.Fatal(err)
		}
		b, err := app.Open(context.Background(), cfg, quiet)
		if err == nil {
			b.Close()
			t.Fatal("Open accepted a keyring without the key the database records")
		}
		if !errors.Is(err, keyring.ErrMismatch) {
			t.Errorf("error %v, want keyring.ErrMismatch", err)
		}
	})
}

func TestOpenSharedInstanceKey(t *testing.T) {
	eachDialect(t, func(t *testing.T, d store.Dialect) {
		key := bareKey(t)
		// Two replicas: one database, their own data dirs, the key in the
		// environment; both are open at once.
		r1 := newConfig(t, d)
		r1.InstanceKey = key
		r2 := r1
		r2.DataDir = filepath.Join(t.TempDir(), "replica2")
		r2.InstanceKeyFile = filepath.Join(r2.DataDir, "instance.key")
		a := mustOpen(t, r1)
		b := mustOpen(t, r2)
		if a.Keyring.PrimaryID() != b.Keyring.PrimaryID() {
			t.Errorf("replicas use keys %s and %s", a.Keyring.PrimaryID(), b.Keyring.PrimaryID())
		}
		for _, f := range []string{r1.InstanceKeyFile, r2.InstanceKeyFile} {
			if _, err := os.Stat(f); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s was written although the key came from the environment (stat err %v)", f, err)
			}
		}
	})
}

func TestOpenKeyFromFileInEnvironment(t *testing.T) {
	eachDialect(t, func(t *testing.T, d store.Dialect) {
		// The first server generated instance.key; a replica given that
		// key's bytes in AGENTOPS_INSTANCE_KEY opens the same database.
		cfg := newConfig(t, d)
		id := openAndClose(t, cfg)
		raw, err := os.ReadFile(cfg.InstanceKeyFile)
		if err != nil {
			t.Fatal(err)
		}
		var f struct {
			Keys []struct {
				Key string `json:"key"`
			} `json:"keys"`
		}
		if err := json.Unmarshal(raw, &f); err != nil || len(f.Keys) != 1 {
			t.Fatalf("instance.key: %v (%d keys)", err, len(f.Keys))
		}
		replica := cfg
		replica.DataDir = filepath.Join(t.TempDir(), "replica")
		replica.InstanceKeyFile = filepath.Join(replica.DataDir, "instance.key")
		replica.InstanceKey = f.Keys[0].Key
		a := mustOpen(t, replica)
		if a.Keyring.PrimaryID() != id {
			t.Errorf("replica key id %s, want %s", a.Keyring.PrimaryID(), id)
		}
	})
}

// freeAddr returns a loopback address with a port nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func refuses(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return true
	}
	c.Close()
	return false
}

func TestServeLifecycle(t *testing.T) {
	eachDialect(t, func(t *testing.T, d store.Dialect) {
		addr := freeAddr(t)
		cfg := app.Config{DataDir: t.TempDir(), DatabaseURL: storetest.URL(t, d), Listen: addr, Version: "test"}
		if err := cfg.Resolve(); err != nil {
			t.Fatal(err)
		}
		a := mustOpen(t, cfg)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- a.Serve(ctx) }()

		client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{}}
		defer client.CloseIdleConnections()
		base := "http://" + addr

		// Wait for /ready.
		eventually.NoError(t, 10*time.Second, "/ready to answer 200", func() error {
			err := ready(client, base)
			if err != nil {
				select {
				case err := <-done:
					t.Fatalf("Serve returned before it was ready: %v", err)
				default:
				}
			}
			return err
		})

		// Register the first user and use the login token.
		var reg struct {
			SessionToken string `json:"sessionToken"`
		}
		body := `{"email":"ada@example.com","password":"ada-password","name":"Ada"}`
		resp, err := client.Post(base+"/auth/email/register", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("register: %d %s", resp.StatusCode, b)
		}
		if err := json.NewDecoder(resp.Body).Decode(&reg); err != nil || reg.SessionToken == "" {
			t.Fatalf("register: token %q, err %v", reg.SessionToken, err)
		}
		resp.Body.Close()
		req, _ := http.NewRequest("GET", base+"/api/auth/me", nil)
		req.Header.Set("Authorization", "Bearer "+reg.SessionToken)
		resp, err = client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var me struct {
			User struct {
				Email string `json:"email"`
				Role  string `json:"role"`
			} `json:"user"`
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("/api/auth/me: %d", resp.StatusCode)
		}
		if err := json.NewDecoder(resp.Body).Decode(&me); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if me.User.Email != "ada@example.com" || me.User.Role != "admin" {
			t.Errorf("/api/auth/me = %+v, want ada, admin", me.User)
		}

		// A request in flight when shutdown starts: its headers are sent
		// with Expect: 100-continue, and the server's "100 Continue" proves
		// the handler is running and waiting for the body.
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(20 * time.Second))
		login := `{"email":"ada@example.com","password":"ada-password"}`
		fmt.Fprintf(conn, "POST /auth/email/login HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", addr, len(login))
		br := bufio.NewReader(conn)
		status, err := br.ReadString('\n')
		if err != nil || !strings.HasPrefix(status, "HTTP/1.1 100 ") {
			t.Fatalf("want 100 Continue, got %q (err %v)", status, err)
		}
		if blank, err := br.ReadString('\n'); err != nil || blank != "\r\n" {
			t.Fatalf("after 100 Continue: %q (err %v)", blank, err)
		}

		client.CloseIdleConnections()
		cancel()
		// Shutdown has begun once the listener is closed.
		eventually.True(t, 5*time.Second, "the server to refuse connections after its context ended", func() bool { return refuses(addr) })
		select {
		case err := <-done:
			t.Fatalf("Serve returned (%v) while a request was in flight", err)
		default:
		}

		if _, err := io.WriteString(conn, login); err != nil {
			t.Fatalf("send the body of the request in flight: %v", err)
		}
		resp, err = http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("the request in flight got no response: %v", err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !bytes.Contains(b, []byte(`"sessionToken"`)) {
			t.Errorf("request in flight: %d %s, want 200 with a token", resp.StatusCode, b)
		}

		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve returned %v after shutdown, want nil", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Serve did not return within 5 s of its context ending")
		}
		if !refuses(addr) {
			t.Error("the port accepts connections after Serve returned")
		}
	})
}

func TestServePortInUse(t *testing.T) {
	eachDialect(t, func(t *testing.T, d store.Dialect) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		cfg := app.Config{DataDir: t.TempDir(), DatabaseURL: storetest.URL(t, d), Listen: l.Addr().String()}
		if err := cfg.Resolve(); err != nil {
			t.Fatal(err)
		}
		a := mustOpen(t, cfg)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err = a.Serve(ctx)
		if err == nil || ctx.Err() != nil {
			t.Fatalf("Serve on a busy port: err %v (context %v), want an immediate error", err, ctx.Err())
		}
		if !strings.Contains(err.Error(), l.Addr().String()) {
			t.Errorf("error %q does not name the address", err)
		}
	})
}
