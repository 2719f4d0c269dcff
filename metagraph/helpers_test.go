package metagraph_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dualhook/dualhook/metagraph"
	"github.com/dualhook/dualhook/sandbox"
)

const graphVersion = "v21.0"

// env is one sandbox served over real HTTP on 127.0.0.1, with a metagraph
// client pointed at it.
type env struct {
	sb  *sandbox.Sandbox
	srv *httptest.Server
	ctl *sandbox.Client
	cfg sandbox.Config
	mg  *metagraph.Client
}

func newEnv(t *testing.T, mutate ...func(*sandbox.Config)) *env {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	srv.Start()
	cfg := sandbox.DefaultConfig()
	for _, m := range mutate {
		m(&cfg)
	}
	cfg.PublicURL = srv.URL
	sb, err := sandbox.New(cfg)
	require.NoError(t, err)
	srv.Config.Handler = sb.Handler()
	t.Cleanup(func() {
		_ = sb.Close() // ends hanging "timeout" faults first
		srv.Close()
	})
	e := &env{sb: sb, srv: srv, ctl: sandbox.NewClient(srv.URL, srv.Client()), cfg: sb.Config()}
	e.mg = e.client(t, nil)
	return e
}

// client returns a metagraph client for this sandbox; mutate adjusts its
// config (wrong secret, short timeout…).
func (e *env) client(t *testing.T, mutate func(*metagraph.Config)) *metagraph.Client {
	t.Helper()
	cfg := metagraph.Config{
		BaseURL:   e.sb.GraphBaseURL(),
		Version:   graphVersion,
		AppID:     e.cfg.AppID,
		AppSecret: e.cfg.AppSecret,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	c, err := metagraph.New(cfg)
	require.NoError(t, err)
	return c
}

// signup runs a headless Embedded Signup and exchanges its code.
func (e *env) signup(t *testing.T, req sandbox.ESSessionRequest) (sandbox.ESSession, string) {
	t.Helper()
	if req.Scenario == "" {
		req.Scenario = "finish"
	}
	sess, err := e.ctl.CreateESSession(ctx(t), req)
	require.NoError(t, err)
	tok, err := e.mg.ExchangeCode(ctx(t), sess.Code)
	require.NoError(t, err)
	return sess, tok.AccessToken
}

// session runs a headless Embedded Signup without exchanging the code.
func (e *env) session(t *testing.T, scenario string) sandbox.ESSession {
	t.Helper()
	sess, err := e.ctl.CreateESSession(ctx(t), sandbox.ESSessionRequest{Scenario: scenario})
	require.NoError(t, err)
	return sess
}

func (e *env) fault(t *testing.T, f sandbox.Fault) {
	t.Helper()
	_, err := e.ctl.SetFault(ctx(t), f)
	require.NoError(t, err)
}

// calls lists the Graph calls the sandbox received for one endpoint.
func (e *env) calls(t *testing.T, endpoint string) []sandbox.Call {
	t.Helper()
	calls, err := e.ctl.Calls(ctx(t), sandbox.CallFilter{Endpoint: endpoint})
	require.NoError(t, err)
	return calls
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// closedPort returns a 127.0.0.1 address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// receiver is a webhook endpoint for override verification.
func receiver(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL + "/webhook"
}

// echoChallenge answers Meta's verification correctly.
func echoChallenge(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("hub.mode") != "subscribe" {
		http.Error(w, "bad mode", http.StatusBadRequest)
		return
	}
	_, _ = w.Write([]byte(r.URL.Query().Get("hub.challenge")))
}

// echoQuery answers 200 with the whole query string — the verify token
// included — so Meta's 2200 message quotes it.
func echoQuery(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(r.URL.RawQuery)) }

func notFound(w http.ResponseWriter, _ *http.Request) { http.NotFound(w, nil) }

// assertNoSecrets checks every rendering of err, and of each error it
// wraps, for the secrets.
func assertNoSecrets(t *testing.T, err error, secrets ...string) {
	t.Helper()
	require.Error(t, err)
	for e := err; e != nil; e = errors.Unwrap(e) {
		for _, s := range []string{e.Error(), fmt.Sprintf("%v", e), fmt.Sprintf("%+v", e), fmt.Sprintf("%#v", e)} {
			for _, secret := range secrets {
				require.NotEmpty(t, secret)
				assert.NotContains(t, s, secret)
			}
		}
	}
}

func graphErr(t *testing.T, err error) *metagraph.Error {
	t.Helper()
	ge, ok := errors.AsType[*metagraph.Error](err)
	require.True(t, ok, "want *metagraph.Error, got %T: %v", err, err)
	return ge
}

func netErr(t *testing.T, err error) *metagraph.NetworkError {
	t.Helper()
	ne, ok := errors.AsType[*metagraph.NetworkError](err)
	require.True(t, ok, "want *metagraph.NetworkError, got %T: %v", err, err)
	return ne
}
