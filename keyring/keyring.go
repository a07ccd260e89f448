// Package keyring holds the instance keys that seal secrets at rest.
//
// A keyring has one primary key, which seals, and older keys, which only
// open. Every sealed value names the key that sealed it, so a rotation can
// add a new primary, re-seal, and drop the old key without a flag day. Each
// key also yields a check value that the database records, so a server
// refuses to start with a keyring that cannot open the data.
package keyring

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// KeySize is the size of an instance key in bytes.
const KeySize = 32

// Errors Open and Verify return.
var (
	ErrUnknownKey = errors.New("sealed with a key this keyring does not hold")
	ErrCorrupt    = errors.New("sealed value is corrupt or was tampered with")
	ErrMismatch   = errors.New("keyring does not match the database's key check")
)

type entry struct {
	ID      string    `json:"id"`
	Key     string    `json:"key"` // base64
	Created time.Time `json:"created"`
}

type fileFormat struct {
	Version int     `json:"version"`
	Primary string  `json:"primary"`
	Keys    []entry `json:"keys"`
}

// Keyring is a set of keys with one primary. It is immutable once built;
// rotation builds a new one.
type Keyring struct {
	primary string
	keys    map[string][]byte
	entries []entry
}

// keyID derives a short, stable id from a key, so that the same raw key
// given to several replicas through the environment gets the same id.
func keyID(key []byte) string {
	sum := sha256.Sum256(append([]byte("agentops key id\x00"), key...))
	return hex.EncodeToString(sum[:6])
}

func newKey() ([]byte, error) {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	return k, nil
}

// Generate returns a keyring with one new random primary key.
func Generate() (*Keyring, error) {
	k, err := newKey()
	if err != nil {
		return nil, err
	}
	return build([]entry{{ID: keyID(k), Key: base64.StdEncoding.EncodeToString(k), Created: time.Now().UTC()}}, keyID(k))
}

func build(entries []entry, primary string) (*Keyring, error) {
	kr := &Keyring{primary: primary, keys: map[string][]byte{}, entries: entries}
	for _, e := range entries {
		k, err := base64.StdEncoding.DecodeString(e.Key)
		if err != nil || len(k) != KeySize {
			return nil, fmt.Errorf("keyring: key %q is not %d base64-encoded bytes", e.ID, KeySize)
		}
		if keyID(k) != e.ID {
			return nil, fmt.Errorf("keyring: key %q does not match its id", e.ID)
		}
		kr.keys[e.ID] = k
	}
	if _, ok := kr.keys[primary]; !ok {
		return nil, fmt.Errorf("keyring: primary key %q is not in the keyring", primary)
	}
	return kr, nil
}

// Parse reads a keyring file's JSON, or a single base64-encoded 32-byte key
// (the form AGENTOPS_INSTANCE_KEY may take).
func Parse(data []byte) (*Keyring, error) {
	s := strings.TrimSpace(string(data))
	if s == "" {
		return nil, errors.New("keyring: empty")
	}
	if !strings.HasPrefix(s, "{") {
		k, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(k) != KeySize {
			return nil, fmt.Errorf("keyring: a bare key must be %d bytes in standard base64 (generate one with `openssl rand -base64 32`)", KeySize)
		}
		id := keyID(k)
		return build([]entry{{ID: id, Key: s}}, id)
	}
	var f fileFormat
	if err := json.Unmarshal([]byte(s), &f); err != nil {
		return nil, fmt.Errorf("keyring: parse: %w", err)
	}
	if f.Version != 1 {
		return nil, fmt.Errorf("keyring: unsupported version %d", f.Version)
	}
	return build(f.Keys, f.Primary)
}

// Marshal encodes the keyring in the file format.
func (k *Keyring) Marshal() []byte {
	b, _ := json.MarshalIndent(fileFormat{Version: 1, Primary: k.primary, Keys: k.entries}, "", "  ")
	return append(b, '\n')
}

// Load reads the keyring at path.
func Load(path string) (*Keyring, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read keyring: %w", err)
	}
	kr, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return kr, nil
}

// LoadOrCreate reads the keyring at path, or creates it with a new key
// (mode 0600) when the file does not exist. created reports which.
func LoadOrCreate(path string) (kr *Keyring, created bool, err error) {
	kr, err = Load(path)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return kr, false, err
	}
	kr, err = Generate()
	if err != nil {
		return nil, false, err
	}
	if err := kr.Save(path); err != nil {
		return nil, false, err
	}
	return kr, true, nil
}

// Save writes the keyring to path atomically with mode 0600.
func (k *Keyring) Save(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("save keyring: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".keyring-*")
	if err != nil {
		return fmt.Errorf("save keyring: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("save keyring: %w", err)
	}
	if _, err := tmp.Write(k.Marshal()); err != nil {
		tmp.Close()
		return fmt.Errorf("save keyring: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("save keyring: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save keyring: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save keyring: %w", err)
	}
	return nil
}

// PrimaryID is the id of the key that seals.
func (k *Keyring) PrimaryID() string { return k.primary }

// IDs lists the ids of every key, primary included.
func (k *Keyring) IDs() []string {
	out := make([]string, 0, len(k.entries))
	for _, e := range k.entries {
		out = append(out, e.ID)
	}
	return out
}

// WithNewPrimary returns a keyring with a fresh primary key; the old keys
// stay, to open what they sealed.
func (k *Keyring) WithNewPrimary() (*Keyring, error) {
	nk, err := newKey()
	if err != nil {
		return nil, err
	}
	e := entry{ID: keyID(nk), Key: base64.StdEncoding.EncodeToString(nk), Created: time.Now().UTC()}
	return build(append(append([]entry{}, k.entries...), e), e.ID)
}

// Without returns the keyring minus key id (never the primary).
func (k *Keyring) Without(id string) (*Keyring, error) {
	if id == k.primary {
		return nil, errors.New("keyring: cannot drop the primary key")
	}
	var rest []entry
	for _, e := range k.entries {
		if e.ID != id {
			rest = append(rest, e)
		}
	}
	return build(rest, k.primary)
}

func derive(key []byte, purpose string) []byte {
	out, err := hkdf.Key(sha256.New, key, nil, "agentops "+purpose, 32)
	if err != nil {
		panic(err) // only fails for lengths sha256 cannot produce
	}
	return out
}

// Derive returns a 32-byte secret for purpose from key id (HKDF), for
// secrets the holders of the keyring share, such as the one replicas
// sign their requests to each other with.
func (k *Keyring) Derive(id, purpose string) ([]byte, error) {
	key, ok := k.keys[id]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknownKey, id)
	}
	return derive(key, purpose), nil
}

// Check returns the check value of key id, which the database records.
func (k *Keyring) Check(id string) (string, error) {
	key, ok := k.keys[id]
	if !ok {
		return "", fmt.Errorf("%w: %s", ErrUnknownKey, id)
	}
	m := hmac.New(sha256.New, derive(key, "keyring check v1"))
	m.Write([]byte("agentops keyring check"))
	return hex.EncodeToString(m.Sum(nil)), nil
}

// Verify reports whether the keyring holds key id with the given check.
func (k *Keyring) Verify(id, check string) error {
	got, err := k.Check(id)
	if err != nil {
		return fmt.Errorf("%w: it has no key %q", ErrMismatch, id)
	}
	if !hmac.Equal([]byte(got), []byte(check)) {
		return fmt.Errorf("%w: key %q has a different value", ErrMismatch, id)
	}
	return nil
}

func (k *Keyring) aead(id string) (cipher.AEAD, error) {
	key, ok := k.keys[id]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknownKey, id)
	}
	block, err := aes.NewCipher(derive(key, "secrets v1"))
	if err != nil {
		return nil, fmt.Errorf("keyring cipher: %w", err)
	}
	return cipher.NewGCM(block)
}

// Seal encrypts plaintext with the primary key (AES-256-GCM, random nonce).
// aad binds the ciphertext to its context (a row id, say): it must be given
// again to Open. The result is "v1:<key id>:<base64 nonce‖ciphertext‖tag>".
func (k *Keyring) Seal(plaintext, aad []byte) (string, error) {
	return k.SealWith(k.primary, plaintext, aad)
}

// Has reports whether the keyring holds key id.
func (k *Keyring) Has(id string) bool {
	_, ok := k.keys[id]
	return ok
}

// SealWith is Seal with key id instead of the primary. During a rotation
// the database names the key that seals (see app/keys), which may not be
// this keyring's primary yet.
func (k *Keyring) SealWith(id string, plaintext, aad []byte) (string, error) {
	g, err := k.aead(id)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, g.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal: %w", err)
	}
	ct := g.Seal(nonce, nonce, plaintext, aad)
	return "v1:" + id + ":" + base64.StdEncoding.EncodeToString(ct), nil
}

// KeyOf returns the id of the key that sealed a value.
func KeyOf(sealed string) (string, error) {
	parts := strings.SplitN(sealed, ":", 3)
	if len(parts) != 3 || parts[0] != "v1" {
		return "", ErrCorrupt
	}
	return parts[1], nil
}

// Open decrypts a value from Seal with whichever key sealed it.
func (k *Keyring) Open(sealed string, aad []byte) ([]byte, error) {
	id, err := KeyOf(sealed)
	if err != nil {
		return nil, err
	}
	g, err := k.aead(id)
	if err != nil {
		return nil, err
	}
	raw, err := base64.StdEncoding.DecodeString(sealed[len("v1:")+len(id)+1:])
	if err != nil || len(raw) < g.NonceSize()+g.Overhead() {
		return nil, ErrCorrupt
	}
	pt, err := g.Open(nil, raw[:g.NonceSize()], raw[g.NonceSize():], aad)
	if err != nil {
		return nil, ErrCorrupt
	}
	return pt, nil
}
