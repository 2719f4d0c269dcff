package api_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/dualhook/dualhook/testkit/apitest"
)

// The operator token is a header only: in a path it would end up in proxy and access logs.
func TestCodecRefusesTheTokenInThePath(t *testing.T) {
	env := apitest.New(t, false)
	token := env.Config.OperatorToken
	plain, err := converter.GetDefaultDataConverter().ToPayloads("hello")
	require.NoError(t, err)
	res := codecRequest(t, env.HTTP.URL+"/temporal-codec/"+token+"/encode", "", plain)
	assert.Contains(t, []int{401, 404}, res.status)
	res = codecRequest(t, env.HTTP.URL+"/temporal-codec/"+token+"/encode", "Bearer "+token, plain)
	assert.Equal(t, 404, res.status, "the path form is no route even with the header")
	res = codecRequest(t, env.HTTP.URL+"/temporal-codec/encode", "Bearer "+token, plain)
	assert.Equal(t, 200, res.status)
}

// The dev stack's Web UI cannot send a header: dev mode serves the codec on a separate
// loopback-only listener without the token, which answers only loopback host names.
func TestDevCodecHandler(t *testing.T) {
	prod := apitest.New(t, false)
	_, err := prod.Server.DevCodecHandler()
	assert.Error(t, err, "outside dev mode there is no tokenless codec")

	env := apitest.New(t, false, func(c *configT) {
		c.DevMode = true
		c.CodecCORSOrigins = []string{"http://127.0.0.1:8233"}
	})
	h, err := env.Server.DevCodecHandler()
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	defer srv.Close()
	plain, err := converter.GetDefaultDataConverter().ToPayloads("hello")
	require.NoError(t, err)
	res := codecRequest(t, srv.URL+"/encode", "", plain)
	require.Equal(t, 200, res.status, "%s", res.body)
	var encoded commonpb.Payloads
	require.NoError(t, protojson.Unmarshal(res.body, &encoded))
	res = codecRequest(t, srv.URL+"/decode", "", &encoded)
	assert.Equal(t, 200, res.status)
	assert.Contains(t, string(res.body), base64Of(`"hello"`))

	// DNS rebinding: a page whose host name resolves to 127.0.0.1 is not served.
	raw, _ := protojson.Marshal(&encoded)
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/decode", bytes.NewReader(raw))
	req.Host = "evil.example"
	req.Header.Set("Content-Type", "application/json")
	r, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	r.Body.Close()
	assert.Equal(t, 403, r.StatusCode)

	// CORS for the Web UI's origin only.
	req, _ = http.NewRequest(http.MethodOptions, srv.URL+"/decode", nil)
	req.Header.Set("Origin", "http://127.0.0.1:8233")
	r, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	r.Body.Close()
	assert.Equal(t, "http://127.0.0.1:8233", r.Header.Get("Access-Control-Allow-Origin"))
}
