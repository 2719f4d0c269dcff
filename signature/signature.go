// Package signature signs Dualhook event webhooks and lets receivers verify
// them. It depends on the standard library only, so partners can import it
// without pulling in the rest of Dualhook.
//
// Every delivery carries two independent signatures over the same raw body
// (SPEC §8.1):
//
//   - X-Dualhook-Signature: sha256=<hex HMAC-SHA256(secret, body)>, where
//     the key is the WHOLE secret string "whsec_…" as UTF-8 bytes. This is
//     the hosted service's recipe, kept for wire compatibility. It has no
//     timestamp, so it does not protect against replays: receivers should
//     dedupe on X-Dualhook-Event-Id.
//   - Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature:
//     v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>), where the
//     key is the base64-decoded part after "whsec_". The signed timestamp
//     lets receivers reject replays; off-the-shelf Standard Webhooks
//     libraries verify it unchanged.
//
// During a signing-secret rotation (24 h, SPEC §8.4) webhook-signature lists
// both signatures, new first; X-Dualhook-Signature uses the new secret and
// X-Dualhook-Signature-Previous carries the old-secret signature.
package signature

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Header names. Go canonicalises header keys (Webhook-Id); HTTP header
// names are case-insensitive, so receivers may look them up in any case.
const (
	HeaderEvent             = "X-Dualhook-Event"
	HeaderEventID           = "X-Dualhook-Event-Id"
	HeaderSignature         = "X-Dualhook-Signature"
	HeaderSignaturePrevious = "X-Dualhook-Signature-Previous"
	HeaderWebhookID         = "webhook-id"
	HeaderWebhookTimestamp  = "webhook-timestamp"
	HeaderWebhookSignature  = "webhook-signature"
)

// SecretPrefix starts every signing secret (the Standard Webhooks form).
const SecretPrefix = "whsec_"

// secretKeyBytes is the size of the random key behind a secret we issue.
const secretKeyBytes = 32

// DefaultTolerance is the timestamp window Verify uses when given a
// non-positive tolerance; it is the Standard Webhooks recommendation.
const DefaultTolerance = 5 * time.Minute

// Errors returned by ValidateSecret, Verify and VerifyLegacy. They never
// include secrets or signatures.
var (
	ErrInvalidSecret           = errors.New("signature: secret must be whsec_ followed by the base64 encoding of 32 bytes")
	ErrMissingHeaders          = errors.New("signature: missing signature headers")
	ErrInvalidTimestamp        = errors.New("signature: webhook-timestamp is not a unix time in seconds")
	ErrTimestampOutOfTolerance = errors.New("signature: webhook-timestamp is outside the tolerance window")
	ErrMalformedSignature      = errors.New("signature: signature header is malformed")
	ErrNoMatchingSignature     = errors.New("signature: no matching signature")
)

// Secrets are the signing secrets in force for a partner. Previous is set
// only during the 24 h after a rotation.
type Secrets struct {
	Current  string
	Previous string
}

// NewSecret returns a fresh signing secret: "whsec_" + base64(32 random
// bytes).
func NewSecret() (string, error) {
	b := make([]byte, secretKeyBytes)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b), nil
}

// ValidateSecret checks that s has exactly the form NewSecret produces.
// Sign requires it; receivers holding a secret issued by Dualhook can use it
// to catch copy-paste damage early.
func ValidateSecret(s string) error {
	key, err := standardKey(s)
	if err != nil || len(key) != secretKeyBytes {
		return ErrInvalidSecret
	}
	return nil
}

// standardKey derives the Standard Webhooks HMAC key: the base64-decoded
// part after "whsec_". Strict decoding, so one secret has one spelling.
func standardKey(secret string) ([]byte, error) {
	rest, ok := strings.CutPrefix(secret, SecretPrefix)
	if !ok || rest == "" {
		return nil, ErrInvalidSecret
	}
	key, err := base64.StdEncoding.Strict().DecodeString(rest)
	if err != nil {
		return nil, ErrInvalidSecret
	}
	return key, nil
}

// legacyMAC is the X-Dualhook-Signature MAC: the whole secret string is the
// key (that is what the hosted service's recipe does).
func legacyMAC(secret string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return m.Sum(nil)
}

// standardMAC is the webhook-signature MAC over "{id}.{timestamp}.{body}".
func standardMAC(key []byte, id, timestamp string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Sign returns the headers of one delivery attempt: Content-Type,
// X-Dualhook-Event, X-Dualhook-Event-Id, X-Dualhook-Signature (and
// -Previous during rotation), webhook-id, webhook-timestamp and
// webhook-signature. body must be the exact bytes sent.
//
// Both secrets must pass ValidateSecret. Sign panics otherwise, without
// revealing the secret: a malformed stored secret is a data bug, and
// sending deliveries nobody can verify would hide it.
func Sign(secrets Secrets, eventID, eventType string, ts time.Time, body []byte) http.Header {
	curKey := mustKey(secrets.Current, "current")
	timestamp := strconv.FormatInt(ts.Unix(), 10)

	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set(HeaderEvent, eventType)
	h.Set(HeaderEventID, eventID)
	h.Set(HeaderSignature, "sha256="+hex.EncodeToString(legacyMAC(secrets.Current, body)))
	h.Set(HeaderWebhookID, eventID)
	h.Set(HeaderWebhookTimestamp, timestamp)

	sigs := "v1," + base64.StdEncoding.EncodeToString(standardMAC(curKey, eventID, timestamp, body))
	if secrets.Previous != "" && secrets.Previous != secrets.Current {
		prevKey := mustKey(secrets.Previous, "previous")
		sigs += " v1," + base64.StdEncoding.EncodeToString(standardMAC(prevKey, eventID, timestamp, body))
		h.Set(HeaderSignaturePrevious, "sha256="+hex.EncodeToString(legacyMAC(secrets.Previous, body)))
	}
	h.Set(HeaderWebhookSignature, sigs)
	return h
}

func mustKey(secret, which string) []byte {
	if ValidateSecret(secret) != nil {
		panic("signature: Sign called with an invalid " + which + " secret")
	}
	key, _ := standardKey(secret)
	return key
}

// Verify checks the Standard Webhooks headers of a request: the timestamp
// must be within tolerance of now in either direction (a non-positive
// tolerance means DefaultTolerance), and one of the v1 signatures in
// webhook-signature must match. Entries of other versions are ignored, so
// future signature schemes do not break today's receivers. body must be
// the raw request body, before any JSON parsing.
//
// The secret may be any whsec_ secret with a valid base64 key (not only
// 32-byte ones), as in other Standard Webhooks implementations.
func Verify(secret string, header http.Header, body []byte, tolerance time.Duration, now time.Time) error {
	key, err := standardKey(secret)
	if err != nil {
		return err
	}
	id := get(header, HeaderWebhookID)
	timestamp := get(header, HeaderWebhookTimestamp)
	sigHeader := get(header, HeaderWebhookSignature)
	if id == "" || timestamp == "" || sigHeader == "" {
		return ErrMissingHeaders
	}
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil || ts < 0 || strings.HasPrefix(timestamp, "+") {
		return ErrInvalidTimestamp
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	skew := now.Unix() - ts
	tol := int64(tolerance / time.Second)
	if skew > tol || skew < -tol {
		return ErrTimestampOutOfTolerance
	}
	expected := standardMAC(key, id, timestamp, body)
	for _, entry := range strings.Fields(sigHeader) {
		version, sig, ok := strings.Cut(entry, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(sig)
		if err != nil {
			continue
		}
		if hmac.Equal(got, expected) {
			return nil
		}
	}
	return ErrNoMatchingSignature
}

// VerifyLegacy checks X-Dualhook-Signature against secret (the whole
// "whsec_…" string is the key). It also accepts a match in
// X-Dualhook-Signature-Previous, so a receiver still holding the old secret
// keeps verifying during the 24 h after a rotation and can switch secrets
// at its own pace. This header carries no timestamp: dedupe on
// X-Dualhook-Event-Id to resist replays, or prefer Verify.
func VerifyLegacy(secret string, header http.Header, body []byte) error {
	if secret == "" {
		return ErrInvalidSecret
	}
	values := []string{get(header, HeaderSignature), get(header, HeaderSignaturePrevious)}
	if values[0] == "" && values[1] == "" {
		return ErrMissingHeaders
	}
	expected := legacyMAC(secret, body)
	malformed := false
	for _, v := range values {
		if v == "" {
			continue
		}
		hexSig, ok := strings.CutPrefix(v, "sha256=")
		if !ok {
			malformed = true
			continue
		}
		got, err := hex.DecodeString(hexSig)
		if err != nil {
			malformed = true
			continue
		}
		if hmac.Equal(got, expected) {
			return nil
		}
	}
	if malformed {
		return ErrMalformedSignature
	}
	return ErrNoMatchingSignature
}

// get is header.Get that also finds keys stored without canonicalisation
// (a receiver building http.Header by hand from lowercase names).
func get(h http.Header, name string) string {
	if v := h.Get(name); v != "" {
		return v
	}
	for k, vs := range h {
		if len(vs) > 0 && strings.EqualFold(k, name) {
			return vs[0]
		}
	}
	return ""
}
