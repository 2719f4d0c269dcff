package api_test

import (
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dualhook/dualhook/testkit/apitest"
	"github.com/dualhook/dualhook/testkit/ssrf"
)

// loopbackListener counts the connections made to a port on 127.0.0.1.
type loopbackListener struct {
	ln       net.Listener
	accepted atomic.Int32
}

func listenLoopback(t *testing.T) *loopbackListener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	l := &loopbackListener{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			l.accepted.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return l
}

func (l *loopbackListener) port() int { return l.ln.Addr().(*net.TCPAddr).Port }

// SPEC §12: outside dev mode every URL field refuses the shared SSRF corpus (testkit/ssrf) with
// its stable error code and naming the field, and no request reaches the loopback listener the
// entries point at — the webhook preflight never runs, whether or not it was skipped.
func TestSSRFCorpusEveryURLField(t *testing.T) {
	env := apitest.New(t, true, withTaskQueue(t), func(c *configT) {
		c.RateLimitWritePerMinute, c.RateLimitReadPerMinute = 100000, 100000
	})
	require.False(t, env.Config.DevMode, "the production rules")
	trap := listenLoopback(t)
	p := env.NewPartner()
	conn := insertConnection(t, env, p, "ssrf-1", strconv.FormatInt(time.Now().UnixNano(), 10))
	corpus := ssrf.Expand(trap.port())

	// refused asserts a 400 with code, naming field (details.field, or details.fields for
	// invalid_request).
	refused := func(t *testing.T, res *apitest.Response, code, field string) {
		t.Helper()
		require.Equal(t, 400, res.Status, "%s", res.Body)
		assert.Equal(t, code, res.ErrorCode(), "%s", res.Body)
		details, _ := res.Map(t)["error"].(map[string]any)["details"].(map[string]any)
		if code == "invalid_request" {
			assert.Contains(t, details["fields"], field, "%s", res.Body)
		} else {
			assert.Equal(t, field, details["field"], "%s", res.Body)
		}
	}

	type field struct {
		name, code, errField string
		send                 func(raw string) *apitest.Response
	}
	session := func(name string, extra map[string]any) func(string) *apitest.Response {
		return func(raw string) *apitest.Response {
			change := map[string]any{name: raw}
			for k, v := range extra {
				change[k] = v
			}
			return env.Do(apitest.Request{Method: "POST", Path: "/api/v1/onboarding/sessions", Key: p.Key, Body: sessionBody(change)})
		}
	}
	partner := func(name string) func(string) *apitest.Response {
		return func(raw string) *apitest.Response {
			return env.Do(apitest.Request{Method: "PATCH", Path: "/api/v1/partner", Key: p.Key, Body: map[string]any{name: raw}})
		}
	}
	connection := func(extra map[string]any) func(string) *apitest.Response {
		return func(raw string) *apitest.Response {
			body := map[string]any{"webhookUrl": raw, "webhookVerifyToken": "vt"}
			for k, v := range extra {
				body[k] = v
			}
			return env.Do(apitest.Request{Method: "PATCH", Path: "/api/v1/connections/" + conn.ID, Key: p.Key, Body: body})
		}
	}
	fields := []field{
		{"webhookOverrideUrl with preflight", "invalid_webhook_url", "webhookOverrideUrl",
			session("webhookOverrideUrl", map[string]any{"skipWebhookPreflight": false})},
		{"webhookOverrideUrl without preflight", "invalid_webhook_url", "webhookOverrideUrl",
			session("webhookOverrideUrl", map[string]any{"skipWebhookPreflight": true})},
		{"successRedirectUrl", "invalid_redirect_url", "successRedirectUrl", session("successRedirectUrl", nil)},
		{"failureRedirectUrl", "invalid_redirect_url", "failureRedirectUrl", session("failureRedirectUrl", nil)},
		{"cancelRedirectUrl", "invalid_redirect_url", "cancelRedirectUrl", session("cancelRedirectUrl", nil)},
		{"partner eventWebhookUrl", "invalid_webhook_url", "eventWebhookUrl", partner("eventWebhookUrl")},
		{"partner logoUrl", "invalid_request", "logoUrl", partner("logoUrl")},
		{"connection webhookUrl with preflight", "invalid_webhook_url", "webhookUrl",
			connection(map[string]any{"skipWebhookPreflight": false})},
		{"connection webhookUrl without preflight", "invalid_webhook_url", "webhookUrl",
			connection(map[string]any{"skipWebhookPreflight": true})},
	}
	checked := 0
	for _, f := range fields {
		t.Run(f.name, func(t *testing.T) {
			for _, raw := range corpus {
				t.Run(raw, func(t *testing.T) {
					refused(t, f.send(raw), f.code, f.errField)
					checked++
				})
			}
		})
	}

	// Nothing was changed by the refused requests.
	got := env.Do(apitest.Request{Method: "GET", Path: "/api/v1/partner", Key: p.Key}).Map(t)
	assert.Nil(t, got["eventWebhookUrl"])
	assert.Nil(t, got["logoUrl"])
	got = env.Do(apitest.Request{Method: "GET", Path: "/api/v1/connections/" + conn.ID, Key: p.Key}).Map(t)
	assert.Equal(t, "https://hooks.acme.test/wa", got["webhookUrl"])

	time.Sleep(50 * time.Millisecond) // let a stray accept, if any, be counted
	assert.Zero(t, trap.accepted.Load(), "a refused URL reached the loopback listener")
	t.Logf("%d corpus entries × %d fields = %d refusals checked", len(corpus), len(fields), checked)
}

// Redirect URLs are navigated by the end user's browser, never fetched by the service, so SPEC
// §12's address rules do not apply to them (only https and the allow-list of §4.2 do): a partner
// may list a loopback or private origin and redirect to it. This pins what the code does with the
// corpus when the partner's allow-list holds the hostile URL itself: a non-https URL, userinfo or
// one the allow-list cannot express is still refused; nothing is ever fetched.
func TestSSRFCorpusRedirectAllowListed(t *testing.T) {
	env := apitest.New(t, true, withTaskQueue(t), func(c *configT) {
		c.RateLimitWritePerMinute, c.RateLimitReadPerMinute = 100000, 100000
	})
	trap := listenLoopback(t)
	p := env.NewPartner()
	var accepted, patternRefused, redirectRefused []string
	for _, raw := range ssrf.Expand(trap.port()) {
		t.Run(raw, func(t *testing.T) {
			res := env.Do(apitest.Request{Method: "PATCH", Path: "/api/v1/partner", Key: p.Key,
				Body: map[string]any{"allowedRedirectUrls": []string{raw}}})
			if res.Status != 200 {
				require.Equal(t, 400, res.Status, "%s", res.Body)
				assert.Equal(t, "invalid_redirect_url", res.ErrorCode())
				patternRefused = append(patternRefused, raw)
				return
			}
			res = env.Do(apitest.Request{Method: "POST", Path: "/api/v1/onboarding/sessions", Key: p.Key,
				Body: sessionBody(map[string]any{"successRedirectUrl": raw, "failureRedirectUrl": raw, "cancelRedirectUrl": raw})})
			switch res.Status {
			case 201:
				assert.True(t, strings.HasPrefix(strings.ToLower(raw), "https://"), "only https redirects are accepted")
				assert.NotContains(t, raw, "@", "userinfo is never accepted")
				accepted = append(accepted, raw)
			default:
				require.Equal(t, 400, res.Status, "%s", res.Body)
				assert.Equal(t, "invalid_redirect_url", res.ErrorCode())
				redirectRefused = append(redirectRefused, raw)
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	assert.Zero(t, trap.accepted.Load(), "a redirect URL was fetched")
	t.Logf("allow-list refused %d: %q", len(patternRefused), patternRefused)
	t.Logf("redirect refused despite the allow-list %d: %q", len(redirectRefused), redirectRefused)
	t.Logf("accepted as redirect (browser-only, SPEC §12 does not apply) %d: %q", len(accepted), accepted)
}
