package metagraph_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dualhook/dualhook/metagraph"
	"github.com/dualhook/dualhook/sandbox"
)

// TestGraphErrorClassification injects Meta's error answers on GET /{waba}
// and checks what IsTransient and RetryAfter make of them.
func TestGraphErrorClassification(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		fault      sandbox.Fault
		status     int
		code       int
		transient  bool
		retryAfter time.Duration
	}{
		{name: "5xx", fault: sandbox.Fault{Kind: sandbox.FaultHTTP5xx, Status: 502}, status: 502, code: 1, transient: true},
		{name: "transient code 2", fault: sandbox.Fault{Kind: sandbox.FaultTransient}, status: 503, code: 2, transient: true},
		{name: "transient code 1", fault: sandbox.Fault{Kind: sandbox.FaultTransient, Code: 1}, status: 500, code: 1, transient: true},
		{name: "transient 131000", fault: sandbox.Fault{Kind: sandbox.FaultTransient, Code: 131000}, status: 500, code: 131000, transient: true},
		{name: "rate limit 80008", fault: sandbox.Fault{Kind: sandbox.FaultRateLimit, RegainMinutes: 7}, status: 400, code: 80008, transient: true, retryAfter: 7 * time.Minute},
		{name: "80007 without is_transient", fault: sandbox.Fault{Kind: sandbox.FaultGraphError, Code: 80007}, status: 400, code: 80007, transient: true},
		{name: "code 4 without is_transient", fault: sandbox.Fault{Kind: sandbox.FaultGraphError, Code: 4}, status: 400, code: 4, transient: true},
		{name: "is_transient on any code", fault: sandbox.Fault{Kind: sandbox.FaultGraphError, Code: 10, Transient: true}, status: 403, code: 10, transient: true},
		{name: "permission 200", fault: sandbox.Fault{Kind: sandbox.FaultGraphError, Code: 200, Subcode: 1349174}, status: 403, code: 200},
		{name: "policy block 368", fault: sandbox.Fault{Kind: sandbox.FaultGraphError, Code: 368}, status: 403, code: 368},
		{name: "invalid parameter 100", fault: sandbox.Fault{Kind: sandbox.FaultGraphError, Code: 100, Subcode: 33}, status: 400, code: 100},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			sess, token := e.signup(t, sandbox.ESSessionRequest{})
			tc.fault.Endpoint = "waba"
			e.fault(t, tc.fault)
			_, err := e.mg.WABA(ctx(t), token, sess.WABAID)
			ge := graphErr(t, err)
			assert.Equal(t, tc.status, ge.HTTPStatus)
			assert.Equal(t, tc.code, ge.Code)
			assert.Equal(t, tc.transient, metagraph.IsTransient(err))
			assert.Equal(t, tc.retryAfter, metagraph.RetryAfter(err))
			assert.Equal(t, tc.retryAfter, ge.RetryAfter)
			assert.NotEmpty(t, ge.FBTraceID)
			assert.False(t, metagraph.NeverReachedMeta(err))
			assertNoSecrets(t, err, token)

			// The rule fired once: the retry a caller would make succeeds.
			_, err = e.mg.WABA(ctx(t), token, sess.WABAID)
			require.NoError(t, err)
		})
	}
}

func TestHourlyQuota(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sess, token := e.signup(t, sandbox.ESSessionRequest{})
	require.NoError(t, e.ctl.SetQuota(ctx(t), 2))
	for range 2 {
		_, err := e.mg.SubscribedApps(ctx(t), token, sess.WABAID)
		require.NoError(t, err)
	}
	err := e.mg.SubscribeApp(ctx(t), token, sess.WABAID)
	assert.Equal(t, 80008, graphErr(t, err).Code, "%v", err)
	assert.True(t, metagraph.IsTransient(err))
	assert.GreaterOrEqual(t, metagraph.RetryAfter(err), time.Minute)
	assert.LessOrEqual(t, metagraph.RetryAfter(err), time.Hour)
}

// TestExchangeErrorsAreFinalOnceSent: an answer from Meta to the code
// exchange is never transient, even a 5xx or a rate limit — the request
// reached Meta, and SPEC §6 step 1 retries only what never did.
func TestExchangeErrorsAreFinalOnceSent(t *testing.T) {
	t.Parallel()
	for _, f := range []sandbox.Fault{
		{Kind: sandbox.FaultHTTP5xx},
		{Kind: sandbox.FaultTransient},
		{Kind: sandbox.FaultRateLimit},
	} {
		t.Run(f.Kind, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			sess := e.session(t, "finish")
			f.Endpoint = "oauth/access_token"
			e.fault(t, f)
			_, err := e.mg.ExchangeCode(ctx(t), sess.Code)
			ge := graphErr(t, err)
			assert.True(t, ge.HTTPStatus >= 500 || ge.IsTransient, "Meta said transient")
			assert.False(t, metagraph.IsTransient(err))
			assert.False(t, metagraph.NeverReachedMeta(err))
			assertNoSecrets(t, err, sess.Code, e.cfg.AppSecret)
		})
	}
}

func TestNetworkErrors(t *testing.T) {
	t.Parallel()

	t.Run("timeout after the request was written", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		sess, token := e.signup(t, sandbox.ESSessionRequest{})
		e.fault(t, sandbox.Fault{Endpoint: "waba", Kind: sandbox.FaultTimeout})
		c := e.client(t, func(c *metagraph.Config) { c.Timeout = 300 * time.Millisecond })
		_, err := c.WABA(ctx(t), token, sess.WABAID)
		ne := netErr(t, err)
		assert.True(t, ne.Sent)
		assert.True(t, ne.Timeout)
		assert.True(t, errors.Is(err, context.DeadlineExceeded))
		assert.False(t, metagraph.NeverReachedMeta(err))
		assert.True(t, metagraph.IsTransient(err), "a GET may be repeated")
		assertNoSecrets(t, err, token)
	})

	t.Run("exchange timeout that burned the code", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		sess := e.session(t, "finish")
		e.fault(t, sandbox.Fault{Endpoint: "oauth/access_token", Kind: sandbox.FaultTimeout, Phase: "after"})
		c := e.client(t, func(c *metagraph.Config) { c.Timeout = 300 * time.Millisecond })
		_, err := c.ExchangeCode(ctx(t), sess.Code)
		ne := netErr(t, err)
		assert.Equal(t, metagraph.NetworkError{Op: "exchange_code", Sent: true, Timeout: true}, metagraph.NetworkError{Op: ne.Op, Sent: ne.Sent, Timeout: ne.Timeout})
		assert.False(t, metagraph.NeverReachedMeta(err))
		assert.False(t, metagraph.IsTransient(err), "the single-use code may be spent")
		assertNoSecrets(t, err, sess.Code, e.cfg.AppSecret)

		// Indeed it was: a retry answers 36009.
		_, err = c.ExchangeCode(ctx(t), sess.Code)
		assert.True(t, metagraph.IsCodeUsed(err), "%v", err)
	})

	t.Run("connection reset after the request was written", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		sess := e.session(t, "finish")
		e.fault(t, sandbox.Fault{Endpoint: "oauth/access_token", Kind: sandbox.FaultReset, Count: -1})
		_, err := e.mg.ExchangeCode(ctx(t), sess.Code)
		ne := netErr(t, err)
		assert.True(t, ne.Sent)
		assert.False(t, ne.Timeout)
		assert.False(t, metagraph.NeverReachedMeta(err))
		assert.False(t, metagraph.IsTransient(err))
		assertNoSecrets(t, err, sess.Code, e.cfg.AppSecret)
	})

	t.Run("connection refused never reached Meta", func(t *testing.T) {
		t.Parallel()
		const (
			code   = "AQ-code-RECOGNISABLE-e91f"
			secret = "app-secret-RECOGNISABLE-2c77"
			token  = "EAA-token-RECOGNISABLE-41aa"
		)
		c, err := metagraph.New(metagraph.Config{
			BaseURL: "http://" + closedPort(t) + "/_sandbox/meta/graph", Version: graphVersion,
			AppID: "1234567890123456", AppSecret: secret,
		})
		require.NoError(t, err)

		_, err = c.ExchangeCode(ctx(t), code)
		ne := netErr(t, err)
		assert.False(t, ne.Sent)
		assert.True(t, metagraph.NeverReachedMeta(err))
		assert.True(t, metagraph.IsTransient(err), "safe to retry even the exchange")
		assert.Contains(t, err.Error(), "never reached Meta")
		assertNoSecrets(t, err, code, secret)

		_, err = c.DebugToken(ctx(t), token)
		assert.True(t, metagraph.NeverReachedMeta(err))
		assertNoSecrets(t, err, token, secret)

		err = c.Register(ctx(t), token, "106540352242922", "947261")
		assert.True(t, metagraph.NeverReachedMeta(err))
		assertNoSecrets(t, err, token, "947261")
	})

	t.Run("caller context already cancelled", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		sess := e.session(t, "finish")
		cctx, cancel := context.WithCancel(ctx(t))
		cancel()
		_, err := e.mg.ExchangeCode(cctx, sess.Code)
		assert.True(t, errors.Is(err, context.Canceled))
		assert.True(t, metagraph.NeverReachedMeta(err))
		assert.False(t, metagraph.IsTransient(err), "the caller gave up")
		assert.Empty(t, e.calls(t, "oauth/access_token"))
		// The code is intact.
		_, err = e.mg.ExchangeCode(ctx(t), sess.Code)
		require.NoError(t, err)
	})

	t.Run("caller deadline is respected", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		sess, token := e.signup(t, sandbox.ESSessionRequest{})
		e.fault(t, sandbox.Fault{Endpoint: "phone", Kind: sandbox.FaultTimeout})
		cctx, cancel := context.WithTimeout(ctx(t), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := e.mg.PhoneNumber(cctx, token, sess.PhoneNumberID) // client timeout: 15 s
		assert.Less(t, time.Since(start), 10*time.Second)
		ne := netErr(t, err)
		assert.True(t, ne.Sent)
		assert.True(t, ne.Timeout)
		assert.False(t, metagraph.IsTransient(err), "the caller's own deadline passed")
	})
}
