package api_test

import (
	"bytes"
	"encoding/json"
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

func TestReadyzChecksPostgresAndTemporal(t *testing.T) {
	env := apitest.New(t, true)
	res := env.Do(apitest.Request{Method: "GET", Path: "/readyz"})
	assert.Equal(t, 200, res.Status, "%s", res.Body)

	noTemporal := apitest.New(t, false)
	res = noTemporal.Do(apitest.Request{Method: "GET", Path: "/readyz"})
	assert.Equal(t, 503, res.Status)
	assert.Equal(t, "service_unavailable", res.ErrorCode())
}

func TestMetricsExposeHTTPLatencyByRoute(t *testing.T) {
	env := apitest.New(t, false)
	p := env.NewPartner()
	env.Do(apitest.Request{Method: "GET", Path: "/api/v1/partner", Key: p.Key})
	body := scrapeMetrics(t, env.Server) // served on the metrics listener (app.MetricsHandler)
	assert.Contains(t, body, `dualhook_http_request_duration_seconds_count{method="GET",route="/api/v1/partner",status="200"} 1`)
	assert.NotContains(t, body, p.Key)
}

type codecResult struct {
	status int
	body   []byte
}

func codecRequest(t *testing.T, url, auth string, payloads *commonpb.Payloads) codecResult {
	t.Helper()
	raw, err := protojson.Marshal(payloads)
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(raw))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Namespace", "default")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return codecResult{res.StatusCode, body}
}

// The Web UI's codec endpoint decodes payloads for operators only.
func TestCodecEndpointRequiresOperatorCredentials(t *testing.T) {
	env := apitest.New(t, false, func(c *configT) { c.CodecCORSOrigins = []string{"http://127.0.0.1:8233"} })
	plain, err := converter.GetDefaultDataConverter().ToPayloads(map[string]string{"sessionId": "sess_123"})
	require.NoError(t, err)
	token := env.Config.OperatorToken

	res := codecRequest(t, env.HTTP.URL+"/temporal-codec/encode", "Bearer "+token, plain)
	require.Equal(t, 200, res.status)
	var encoded commonpb.Payloads
	require.NoError(t, protojson.Unmarshal(res.body, &encoded))
	assert.Equal(t, "binary/encrypted", string(encoded.Payloads[0].Metadata["encoding"]))
	assert.NotContains(t, string(encoded.Payloads[0].Data), "sess_123")

	res = codecRequest(t, env.HTTP.URL+"/temporal-codec/decode", "Bearer "+token, &encoded)
	require.Equal(t, 200, res.status)
	assert.Contains(t, string(res.body), base64Of(`{"sessionId":"sess_123"}`))

	for _, c := range []struct{ url, auth string }{
		{"/temporal-codec/decode", ""},
		{"/temporal-codec/decode", "Bearer wrong-token"},
		{"/temporal-codec/wrong-token/decode", ""},
		{"/temporal-codec/" + token + "/decode", ""}, // never in the path: paths reach logs
	} {
		res = codecRequest(t, env.HTTP.URL+c.url, c.auth, &encoded)
		assert.Equal(t, 401, res.status, c.url)
	}

	// CORS preflight for the UI's origin is answered without credentials.
	req, _ := http.NewRequest(http.MethodOptions, env.HTTP.URL+"/temporal-codec/decode", nil)
	req.Header.Set("Origin", "http://127.0.0.1:8233")
	pre, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	pre.Body.Close()
	assert.Equal(t, 204, pre.StatusCode)
	assert.Equal(t, "http://127.0.0.1:8233", pre.Header.Get("Access-Control-Allow-Origin"))
	req.Header.Set("Origin", "https://evil.example")
	pre, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	pre.Body.Close()
	assert.Empty(t, pre.Header.Get("Access-Control-Allow-Origin"))
}

func base64Of(s string) string {
	b, _ := json.Marshal([]byte(s))
	return strings.Trim(string(b), `"`)
}

// Every route the server registers is described in the OpenAPI document, and every operation the
// document describes exists: the document cannot drift from the handlers.
func TestOpenAPIDocumentMatchesTheRoutes(t *testing.T) {
	env := apitest.New(t, false)
	doc := apitest.Document(t)
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+path] = true
		}
	}
	registered := map[string]bool{}
	for _, r := range env.Server.Routes() {
		if !strings.HasPrefix(r.Path, "/api/v1/") && r.Path != "/healthz" && r.Path != "/readyz" {
			continue // operator and page routes are outside the partner API
		}
		path := r.Path
		for _, seg := range strings.Split(path, "/") {
			if strings.HasPrefix(seg, ":") {
				path = strings.Replace(path, seg, "{"+seg[1:]+"}", 1)
			}
		}
		registered[r.Method+" "+path] = true
	}
	for op := range registered {
		assert.True(t, documented[op], "route %s is missing from api/openapi.yaml", op)
	}
	for op := range documented {
		assert.True(t, registered[op], "api/openapi.yaml documents %s, which the server does not serve", op)
	}
}
