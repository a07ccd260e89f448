package keys_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/agentops/agentops/app/credentials"
	"github.com/agentops/agentops/app/keys"
	"github.com/agentops/agentops/keyring"
	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

var quiet = slog.New(slog.DiscardHandler)

// instance is a database with a key file and its record, as serve leaves
// them, and a "server": a Ring loaded at start and the credentials on it.
type instance struct {
	t     *testing.T
	st    *store.Store
	path  string
	ring  *keys.Ring
	creds *credentials.Service
	user  string
}

func newInstance(t *testing.T, d store.Dialect) *instance {
	t.Helper()
	ctx := context.Background()
	st := storetest.Open(t, d)
	path := filepath.Join(t.TempDir(), "instance.key")
	kr, err := keyring.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if err := kr.Save(path); err != nil {
		t.Fatal(err)
	}
	check, _ := kr.Check(kr.PrimaryID())
	if err := st.Meta().Set(ctx, keys.MetaKey, kr.PrimaryID()+":"+check); err != nil {
		t.Fatal(err)
	}
	u := &store.User{ID: uuid.NewString(), Email: "u@example.com", Role: store.RoleAdmin, UIQueueMode: "followup",
		IdentityProvider: "email", CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if err := st.Users().Create(ctx, u); err != nil {
		t.Fatal(err)
	}
	in := &instance{t: t, st: st, path: path, user: u.ID}
	in.ring, in.creds = in.start()
	return in
}

// start is a server (re)starting: it loads the key file, as serve does,
// checks it against the database, and wraps it.
func (in *instance) start() (*keys.Ring, *credentials.Service) {
	in.t.Helper()
	kr, err := keyring.Load(in.path)
	if err != nil {
		in.t.Fatal(err)
	}
	if err := keys.Verify(context.Background(), in.st, kr); err != nil {
		in.t.Fatalf("a server starting now would refuse the key file: %v", err)
	}
	ring := keys.NewRing(in.st, kr, in.path, quiet)
	return ring, credentials.New(in.st, ring, nil, quiet)
}

func (in *instance) set(c *credentials.Service, provider, key string) {
	in.t.Helper()
	if _, err := c.SetUser(context.Background(), in.user, provider, credentials.Input{Key: key}); err != nil {
		in.t.Fatalf("set %s: %v", provider, err)
	}
}

// keysOf returns every resolved key of the user by provider, opened by c.
func (in *instance) keysOf(c *credentials.Service) map[string]string {
	in.t.Helper()
	res, err := c.Resolve(context.Background(), in.user)
	if err != nil {
		in.t.Fatalf("open credentials: %v", err)
	}
	out := map[string]string{}
	for _, r := range res {
		out[r.Provider] = r.Key
	}
	return out
}

func (in *instance) fileKeys() *keyring.Keyring {
	in.t.Helper()
	kr, err := keyring.Load(in.path)
	if err != nil {
		in.t.Fatal(err)
	}
	return kr
}

func (in *instance) recordID() string {
	in.t.Helper()
	id, _, err := keys.Record(context.Background(), in.st)
	if err != nil {
		in.t.Fatal(err)
	}
	return id
}

func (in *instance) rotate(opts keys.RotateOptions) (*keys.RotateResult, error) {
	return keys.Rotate(context.Background(), in.st, in.path, []keys.Resealer{in.creds}, opts)
}

func sameMap(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %v, want %v", what, got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("%s: %s = %q, want %q", what, k, got[k], v)
		}
	}
}

func TestRotateResealsEverythingAndDropsTheOldKey(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			in := newInstance(t, d)
			old := in.recordID()
			in.set(in.creds, "anthropic", "sk-ant-1")
			in.set(in.creds, "github", "ghp_2")
			if _, err := in.creds.SetOrg(ctx, in.user, "openai", credentials.Input{Key: "sk-org-3"}); err != nil {
				t.Fatal(err)
			}
			want := map[string]string{"anthropic": "sk-ant-1", "github": "ghp_2", "openai": "sk-org-3"}

			res, err := in.rotate(keys.RotateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Resumed || res.NewKey == old || res.Resealed != 3 || len(res.Dropped) != 1 || res.Dropped[0] != old {
				t.Fatalf("result %+v (old key %s)", res, old)
			}
			file := in.fileKeys()
			if file.PrimaryID() != res.NewKey || len(file.IDs()) != 1 {
				t.Fatalf("key file holds %v with primary %s, want only %s", file.IDs(), file.PrimaryID(), res.NewKey)
			}
			if in.recordID() != res.NewKey {
				t.Fatalf("database records %s, want %s", in.recordID(), res.NewKey)
			}
			counts, _ := in.st.Credentials().CountByKey(ctx)
			if counts[res.NewKey] != 3 || len(counts) != 1 {
				t.Fatalf("sealed by key: %v", counts)
			}
			// The server that loaded the old keyring follows the file.
			sameMap(t, "running server", in.keysOf(in.creds), want)
			if in.ring.Current().PrimaryID() != res.NewKey {
				t.Fatal("the running server did not re-read the key file")
			}
			// And a server started now opens everything too.
			_, fresh := in.start()
			sameMap(t, "restarted server", in.keysOf(fresh), want)

			// Rotating again is a whole new rotation.
			res2, err := in.rotate(keys.RotateOptions{})
			if err != nil || res2.Resumed || res2.NewKey == res.NewKey || res2.Resealed != 3 {
				t.Fatalf("second rotation: %+v %v", res2, err)
			}
			sameMap(t, "after two rotations", in.keysOf(in.creds), want)
		})
	}
}

// A rotation that stops after any step (a crash) leaves everything
// readable by servers that keep running and by servers that start, and
// running it again completes it.
func TestInterruptedRotationCompletesWhenRunAgain(t *testing.T) {
	crash := errors.New("simulated crash")
	for _, d := range storetest.Dialects {
		for _, stop := range []string{keys.StepKeyAdded, keys.StepResealed} {
			t.Run(string(d)+"/after-"+stop, func(t *testing.T) {
				ctx := context.Background()
				in := newInstance(t, d)
				old := in.recordID()
				in.set(in.creds, "anthropic", "sk-ant-1")
				in.set(in.creds, "google", "g-2")

				_, err := in.rotate(keys.RotateOptions{AfterStep: func(step string) error {
					if step == stop {
						return crash
					}
					return nil
				}})
				if !errors.Is(err, crash) {
					t.Fatalf("rotation stopped with %v, want the simulated crash", err)
				}
				file := in.fileKeys()
				if len(file.IDs()) != 2 || !file.Has(old) || file.PrimaryID() == old {
					t.Fatalf("after %s the key file holds %v (primary %s)", stop, file.IDs(), file.PrimaryID())
				}
				newKey := file.PrimaryID()
				wantRecord := old
				if stop == keys.StepResealed {
					wantRecord = newKey
				}
				if in.recordID() != wantRecord {
					t.Fatalf("after %s the database records %s, want %s", stop, in.recordID(), wantRecord)
				}
				// Meanwhile: the running server reads and writes, a server
				// that starts now does too.
				want := map[string]string{"anthropic": "sk-ant-1", "google": "g-2"}
				sameMap(t, "running server", in.keysOf(in.creds), want)
				in.set(in.creds, "openai", "sk-written-meanwhile")
				want["openai"] = "sk-written-meanwhile"
				_, restarted := in.start()
				sameMap(t, "restarted server", in.keysOf(restarted), want)
				in.set(restarted, "github", "ghp-restarted")
				want["github"] = "ghp-restarted"

				res, err := in.rotate(keys.RotateOptions{})
				if err != nil {
					t.Fatalf("run again: %v", err)
				}
				if !res.Resumed || res.NewKey != newKey || len(res.Dropped) != 1 || res.Dropped[0] != old {
					t.Fatalf("run again: %+v, want the interrupted rotation to %s completed", res, newKey)
				}
				file = in.fileKeys()
				if len(file.IDs()) != 1 || file.PrimaryID() != newKey || in.recordID() != newKey {
					t.Fatalf("end state: file %v, record %s, want only %s", file.IDs(), in.recordID(), newKey)
				}
				counts, _ := in.st.Credentials().CountByKey(ctx)
				if counts[newKey] != 4 || len(counts) != 1 {
					t.Fatalf("sealed by key: %v", counts)
				}
				sameMap(t, "running server after", in.keysOf(in.creds), want)
				sameMap(t, "restarted server after", in.keysOf(restarted), want)
				_, last := in.start()
				sameMap(t, "server started after", in.keysOf(last), want)
			})
		}
	}
}

// Writes that run while a rotation does are neither lost nor left sealed
// with the dropped key.
func TestRotationUnderConcurrentWrites(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			in := newInstance(t, d)
			final := make([]string, 20)
			for i := range 20 {
				final[i] = fmt.Sprintf("k%d-0", i)
				if _, err := in.creds.SetUser(ctx, in.user, fmt.Sprintf("custom-p%d", i),
					credentials.Input{Key: final[i], BaseURL: "http://llm.local/v1"}); err != nil {
					t.Fatal(err)
				}
			}
			var wg sync.WaitGroup
			stop := make(chan struct{})
			for w := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for round := 1; ; round++ {
						select {
						case <-stop:
							return
						default:
						}
						for i := w; i < 20; i += 4 {
							key := fmt.Sprintf("k%d-%d", i, round)
							if _, err := in.creds.SetUser(ctx, in.user, fmt.Sprintf("custom-p%d", i),
								credentials.Input{Key: key, BaseURL: "http://llm.local/v1"}); err != nil {
								t.Errorf("write during rotation: %v", err)
								return
							}
							final[i] = key
						}
					}
				}()
			}
			time.Sleep(20 * time.Millisecond)
			res, err := in.rotate(keys.RotateOptions{})
			time.Sleep(20 * time.Millisecond)
			close(stop)
			wg.Wait()
			if err != nil {
				t.Fatal(err)
			}
			counts, _ := in.st.Credentials().CountByKey(ctx)
			if counts[res.NewKey] != 20 || len(counts) != 1 {
				t.Fatalf("sealed by key after rotation: %v (new %s)", counts, res.NewKey)
			}
			got := in.keysOf(in.creds)
			for i, k := range final {
				if p := fmt.Sprintf("custom-p%d", i); got[p] != k {
					t.Fatalf("%s = %q, want the last write %q", p, got[p], k)
				}
			}
		})
	}
}

func TestRotateRefusals(t *testing.T) {
	in := newInstance(t, store.SQLite)
	in.set(in.creds, "anthropic", "sk")
	// A key file that cannot open this database is left alone.
	other, _ := keyring.Generate()
	foreign := filepath.Join(t.TempDir(), "other.key")
	if err := other.Save(foreign); err != nil {
		t.Fatal(err)
	}
	_, err := keys.Rotate(context.Background(), in.st, foreign, []keys.Resealer{in.creds}, keys.RotateOptions{})
	if !errors.Is(err, keyring.ErrMismatch) {
		t.Fatalf("foreign key file: %v", err)
	}
	if kr, _ := keyring.Load(foreign); len(kr.IDs()) != 1 || kr.PrimaryID() != other.PrimaryID() {
		t.Fatal("a refused rotation changed the key file")
	}
	// A keyring from the environment has no file to rewrite.
	if _, err := keys.Rotate(context.Background(), in.st, "", nil, keys.RotateOptions{}); !errors.Is(err, keys.ErrFromEnvironment) {
		t.Fatalf("environment keyring: %v", err)
	}
}

// A server whose key came from AGENTOPS_INSTANCE_KEY cannot follow a
// rotation: it says why instead of failing obscurely.
func TestRingFromEnvironmentCannotReload(t *testing.T) {
	in := newInstance(t, store.SQLite)
	envRing := keys.NewRing(in.st, in.fileKeys(), "", quiet)
	if _, err := in.rotate(keys.RotateOptions{}); err != nil {
		t.Fatal(err)
	}
	in.set(in.creds, "anthropic", "sk")
	envCreds := credentials.New(in.st, envRing, nil, quiet)
	_, err := envCreds.Resolve(context.Background(), in.user)
	if !errors.Is(err, keys.ErrFromEnvironment) {
		t.Fatalf("want ErrFromEnvironment, got %v", err)
	}
	_, err = envCreds.SetUser(context.Background(), in.user, "openai", credentials.Input{Key: "x"})
	if !errors.Is(err, keys.ErrFromEnvironment) {
		t.Fatalf("sealing: want ErrFromEnvironment, got %v", err)
	}
}
