package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dualhook/dualhook/testkit/apitest"
)

// Every class of bad input answers SPEC §10's code in SPEC §1's envelope, never a 500.
func TestBadInputAnswersStableCodes(t *testing.T) {
	env := apitest.New(t, false)
	p := env.NewPartner()

	cases := []struct {
		name   string
		req    apitest.Request
		status int
		code   string
	}{
		{"unknown route", apitest.Request{Method: "GET", Path: "/api/v1/nope", Key: p.Key}, 404, "not_found"},
		{"unknown route without key", apitest.Request{Method: "GET", Path: "/nope"}, 404, "not_found"},
		{"wrong method", apitest.Request{Method: "PUT", Path: "/api/v1/partner", Key: p.Key, Body: `{}`}, 405, "method_not_allowed"},
		{"missing key", apitest.Request{Method: "GET", Path: "/api/v1/partner"}, 401, "unauthorized"},
		{"wrong scheme", apitest.Request{Method: "GET", Path: "/api/v1/partner", Header: map[string]string{"Authorization": "Basic " + p.Key}}, 401, "unauthorized"},
		{"malformed key", apitest.Request{Method: "GET", Path: "/api/v1/partner", Key: "dh_live_short"}, 401, "unauthorized"},
		{"well-formed unknown key", apitest.Request{Method: "GET", Path: "/api/v1/partner", Key: flipChecksumlessKey(t)}, 401, "unauthorized"},
		{"oversized body", apitest.Request{Method: "PATCH", Path: "/api/v1/partner", Key: p.Key, Body: `{"displayName":"` + strings.Repeat("a", 70<<10) + `"}`}, 413, "payload_too_large"},
		{"not JSON content type", apitest.Request{Method: "PATCH", Path: "/api/v1/partner", Key: p.Key, Body: `displayName=x`, Header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}, 415, "unsupported_media_type"},
		{"malformed JSON", apitest.Request{Method: "PATCH", Path: "/api/v1/partner", Key: p.Key, Body: `{"displayName":`}, 400, "invalid_request"},
		{"JSON array body", apitest.Request{Method: "POST", Path: "/api/v1/api-keys", Key: p.Key, Body: `["x"]`}, 400, "invalid_request"},
		{"wrong field type", apitest.Request{Method: "PATCH", Path: "/api/v1/partner", Key: p.Key, Body: `{"displayName":42}`}, 400, "invalid_request"},
		{"two JSON values", apitest.Request{Method: "POST", Path: "/api/v1/api-keys", Key: p.Key, Body: `{"name":"a"}{"name":"b"}`}, 400, "invalid_request"},
		{"unknown key id", apitest.Request{Method: "DELETE", Path: "/api/v1/api-keys/key_doesnotexist0000000", Key: p.Key}, 404, "not_found"},
		{"malformed key id", apitest.Request{Method: "DELETE", Path: "/api/v1/api-keys/%2e%2e", Key: p.Key}, 404, "not_found"},
		{"bad limit", apitest.Request{Method: "GET", Path: "/api/v1/api-keys?limit=0", Key: p.Key}, 400, "invalid_request"},
		{"bad cursor", apitest.Request{Method: "GET", Path: "/api/v1/api-keys?cursor=!!", Key: p.Key}, 400, "invalid_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := env.Do(tc.req)
			assert.Equal(t, tc.status, res.Status, "body: %s", res.Body)
			assert.Equal(t, tc.code, res.ErrorCode())
			m := res.Map(t)["error"].(map[string]any)
			assert.Equal(t, res.Header.Get("X-Request-Id"), m["requestId"])
			assert.NotEmpty(t, m["message"])
		})
	}
}

func TestWrongFieldTypeNamesTheField(t *testing.T) {
	env := apitest.New(t, false)
	p := env.NewPartner()
	res := env.Do(apitest.Request{Method: "PATCH", Path: "/api/v1/partner", Key: p.Key, Body: `{"displayName":42}`})
	require.Equal(t, 400, res.Status)
	details := res.Map(t)["error"].(map[string]any)["details"].(map[string]any)
	assert.Equal(t, map[string]any{"displayName": "must be a string"}, details["fields"])
}

func TestRequestIDIsEchoedWhenValidAndReplacedOtherwise(t *testing.T) {
	env := apitest.New(t, false)
	res := env.Do(apitest.Request{Method: "GET", Path: "/healthz", Header: map[string]string{"X-Request-Id": "trace-123.abc"}})
	assert.Equal(t, "trace-123.abc", res.Header.Get("X-Request-Id"))
	res = env.Do(apitest.Request{Method: "GET", Path: "/healthz", Header: map[string]string{"X-Request-Id": "bad id with spaces"}})
	assert.True(t, strings.HasPrefix(res.Header.Get("X-Request-Id"), "req_"))
}

func TestExpiredAndRevokedKeysAnswerTheSame401(t *testing.T) {
	env := apitest.New(t, false)
	p := env.NewPartner()
	other := env.Do(apitest.Request{Method: "POST", Path: "/api/v1/api-keys", Key: p.Key, Body: map[string]any{"name": "ci"}})
	require.Equal(t, 201, other.Status)
	var created struct{ KeyID, Key string }
	other.JSON(t, &created)

	revoke := env.Do(apitest.Request{Method: "DELETE", Path: "/api/v1/api-keys/" + created.KeyID, Key: p.Key})
	require.Equal(t, 200, revoke.Status)
	revoked := env.Do(apitest.Request{Method: "GET", Path: "/api/v1/partner", Key: created.Key})
	missing := env.Do(apitest.Request{Method: "GET", Path: "/api/v1/partner"})
	assert.Equal(t, 401, revoked.Status)
	assert.Equal(t, missing.Map(t)["error"].(map[string]any)["message"], revoked.Map(t)["error"].(map[string]any)["message"])

	rot := env.Do(apitest.Request{Method: "POST", Path: "/api/v1/api-keys/" + p.KeyID + "/rotate", Key: p.Key, Body: map[string]any{"gracePeriodSeconds": 60}})
	require.Equal(t, 201, rot.Status)
	assert.Equal(t, 200, env.Do(apitest.Request{Method: "GET", Path: "/api/v1/partner", Key: p.Key}).Status, "old key works during the grace window")
	env.Clock.Advance(61 * time.Second)
	assert.Equal(t, 401, env.Do(apitest.Request{Method: "GET", Path: "/api/v1/partner", Key: p.Key}).Status, "old key stops after the grace window")
}

func TestHealthAndOpenAPIArePublic(t *testing.T) {
	env := apitest.New(t, false)
	assert.Equal(t, http.StatusOK, env.Do(apitest.Request{Method: "GET", Path: "/healthz"}).Status)
	res := env.Do(apitest.Request{Method: "GET", Path: "/api/v1/openapi.yaml"})
	assert.Equal(t, http.StatusOK, res.Status)
	assert.Contains(t, string(res.Body), "openapi: 3.1.0")
}

// flipChecksumlessKey makes a key with a valid shape and checksum that was never issued.
func flipChecksumlessKey(t *testing.T) string {
	t.Helper()
	return apikeyGenerate()
}
