package metagraph_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dualhook/dualhook/metagraph"
	"github.com/dualhook/dualhook/sandbox"
)

func TestSubscriptionLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sess, token := e.signup(t, sandbox.ESSessionRequest{})
	waba := sess.WABAID
	hook := receiver(t, echoChallenge)
	list := func() []metagraph.SubscribedApp {
		t.Helper()
		apps, err := e.mg.SubscribedApps(ctx(t), token, waba)
		require.NoError(t, err)
		return apps
	}
	ours := metagraph.SubscribedApp{AppID: e.cfg.AppID, AppName: e.cfg.AppName}

	assert.Empty(t, list())

	require.NoError(t, e.mg.SubscribeApp(ctx(t), token, waba))
	assert.Equal(t, []metagraph.SubscribedApp{ours}, list())

	require.NoError(t, e.mg.SetOverride(ctx(t), token, waba, hook, "verify-RECOGNISABLE-1"))
	withOverride := ours
	withOverride.OverrideCallbackURI = hook
	assert.Equal(t, []metagraph.SubscribedApp{withOverride}, list())

	// The body-less POST that subscribes also clears the override (Meta).
	require.NoError(t, e.mg.ClearOverride(ctx(t), token, waba))
	assert.Equal(t, []metagraph.SubscribedApp{ours}, list())

	require.NoError(t, e.mg.SetOverride(ctx(t), token, waba, hook, "verify-RECOGNISABLE-1"))
	require.NoError(t, e.ctl.SetWABA(ctx(t), sandbox.WABAFault{WABAID: waba, OtherApps: []sandbox.SubscribedApp{
		{AppID: "5731794616896507", AppName: "Other Partner", OverrideURL: "https://other.example/hook"},
	}}))
	assert.ElementsMatch(t, []metagraph.SubscribedApp{
		withOverride,
		{AppID: "5731794616896507", AppName: "Other Partner", OverrideCallbackURI: "https://other.example/hook"},
	}, list())

	require.NoError(t, e.mg.UnsubscribeApp(ctx(t), token, waba))
	assert.Equal(t, []string{"5731794616896507"}, appIDs(list()))
	// Meta answers success to a DELETE for an app that is not subscribed.
	require.NoError(t, e.mg.UnsubscribeApp(ctx(t), token, waba))

	// Request shapes: subscribe without body, override as JSON, bearer.
	posts, err := e.ctl.Calls(ctx(t), sandbox.CallFilter{Endpoint: "waba/subscribed_apps", Method: "POST"})
	require.NoError(t, err)
	require.Len(t, posts, 4)
	assert.Empty(t, posts[0].Params, "SubscribeApp sends no body")
	assert.Equal(t, map[string]string{"override_callback_uri": hook, "verify_token": "[redacted]"}, posts[1].Params)
	for _, c := range posts {
		assert.Equal(t, "bearer", c.Auth)
	}
}

func appIDs(apps []metagraph.SubscribedApp) []string {
	var ids []string
	for _, a := range apps {
		ids = append(ids, a.AppID)
	}
	return ids
}

func TestSetOverride(t *testing.T) {
	t.Parallel()
	const verifyToken = "verify-token-RECOGNISABLE-3b8e"
	tests := []struct {
		name      string
		handler   func(*testing.T) string // returns the callback URL
		subscribe bool
		prepare   func(t *testing.T, e *env)
		check     func(t *testing.T, err error)
	}{
		{
			name:      "receiver echoes the challenge",
			handler:   func(t *testing.T) string { return receiver(t, echoChallenge) },
			subscribe: true,
			check:     func(t *testing.T, err error) { require.NoError(t, err) },
		},
		{
			name:      "receiver answers 404 (2200)",
			handler:   func(t *testing.T) string { return receiver(t, notFound) },
			subscribe: true,
			check: func(t *testing.T, err error) {
				assert.True(t, metagraph.IsOverrideVerificationFailed(err), "%v", err)
				assert.False(t, metagraph.IsTransient(err))
				assert.Contains(t, err.Error(), "HTTP Status Code = 404")
			},
		},
		{
			name:      "receiver echoes the query, verify token included (2200)",
			handler:   func(t *testing.T) string { return receiver(t, echoQuery) },
			subscribe: true,
			check: func(t *testing.T, err error) {
				assert.True(t, metagraph.IsOverrideVerificationFailed(err), "%v", err)
				assert.Contains(t, err.Error(), "Response does not match challenge")
				assert.Contains(t, err.Error(), "[redacted]", "Meta quoted the verify token; it was scrubbed")
			},
		},
		{
			name:      "receiver unreachable (2200)",
			handler:   func(t *testing.T) string { return "http://" + closedPort(t) + "/webhook" },
			subscribe: true,
			check: func(t *testing.T, err error) {
				assert.True(t, metagraph.IsOverrideVerificationFailed(err), "%v", err)
				assert.False(t, metagraph.NeverReachedMeta(err), "Meta answered; only its GET failed")
			},
		},
		{
			name:      "forced failure by the sandbox (2200)",
			handler:   func(t *testing.T) string { return receiver(t, echoChallenge) },
			subscribe: true,
			prepare: func(t *testing.T, e *env) {
				require.NoError(t, e.ctl.FailOverrideVerification(ctx(t), sandbox.OverrideFault{Failure: sandbox.VerifyFailTimeout}))
			},
			check: func(t *testing.T, err error) {
				assert.True(t, metagraph.IsOverrideVerificationFailed(err), "%v", err)
				assert.Contains(t, err.Error(), "curl_errno = 28")
			},
		},
		{
			name:    "app not subscribed yet",
			handler: func(t *testing.T) string { return receiver(t, echoChallenge) },
			check: func(t *testing.T, err error) {
				assert.True(t, metagraph.IsNotSubscribed(err), "%v", err)
				assert.False(t, metagraph.IsOverrideVerificationFailed(err))
				assert.False(t, metagraph.IsTransient(err))
			},
		},
		{
			name:      "URL over 200 characters (100)",
			handler:   func(t *testing.T) string { return receiver(t, echoChallenge) + "?" + strings.Repeat("x", 200) },
			subscribe: true,
			check: func(t *testing.T, err error) {
				ge := graphErr(t, err)
				assert.Equal(t, 100, ge.Code)
				assert.False(t, metagraph.IsOverrideVerificationFailed(err))
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			sess, token := e.signup(t, sandbox.ESSessionRequest{})
			if tc.subscribe {
				require.NoError(t, e.mg.SubscribeApp(ctx(t), token, sess.WABAID))
			}
			if tc.prepare != nil {
				tc.prepare(t, e)
			}
			err := e.mg.SetOverride(ctx(t), token, sess.WABAID, tc.handler(t), verifyToken)
			tc.check(t, err)
			if err != nil {
				assertNoSecrets(t, err, verifyToken, token)
				apps, lerr := e.mg.SubscribedApps(ctx(t), token, sess.WABAID)
				require.NoError(t, lerr)
				for _, a := range apps {
					assert.Empty(t, a.OverrideCallbackURI, "a failed override is not installed")
				}
			}
		})
	}
}
