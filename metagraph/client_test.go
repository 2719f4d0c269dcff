package metagraph_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dualhook/dualhook/metagraph"
	"github.com/dualhook/dualhook/sandbox"
)

func TestNew(t *testing.T) {
	t.Parallel()
	valid := metagraph.Config{BaseURL: "https://graph.facebook.com", Version: "v21.0", AppID: "1234567890123456", AppSecret: "s"}
	tests := []struct {
		name   string
		mutate func(*metagraph.Config)
		ok     bool
	}{
		{"valid", func(*metagraph.Config) {}, true},
		{"trailing slash", func(c *metagraph.Config) { c.BaseURL += "/" }, true},
		{"sandbox path", func(c *metagraph.Config) { c.BaseURL = "http://127.0.0.1:8080/_sandbox/meta/graph" }, true},
		{"two-digit version", func(c *metagraph.Config) { c.Version = "v25.10" }, true},
		{"empty base", func(c *metagraph.Config) { c.BaseURL = "" }, false},
		{"relative base", func(c *metagraph.Config) { c.BaseURL = "/_sandbox/meta/graph" }, false},
		{"ftp base", func(c *metagraph.Config) { c.BaseURL = "ftp://graph.facebook.com" }, false},
		{"base with query", func(c *metagraph.Config) { c.BaseURL = "https://graph.facebook.com?x=1" }, false},
		{"base with credentials", func(c *metagraph.Config) { c.BaseURL = "https://u:p@graph.facebook.com" }, false},
		{"version without v", func(c *metagraph.Config) { c.Version = "21.0" }, false},
		{"version without minor", func(c *metagraph.Config) { c.Version = "v21" }, false},
		{"version with path", func(c *metagraph.Config) { c.Version = "v21.0/x" }, false},
		{"empty version", func(c *metagraph.Config) { c.Version = "" }, false},
		{"non-numeric app id", func(c *metagraph.Config) { c.AppID = "app" }, false},
		{"empty secret", func(c *metagraph.Config) { c.AppSecret = "" }, false},
		{"negative timeout", func(c *metagraph.Config) { c.Timeout = -time.Second }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := valid
			tc.mutate(&cfg)
			c, err := metagraph.New(cfg)
			if tc.ok {
				require.NoError(t, err)
				require.NotNil(t, c)
			} else {
				require.Error(t, err)
			}
		})
	}
}

// TestSecretsNeverInErrors sabotages each call with recognisable secrets
// and checks no error rendering contains them.
func TestSecretsNeverInErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sess, token := e.signup(t, sandbox.ESSessionRequest{Scenario: "finish_coex"})
	const (
		badSecret   = "sabotage-app-secret-RECOGNISABLE-a1"
		badCode     = "AQsabotage-code-RECOGNISABLE-b2"
		badToken    = "EAAsabotage-token-RECOGNISABLE-c3"
		pin         = "739104"
		verifyToken = "sabotage-verify-RECOGNISABLE-d4"
	)
	bad := e.client(t, func(c *metagraph.Config) { c.AppSecret = badSecret })
	echo := receiver(t, echoQuery)
	require.NoError(t, e.mg.SubscribeApp(ctx(t), token, sess.WABAID))

	cases := map[string]func() error{
		"exchange with wrong secret": func() error { _, err := bad.ExchangeCode(ctx(t), badCode); return err },
		"exchange with bad code":     func() error { _, err := e.mg.ExchangeCode(ctx(t), badCode); return err },
		"debug_token with wrong app": func() error { _, err := bad.DebugToken(ctx(t), token); return err },
		"WABA with bad token":        func() error { _, err := e.mg.WABA(ctx(t), badToken, sess.WABAID); return err },
		"phones with bad token": func() error {
			_, err := e.mg.PhoneNumbers(ctx(t), badToken, sess.WABAID)
			return err
		},
		"register coexistence number": func() error { return e.mg.Register(ctx(t), token, sess.PhoneNumberID, pin) },
		"override echoing the token": func() error {
			return e.mg.SetOverride(ctx(t), token, sess.WABAID, echo, verifyToken)
		},
	}
	for name, call := range cases {
		t.Run(name, func(t *testing.T) {
			assertNoSecrets(t, call(), badSecret, e.cfg.AppSecret, badCode, badToken, token, pin, verifyToken)
		})
	}
}

func TestTokenAndConfigHideSecrets(t *testing.T) {
	t.Parallel()
	n := int64(3600)
	tok := metagraph.Token{AccessToken: "EAAsecret-RECOGNISABLE", TokenType: "bearer", ExpiresIn: &n}
	cfg := metagraph.Config{BaseURL: "https://graph.facebook.com", Version: "v21.0", AppID: "1", AppSecret: "app-secret-RECOGNISABLE"}
	var logs strings.Builder
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "token", tok)
	for _, s := range []string{fmt.Sprint(tok), fmt.Sprintf("%+v", tok), fmt.Sprintf("%#v", tok), fmt.Sprintf("%v", &tok), logs.String()} {
		assert.NotContains(t, s, "RECOGNISABLE")
		assert.Contains(t, s, "3600")
	}
	for _, s := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg)} {
		assert.NotContains(t, s, "RECOGNISABLE")
	}
}

// TestTokensOnlyInHeaders checks every business-token call used the
// Authorization header and put no token in the URL.
func TestTokensOnlyInHeaders(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sess, token := e.signup(t, sandbox.ESSessionRequest{})
	_, err := e.mg.DebugToken(ctx(t), token)
	require.NoError(t, err)
	_, err = e.mg.WABA(ctx(t), token, sess.WABAID)
	require.NoError(t, err)
	_, err = e.mg.PhoneNumbers(ctx(t), token, sess.WABAID)
	require.NoError(t, err)
	_, err = e.mg.PhoneNumber(ctx(t), token, sess.PhoneNumberID)
	require.NoError(t, err)
	require.NoError(t, e.mg.SubscribeApp(ctx(t), token, sess.WABAID))
	require.NoError(t, e.mg.SetOverride(ctx(t), token, sess.WABAID, receiver(t, echoChallenge), "vt-1"))
	_, err = e.mg.SubscribedApps(ctx(t), token, sess.WABAID)
	require.NoError(t, err)
	require.NoError(t, e.mg.Register(ctx(t), token, sess.PhoneNumberID, "581063"))
	require.NoError(t, e.mg.UnsubscribeApp(ctx(t), token, sess.WABAID))

	calls := e.calls(t, "")
	require.Len(t, calls, 10)
	for _, c := range calls[1:] { // [0] is the exchange: no token yet
		assert.Equal(t, "bearer", c.Auth, c.Endpoint)
		assert.NotContains(t, c.Params, "access_token", c.Endpoint)
		assert.Equal(t, 200, c.Status, c.Endpoint)
		assert.Equal(t, graphVersion, c.Version)
	}
}

// fakeGraph serves canned answers for cases the sandbox does not produce
// (proxies, odd paging); it records the requests it saw.
type fakeGraph struct {
	mu   sync.Mutex
	seen []*http.Request
	srv  *httptest.Server
}

func newFakeGraph(t *testing.T, h func(w http.ResponseWriter, r *http.Request, n int)) (*fakeGraph, *metagraph.Client) {
	t.Helper()
	f := &fakeGraph{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.seen = append(f.seen, r)
		n := len(f.seen)
		f.mu.Unlock()
		h(w, r, n)
	}))
	t.Cleanup(f.srv.Close)
	c, err := metagraph.New(metagraph.Config{BaseURL: f.srv.URL, Version: graphVersion, AppID: "1234567890123456", AppSecret: "s3cr3t-app"})
	require.NoError(t, err)
	return f, c
}

func TestUnusualAnswers(t *testing.T) {
	t.Parallel()
	const token = "EAAtoken-RECOGNISABLE"

	t.Run("proxy 502 page with Retry-After", func(t *testing.T) {
		t.Parallel()
		_, c := newFakeGraph(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
			w.Header().Set("Content-Type", "text/html")
			w.Header().Set("Retry-After", "120")
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write([]byte("<html>bad gateway " + token + "</html>"))
		})
		_, err := c.WABA(ctx(t), token, "1")
		ge := graphErr(t, err)
		assert.Equal(t, 502, ge.HTTPStatus)
		assert.True(t, metagraph.IsTransient(err))
		assert.Equal(t, 2*time.Minute, metagraph.RetryAfter(err))
		assertNoSecrets(t, err, token)
	})

	t.Run("success false", func(t *testing.T) {
		t.Parallel()
		_, c := newFakeGraph(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
			_, _ = w.Write([]byte(`{"success":false}`))
		})
		err := c.UnsubscribeApp(ctx(t), token, "1")
		assert.True(t, metagraph.IsNotSubscribed(err), "%v", err)
		err = c.SubscribeApp(ctx(t), token, "1")
		require.Error(t, err)
		assert.False(t, metagraph.IsNotSubscribed(err))
	})

	t.Run("error envelope on a 200, string codes", func(t *testing.T) {
		t.Parallel()
		_, c := newFakeGraph(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
			_, _ = w.Write([]byte(`{"error":{"message":"(#80008) slow down","code":"80008","error_subcode":"2494055","is_transient":"false","error_data":"{\"details\":\"later\"}","fbtrace_id":"Az8"}}`))
		})
		_, err := c.PhoneNumber(ctx(t), token, "1")
		ge := graphErr(t, err)
		assert.Equal(t, 80008, ge.Code)
		assert.Equal(t, 2494055, ge.Subcode)
		assert.Equal(t, "later", ge.Details)
		assert.Equal(t, "Az8", ge.FBTraceID)
		assert.True(t, metagraph.IsTransient(err))
	})

	t.Run("malformed JSON on a 200", func(t *testing.T) {
		t.Parallel()
		_, c := newFakeGraph(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
			_, _ = w.Write([]byte(`{"access_token":"` + token + `",`))
		})
		_, err := c.ExchangeCode(ctx(t), "AQcode")
		require.Error(t, err)
		assert.False(t, metagraph.IsTransient(err))
		assertNoSecrets(t, err, token, "AQcode", "s3cr3t-app")
	})

	t.Run("paging.next on another host, with a token, is replayed on ours", func(t *testing.T) {
		t.Parallel()
		f, c := newFakeGraph(t, func(w http.ResponseWriter, r *http.Request, n int) {
			if n == 1 {
				_, _ = w.Write([]byte(`{"data":[{"id":"1","is_on_biz_app":true}],"paging":{"cursors":{"after":"QQ"},` +
					`"next":"https://evil.example/v21.0/9/phone_numbers?access_token=EAAleak&after=QQ&limit=1"}}`))
				return
			}
			_, _ = w.Write([]byte(`{"data":[{"id":"2"}],"paging":{"cursors":{"before":"Qg","after":"Qg"}}}`))
		})
		got, err := c.PhoneNumbers(ctx(t), token, "9")
		require.NoError(t, err)
		require.Len(t, got, 2)
		require.NotNil(t, got[0].IsOnBizApp)
		assert.Nil(t, got[1].IsOnBizApp, "Meta did not say")
		require.Len(t, f.seen, 2)
		second := f.seen[1]
		assert.Equal(t, "/"+graphVersion+"/9/phone_numbers", second.URL.Path)
		assert.Equal(t, "QQ", second.URL.Query().Get("after"))
		assert.Empty(t, second.URL.Query().Get("access_token"))
		assert.Equal(t, "Bearer "+token, second.Header.Get("Authorization"))
		assert.Contains(t, second.URL.Query().Get("fields"), "display_phone_number")
	})

	t.Run("paging that does not advance stops", func(t *testing.T) {
		t.Parallel()
		f, c := newFakeGraph(t, func(w http.ResponseWriter, r *http.Request, _ int) {
			_, _ = w.Write([]byte(`{"data":[{"id":"1"}],"paging":{"next":"https://x/v21.0/9/phone_numbers?after=same"}}`))
		})
		_, err := c.PhoneNumbers(ctx(t), token, "9")
		require.Error(t, err)
		assert.Len(t, f.seen, 2)
	})

	t.Run("redirects are not followed", func(t *testing.T) {
		t.Parallel()
		var hops atomic.Int32
		target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hops.Add(1) }))
		t.Cleanup(target.Close)
		_, c := newFakeGraph(t, func(w http.ResponseWriter, r *http.Request, _ int) {
			http.Redirect(w, r, target.URL, http.StatusFound)
		})
		_, err := c.WABA(ctx(t), token, "1")
		assert.Equal(t, 302, graphErr(t, err).HTTPStatus)
		assert.Zero(t, hops.Load(), "the bearer token was not forwarded")
	})
}
