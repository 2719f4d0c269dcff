package e2e

import (
	"encoding/base64"
	"encoding/json"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"

	"github.com/dualhook/dualhook/internal/payloadcodec"
)

func workflowExecution(id string) *commonpb.WorkflowExecution {
	return &commonpb.WorkflowExecution{WorkflowId: id}
}

// protojson varies its white space on purpose, so the pattern allows any.
var payloadJSON = regexp.MustCompile(`\{\s*"metadata":\s*\{[^{}]*\},\s*"data":\s*"[^"]*"\s*\}`)

// decodeAll finds every payload in a history's JSON, decrypts it with the codec and returns the
// history with the decoded payload data appended, so secrets can be searched in plaintext.
func decodeAll(t *testing.T, codec payloadcodec.Codec, history string) string {
	t.Helper()
	out := history
	for _, m := range payloadJSON.FindAllString(history, -1) {
		var wire struct {
			Metadata map[string]string `json:"metadata"`
			Data     string            `json:"data"`
		}
		require.NoError(t, json.Unmarshal([]byte(m), &wire))
		p := &commonpb.Payload{Metadata: map[string][]byte{}}
		for k, v := range wire.Metadata {
			b, err := base64.StdEncoding.DecodeString(v)
			require.NoError(t, err)
			p.Metadata[k] = b
		}
		data, err := base64.StdEncoding.DecodeString(wire.Data)
		require.NoError(t, err)
		p.Data = data
		decoded, err := codec.Decode([]*commonpb.Payload{p})
		require.NoError(t, err)
		out += "\n" + string(decoded[0].Data)
	}
	return out
}
