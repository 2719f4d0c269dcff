package apikey

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestGeneratedKeysAreWellFormedAndDistinct(t *testing.T) {
	a, b := Generate(), Generate()
	assert.True(t, strings.HasPrefix(a.Plaintext, "dh_live_"))
	assert.True(t, WellFormed(a.Plaintext))
	assert.NotEqual(t, a.Plaintext, b.Plaintext)
	assert.Equal(t, Hash(a.Plaintext), a.Hash)
	assert.Len(t, a.Hash, 32)
	assert.Equal(t, a.Plaintext[:12], a.Display)
	assert.NotContains(t, a.Display, a.Plaintext[12:])
}

func TestWellFormedRejectsLookAlikes(t *testing.T) {
	k := Generate().Plaintext
	flipped := []byte(k)
	if flipped[10] == 'A' {
		flipped[10] = 'B'
	} else {
		flipped[10] = 'A'
	}
	for _, s := range []string{"", "dh_live_", "dh_test_" + k[8:], k + "x", k[:len(k)-1], string(flipped), strings.Replace(k, k[20:21], "-", 1)} {
		assert.False(t, WellFormed(s), s)
	}
}
