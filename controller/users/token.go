package users

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
)

// tokenPrefix starts every token NewToken makes, so that secret scanners and people can
// tell a socklab token when they see one.
const tokenPrefix = "socklab_"

// NewToken returns a fresh token (32 random bytes, base64url) and its Hash.
func NewToken() (token, hash string) {
	// crypto/rand.Read never fails (it panics if the kernel gives no randomness).
	b := make([]byte, 32)
	rand.Read(b)
	token = tokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return token, Hash(token)
}

// Hash is what a users file keeps of a token: its SHA-256, in lower-case hex.
func Hash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
