// Package apikey makes and checks partner API keys (SPEC §2): `dh_live_<secret>` where the
// secret ends with a checksum, so secret scanners can tell a real key from a look-alike offline
// without calling us. Only a SHA-256 hash and a short display prefix are stored.
package apikey

import (
	"crypto/sha256"
	"hash/crc32"
	"strings"

	"github.com/dualhook/dualhook/internal/ids"
)

// Prefix starts every key; wire-compatible with the hosted service.
const Prefix = "dh_live_"

const (
	randomLength   = 36 // base62 characters: ≈214 bits
	checksumLength = 6  // base62 CRC-32 of the random part, as GitHub's tokens do
	displayLength  = 4  // random characters kept in the display prefix
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// Key is a freshly generated key: Plaintext is shown once and never stored.
type Key struct {
	Plaintext string
	Hash      []byte
	Display   string
}

// Generate returns a new random key.
func Generate() Key {
	random := ids.RandomString(randomLength)
	plaintext := Prefix + random + checksum(random)
	return Key{Plaintext: plaintext, Hash: Hash(plaintext), Display: DisplayPrefix(plaintext)}
}

// Hash is what the database stores and looks keys up by.
func Hash(plaintext string) []byte {
	sum := sha256.Sum256([]byte(plaintext))
	return sum[:]
}

// DisplayPrefix is the part shown in listings so a person can tell keys apart.
func DisplayPrefix(plaintext string) string {
	if len(plaintext) < len(Prefix)+displayLength {
		return Prefix
	}
	return plaintext[:len(Prefix)+displayLength]
}

// WellFormed reports whether s has the shape and a valid checksum of a key. Authentication
// rejects malformed keys before touching the database; the answer is the same 401 either way.
func WellFormed(s string) bool {
	if !strings.HasPrefix(s, Prefix) || len(s) != len(Prefix)+randomLength+checksumLength {
		return false
	}
	body := s[len(Prefix):]
	for i := range len(body) {
		if strings.IndexByte(base62, body[i]) < 0 {
			return false
		}
	}
	return checksum(body[:randomLength]) == body[randomLength:]
}

func checksum(random string) string {
	n := crc32.ChecksumIEEE([]byte(random))
	out := make([]byte, checksumLength)
	for i := checksumLength - 1; i >= 0; i-- {
		out[i] = base62[n%62]
		n /= 62
	}
	return string(out)
}
