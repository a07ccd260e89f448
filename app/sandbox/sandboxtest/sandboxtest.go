// Package sandboxtest is the contract every sandbox.Provider passes: input
// validation, the Spawn → Hibernate → Restore → Terminate → RemoveWorkspace
// lifecycle, idempotent stops, and Close. What a driver does to real
// processes or machines is for its own tests.
//
// The requests carry a ServerURL nothing listens on: a driver under test
// must be configured (newProvider's business) with a runner command that
// does not need the server.
package sandboxtest

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/agentops/agentops/app/sandbox"
)

// Request returns a valid request for sessionID.
func Request(sessionID string) sandbox.SpawnRequest {
	return sandbox.SpawnRequest{
		SessionID: sessionID,
		UserID:    "user-1",
		ServerURL: "http://127.0.0.1:9",
		Token:     "runner-token-" + sessionID,
		Agent:     "script",
		Env:       map[string]string{"AGENTOPS_TEST_VAR": "1"},
	}
}

// Run runs the contract against the providers newProvider returns, one per
// subtest, closed at its end.
func Run(t *testing.T, newProvider func(t *testing.T) sandbox.Provider) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(*testing.T, sandbox.Provider)
	}{
		{"Name", testName},
		{"InvalidSessionIDs", testInvalidSessionIDs},
		{"InvalidRequests", testInvalidRequests},
		{"Lifecycle", testLifecycle},
		{"UnknownSession", testUnknownSession},
		{"Close", testClose},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newProvider(t)
			t.Cleanup(func() { _ = p.Close() })
			tc.fn(t, p)
		})
	}
}

func testName(t *testing.T, p sandbox.Provider) {
	if p.Name() == "" {
		t.Fatal("empty Name")
	}
}

// BadSessionIDs are ids every provider rejects with ErrInvalidSessionID.
var BadSessionIDs = []string{"", ".", "..", "../x", "a/b", `a\b`, "/abs", "a b", "a.b", "-rf", "a\x00b", "é", "a\n",
	"0123456789012345678901234567890123456789012345678901234567890123x"}

func testInvalidSessionIDs(t *testing.T, p sandbox.Provider) {
	ctx := context.Background()
	for _, id := range BadSessionIDs {
		req := Request(id)
		if _, err := p.Spawn(ctx, req); !errors.Is(err, sandbox.ErrInvalidSessionID) {
			t.Errorf("Spawn(%q) = %v, want ErrInvalidSessionID", id, err)
		}
		if _, err := p.Restore(ctx, req); !errors.Is(err, sandbox.ErrInvalidSessionID) {
			t.Errorf("Restore(%q) = %v, want ErrInvalidSessionID", id, err)
		}
		for name, f := range map[string]func(context.Context, string) error{
			"Hibernate": p.Hibernate, "Terminate": p.Terminate, "RemoveWorkspace": p.RemoveWorkspace,
		} {
			if err := f(ctx, id); !errors.Is(err, sandbox.ErrInvalidSessionID) {
				t.Errorf("%s(%q) = %v, want ErrInvalidSessionID", name, id, err)
			}
		}
	}
}

func testInvalidRequests(t *testing.T, p sandbox.Provider) {
	ctx := context.Background()
	id := uuid.NewString()
	bad := map[string]func(*sandbox.SpawnRequest){
		"no server URL":      func(r *sandbox.SpawnRequest) { r.ServerURL = "" },
		"relative URL":       func(r *sandbox.SpawnRequest) { r.ServerURL = "/api" },
		"ftp URL":            func(r *sandbox.SpawnRequest) { r.ServerURL = "ftp://example.com" },
		"URL without host":   func(r *sandbox.SpawnRequest) { r.ServerURL = "http://" },
		"no token":           func(r *sandbox.SpawnRequest) { r.Token = "" },
		"no agent":           func(r *sandbox.SpawnRequest) { r.Agent = "" },
		"env name with dash": func(r *sandbox.SpawnRequest) { r.Env = map[string]string{"A-B": "x"} },
		"env name with =":    func(r *sandbox.SpawnRequest) { r.Env = map[string]string{"A=B": "x"} },
		"env name digit":     func(r *sandbox.SpawnRequest) { r.Env = map[string]string{"1A": "x"} },
		"env overrides token": func(r *sandbox.SpawnRequest) {
			r.Env = map[string]string{sandbox.TokenEnv: "other"}
		},
	}
	for name, mutate := range bad {
		req := Request(id)
		mutate(&req)
		if _, err := p.Spawn(ctx, req); !errors.Is(err, sandbox.ErrInvalidRequest) {
			t.Errorf("Spawn with %s = %v, want ErrInvalidRequest", name, err)
		}
		if _, err := p.Restore(ctx, req); !errors.Is(err, sandbox.ErrInvalidRequest) {
			t.Errorf("Restore with %s = %v, want ErrInvalidRequest", name, err)
		}
	}
}

func testLifecycle(t *testing.T, p sandbox.Provider) {
	ctx := context.Background()
	id := uuid.NewString()
	sb, err := p.Spawn(ctx, Request(id))
	if err != nil {
		t.Fatalf("Spawn: %v", err)
	}
	if sb.ID == "" {
		t.Fatal("Spawn returned a Sandbox without an ID")
	}
	for i := range 2 {
		if err := p.Hibernate(ctx, id); err != nil {
			t.Fatalf("Hibernate #%d: %v", i+1, err)
		}
	}
	req := Request(id)
	req.Token = "a-new-token"
	if sb, err = p.Restore(ctx, req); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if sb.ID == "" {
		t.Fatal("Restore returned a Sandbox without an ID")
	}
	for i := range 2 {
		if err := p.Terminate(ctx, id); err != nil {
			t.Fatalf("Terminate #%d: %v", i+1, err)
		}
	}
	for i := range 2 {
		if err := p.RemoveWorkspace(ctx, id); err != nil {
			t.Fatalf("RemoveWorkspace #%d: %v", i+1, err)
		}
	}
}

func testUnknownSession(t *testing.T, p sandbox.Provider) {
	ctx := context.Background()
	id := uuid.NewString()
	if err := p.Hibernate(ctx, id); err != nil {
		t.Errorf("Hibernate of a session never spawned: %v", err)
	}
	if err := p.Terminate(ctx, id); err != nil {
		t.Errorf("Terminate of a session never spawned: %v", err)
	}
	if err := p.RemoveWorkspace(ctx, id); err != nil {
		t.Errorf("RemoveWorkspace of a session never spawned: %v", err)
	}
}

func testClose(t *testing.T, p sandbox.Provider) {
	ctx := context.Background()
	id := uuid.NewString()
	if _, err := p.Spawn(ctx, Request(id)); err != nil {
		t.Fatalf("Spawn: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := p.Spawn(ctx, Request(uuid.NewString())); !errors.Is(err, sandbox.ErrClosed) {
		t.Errorf("Spawn after Close = %v, want ErrClosed", err)
	}
	if _, err := p.Restore(ctx, Request(id)); !errors.Is(err, sandbox.ErrClosed) {
		t.Errorf("Restore after Close = %v, want ErrClosed", err)
	}
	for name, f := range map[string]func(context.Context, string) error{
		"Hibernate": p.Hibernate, "Terminate": p.Terminate, "RemoveWorkspace": p.RemoveWorkspace,
	} {
		if err := f(ctx, id); !errors.Is(err, sandbox.ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
}
