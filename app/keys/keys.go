// Package keys keeps the server's instance keyring in step with the key
// file and the database, and rotates it.
//
// The database records which key seals (instance_meta "keyring.check":
// "<key id>:<check value>"). Secrets are sealed with that key inside a
// transaction that holds the keyring lock, and a keyring that lacks it is
// re-read from the key file; a sealed value naming a key the keyring in
// memory lacks makes it re-read the file too. So `agentops keys rotate`
// works while servers run: they follow the file and the record.
package keys

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/agentops/agentops/keyring"
	"github.com/agentops/agentops/store"
)

// MetaKey is the instance_meta key of the database's key record.
const MetaKey = "keyring.check"

// lockName serializes sealing writes against a rotation's re-seal.
const lockName = "keyring"

// ErrFromEnvironment: a keyring given in AGENTOPS_INSTANCE_KEY has no file
// that agentops could re-read or rewrite.
var ErrFromEnvironment = errors.New("the instance key comes from AGENTOPS_INSTANCE_KEY, which agentops cannot rewrite: " +
	"move the key into a key file (--instance-key-file) to rotate it, or generate a new key yourself and re-seal by hand")

// Record returns the database's key record: the id of the key that seals
// and its check value. store.ErrNotFound means there is none yet.
func Record(ctx context.Context, st *store.Store) (id, check string, err error) {
	v, err := st.Meta().Get(ctx, MetaKey)
	if err != nil {
		return "", "", err
	}
	id, check, ok := strings.Cut(v, ":")
	if !ok || id == "" {
		return "", "", fmt.Errorf("instance_meta %s is malformed", MetaKey)
	}
	return id, check, nil
}

// writeRecord makes kr's primary the key that seals.
func writeRecord(ctx context.Context, st *store.Store, kr *keyring.Keyring) error {
	check, err := kr.Check(kr.PrimaryID())
	if err != nil {
		return err
	}
	return st.Meta().Set(ctx, MetaKey, kr.PrimaryID()+":"+check)
}

// Verify reports whether kr can open the database: it holds the recorded
// key with the recorded check value.
func Verify(ctx context.Context, st *store.Store, kr *keyring.Keyring) error {
	id, check, err := Record(ctx, st)
	if err != nil {
		return err
	}
	return kr.Verify(id, check)
}

// Ring is the keyring a server uses, re-read from its file when the
// database or a sealed value names a key it does not hold. It is safe for
// concurrent use.
type Ring struct {
	st   *store.Store
	path string // "" for a keyring from the environment
	log  *slog.Logger

	mu sync.Mutex
	kr *keyring.Keyring
}

// NewRing wraps kr, loaded from the key file at path ("" when it came
// from AGENTOPS_INSTANCE_KEY and cannot be re-read).
func NewRing(st *store.Store, kr *keyring.Keyring, path string, log *slog.Logger) *Ring {
	if log == nil {
		log = slog.Default()
	}
	return &Ring{st: st, path: path, kr: kr, log: log}
}

// Current returns the keyring in memory.
func (r *Ring) Current() *keyring.Keyring {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.kr
}

// reload re-reads the key file and adopts it if it can open the database
// (checked through db, which may be a transaction).
func (r *Ring) reload(ctx context.Context, db *store.Store) (*keyring.Keyring, error) {
	if r.path == "" {
		return nil, ErrFromEnvironment
	}
	kr, err := keyring.Load(r.path)
	if err != nil {
		return nil, err
	}
	if err := Verify(ctx, db, kr); err != nil {
		return nil, fmt.Errorf("re-read %s: %w", r.path, err)
	}
	r.mu.Lock()
	old := r.kr
	r.kr = kr
	r.mu.Unlock()
	if old.PrimaryID() != kr.PrimaryID() || len(old.IDs()) != len(kr.IDs()) {
		r.log.Info("instance keyring re-read", "path", r.path, "primary", kr.PrimaryID(), "keys", strings.Join(kr.IDs(), ","))
	}
	return kr, nil
}

// Holding returns a keyring that holds key id, re-reading the key file
// when the one in memory does not.
func (r *Ring) Holding(ctx context.Context, id string) (*keyring.Keyring, error) {
	if kr := r.Current(); kr.Has(id) {
		return kr, nil
	}
	kr, err := r.reload(ctx, r.st)
	if err != nil {
		return nil, fmt.Errorf("the instance keyring has no key %s: %w", id, err)
	}
	if !kr.Has(id) {
		return nil, fmt.Errorf("%w: %s (not in %s either)", keyring.ErrUnknownKey, id, r.path)
	}
	return kr, nil
}

// ForSeal takes the keyring lock in tx and returns the keyring and the id
// of the key to seal with: the one the database records. Call it inside
// store.InTx, before writing what it seals, so that a rotation re-seals
// either before this write or after it, never beside it.
func (r *Ring) ForSeal(ctx context.Context, tx *store.Store) (*keyring.Keyring, string, error) {
	if err := tx.LockKey(ctx, lockName); err != nil {
		return nil, "", err
	}
	id, _, err := Record(ctx, tx)
	if err != nil {
		return nil, "", err
	}
	if kr := r.Current(); kr.Has(id) {
		return kr, id, nil
	}
	kr, err := r.reload(ctx, tx)
	if err != nil {
		return nil, "", fmt.Errorf("the database seals with key %s, which the keyring lacks: %w", id, err)
	}
	return kr, id, nil
}

// Sealer seals and opens values for a domain that has no transaction of
// its own to seal in (webhook secrets): Seal uses the key the database
// records, Open whichever key sealed the value, re-reading the key file
// when the keyring in memory lacks it. A rotation that runs between a
// Seal and the write of its value finds the value by its key id and keeps
// that key until it is re-sealed.
func (r *Ring) Sealer() RingSealer { return RingSealer{r} }

// RingSealer is Ring.Sealer.
type RingSealer struct{ r *Ring }

// Seal seals plaintext with the key the database records.
func (s RingSealer) Seal(plaintext, aad []byte) (string, error) {
	var sealed string
	err := s.r.st.InTx(context.Background(), func(tx *store.Store) error {
		kr, id, err := s.r.ForSeal(context.Background(), tx)
		if err != nil {
			return err
		}
		sealed, err = kr.SealWith(id, plaintext, aad)
		return err
	})
	return sealed, err
}

// Open opens a sealed value with the key that sealed it.
func (s RingSealer) Open(sealed string, aad []byte) ([]byte, error) {
	id, err := keyring.KeyOf(sealed)
	if err != nil {
		return nil, err
	}
	kr, err := s.r.Holding(context.Background(), id)
	if err != nil {
		return nil, err
	}
	return kr.Open(sealed, aad)
}
