package metagraph_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dualhook/dualhook/metagraph"
	"github.com/dualhook/dualhook/sandbox"
)

func TestExchangeCode(t *testing.T) {
	t.Parallel()
	const wrongSecret = "wrong-secret-RECOGNISABLE-7f3a9c"
	tests := []struct {
		name string
		// prepare may spoil the code; client may change the config.
		prepare func(t *testing.T, e *env, code string)
		client  func(*metagraph.Config)
		check   func(t *testing.T, tok metagraph.Token, err error)
	}{
		{
			name: "happy path",
			check: func(t *testing.T, tok metagraph.Token, err error) {
				require.NoError(t, err)
				assert.True(t, strings.HasPrefix(tok.AccessToken, "EAA"))
				assert.Equal(t, "bearer", tok.TokenType)
				require.NotNil(t, tok.ExpiresIn)
				assert.InDelta(t, (60 * 24 * time.Hour).Seconds(), float64(*tok.ExpiresIn), 60)
			},
		},
		{
			name:    "expired via ExpireCode (36007)",
			prepare: func(t *testing.T, e *env, code string) { require.NoError(t, e.ctl.ExpireCode(ctx(t), code)) },
			check: func(t *testing.T, _ metagraph.Token, err error) {
				assert.True(t, metagraph.IsCodeExpired(err), "%v", err)
				assert.False(t, metagraph.IsCodeUsed(err))
				assert.False(t, metagraph.IsTransient(err))
				ge := graphErr(t, err)
				assert.Equal(t, 400, ge.HTTPStatus)
				assert.Equal(t, "OAuthException", ge.Type)
				assert.NotEmpty(t, ge.FBTraceID)
			},
		},
		{
			name: "expired after 30 s of sandbox time (36007)",
			prepare: func(t *testing.T, e *env, _ string) {
				_, err := e.ctl.AdvanceClock(ctx(t), 31*time.Second)
				require.NoError(t, err)
			},
			check: func(t *testing.T, _ metagraph.Token, err error) {
				assert.True(t, metagraph.IsCodeExpired(err), "%v", err)
			},
		},
		{
			name: "reused (36009)",
			prepare: func(t *testing.T, e *env, code string) {
				_, err := e.mg.ExchangeCode(ctx(t), code)
				require.NoError(t, err)
			},
			check: func(t *testing.T, _ metagraph.Token, err error) {
				assert.True(t, metagraph.IsCodeUsed(err), "%v", err)
				assert.False(t, metagraph.IsCodeExpired(err))
				assert.False(t, metagraph.IsTransient(err))
				assert.False(t, metagraph.NeverReachedMeta(err))
			},
		},
		{
			name:    "burned by the sandbox (36009)",
			prepare: func(t *testing.T, e *env, code string) { require.NoError(t, e.ctl.BurnCode(ctx(t), code)) },
			check: func(t *testing.T, _ metagraph.Token, err error) {
				assert.True(t, metagraph.IsCodeUsed(err), "%v", err)
			},
		},
		{
			name:   "wrong app secret (code 1)",
			client: func(c *metagraph.Config) { c.AppSecret = wrongSecret },
			check: func(t *testing.T, _ metagraph.Token, err error) {
				ge := graphErr(t, err)
				assert.Equal(t, 1, ge.Code)
				assert.Equal(t, 400, ge.HTTPStatus)
				assert.Equal(t, "Error validating client secret.", ge.Message)
				assert.False(t, metagraph.IsTransient(err), "code 1 at HTTP 400 is final")
				assertNoSecrets(t, err, wrongSecret)
			},
		},
		{
			name:   "wrong app id (code 101)",
			client: func(c *metagraph.Config) { c.AppID = "999999999999999" },
			check: func(t *testing.T, _ metagraph.Token, err error) {
				ge := graphErr(t, err)
				assert.Equal(t, 101, ge.Code)
				assert.False(t, metagraph.IsTransient(err))
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			sess := e.session(t, "finish")
			if tc.prepare != nil {
				tc.prepare(t, e, sess.Code)
			}
			c := e.mg
			if tc.client != nil {
				c = e.client(t, tc.client)
			}
			tok, err := c.ExchangeCode(ctx(t), sess.Code)
			tc.check(t, tok, err)
			if err != nil {
				assertNoSecrets(t, err, sess.Code, e.cfg.AppSecret)
			}
		})
	}
}

func TestExchangeCodeRequestShape(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.signup(t, sandbox.ESSessionRequest{})
	calls := e.calls(t, "oauth/access_token")
	require.Len(t, calls, 1)
	c := calls[0]
	assert.Equal(t, "GET", c.Method)
	assert.Equal(t, "/"+graphVersion+"/oauth/access_token", c.Path)
	assert.Equal(t, map[string]string{"client_id": e.cfg.AppID, "client_secret": "[redacted]", "code": "[redacted]"}, c.Params,
		"exactly client_id, client_secret and code: no redirect_uri")
	assert.Empty(t, c.Auth, "no Authorization header on the exchange")
}

func TestExchangeCodeNeverExpiringToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *sandbox.Config) { c.TokenLifetime = 0 })
	sess := e.session(t, "finish")
	tok, err := e.mg.ExchangeCode(ctx(t), sess.Code)
	require.NoError(t, err)
	assert.Nil(t, tok.ExpiresIn, "no expires_in: nil, not 0")
}

func TestExchangeCodeGarbage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const code = "AQ-not-a-code-RECOGNISABLE-51d2"
	_, err := e.mg.ExchangeCode(ctx(t), code)
	ge := graphErr(t, err)
	assert.Equal(t, 100, ge.Code)
	assert.Zero(t, ge.Subcode)
	assert.False(t, metagraph.IsCodeExpired(err) || metagraph.IsCodeUsed(err))
	assertNoSecrets(t, err, code, e.cfg.AppSecret)

	_, err = e.mg.ExchangeCode(ctx(t), "")
	require.Error(t, err)
	assert.Empty(t, e.calls(t, "oauth/access_token")[1:], "an empty code is refused before any call")
}

func TestDebugToken(t *testing.T) {
	t.Parallel()

	t.Run("valid business token", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		sess, token := e.signup(t, sandbox.ESSessionRequest{})
		before := time.Now()
		info, err := e.mg.DebugToken(ctx(t), token)
		require.NoError(t, err)
		assert.True(t, info.IsValid)
		assert.Equal(t, e.cfg.AppID, info.AppID)
		assert.Equal(t, "USER", info.Type)
		assert.Nil(t, info.Error)
		assert.Contains(t, info.Scopes, metagraph.ScopeWhatsAppBusinessManagement)
		assert.Equal(t, []string{sess.WABAID}, info.WABAIDs())
		require.Len(t, info.GranularScopes, 2)
		assert.Equal(t, []string{sess.WABAID}, info.GranularScopes[1].TargetIDs)
		require.NotNil(t, info.ExpiresAt)
		assert.WithinDuration(t, before.Add(60*24*time.Hour), *info.ExpiresAt, time.Hour)
		require.NotNil(t, info.IssuedAt)

		calls := e.calls(t, "debug_token")
		require.Len(t, calls, 1)
		assert.Equal(t, "bearer", calls[0].Auth, "app token in the Authorization header")
		assert.Equal(t, map[string]string{"input_token": "[redacted]"}, calls[0].Params)
	})

	t.Run("system-user token never expires", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, func(c *sandbox.Config) { c.TokenLifetime = 0 })
		_, token := e.signup(t, sandbox.ESSessionRequest{})
		info, err := e.mg.DebugToken(ctx(t), token)
		require.NoError(t, err)
		assert.True(t, info.IsValid)
		assert.Equal(t, "SYSTEM_USER", info.Type)
		assert.Nil(t, info.ExpiresAt, "expires_at 0 means never")
		assert.Nil(t, info.DataAccessExpiresAt)
	})

	t.Run("token granted several WABAs lists them newest first", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		first, _ := e.signup(t, sandbox.ESSessionRequest{})
		second, token := e.signup(t, sandbox.ESSessionRequest{BusinessID: first.BusinessID})
		require.NotEqual(t, first.WABAID, second.WABAID)
		info, err := e.mg.DebugToken(ctx(t), token)
		require.NoError(t, err)
		assert.Equal(t, []string{second.WABAID, first.WABAID}, info.WABAIDs())
	})

	t.Run("revoked input token is is_valid false, not an error", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		_, token := e.signup(t, sandbox.ESSessionRequest{})
		_, err := e.ctl.RevokeToken(ctx(t), sandbox.TokenFault{Token: token})
		require.NoError(t, err)
		info, err := e.mg.DebugToken(ctx(t), token)
		require.NoError(t, err)
		assert.False(t, info.IsValid)
		require.NotNil(t, info.Error)
		assert.Equal(t, 190, info.Error.Code)
		assert.Equal(t, 458, info.Error.Subcode)
		assert.NotContains(t, info.Error.Message, token)
	})

	t.Run("unknown input token", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		info, err := e.mg.DebugToken(ctx(t), "EAAunknownRECOGNISABLE")
		require.NoError(t, err)
		assert.False(t, info.IsValid)
		require.NotNil(t, info.Error)
		assert.Equal(t, 190, info.Error.Code)
		assert.Empty(t, info.WABAIDs())
	})

	t.Run("wrong app secret fails the call with 190", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		_, token := e.signup(t, sandbox.ESSessionRequest{})
		const secret = "wrong-secret-RECOGNISABLE-88d1"
		_, err := e.client(t, func(c *metagraph.Config) { c.AppSecret = secret }).DebugToken(ctx(t), token)
		assert.True(t, metagraph.IsTokenInvalid(err), "%v", err)
		assertNoSecrets(t, err, secret, token)
	})
}
