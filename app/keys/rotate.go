package keys

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/agentops/agentops/keyring"
	"github.com/agentops/agentops/store"
)

// Resealer re-seals one kind of sealed secret (credentials, say).
type Resealer interface {
	// Reseal opens, with kr, every secret that key id did not seal and
	// seals it again with key id, inside tx; it returns how many.
	Reseal(ctx context.Context, tx *store.Store, kr *keyring.Keyring, id string) (int, error)
	// CountByKey returns how many secrets each key sealed.
	CountByKey(ctx context.Context, st *store.Store) (map[string]int, error)
}

// The steps of a rotation, in order. A rotation interrupted after any of
// them (a crash, a kill) is completed by running it again.
const (
	// StepKeyAdded: the key file holds a new primary key beside the old ones.
	StepKeyAdded = "key-added"
	// StepResealed: every secret is sealed with the new key, and the
	// database records it (one transaction).
	StepResealed = "resealed"
	// StepOldDropped: the old keys are gone from the key file.
	StepOldDropped = "old-dropped"
)

// RotateOptions tune Rotate.
type RotateOptions struct {
	// AfterStep, when set, is called after each step; an error stops the
	// rotation there (tests simulate a crash between steps with it).
	AfterStep func(step string) error
}

// RotateResult says what a rotation did.
type RotateResult struct {
	// NewKey is the primary key now.
	NewKey string
	// Dropped lists the keys removed from the key file.
	Dropped []string
	// Resealed counts the secrets sealed again.
	Resealed int
	// Resumed is true when this run completed an interrupted rotation
	// instead of starting one (no further key was added).
	Resumed bool
}

// Rotate rotates the keyring in the key file at path for the database st:
//
//  1. add a new primary key to the file (the old keys stay, to open);
//  2. in one transaction holding the keyring lock, re-seal every secret
//     with the new key and record it in the database;
//  3. drop the old keys from the file.
//
// Servers keep working throughout: they re-read the file when the
// database or a sealed value names a key they do not hold, and they seal
// with the recorded key. When the file and the database show an
// interrupted rotation (a primary that the database does not record yet,
// or old keys still in the file), Rotate completes it instead of adding
// another key.
func Rotate(ctx context.Context, st *store.Store, path string, resealers []Resealer, opts RotateOptions) (*RotateResult, error) {
	if path == "" {
		return nil, ErrFromEnvironment
	}
	step := func(name string) error {
		if opts.AfterStep != nil {
			return opts.AfterStep(name)
		}
		return nil
	}
	kr, err := keyring.Load(path)
	if err != nil {
		return nil, err
	}
	recID, recCheck, err := Record(ctx, st)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errors.New("this database has no key record yet: run `agentops serve` once before rotating")
	} else if err != nil {
		return nil, err
	}
	if err := kr.Verify(recID, recCheck); err != nil {
		return nil, fmt.Errorf("refusing to rotate: the key file %s cannot open this database: %w", path, err)
	}
	res := &RotateResult{}
	if kr.PrimaryID() == recID && len(kr.IDs()) == 1 {
		if kr, err = kr.WithNewPrimary(); err != nil {
			return nil, err
		}
		if err := kr.Save(path); err != nil {
			return nil, err
		}
		if err := step(StepKeyAdded); err != nil {
			return nil, err
		}
	} else {
		res.Resumed = true
	}
	res.NewKey = kr.PrimaryID()

	err = st.InTx(ctx, func(tx *store.Store) error {
		if err := tx.LockKey(ctx, lockName); err != nil {
			return err
		}
		for _, r := range resealers {
			n, err := r.Reseal(ctx, tx, kr, kr.PrimaryID())
			if err != nil {
				return err
			}
			res.Resealed += n
		}
		return writeRecord(ctx, tx, kr)
	})
	if err != nil {
		return nil, fmt.Errorf("re-seal with key %s: %w", kr.PrimaryID(), err)
	}
	if err := step(StepResealed); err != nil {
		return nil, err
	}

	// Nothing is sealed with the old keys any more, and every later seal
	// uses the recorded key: they can go. Counted again so that a secret
	// that somehow escaped the re-seal keeps its key (and says so).
	counts := map[string]int{}
	for _, r := range resealers {
		c, err := r.CountByKey(ctx, st)
		if err != nil {
			return nil, err
		}
		for id, n := range c {
			counts[id] += n
		}
	}
	for _, id := range kr.IDs() {
		if id == kr.PrimaryID() {
			continue
		}
		if counts[id] > 0 {
			return nil, fmt.Errorf("key %s still seals %d secrets: not dropping it; run the rotation again", id, counts[id])
		}
		if kr, err = kr.Without(id); err != nil {
			return nil, err
		}
		res.Dropped = append(res.Dropped, id)
	}
	if len(res.Dropped) > 0 {
		if err := kr.Save(path); err != nil {
			return nil, err
		}
	}
	slices.Sort(res.Dropped)
	if err := step(StepOldDropped); err != nil {
		return nil, err
	}
	return res, nil
}
