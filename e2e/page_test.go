package e2e

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dualhook/dualhook/testkit/apitest"
	"github.com/dualhook/dualhook/testkit/stacktest"
)

// The page and its JSON endpoints are the only unauthenticated surface: bad input gets stable
// answers and nothing leaks.
func TestPageAndCallbackEdgeCases(t *testing.T) {
	st := stacktest.New(t, stacktest.Options{NoWorker: true})
	sessionID, token := st.CreateSession(st.Partner, "edge-1", nil)
	unknown := strings.Repeat("A", 44)

	page := st.API.Do(apitest.Request{Method: "GET", Path: "/onboard/" + token, NoCheck: true})
	require.Equal(t, 200, page.Status)
	h := page.Header
	assert.Contains(t, h.Get("Content-Security-Policy"), "default-src 'none'")
	assert.Contains(t, h.Get("Content-Security-Policy"), "frame-ancestors 'none'")
	assert.Equal(t, "DENY", h.Get("X-Frame-Options"))
	assert.Equal(t, "no-referrer", h.Get("Referrer-Policy"))
	assert.Contains(t, h.Get("Cache-Control"), "no-store")
	assert.Contains(t, string(page.Body), "Acme SaaS", "co-branded with the partner's name")
	assert.Contains(t, string(page.Body), "Tenant edge-1")

	for _, path := range []string{"/onboard/" + unknown, "/onboard/short", "/onboard/" + token + "x"} {
		res := st.API.Do(apitest.Request{Method: "GET", Path: path, NoCheck: true})
		assert.Equal(t, 404, res.Status, path)
		assert.NotContains(t, string(res.Body), "Acme", "a 404 page reveals no partner data")
	}

	res := st.API.Do(apitest.Request{Method: "POST", Path: "/onboard/" + unknown + "/callback", Body: map[string]any{"code": "AQabc"}, NoCheck: true})
	assert.Equal(t, 404, res.Status)
	assert.Equal(t, "not_found", res.ErrorCode())

	for _, c := range []struct {
		body  any
		field string
	}{
		{`{"code":`, "body"},
		{map[string]any{"event": "FINISH"}, "code"},
		{map[string]any{"event": "CANCEL", "code": "AQabc"}, "code"},
		{map[string]any{"event": "EXPLODE"}, "event"},
		{map[string]any{"code": "AQabc", "wabaId": "not-a-number"}, "wabaId"},
		{map[string]any{"code": "AQ abc"}, "code"},
		{map[string]any{"event": "CANCEL", "currentStep": "<script>"}, "currentStep"},
		{map[string]any{"code": 42}, "code"},
	} {
		res := st.API.Do(apitest.Request{Method: "POST", Path: "/onboard/" + token + "/callback", Body: c.body, NoCheck: true})
		require.Equal(t, 400, res.Status, "%v → %s", c.body, res.Body)
		assert.Equal(t, "invalid_request", res.ErrorCode())
		assert.Contains(t, res.Map(t)["error"].(map[string]any)["details"].(map[string]any)["fields"], c.field)
	}
	res = st.API.Do(apitest.Request{Method: "POST", Path: "/onboard/" + token + "/callback", Body: "code=x",
		Header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, NoCheck: true})
	assert.Equal(t, 415, res.Status)

	status := st.API.Do(apitest.Request{Method: "GET", Path: "/onboard/" + token + "/status", NoCheck: true})
	assert.Equal(t, 200, status.Status)
	assert.Contains(t, []string{"pending", "started"}, status.Map(t)["status"])
	assert.Equal(t, "pending", st.Session(sessionID).Status, "no worker ran: nothing was decided")
}
