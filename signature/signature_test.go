package signature

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type vector struct {
	Name                       string `json:"name"`
	Secret                     string `json:"secret"`
	PreviousSecret             string `json:"previousSecret,omitempty"`
	ID                         string `json:"id"`
	EventType                  string `json:"eventType"`
	Timestamp                  int64  `json:"timestamp"`
	Body                       string `json:"body"`
	XDualhookSignature         string `json:"xDualhookSignature"`
	XDualhookSignaturePrevious string `json:"xDualhookSignaturePrevious,omitempty"`
	WebhookSignature           string `json:"webhookSignature"`
}

func loadVectors(t *testing.T) []vector {
	t.Helper()
	raw, err := os.ReadFile("testdata/vectors.json")
	require.NoError(t, err)
	var doc struct {
		Vectors []vector `json:"vectors"`
	}
	require.NoError(t, json.Unmarshal(raw, &doc))
	require.NotEmpty(t, doc.Vectors)
	return doc.Vectors
}

// The vectors were computed with an independent implementation (Python's
// hmac module); Sign must reproduce them byte for byte.
func TestSignMatchesVectors(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			h := Sign(Secrets{Current: v.Secret, Previous: v.PreviousSecret}, v.ID, v.EventType, time.Unix(v.Timestamp, 0), []byte(v.Body))
			assert.Equal(t, "application/json", h.Get("Content-Type"))
			assert.Equal(t, v.EventType, h.Get(HeaderEvent))
			assert.Equal(t, v.ID, h.Get(HeaderEventID))
			assert.Equal(t, v.ID, h.Get(HeaderWebhookID))
			assert.Equal(t, time.Unix(v.Timestamp, 0).Unix(), mustInt(t, h.Get(HeaderWebhookTimestamp)))
			assert.Equal(t, v.XDualhookSignature, h.Get(HeaderSignature))
			assert.Equal(t, v.XDualhookSignaturePrevious, h.Get(HeaderSignaturePrevious))
			assert.Equal(t, v.WebhookSignature, h.Get(HeaderWebhookSignature))

			now := time.Unix(v.Timestamp, 0)
			body := []byte(v.Body)
			assert.NoError(t, Verify(v.Secret, h, body, 0, now))
			assert.NoError(t, VerifyLegacy(v.Secret, h, body))
			if v.PreviousSecret != "" {
				assert.NoError(t, Verify(v.PreviousSecret, h, body, 0, now), "old secret still verifies during rotation")
				assert.NoError(t, VerifyLegacy(v.PreviousSecret, h, body), "via X-Dualhook-Signature-Previous")
			}
		})
	}
}

func mustInt(t *testing.T, s string) int64 {
	t.Helper()
	var n int64
	require.NoError(t, json.Unmarshal([]byte(s), &n))
	return n
}

func TestNewSecret(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 20; i++ {
		s, err := NewSecret()
		require.NoError(t, err)
		require.NoError(t, ValidateSecret(s))
		require.True(t, strings.HasPrefix(s, "whsec_"))
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whsec_"))
		require.NoError(t, err)
		assert.Len(t, key, 32)
		assert.False(t, seen[s], "secrets are random")
		seen[s] = true
	}
}

func TestValidateSecret(t *testing.T) {
	good := "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 32))
	assert.NoError(t, ValidateSecret(good))
	for name, bad := range map[string]string{
		"empty":          "",
		"no prefix":      base64.StdEncoding.EncodeToString(make([]byte, 32)),
		"wrong prefix":   "whsk_" + base64.StdEncoding.EncodeToString(make([]byte, 32)),
		"prefix only":    "whsec_",
		"not base64":     "whsec_!!!!" + strings.Repeat("A", 40),
		"short key":      "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 24)),
		"long key":       "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 64)),
		"url alphabet":   "whsec_" + base64.URLEncoding.EncodeToString([]byte(strings.Repeat("\xfb\xff", 16))),
		"no padding":     "whsec_" + base64.RawStdEncoding.EncodeToString(make([]byte, 32)),
		"trailing space": good + " ",
	} {
		err := ValidateSecret(bad)
		assert.ErrorIs(t, err, ErrInvalidSecret, name)
	}
}

func TestSignRotationAndPanics(t *testing.T) {
	cur, err := NewSecret()
	require.NoError(t, err)
	prev, err := NewSecret()
	require.NoError(t, err)
	body := []byte(`{"event":"onboarding.started"}`)
	ts := time.Unix(1700000000, 0)

	h := Sign(Secrets{Current: cur}, "evt_1", "onboarding.started", ts, body)
	assert.Empty(t, h.Values(HeaderSignaturePrevious), "no rotation, no previous header")
	assert.Len(t, strings.Fields(h.Get(HeaderWebhookSignature)), 1)

	h = Sign(Secrets{Current: cur, Previous: prev}, "evt_1", "onboarding.started", ts, body)
	sigs := strings.Fields(h.Get(HeaderWebhookSignature))
	require.Len(t, sigs, 2)
	onlyCur := Sign(Secrets{Current: cur}, "evt_1", "onboarding.started", ts, body)
	onlyPrev := Sign(Secrets{Current: prev}, "evt_1", "onboarding.started", ts, body)
	assert.Equal(t, onlyCur.Get(HeaderWebhookSignature), sigs[0], "new secret first")
	assert.Equal(t, onlyPrev.Get(HeaderWebhookSignature), sigs[1])
	assert.Equal(t, onlyCur.Get(HeaderSignature), h.Get(HeaderSignature), "legacy header uses the new secret")
	assert.Equal(t, onlyPrev.Get(HeaderSignature), h.Get(HeaderSignaturePrevious))

	assert.Len(t, strings.Fields(Sign(Secrets{Current: cur, Previous: cur}, "evt_1", "x", ts, body).Get(HeaderWebhookSignature)), 1)

	bad := "whsec_c2VjcmV0LXRoYXQtbXVzdC1ub3QtbGVhaw==" // 24 bytes
	defer func() {
		r := recover()
		require.NotNil(t, r, "Sign must refuse an invalid secret")
		assert.NotContains(t, r, "c2VjcmV0")
	}()
	Sign(Secrets{Current: bad}, "evt_1", "x", ts, body)
}

func TestVerify(t *testing.T) {
	secret, err := NewSecret()
	require.NoError(t, err)
	other, err := NewSecret()
	require.NoError(t, err)
	body := []byte(`{"event":"connection.disconnected","id":"evt_9","data":{}}`)
	ts := time.Unix(1750000000, 0)
	signed := Sign(Secrets{Current: secret}, "evt_9", "connection.disconnected", ts, body)

	with := func(mut func(h http.Header)) http.Header {
		h := signed.Clone()
		mut(h)
		return h
	}
	cases := []struct {
		name   string
		secret string
		header http.Header
		body   []byte
		tol    time.Duration
		now    time.Time
		want   error
	}{
		{"ok", secret, signed, body, 0, ts, nil},
		{"ok at +tolerance", secret, signed, body, 0, ts.Add(5 * time.Minute), nil},
		{"ok at -tolerance", secret, signed, body, 0, ts.Add(-5 * time.Minute), nil},
		{"stale", secret, signed, body, 0, ts.Add(5*time.Minute + time.Second), ErrTimestampOutOfTolerance},
		{"future", secret, signed, body, 0, ts.Add(-5*time.Minute - time.Second), ErrTimestampOutOfTolerance},
		{"custom tolerance", secret, signed, body, time.Hour, ts.Add(30 * time.Minute), nil},
		{"tampered body", secret, signed, append([]byte(nil), append(body, ' ')...), 0, ts, ErrNoMatchingSignature},
		{"wrong secret", other, signed, body, 0, ts, ErrNoMatchingSignature},
		{"legacy key used as standard key", "whsec_" + base64.StdEncoding.EncodeToString([]byte(secret)), signed, body, 0, ts, ErrNoMatchingSignature},
		{"changed id", secret, with(func(h http.Header) { h.Set(HeaderWebhookID, "evt_10") }), body, 0, ts, ErrNoMatchingSignature},
		{"changed timestamp", secret, with(func(h http.Header) { h.Set(HeaderWebhookTimestamp, "1750000001") }), body, 0, ts, ErrNoMatchingSignature},
		{"missing id", secret, with(func(h http.Header) { h.Del(HeaderWebhookID) }), body, 0, ts, ErrMissingHeaders},
		{"missing timestamp", secret, with(func(h http.Header) { h.Del(HeaderWebhookTimestamp) }), body, 0, ts, ErrMissingHeaders},
		{"missing signature", secret, with(func(h http.Header) { h.Del(HeaderWebhookSignature) }), body, 0, ts, ErrMissingHeaders},
		{"non-numeric timestamp", secret, with(func(h http.Header) { h.Set(HeaderWebhookTimestamp, "2025-06-15T00:00:00Z") }), body, 0, ts, ErrInvalidTimestamp},
		{"signed timestamp", secret, with(func(h http.Header) { h.Set(HeaderWebhookTimestamp, "+1750000000") }), body, 0, ts, ErrInvalidTimestamp},
		{"only other versions", secret, with(func(h http.Header) {
			h.Set(HeaderWebhookSignature, strings.Replace(signed.Get(HeaderWebhookSignature), "v1,", "v2,", 1))
		}), body, 0, ts, ErrNoMatchingSignature},
		{"match among others", secret, with(func(h http.Header) {
			h.Set(HeaderWebhookSignature, "v1a,abc v1,bm90LWl0 garbage "+signed.Get(HeaderWebhookSignature))
		}), body, 0, ts, nil},
		{"lowercase header names", secret, http.Header{
			"webhook-id":        {"evt_9"},
			"webhook-timestamp": {signed.Get(HeaderWebhookTimestamp)},
			"webhook-signature": {signed.Get(HeaderWebhookSignature)},
		}, body, 0, ts, nil}, // a hand-built map, not canonicalised
		{"invalid secret", "not-a-secret", signed, body, 0, ts, ErrInvalidSecret},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := Verify(tc.secret, tc.header, tc.body, tc.tol, tc.now)
			if tc.want == nil {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, tc.want)
			assert.NotContains(t, err.Error(), secret)
		})
	}
}

func TestVerifyAcceptsAnyCase(t *testing.T) {
	secret, err := NewSecret()
	require.NoError(t, err)
	body := []byte(`{}`)
	ts := time.Unix(1750000000, 0)
	signed := Sign(Secrets{Current: secret}, "evt_1", "x", ts, body)
	// As an HTTP server would build it from "webhook-id: …" lines.
	h := http.Header{}
	for _, name := range []string{"webhook-id", "webhook-timestamp", "webhook-signature", "x-dualhook-signature"} {
		h.Add(name, signed.Get(name))
	}
	assert.NoError(t, Verify(secret, h, body, 0, ts))
	assert.NoError(t, VerifyLegacy(secret, h, body))
}

// The example from the Standard Webhooks specification (24-byte key):
// Verify interoperates with the reference libraries.
func TestVerifyStandardWebhooksReferenceExample(t *testing.T) {
	h := http.Header{}
	h.Set(HeaderWebhookID, "msg_p5jXN8AQM9LWM0D4loKWxJek")
	h.Set(HeaderWebhookTimestamp, "1614265330")
	h.Set(HeaderWebhookSignature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
	body := []byte(`{"test": 2432232314}`)
	assert.NoError(t, Verify("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", h, body, 0, time.Unix(1614265330, 0)))
	assert.ErrorIs(t, Verify("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", h, []byte(`{"test": 2432232315}`), 0, time.Unix(1614265330, 0)), ErrNoMatchingSignature)
}

func TestVerifyLegacy(t *testing.T) {
	cur, err := NewSecret()
	require.NoError(t, err)
	prev, err := NewSecret()
	require.NoError(t, err)
	stranger, err := NewSecret()
	require.NoError(t, err)
	body := []byte(`{"event":"onboarding.failed"}`)
	rotating := Sign(Secrets{Current: cur, Previous: prev}, "evt_2", "onboarding.failed", time.Now(), body)

	assert.NoError(t, VerifyLegacy(cur, rotating, body))
	assert.NoError(t, VerifyLegacy(prev, rotating, body))
	assert.ErrorIs(t, VerifyLegacy(stranger, rotating, body), ErrNoMatchingSignature)
	assert.ErrorIs(t, VerifyLegacy(cur, rotating, append(body, '\n')), ErrNoMatchingSignature)

	upper := rotating.Clone()
	upper.Set(HeaderSignature, "sha256="+strings.ToUpper(strings.TrimPrefix(rotating.Get(HeaderSignature), "sha256=")))
	assert.NoError(t, VerifyLegacy(cur, upper, body), "hex is case-insensitive")

	none := rotating.Clone()
	none.Del(HeaderSignature)
	none.Del(HeaderSignaturePrevious)
	assert.ErrorIs(t, VerifyLegacy(cur, none, body), ErrMissingHeaders)

	malformed := none.Clone()
	malformed.Set(HeaderSignature, strings.TrimPrefix(rotating.Get(HeaderSignature), "sha256="))
	assert.ErrorIs(t, VerifyLegacy(cur, malformed, body), ErrMalformedSignature)
	malformed.Set(HeaderSignature, "sha256=zz")
	assert.ErrorIs(t, VerifyLegacy(cur, malformed, body), ErrMalformedSignature)

	assert.ErrorIs(t, VerifyLegacy("", rotating, body), ErrInvalidSecret)
	assert.True(t, errors.Is(VerifyLegacy(stranger, rotating, body), ErrNoMatchingSignature))
}
