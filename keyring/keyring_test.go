package keyring

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestSealOpenAcrossRotation(t *testing.T) {
	k1, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := k1.Seal([]byte("sk-secret"), []byte("row-1"))
	if err != nil {
		t.Fatal(err)
	}
	k2, err := k1.WithNewPrimary()
	if err != nil {
		t.Fatal(err)
	}
	if k2.PrimaryID() == k1.PrimaryID() {
		t.Fatal("rotation kept the same primary")
	}
	pt, err := k2.Open(sealed, []byte("row-1"))
	if err != nil || string(pt) != "sk-secret" {
		t.Fatalf("old key must still open: %q %v", pt, err)
	}
	resealed, _ := k2.Seal(pt, []byte("row-1"))
	if id, _ := KeyOf(resealed); id != k2.PrimaryID() {
		t.Fatalf("new seals must use the new primary, got %s", id)
	}
	k3, err := k2.Without(k1.PrimaryID())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k3.Open(sealed, []byte("row-1")); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("dropped key: want ErrUnknownKey, got %v", err)
	}
	if _, err := k3.Open(resealed, []byte("row-1")); err != nil {
		t.Fatal(err)
	}
	if _, err := k3.Without(k3.PrimaryID()); err == nil {
		t.Fatal("dropping the primary must fail")
	}
}

func TestOpenRejectsTamperingAndWrongContext(t *testing.T) {
	k, _ := Generate()
	sealed, _ := k.Seal([]byte("x"), []byte("a"))
	if _, err := k.Open(sealed, []byte("b")); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("wrong aad: %v", err)
	}
	b := []byte(sealed)
	b[len(b)-3] ^= 1
	if _, err := k.Open(string(b), []byte("a")); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("tampered: %v", err)
	}
	for _, bad := range []string{"", "v2:x:y", "v1:" + k.PrimaryID() + ":!!", "v1:" + k.PrimaryID() + ":AAAA"} {
		if _, err := k.Open(bad, nil); err == nil {
			t.Fatalf("Open(%q) must fail", bad)
		}
	}
}

func TestCheckVerify(t *testing.T) {
	k1, _ := Generate()
	k2, _ := Generate()
	c, err := k1.Check(k1.PrimaryID())
	if err != nil {
		t.Fatal(err)
	}
	if err := k1.Verify(k1.PrimaryID(), c); err != nil {
		t.Fatal(err)
	}
	if err := k2.Verify(k1.PrimaryID(), c); !errors.Is(err, ErrMismatch) {
		t.Fatalf("other keyring: %v", err)
	}
	if err := k1.Verify(k1.PrimaryID(), "00"); !errors.Is(err, ErrMismatch) {
		t.Fatalf("wrong check: %v", err)
	}
}

func TestLoadOrCreateFileModeAndRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "instance.key")
	k, created, err := LoadOrCreate(path)
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", st.Mode().Perm())
	}
	k2, created, err := LoadOrCreate(path)
	if err != nil || created {
		t.Fatalf("reload: %v %v", created, err)
	}
	if k2.PrimaryID() != k.PrimaryID() {
		t.Fatal("reload changed the primary")
	}
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreate(path); err == nil {
		t.Fatal("a corrupt keyring must not be replaced silently")
	}
}

func TestParseBareKey(t *testing.T) {
	a, err := Parse([]byte("MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE=\n"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Parse([]byte("MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE="))
	if a.PrimaryID() != b.PrimaryID() {
		t.Fatal("the same bare key must give the same id on every replica")
	}
	if _, err := Parse([]byte("c2hvcnQ=")); err == nil {
		t.Fatal("a short key must be refused")
	}
}

func TestSealWithNamesTheKeyUsed(t *testing.T) {
	k1, _ := Generate()
	k2, err := k1.WithNewPrimary()
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := k2.SealWith(k1.PrimaryID(), []byte("x"), []byte("a"))
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := KeyOf(sealed); id != k1.PrimaryID() {
		t.Fatalf("sealed with %s, want the old key %s", id, k1.PrimaryID())
	}
	if pt, err := k1.Open(sealed, []byte("a")); err != nil || string(pt) != "x" {
		t.Fatalf("the old keyring alone must open it: %q %v", pt, err)
	}
	if !k2.Has(k1.PrimaryID()) || k1.Has(k2.PrimaryID()) {
		t.Fatal("Has is wrong")
	}
	if _, err := k1.SealWith(k2.PrimaryID(), []byte("x"), nil); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("sealing with a key it lacks: %v", err)
	}
}
