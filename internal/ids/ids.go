// Package ids makes the prefixed, random, opaque identifiers of SPEC §1 (ptn_, key_, sess_, …).
package ids

import (
	"crypto/rand"
	"crypto/sha256"
	"math/big"
	"strings"
)

// Prefixes of every identifier the service hands out.
const (
	Partner    = "ptn_"
	APIKey     = "key_"
	Session    = "sess_"
	Connection = "conn_"
	Event      = "evt_"
	Delivery   = "dlv_"
	Secret     = "sec_"
	Audit      = "aud_"
)

// base62 keeps identifiers URL-safe and double-click selectable.
const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// randomLength characters of base62 carry 22*log2(62) ≈ 131 bits, well over SPEC §1's 96.
const randomLength = 22

// New returns prefix followed by random base62 characters.
func New(prefix string) string {
	return prefix + RandomString(randomLength)
}

// RandomString returns n uniformly random base62 characters from crypto/rand.
func RandomString(n int) string {
	var sb strings.Builder
	sb.Grow(n)
	buf := make([]byte, n+n/2)
	for sb.Len() < n {
		if _, err := rand.Read(buf); err != nil {
			panic("ids: crypto/rand failed: " + err.Error())
		}
		for _, b := range buf {
			// 248 = 4*62: rejecting larger bytes keeps every character equally likely.
			if b < 248 && sb.Len() < n {
				sb.WriteByte(base62[b%62])
			}
		}
	}
	return sb.String()
}

// HasPrefix reports whether id looks like an identifier of the given kind; handlers use it to
// answer 404 for ids of the wrong kind without a database round trip.
func HasPrefix(id, prefix string) bool {
	if !strings.HasPrefix(id, prefix) || len(id) <= len(prefix) || len(id) > 64 {
		return false
	}
	for i := len(prefix); i < len(id); i++ {
		if strings.IndexByte(base62, id[i]) < 0 {
			return false
		}
	}
	return true
}

// Derived returns prefix followed by randomLength base62 characters computed from parts: the
// same parts always give the same identifier. Workflows use it with their run id (a random
// UUID) so an identifier made in workflow code survives a replay without a recorded side
// effect; see workflows.IDSource.
func Derived(prefix string, parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0}) // "ab","c" and "a","bc" must differ
	}
	n := new(big.Int).SetBytes(h.Sum(nil))
	base := big.NewInt(int64(len(base62)))
	var sb strings.Builder
	sb.Grow(len(prefix) + randomLength)
	sb.WriteString(prefix)
	digit := new(big.Int)
	for range randomLength {
		n.DivMod(n, base, digit)
		sb.WriteByte(base62[digit.Int64()])
	}
	return sb.String()
}
