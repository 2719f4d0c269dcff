package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dualhook/dualhook/activities"
	"github.com/dualhook/dualhook/internal/config"
	"github.com/dualhook/dualhook/internal/domain"
	"github.com/dualhook/dualhook/testkit/apitest"
	"github.com/dualhook/dualhook/testkit/stacktest"
)

// oauthCodes are the partner's stored OAuth code secrets: id → whether the ciphertext is kept.
func oauthCodes(t *testing.T, st *stacktest.Stack, partnerID string) map[string]bool {
	t.Helper()
	rows, err := st.API.Store.Pool.Query(context.Background(),
		"SELECT id, ciphertext IS NOT NULL FROM secrets WHERE partner_id = $1 AND kind = 'oauth_code'", partnerID)
	require.NoError(t, err)
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var id string
		var kept bool
		require.NoError(t, rows.Scan(&id, &kept))
		out[id] = kept
	}
	return out
}

// A callback the workflow refuses (here: its workflow is gone) must not leave the code behind
// as a stored secret.
func TestRefusedCallbackCodeIsErased(t *testing.T) {
	st := stacktest.New(t, stacktest.Options{})
	p := st.NewPartner()
	sessionID, token := st.CreateSession(p, "code-refused", nil)
	ctx := context.Background()
	st.API.Do(apitest.Request{Method: "GET", Path: "/onboard/" + token, NoCheck: true})
	st.WaitSession(sessionID, "started")
	require.NoError(t, st.API.Temporal.TerminateWorkflow(ctx, "onboarding/"+sessionID, "", "test: the workflow is gone"))

	res := st.Callback(token, map[string]any{"code": "AQrefused-code-0123456789"})
	assert.NotEqual(t, 200, res.Status, "%s", res.Body)
	codes := oauthCodes(t, st, p.Row.ID)
	require.Len(t, codes, 1, "the callback stored its code")
	for id, kept := range codes {
		assert.False(t, kept, "the refused callback's code %s is erased", id)
	}
}

// Retention deletes OAuth codes no session references, and erases stale referenced ones.
func TestRetentionPrunesUnreferencedOAuthCodes(t *testing.T) {
	st := stacktest.New(t, stacktest.Options{NoWorker: true})
	p := st.NewPartner()
	sessionID, _ := st.CreateSession(p, "code-prune", nil)
	execSQL(t, st, `INSERT INTO secrets (id, partner_id, kind, ciphertext, created_at) VALUES
		('sec_old_orphan_`+p.Row.ID+`', $1, 'oauth_code', 'c', now() - interval '2 hours'),
		('sec_new_orphan_`+p.Row.ID+`', $1, 'oauth_code', 'c', now() - interval '1 minute'),
		('sec_old_ref_`+p.Row.ID+`', $1, 'oauth_code', 'c', now() - interval '2 days')`, p.Row.ID)
	execSQL(t, st, `UPDATE onboarding_sessions SET oauth_code_secret_id = 'sec_old_ref_`+p.Row.ID+`' WHERE id = $1`, sessionID)

	a := &activities.Activities{Store: st.API.Store, Ring: st.API.Ring}
	r, err := a.PruneRetention(context.Background(), domain.RetentionPolicy{EventsDays: 30, IdempotencyDays: 1, AuditDays: 365})
	require.NoError(t, err)
	assert.GreaterOrEqual(t, r.OAuthCodes, int64(2))
	assert.Equal(t, map[string]bool{"sec_new_orphan_" + p.Row.ID: true, "sec_old_ref_" + p.Row.ID: false}, oauthCodes(t, st, p.Row.ID),
		"the old orphan is gone, the fresh one (a callback in flight) stays, the stale referenced one is erased")
}

// The page's endpoints are throttled per token and per client IP.
func TestPageEndpointsAreThrottledPerTokenAndPerIP(t *testing.T) {
	st := stacktest.New(t, stacktest.Options{NoWorker: true, Config: func(c *config.Config) {
		c.RateLimitPagePerTokenPerMinute = 5
		c.RateLimitPagePerIPPerMinute = 8
		c.TrustedProxies = "127.0.0.1/32,::1/128" // the test client plays a proxy naming each client
	}})
	// One fixed window for the whole test: the API's clock stands still.
	st.API.Clock.Advance(0)
	_, token := st.CreateSession(st.Partner, "throttle-a", nil)
	_, other := st.CreateSession(st.Partner, "throttle-b", nil)
	// Client addresses and guessed tokens of this run only: the counters live in the package's
	// database, and a repeated run in the same minute must not find this one's.
	run := rand.Uint32()
	ip := func(addr string) map[string]string {
		return map[string]string{"X-Forwarded-For": fmt.Sprintf("2001:db8:%x:%x::%s", run>>16, run&0xffff, addr)}
	}
	status := func(tok string, h map[string]string) int {
		return st.API.Do(apitest.Request{Method: "GET", Path: "/onboard/" + tok + "/status", Header: h, NoCheck: true}).Status
	}
	for i := range 5 {
		require.Equal(t, 200, status(token, ip(fmt.Sprintf("a%d", i+1))), "request %d", i+1)
	}
	res := st.API.Do(apitest.Request{Method: "POST", Path: "/onboard/" + token + "/callback", Body: map[string]any{"code": "AQthrottled"}, NoCheck: true})
	assert.Equal(t, 429, res.Status, "the token's budget is spent, from any IP")
	assert.Equal(t, "rate_limited", res.ErrorCode())
	assert.NotEmpty(t, res.Header.Get("Retry-After"))
	assert.Empty(t, oauthCodes(t, st, st.Partner.Row.ID), "a throttled callback stores nothing")

	// One IP, many tokens (guessing): the per-IP budget, whatever the token.
	guesser := ip("b7")
	for i := range 8 {
		require.Equal(t, 404, status(fmt.Sprintf("%08x%036d", run, i), guesser), "guess %d", i+1)
	}
	assert.Equal(t, 429, status(other, guesser), "the IP's budget is spent, even for a real token")
	assert.Equal(t, 200, status(other, ip("b8")), "another client is not affected")
}

// A cancel that no worker answers within the API's 20 s wait is the engine being unavailable —
// 503, retryable — not an internal error (found by the path fuzz target).
func TestCancelWithoutAWorkerAnswersUnavailable(t *testing.T) {
	t.Parallel()
	st := stacktest.New(t, stacktest.Options{NoWorker: true})
	sessionID, _ := st.CreateSession(st.Partner, "no-worker-cancel", nil)
	res := st.API.Do(apitest.Request{Method: "POST", Path: "/api/v1/onboarding/sessions/" + sessionID + "/cancel", Key: st.Partner.Key})
	require.Equal(t, 503, res.Status, "%s", res.Body)
	assert.Equal(t, "service_unavailable", res.Map(t)["error"].(map[string]any)["code"])
}
