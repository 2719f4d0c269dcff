package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dualhook/dualhook/activities"
	"github.com/dualhook/dualhook/sandbox"
	"github.com/dualhook/dualhook/testkit/apitest"
	"github.com/dualhook/dualhook/testkit/stacktest"
)

func TestCancelThroughTheAPIKillsTheLinkAtOnce(t *testing.T) {
	st := stacktest.New(t, stacktest.Options{})
	sessionID, token := st.CreateSession(st.Partner, "apicancel-1", nil)
	require.Equal(t, 200, st.API.Do(apitest.Request{Method: "GET", Path: "/onboard/" + token, NoCheck: true}).Status)
	st.WaitSession(sessionID, "started")

	res := st.API.Do(apitest.Request{Method: "POST", Path: "/api/v1/onboarding/sessions/" + sessionID + "/cancel", Key: st.Partner.Key})
	require.Equal(t, 200, res.Status, "%s", res.Body)
	got := res.Map(t)
	assert.Equal(t, "cancelled", got["status"])
	assert.Equal(t, "cancelled", got["failure"].(map[string]any)["reason"])

	assert.Equal(t, 410, st.API.Do(apitest.Request{Method: "GET", Path: "/onboard/" + token, NoCheck: true}).Status)
	body, _ := st.Signup(sandbox.ESSessionRequest{Scenario: "finish"})
	cb := st.Callback(token, body)
	assert.Equal(t, 410, cb.Status)
	assert.Equal(t, "session_expired", cb.ErrorCode())

	again := st.API.Do(apitest.Request{Method: "POST", Path: "/api/v1/onboarding/sessions/" + sessionID + "/cancel", Key: st.Partner.Key})
	assert.JSONEq(t, string(res.Body), string(again.Body), "a terminal session is answered unchanged")
	evs := st.WaitEvents(sessionID, 2)
	assert.Equal(t, []string{"onboarding.started", "onboarding.failed"}, []string{evs[0].Type, evs[1].Type})
}

// The expiry is a durable timer in the workflow: here a session made to expire in 2 s, on the
// real Temporal server.
func TestSessionExpiresOnItsDurableTimer(t *testing.T) {
	st := stacktest.New(t, stacktest.Options{})
	sessionID, token := st.InsertSession(st.Partner, "expire-1", 2*time.Second, true)
	row := st.WaitSession(sessionID, "expired")
	assert.Equal(t, "expired", *row.FailureReason)
	assert.Equal(t, "timeout", *row.FailureErrorCategory)

	body, _ := st.Signup(sandbox.ESSessionRequest{Scenario: "finish"})
	cb := st.Callback(token, body)
	assert.Equal(t, 410, cb.Status)
	assert.Equal(t, "session_expired", cb.ErrorCode())
	assert.Equal(t, 410, st.API.Do(apitest.Request{Method: "GET", Path: "/onboard/" + token, NoCheck: true}).Status)
	evs := st.WaitEvents(sessionID, 1)
	assert.Equal(t, "onboarding.failed", evs[0].Type)
}

func TestWabaConflictWithAnotherTenant(t *testing.T) {
	st := stacktest.New(t, stacktest.Options{})
	first, firstToken := st.CreateSession(st.Partner, "tenant-a", nil)
	body, es := st.Signup(sandbox.ESSessionRequest{Scenario: "finish"})
	require.Equal(t, "completed", decide(t, st.Callback(firstToken, body)).Status)
	_ = first

	// Same partner, another tenant, a second number on the same WABA with another webhook URL.
	other, otherToken := st.CreateSession(st.Partner, "tenant-b", nil)
	body, _ = st.Signup(sandbox.ESSessionRequest{Scenario: "finish", WABAID: es.WABAID})
	d := decide(t, st.Callback(otherToken, body))
	assert.Equal(t, "failed", d.Status)
	assert.Equal(t, "waba_webhook_conflict", query(t, d.RedirectURL).Get("reason"))
	res := st.API.Do(apitest.Request{Method: "GET", Path: "/api/v1/onboarding/sessions/" + other, Key: st.Partner.Key})
	failure := res.Map(t)["failure"].(map[string]any)
	assert.Equal(t, "conflict", failure["errorCategory"])
	assert.Equal(t, "both", failure["details"].(map[string]any)["mismatch"])
	assert.Equal(t, st.Hook.URL("tenant-a"), failure["details"].(map[string]any)["webhookUrl"], "the same partner may see its own URL")

	// Another partner's tenant: the URL on file stays hidden.
	p2 := st.NewPartner()
	third, thirdToken := st.CreateSession(p2, "tenant-c", stacktest.SessionRequest{"webhookVerifyToken": "verify-tenant-a"})
	body, _ = st.Signup(sandbox.ESSessionRequest{Scenario: "finish", WABAID: es.WABAID})
	d = decide(t, st.Callback(thirdToken, body))
	assert.Equal(t, "waba_webhook_conflict", query(t, d.RedirectURL).Get("reason"))
	res = st.API.Do(apitest.Request{Method: "GET", Path: "/api/v1/onboarding/sessions/" + third, Key: p2.Key})
	details := res.Map(t)["failure"].(map[string]any)["details"].(map[string]any)
	assert.Equal(t, "url", details["mismatch"])
	assert.NotContains(t, details, "webhookUrl")

	// Meta still has the first tenant's override.
	subs := st.Subscriptions(es.WABAID)
	require.Len(t, subs, 1)
	assert.Equal(t, st.Hook.URL("tenant-a"), subs[0].OverrideURL)
}

func TestSiblingsWithTheSameWebhookShareTheWaba(t *testing.T) {
	st := stacktest.New(t, stacktest.Options{})
	shared := stacktest.SessionRequest{"webhookOverrideUrl": st.Hook.URL("shared"), "webhookVerifyToken": "shared-token"}
	_, tokenA := st.CreateSession(st.Partner, "tenant-a", shared)
	body, es := st.Signup(sandbox.ESSessionRequest{Scenario: "finish"})
	require.Equal(t, "completed", decide(t, st.Callback(tokenA, body)).Status)

	p2 := st.NewPartner()
	_, tokenB := st.CreateSession(p2, "tenant-b", shared)
	body, _ = st.Signup(sandbox.ESSessionRequest{Scenario: "finish", WABAID: es.WABAID})
	assert.Equal(t, "completed", decide(t, st.Callback(tokenB, body)).Status, "equal values: both succeed")
	subs := st.Subscriptions(es.WABAID)
	require.Len(t, subs, 1)
	assert.Equal(t, st.Hook.URL("shared"), subs[0].OverrideURL)
}

func TestSameTenantReonboardingUpdatesInPlaceAndNewValuesWin(t *testing.T) {
	st := stacktest.New(t, stacktest.Options{})
	first, token := st.CreateSession(st.Partner, "tenant-a", nil)
	body, es := st.Signup(sandbox.ESSessionRequest{Scenario: "finish"})
	require.Equal(t, "completed", decide(t, st.Callback(token, body)).Status)
	conn := st.ConnectionOf(first)

	// A second number on the WABA with a new webhook: the new values win for both siblings.
	newHook := stacktest.SessionRequest{"webhookOverrideUrl": st.Hook.URL("tenant-a-v2"), "webhookVerifyToken": "v2"}
	second, token := st.CreateSession(st.Partner, "tenant-a", newHook)
	body, _ = st.Signup(sandbox.ESSessionRequest{Scenario: "finish", WABAID: es.WABAID})
	require.Equal(t, "completed", decide(t, st.Callback(token, body)).Status)
	sibling := st.ConnectionOf(second)
	assert.NotEqual(t, conn["connectionId"], sibling["connectionId"])
	assert.Equal(t, st.Hook.URL("tenant-a-v2"), st.ConnectionOf(first)["webhookUrl"], "the sibling follows")

	// The same number again: the same connection, a new token, no disconnect.
	third, token := st.CreateSession(st.Partner, "tenant-a", newHook)
	body, _ = st.Signup(sandbox.ESSessionRequest{Scenario: "finish", WABAID: es.WABAID, PhoneNumberID: es.PhoneNumberID})
	d3 := decide(t, st.Callback(token, body))
	if s := st.Session(third); s.FailureMessage != nil {
		t.Log(*s.FailureReason, *s.FailureMessage)
	}
	require.Equal(t, "completed", d3.Status)
	again := st.ConnectionOf(third)
	assert.Equal(t, conn["connectionId"], again["connectionId"])
	assert.NotEqual(t, conn["tokenIssuedAt"], again["tokenIssuedAt"])
	assert.Equal(t, third, again["sessionId"])
	var disconnected int
	require.NoError(t, st.API.Store.Pool.QueryRow(context.Background(),
		"SELECT count(*) FROM events WHERE type = 'connection.disconnected' AND partner_id = $1", st.Partner.Row.ID).Scan(&disconnected))
	assert.Zero(t, disconnected)
	var erased int
	require.NoError(t, st.API.Store.Pool.QueryRow(context.Background(),
		"SELECT count(*) FROM secrets WHERE kind = 'access_token' AND erased_at IS NOT NULL AND partner_id = $1", st.Partner.Row.ID).Scan(&erased))
	assert.Equal(t, 1, erased, "the replaced token is erased")
}

func TestNumberAlreadyConnectedToAnotherTenant(t *testing.T) {
	st := stacktest.New(t, stacktest.Options{})
	shared := stacktest.SessionRequest{"webhookOverrideUrl": st.Hook.URL("shared"), "webhookVerifyToken": "shared-token"}
	_, token := st.CreateSession(st.Partner, "tenant-a", shared)
	body, es := st.Signup(sandbox.ESSessionRequest{Scenario: "finish"})
	require.Equal(t, "completed", decide(t, st.Callback(token, body)).Status)

	_, token = st.CreateSession(st.Partner, "tenant-b", shared)
	body, _ = st.Signup(sandbox.ESSessionRequest{Scenario: "finish", WABAID: es.WABAID, PhoneNumberID: es.PhoneNumberID})
	d := decide(t, st.Callback(token, body))
	assert.Equal(t, "number_already_connected", query(t, d.RedirectURL).Get("reason"))
}

// Two tenants with different webhooks race on one WABA: one wins, the other gets the conflict,
// and Meta ends with the winner's override — every time.
func TestRacingSessionsOnOneWabaNeverDisagreeWithMeta(t *testing.T) {
	st := stacktest.New(t, stacktest.Options{})
	for round := range 6 {
		_, seed := st.Signup(sandbox.ESSessionRequest{Scenario: "finish"}) // a fresh WABA
		type racer struct {
			tenant, token string
			body          map[string]any
			result        decision
		}
		racers := make([]*racer, 2)
		for i := range racers {
			tenant := []string{"red", "blue"}[i] + "-" + string(rune('a'+round))
			_, token := st.CreateSession(st.Partner, tenant, nil)
			body, _ := st.Signup(sandbox.ESSessionRequest{Scenario: "finish", WABAID: seed.WABAID})
			racers[i] = &racer{tenant: tenant, token: token, body: body}
		}
		done := make(chan struct{}, len(racers))
		for _, r := range racers {
			go func() {
				defer func() { done <- struct{}{} }()
				res := st.Callback(r.token, r.body)
				if res.Status == 200 {
					res.JSON(t, &r.result)
				}
			}()
		}
		for range racers {
			<-done
		}
		var winners []*racer
		for _, r := range racers {
			switch r.result.Status {
			case "completed":
				winners = append(winners, r)
			case "failed":
				assert.Equal(t, "waba_webhook_conflict", query(t, r.result.RedirectURL).Get("reason"))
			default:
				t.Fatalf("round %d: unexpected outcome %+v", round, r.result)
			}
		}
		require.Len(t, winners, 1, "round %d: exactly one winner", round)
		subs := st.Subscriptions(seed.WABAID)
		require.Len(t, subs, 1)
		assert.Equal(t, st.Hook.URL(winners[0].tenant), subs[0].OverrideURL, "round %d: Meta agrees with PostgreSQL", round)
	}
}

func TestReconcilerStartsWorkflowsForOrphanedSessions(t *testing.T) {
	st := stacktest.New(t, stacktest.Options{})
	sessionID, _ := st.InsertSession(st.Partner, "orphan-1", 3*time.Second, false)
	acts := &activities.Activities{Store: st.API.Store, Temporal: st.API.Temporal, Config: st.API.Config,
		Now: func() time.Time { return time.Now().Add(time.Minute) }}
	res, err := acts.ReconcileSessions(context.Background())
	require.NoError(t, err)
	assert.GreaterOrEqual(t, res.Started, 1)
	row := st.Session(sessionID)
	require.NotNil(t, row.WorkflowStartedAt)
	// The started workflow drives the session: its expiry fires.
	st.WaitSession(sessionID, "expired")
}
