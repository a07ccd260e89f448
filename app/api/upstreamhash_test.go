package api_test

import (
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/hex"
)

func upstreamHashOf(pw string) string {
	salt := []byte("0123456789abcdef")
	key, _ := pbkdf2.Key(sha256.New, pw, salt, 100_000, 32)
	return "pbkdf2:100000:" + hex.EncodeToString(salt) + ":" + hex.EncodeToString(key)
}
