package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// APIKeyPrefix starts every API key, so that keys are recognizable in logs
// and secret scanners, and so that Authenticate knows which table to ask.
const APIKeyPrefix = "sk_"

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b)
}

// newLoginToken returns 32 random bytes as 64 hex characters.
func newLoginToken() string { return randomHex(32) }

// newAPIKey returns "sk_" and 64 hex characters.
func newAPIKey() string { return APIKeyPrefix + randomHex(32) }

// HashToken is the hex SHA-256 stored in place of a token.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// displayPrefix is what a key list shows: its first 7 and last 4 characters.
func displayPrefix(key string) string {
	if len(key) < 11 {
		return key
	}
	return key[:7] + "..." + key[len(key)-4:]
}

// isAPIKey reports whether a token has the API key form.
func isAPIKey(token string) bool { return strings.HasPrefix(token, APIKeyPrefix) }
