package importer

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
)

// Upstream's two schemes for secrets at rest, both AES-256-GCM with a
// random 12-byte nonce before the ciphertext and tag, in standard base64.
// They differ in the key: scheme A pads ENCRYPTION_KEY with '0' to 32
// characters (or cuts it there); scheme B derives it with
// PBKDF2-HMAC-SHA256 (salt "agent-ops-credentials", 100 000 iterations).
// Only opening is implemented: agentops seals with its own keyring.

type upstreamKeys struct {
	a, b cipher.AEAD
}

func newUpstreamKeys(secret string) (*upstreamKeys, error) {
	if secret == "" {
		return nil, nil
	}
	// Scheme A works on the key's characters (UTF-16 code units in
	// JavaScript; for an ASCII key, its bytes).
	runes := []rune(secret)
	for len(runes) < 32 {
		runes = append(runes, '0')
	}
	ka := []byte(string(runes[:32]))
	kb, err := pbkdf2.Key(sha256.New, secret, []byte("agent-ops-credentials"), 100_000, 32)
	if err != nil {
		return nil, err
	}
	a, err := gcm(ka)
	if err != nil {
		return nil, errors.New("upstream encryption key: scheme A needs a key of ASCII characters")
	}
	b, err := gcm(kb)
	if err != nil {
		return nil, err
	}
	return &upstreamKeys{a: a, b: b}, nil
}

func gcm(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, errors.New("key is not 32 bytes")
	}
	blk, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(blk)
}

var errOpen = errors.New("cannot decrypt")

func open(aead cipher.AEAD, b64 string) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
	if err != nil || len(raw) < 12+aead.Overhead() {
		return nil, errOpen
	}
	out, err := aead.Open(nil, raw[:12], raw[12:], nil)
	if err != nil {
		return nil, errOpen
	}
	return out, nil
}

// openA opens a scheme-A value (org LLM keys).
func (k *upstreamKeys) openA(s string) ([]byte, error) { return open(k.a, s) }

// openB opens a scheme-B value (credentials).
func (k *upstreamKeys) openB(s string) ([]byte, error) { return open(k.b, s) }
