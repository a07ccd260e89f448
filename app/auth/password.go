package auth

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
)

// argon2id parameters: OWASP's recommended minimum (19 MiB, 2 passes, one
// lane), which keeps a login well under 100 ms on a small machine.
// https://cheatsheetseries.owasp.org/cheatsheets/Password_Storage_Cheat_Sheet.html
const (
	argonMemoryKiB = 19 * 1024
	argonTime      = 2
	argonThreads   = 1
	argonKeyLen    = 32
	argonSaltLen   = 16
)

// Password length limits, in bytes.
const (
	MinPasswordLen = 8
	MaxPasswordLen = 512
)

var errBadHash = errors.New("unrecognized password hash")

// HashPassword returns a PHC-format argon2id hash of pw.
func HashPassword(pw string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemoryKiB, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemoryKiB, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// CheckPassword reports whether pw matches hash, in constant time for a
// given hash. Besides agentops' own argon2id hashes it accepts the
// PBKDF2 hashes of the upstream gateway's email sign-in (imported by
// import-upstream; NeedsRehash tells the caller to replace them).
func CheckPassword(hash, pw string) (bool, error) {
	if strings.HasPrefix(hash, "pbkdf2:") {
		return checkUpstreamPBKDF2(hash, pw)
	}
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errBadHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errBadHash
	}
	var mem uint32
	var t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &t, &p); err != nil || mem == 0 || t == 0 || p == 0 {
		return false, errBadHash
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil {
		return false, errBadHash
	}
	want, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return false, errBadHash
	}
	got := argon2.IDKey([]byte(pw), salt, t, mem, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// dummyHash is checked against when the email is unknown, so that a login
// for a missing account costs as much as one for a real account.
var dummyHash = sync.OnceValue(func() string {
	h, err := HashPassword("agentops-dummy-password")
	if err != nil {
		panic(err)
	}
	return h
})

// NeedsRehash reports whether a hash that just matched is not agentops'
// own format (an imported upstream hash), so that it is replaced.
func NeedsRehash(hash string) bool { return !strings.HasPrefix(hash, "$argon2id$") }

// Upstream's email sign-in stores "pbkdf2:ITERATIONS:SALT_HEX:HASH_HEX":
// PBKDF2-HMAC-SHA256 of the password, a 16-byte salt, a 32-byte key, at
// least 100 000 iterations (it refuses fewer, and so do we).
const (
	upstreamMinIterations = 100_000
	upstreamMaxIterations = 10_000_000
)

func checkUpstreamPBKDF2(hash, pw string) (bool, error) {
	parts := strings.Split(hash, ":")
	if len(parts) != 4 {
		return false, errBadHash
	}
	iter, err := strconv.Atoi(parts[1])
	if err != nil || iter < upstreamMinIterations || iter > upstreamMaxIterations {
		return false, errBadHash
	}
	salt, err := hex.DecodeString(parts[2])
	if err != nil || len(salt) == 0 {
		return false, errBadHash
	}
	want, err := hex.DecodeString(parts[3])
	if err != nil || len(want) == 0 || len(want) > 64 {
		return false, errBadHash
	}
	got, err := pbkdf2.Key(sha256.New, pw, salt, iter, len(want))
	if err != nil {
		return false, errBadHash
	}
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}
