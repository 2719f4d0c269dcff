package payloadcodec

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dualhook/dualhook/internal/keyring"
)

func TestPayloadsAreEncryptedAndRoundTrip(t *testing.T) {
	spec, err := keyring.NewKeySpec("k1")
	require.NoError(t, err)
	ring, err := keyring.Parse(spec, "")
	require.NoError(t, err)
	dc := DataConverter(ring)

	type input struct{ SessionID, Note string }
	in := input{SessionID: "sess_abc", Note: "visible-only-after-decoding"}
	p, err := dc.ToPayload(in)
	require.NoError(t, err)
	assert.Equal(t, Encoding, string(p.Metadata["encoding"]))
	assert.Equal(t, "k1", string(p.Metadata[MetadataKeyID]))
	assert.NotContains(t, string(p.Data), "visible-only-after-decoding")

	var out input
	require.NoError(t, dc.FromPayload(p, &out))
	assert.Equal(t, in, out)

	other, err := keyring.NewKeySpec("k1")
	require.NoError(t, err)
	otherRing, err := keyring.Parse(other, "")
	require.NoError(t, err)
	assert.Error(t, DataConverter(otherRing).FromPayload(p, &out), "another ring's key must not decrypt")
}
