package sandbox

import (
	"crypto/rand"
	"encoding/base64"
	"math/big"
	"regexp"
	"strings"
)

// Shapes of Meta's identifiers, so that code written against the sandbox does
// not accidentally depend on shorter or differently formed values.
var (
	numericIDPattern = regexp.MustCompile(`^[1-9][0-9]{5,19}$`)
	versionPattern   = regexp.MustCompile(`^v\d+\.\d+$`)
)

// newNumericID returns a random numeric id of 15 or 16 digits (Meta's object
// ids for businesses, WABAs and phone numbers look like this).
func newNumericID() string {
	digits := 15 + int(randInt(2))
	var b strings.Builder
	b.WriteByte(byte('1' + randInt(9)))
	for b.Len() < digits {
		b.WriteByte(byte('0' + randInt(10)))
	}
	return b.String()
}

// newDigits returns n random decimal digits (leading zeros allowed).
func newDigits(n int) string {
	var b strings.Builder
	for b.Len() < n {
		b.WriteByte(byte('0' + randInt(10)))
	}
	return b.String()
}

// newCode returns an opaque authorization code: Meta's are ~300–450 chars and
// start with "AQ".
func newCode() string { return "AQ" + randomURLSafe(260) }

// newAccessToken returns an opaque business token, prefixed "EAA" like Meta's.
func newAccessToken() string {
	return "EAA" + strings.NewReplacer("-", "", "_", "").Replace(randomURLSafe(200))
}

// newTraceID mimics fbtrace_id / x-fb-trace-id values ("Az8or2yhqkZfEZ-_4Qn_Bam").
func newTraceID() string { return "A" + randomURLSafe(16)[:22] }

func randomURLSafe(nBytes int) string {
	b := make([]byte, nBytes)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func randInt(n int64) int64 {
	v, err := rand.Int(rand.Reader, big.NewInt(n))
	if err != nil {
		panic(err)
	}
	return v.Int64()
}

// redact keeps a short prefix so that a value can be told apart in logs and
// state dumps without being usable.
func redact(secret string) string {
	if len(secret) <= 8 {
		return "[redacted]"
	}
	return secret[:6] + "…[redacted]"
}
