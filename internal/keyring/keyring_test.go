package keyring

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func mustSpec(t *testing.T, id string) string {
	t.Helper()
	s, err := NewKeySpec(id)
	require.NoError(t, err)
	return s
}

func TestRoundTripAndContextBinding(t *testing.T) {
	ring, err := Parse(mustSpec(t, "k1"), "")
	require.NoError(t, err)
	ct := ring.EncryptString("EAAtoken", "secrets.access_token")
	assert.True(t, strings.HasPrefix(ct, "v1.k1."))
	assert.NotContains(t, ct, "EAAtoken")

	plain, err := ring.DecryptString(ct, "secrets.access_token")
	require.NoError(t, err)
	assert.Equal(t, "EAAtoken", plain)

	_, err = ring.DecryptString(ct, "partners.signing_secret")
	assert.ErrorIs(t, err, ErrDecrypt, "a ciphertext moved to another context must not decrypt")

	tampered := ct[:len(ct)-2] + "AA"
	_, err = ring.DecryptString(tampered, "secrets.access_token")
	assert.ErrorIs(t, err, ErrDecrypt)
}

func TestRotationKeepsOldCiphertextsReadable(t *testing.T) {
	k1, k2 := mustSpec(t, "k1"), mustSpec(t, "k2")
	old, err := Parse(k1, "")
	require.NoError(t, err)
	ct := old.EncryptString("pin 123456", "ctx")

	rotated, err := Parse(k2+","+k1, "")
	require.NoError(t, err)
	assert.Equal(t, "k2", rotated.ActiveKeyID())
	plain, err := rotated.DecryptString(ct, "ctx")
	require.NoError(t, err)
	assert.Equal(t, "pin 123456", plain)
	assert.True(t, strings.HasPrefix(rotated.EncryptString("x", "ctx"), "v1.k2."))

	withoutK1, err := Parse(k2, "")
	require.NoError(t, err)
	_, err = withoutK1.DecryptString(ct, "ctx")
	assert.ErrorIs(t, err, ErrUnknownKey)
}

func TestParseRejectsBadConfiguration(t *testing.T) {
	good := mustSpec(t, "k1")
	for name, tc := range map[string]struct{ spec, active string }{
		"empty":          {"", ""},
		"no colon":       {"k1", ""},
		"bad id":         {"k 1:" + strings.SplitN(good, ":", 2)[1], ""},
		"short key":      {"k1:AAAA", ""},
		"not base64":     {"k1:!!!!", ""},
		"duplicate":      {good + "," + good, ""},
		"unknown active": {good, "k9"},
	} {
		_, err := Parse(tc.spec, tc.active)
		assert.Error(t, err, name)
		if err != nil {
			assert.NotContains(t, err.Error(), strings.SplitN(good, ":", 2)[1], "%s: key material leaked into the error", name)
		}
	}
}
