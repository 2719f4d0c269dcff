package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/dualhook/dualhook/internal/domain"
	"github.com/dualhook/dualhook/sandbox"
	"github.com/dualhook/dualhook/testkit/apitest"
	"github.com/dualhook/dualhook/testkit/stacktest"
)

func healthPath(id string) string { return "/api/v1/connections/" + id + "/health" }

func refreshHealth(st *stacktest.Stack, p apitest.Partner, id string) *apitest.Response {
	st.T.Helper()
	return st.API.Do(apitest.Request{Method: "POST", Path: healthPath(id) + "/refresh", Key: p.Key})
}

// GET health answers the stored snapshot; refresh reads the number from Meta now and stores it.
func TestHealthGetAndRefresh(t *testing.T) {
	st := stacktest.New(t, stacktest.Options{})
	ctx := context.Background()
	c := onboardConnection(t, st, st.Partner, "health-1", nil, sandbox.ESSessionRequest{})

	res := st.API.Do(apitest.Request{Method: "GET", Path: healthPath(c.ConnectionID), Key: st.Partner.Key})
	require.Equal(t, 200, res.Status, "%s", res.Body)
	assert.Equal(t, map[string]any{"connectionId": c.ConnectionID, "health": nil}, res.Map(t), "no snapshot before the first refresh")

	require.NoError(t, st.Meta.UpdateNumber(ctx, sandbox.NumberFault{PhoneNumberID: c.ES.PhoneNumberID, QualityRating: ptrTo("YELLOW"), MessagingLimitTier: ptrTo("TIER_10K")}))
	require.NoError(t, st.Meta.ClearCalls(ctx))
	res = refreshHealth(st, st.Partner, c.ConnectionID)
	require.Equal(t, 200, res.Status, "%s", res.Body)
	got := res.Map(t)
	assert.Equal(t, true, got["refreshed"])
	health := got["health"].(map[string]any)
	assert.Equal(t, "YELLOW", health["qualityRating"])
	assert.Equal(t, "TIER_10K", health["messagingTier"])
	assert.NotEmpty(t, health["healthStatus"])
	assert.WithinDuration(t, time.Now(), mustTime(t, health["checkedAt"]), time.Minute)
	assert.NotEmpty(t, st.GraphCalls(), "the refresh asked Meta")

	res = st.API.Do(apitest.Request{Method: "GET", Path: healthPath(c.ConnectionID), Key: st.Partner.Key})
	assert.Equal(t, health, res.Map(t)["health"], "the snapshot is stored")
	assert.Equal(t, health, getConnection(t, st, st.Partner, c.ConnectionID)["health"], "and shown on the connection")

	// Meta unavailable: refreshed false, the stored snapshot stays.
	_, err := st.Meta.SetFault(ctx, sandbox.Fault{Endpoint: "phone", Method: "GET", Kind: sandbox.FaultHTTP5xx, Status: 503, Count: -1})
	require.NoError(t, err)
	res = refreshHealth(st, st.Partner, c.ConnectionID)
	require.Equal(t, 200, res.Status, "%s", res.Body)
	assert.Equal(t, false, res.Map(t)["refreshed"])
	assert.Equal(t, health, res.Map(t)["health"])
	require.NoError(t, st.Meta.ClearFaults(ctx))

	// Another partner's connection, an unknown one: 404.
	p2 := st.NewPartner()
	assert.Equal(t, 404, st.API.Do(apitest.Request{Method: "GET", Path: healthPath(c.ConnectionID), Key: p2.Key}).Status)
	assert.Equal(t, 404, refreshHealth(st, p2, c.ConnectionID).Status)
	assert.Equal(t, 404, refreshHealth(st, st.Partner, "conn_doesnotexist").Status)

	// A disconnected connection is not refreshed.
	markDisconnected(t, st, c.ConnectionID)
	res = refreshHealth(st, st.Partner, c.ConnectionID)
	assert.Equal(t, 409, res.Status)
	assert.Equal(t, "connection_disconnected", res.ErrorCode())
}

// A Graph 190 on the connection's token marks it expired (SPEC §7.1): the refresh answers
// meta_token_expired, the connection shows tokenStatus expired, Meta is not asked again, and
// the secrets are no longer revealed.
func TestHealthRefreshWithARevokedTokenMarksItExpired(t *testing.T) {
	st := stacktest.New(t, stacktest.Options{})
	ctx := context.Background()
	c := onboardConnection(t, st, st.Partner, "health-190", nil, sandbox.ESSessionRequest{})
	n, err := st.Meta.RevokeToken(ctx, sandbox.TokenFault{WABAID: c.ES.WABAID})
	require.NoError(t, err)
	require.Equal(t, 1, n)

	res := refreshHealth(st, st.Partner, c.ConnectionID)
	assert.Equal(t, 409, res.Status, "%s", res.Body)
	assert.Equal(t, "meta_token_expired", res.ErrorCode())
	assert.Equal(t, "expired", getConnection(t, st, st.Partner, c.ConnectionID)["tokenStatus"])

	require.NoError(t, st.Meta.ClearCalls(ctx))
	res = refreshHealth(st, st.Partner, c.ConnectionID)
	assert.Equal(t, "meta_token_expired", res.ErrorCode())
	assert.Empty(t, st.GraphCalls(), "a token Meta refused is not tried again")

	res = st.API.Do(apitest.Request{Method: "POST", Path: revealPath(c.ConnectionID), Key: st.Partner.Key,
		Body: map[string]any{"secretTypes": []string{"access_token"}}})
	assert.Equal(t, 409, res.Status)
	assert.Equal(t, "meta_token_expired", res.ErrorCode())
}

// SPEC §9: refreshes have their own budget, 10 per minute per key.
func TestHealthRefreshRateLimit(t *testing.T) {
	st := stacktest.New(t, stacktest.Options{})
	c := onboardConnection(t, st, st.Partner, "health-rl", nil, sandbox.ESSessionRequest{})
	now := time.Now()
	st.API.Clock.Advance(now.Truncate(time.Minute).Add(90 * time.Second).Sub(now)) // mid-window
	for i := range 10 {
		res := refreshHealth(st, st.Partner, c.ConnectionID)
		require.Equal(t, 200, res.Status, "call %d: %s", i+1, res.Body)
		assert.Equal(t, "10", res.Header.Get("X-RateLimit-Limit"))
	}
	res := refreshHealth(st, st.Partner, c.ConnectionID)
	assert.Equal(t, 429, res.Status)
	assert.Equal(t, "rate_limited", res.ErrorCode())
	assert.Equal(t, "30", res.Header.Get("Retry-After"))
	// GET health is a read: unaffected.
	assert.Equal(t, 200, st.API.Do(apitest.Request{Method: "GET", Path: healthPath(c.ConnectionID), Key: st.Partner.Key}).Status)
}

// The health-refresh schedule's workflow refreshes every active connection; one with a revoked
// token is counted, marked expired, and does not stop the others.
func TestHealthRefreshWorkflowRefreshesEveryActiveConnection(t *testing.T) {
	st := stacktest.New(t, stacktest.Options{})
	ctx := context.Background()
	ok := onboardConnection(t, st, st.Partner, "health-sched-1", nil, sandbox.ESSessionRequest{})
	revoked := onboardConnection(t, st, st.Partner, "health-sched-2", nil, sandbox.ESSessionRequest{})
	gone := onboardConnection(t, st, st.Partner, "health-sched-3", nil, sandbox.ESSessionRequest{})
	markDisconnected(t, st, gone.ConnectionID)
	_, err := st.Meta.RevokeToken(ctx, sandbox.TokenFault{WABAID: revoked.ES.WABAID})
	require.NoError(t, err)

	require.NoError(t, st.Meta.ClearCalls(ctx))
	// The package's database is shared by its tests, so the pass also meets earlier tests'
	// connections (unknown to this stack's sandbox: counted as failed). Only this test's are
	// asserted.
	run, err := st.API.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: "health-refresh-test/" + ok.ConnectionID, TaskQueue: st.API.Config.TemporalTaskQueue,
	}, domain.HealthRefreshWorkflowName, domain.HealthRefreshInput{})
	require.NoError(t, err)
	var out domain.HealthRefreshInput
	require.NoError(t, run.Get(ctx, &out))
	assert.GreaterOrEqual(t, out.Refreshed, 1)
	assert.GreaterOrEqual(t, out.Failed, 1)
	assert.NotNil(t, dbConnection(t, st, ok.ConnectionID).Health)
	assert.Nil(t, dbConnection(t, st, revoked.ConnectionID).Health)
	assert.Equal(t, "expired", dbConnection(t, st, revoked.ConnectionID).TokenStatus)
	assert.Nil(t, dbConnection(t, st, gone.ConnectionID).Health, "disconnected connections are skipped")
	calls, err := st.Meta.Calls(ctx, sandbox.CallFilter{PathHas: gone.ES.PhoneNumberID})
	require.NoError(t, err)
	assert.Empty(t, calls, "Meta is not asked about a disconnected connection")
}

func ptrTo[T any](v T) *T { return &v }
