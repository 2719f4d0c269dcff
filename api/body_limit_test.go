package api_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/dualhook/dualhook/testkit/apitest"
)

func rawPost(t *testing.T, url, contentType string, body []byte, header map[string]string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", contentType)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode
}

// Body limits are per route: Meta batches its webhooks and Temporal payloads are large, while the
// partner API keeps SPEC §1's 64 KiB.
func TestBodyLimitsPerRoute(t *testing.T) {
	env := apitest.New(t, false)
	p := env.NewPartner()

	big := `{"object":"whatsapp_business_account","entry":[],"pad":"` + strings.Repeat("x", 200<<10) + `"}`
	status := rawPost(t, env.HTTP.URL+"/meta/webhooks", "application/json", []byte(big),
		map[string]string{"X-Hub-Signature-256": "sha256=" + strings.Repeat("0", 64)})
	assert.NotEqual(t, 413, status, "a 200 KiB Meta webhook is within its limit")
	assert.Equal(t, 401, status, "and is refused for its signature only")

	tooBig := strings.Repeat("y", 2<<20)
	status = rawPost(t, env.HTTP.URL+"/meta/webhooks", "application/json", []byte(tooBig), nil)
	assert.Equal(t, 413, status, "Meta webhooks still have a limit")

	res := env.Do(apitest.Request{Method: "POST", Path: "/api/v1/onboarding/sessions", Key: p.Key,
		Body: `{"tenantId":"t1","pad":"` + strings.Repeat("z", 100<<10) + `"}`})
	assert.Equal(t, 413, res.Status)
	assert.Equal(t, "payload_too_large", res.ErrorCode())
	assert.Contains(t, string(res.Body), "65536 bytes")

	// A 1 MiB Temporal payload goes through the codec endpoint.
	plain, err := converter.GetDefaultDataConverter().ToPayloads(map[string]string{"blob": strings.Repeat("b", 1<<20)})
	require.NoError(t, err)
	enc := codecRequest(t, env.HTTP.URL+"/temporal-codec/encode", "Bearer "+env.Config.OperatorToken, plain)
	require.Equal(t, 200, enc.status, "%.200s", enc.body)
	var encoded commonpb.Payloads
	require.NoError(t, protojson.Unmarshal(enc.body, &encoded))
	dec := codecRequest(t, env.HTTP.URL+"/temporal-codec/decode", "Bearer "+env.Config.OperatorToken, &encoded)
	assert.Equal(t, 200, dec.status, "%.200s", dec.body)
}
