// Package payloadcodec encrypts every Temporal payload (workflow and activity inputs and
// results, signals, updates) with the service's key ring (SPEC §12), so Temporal's database and
// UI hold only ciphertext. Operators read payloads in the Web UI through the codec endpoint that
// `dualhook serve` offers with operator credentials.
package payloadcodec

import (
	"fmt"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"

	"github.com/dualhook/dualhook/internal/keyring"
)

const (
	// Encoding marks an encrypted payload; the Temporal UI shows it until decoded.
	Encoding = "binary/encrypted"
	// MetadataKeyID names the key ring entry that encrypted the payload.
	MetadataKeyID = "encryption-key-id"
	// associatedData binds ciphertexts to this use, so a payload cannot be replayed as, say, a
	// stored database secret encrypted with the same ring.
	associatedData = "dualhook/temporal-payload/v1"
)

// Codec is a converter.PayloadCodec over a key ring.
type Codec struct{ Ring *keyring.Ring }

var _ converter.PayloadCodec = Codec{}

// Encode encrypts each payload (its metadata and data, marshalled together).
func (c Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := proto.Marshal(p)
		if err != nil {
			return nil, err
		}
		keyID, sealed := c.Ring.Seal(plain, []byte(associatedData))
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{
				converter.MetadataEncoding: []byte(Encoding),
				MetadataKeyID:              []byte(keyID),
			},
			Data: sealed,
		}
	}
	return out, nil
}

// Decode reverses Encode and leaves payloads that are not encrypted as they are.
func (c Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[converter.MetadataEncoding]) != Encoding {
			out[i] = p
			continue
		}
		plain, err := c.Ring.Open(string(p.GetMetadata()[MetadataKeyID]), p.GetData(), []byte(associatedData))
		if err != nil {
			return nil, fmt.Errorf("payloadcodec: %w", err)
		}
		decoded := &commonpb.Payload{}
		if err := proto.Unmarshal(plain, decoded); err != nil {
			return nil, fmt.Errorf("payloadcodec: %w", err)
		}
		out[i] = decoded
	}
	return out, nil
}

// DataConverter is the default converter wrapped with the codec; every client and worker uses it.
func DataConverter(ring *keyring.Ring) converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), Codec{Ring: ring})
}
