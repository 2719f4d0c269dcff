package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/dualhook/dualhook/db/dbq"
	"github.com/dualhook/dualhook/internal/config"
	"github.com/dualhook/dualhook/internal/partners"
	"github.com/dualhook/dualhook/sandbox"
	"github.com/dualhook/dualhook/testkit/apitest"
	"github.com/dualhook/dualhook/testkit/eventstest"
	"github.com/dualhook/dualhook/testkit/stacktest"
	"github.com/dualhook/dualhook/worker"
)

// Disconnect (SPEC §7.4), driven over HTTP against the whole stack.

// lifecycleOnboard completes a session for the tenant and returns the connection's id.
func lifecycleOnboard(t *testing.T, st *stacktest.Stack, p apitest.Partner, tenant string, signup sandbox.ESSessionRequest,
	extra stacktest.SessionRequest) (string, sandbox.ESSession) {
	t.Helper()
	sessionID, token := st.CreateSession(p, tenant, extra)
	body, es := st.Signup(signup)
	require.Equal(t, "completed", decide(t, st.Callback(token, body)).Status)
	row := st.Session(sessionID)
	require.NotNil(t, row.ConnectionID)
	return *row.ConnectionID, es
}

func disconnectCall(st *stacktest.Stack, key, connectionID string) *apitest.Response {
	return st.API.Do(apitest.Request{Method: "DELETE", Path: "/api/v1/connections/" + connectionID, Key: key})
}

func connectionRow(t *testing.T, st *stacktest.Stack, id string) dbq.Connection {
	t.Helper()
	c, err := st.API.Store.GetConnection(context.Background(), id)
	require.NoError(t, err)
	return c
}

// secretErasedAt is when a secret's value was erased (nil: still stored).
func secretErasedAt(t *testing.T, st *stacktest.Stack, id *string) *time.Time {
	t.Helper()
	require.NotNil(t, id)
	s, err := st.API.Store.GetSecret(context.Background(), *id)
	require.NoError(t, err)
	if s.ErasedAt != nil {
		assert.Nil(t, s.Ciphertext)
	}
	return s.ErasedAt
}

// connectionEvents are the stored events of a type about a connection, once none is pending.
func connectionEvents(t *testing.T, st *stacktest.Stack, connectionID, eventType string, want int) []dbq.Event {
	t.Helper()
	var out []dbq.Event
	eventstest.Eventually(t, 30*time.Second, func() bool {
		out = out[:0]
		rows, err := st.API.Store.Pool.Query(context.Background(),
			"SELECT id, type, status, body FROM events WHERE connection_id = $1 AND type = $2 ORDER BY created_at, id", connectionID, eventType)
		require.NoError(t, err)
		defer rows.Close()
		pending := false
		for rows.Next() {
			var e dbq.Event
			require.NoError(t, rows.Scan(&e.ID, &e.Type, &e.Status, &e.Body))
			pending = pending || e.Status == "pending"
			out = append(out, e)
		}
		return len(out) >= want && !pending
	}, "connection %s never had %d settled %s events", connectionID, want, eventType)
	return out
}

func eventData(t *testing.T, e dbq.Event) map[string]any {
	t.Helper()
	var body struct {
		Data map[string]any `json:"data"`
	}
	require.NoError(t, json.Unmarshal(e.Body, &body))
	return body.Data
}

func graphCallsOf(t *testing.T, st *stacktest.Stack, method, endpoint string) []sandbox.Call {
	t.Helper()
	calls, err := st.Meta.Calls(context.Background(), sandbox.CallFilter{})
	require.NoError(t, err)
	var out []sandbox.Call
	for _, c := range calls {
		if c.Method == method && c.Endpoint == endpoint {
			out = append(out, c)
		}
	}
	return out
}

func TestDisconnectOfTheLastSiblingRemovesTheSubscriptionAtMetaFirst(t *testing.T) {
	st := stacktest.New(t, stacktest.Options{})
	connID, es := lifecycleOnboard(t, st, st.Partner, "dc-last", sandbox.ESSessionRequest{Scenario: "finish"}, nil)
	before := connectionRow(t, st, connID)
	require.Len(t, st.Subscriptions(es.WABAID), 1)

	res := disconnectCall(st, st.Partner.Key, connID)
	require.Equal(t, 200, res.Status, "%s", res.Body)
	got := res.Map(t)
	assert.Equal(t, "disconnected", got["status"])
	assert.Equal(t, "api", got["disconnectReason"])
	assert.NotNil(t, got["disconnectedAt"])

	assert.Empty(t, st.Subscriptions(es.WABAID), "no active connection is left: the app is unsubscribed")
	deletes := graphCallsOf(t, st, "DELETE", "waba/subscribed_apps")
	require.Len(t, deletes, 1)
	tokenErased := secretErasedAt(t, st, before.AccessTokenSecretID)
	pinErased := secretErasedAt(t, st, before.RegistrationPinSecretID)
	require.NotNil(t, tokenErased, "the token is erased")
	require.NotNil(t, pinErased, "the PIN is erased")
	assert.False(t, deletes[0].Time.After(*tokenErased), "Meta's DELETE (%s) came before the token was erased (%s)", deletes[0].Time, *tokenErased)
	assert.Equal(t, 200, deletes[0].Status)

	evs := connectionEvents(t, st, connID, "connection.disconnected", 1)
	require.Len(t, evs, 1)
	assert.Equal(t, "delivered", evs[0].Status)
	assert.Equal(t, map[string]any{
		"connectionId": connID, "tenantId": "dc-last", "wabaId": es.WABAID, "phoneNumberId": es.PhoneNumberID, "reason": "api",
	}, eventData(t, evs[0]))

	// Repeating the call: the same object, nothing new at Meta or in the events.
	again := disconnectCall(st, st.Partner.Key, connID)
	require.Equal(t, 200, again.Status, "%s", again.Body)
	assert.JSONEq(t, string(res.Body), string(again.Body))
	st.WaitWorkflowClosed("disconnect/" + connID)
	assert.Len(t, connectionEvents(t, st, connID, "connection.disconnected", 1), 1, "exactly one event")
	assert.Len(t, graphCallsOf(t, st, "DELETE", "waba/subscribed_apps"), 1)
}

func TestDisconnectOfOneSiblingKeepsTheOverrideAndErasesOnlyItsSecrets(t *testing.T) {
	st := stacktest.New(t, stacktest.Options{})
	shared := stacktest.SessionRequest{"webhookOverrideUrl": st.Hook.URL("dc-shared"), "webhookVerifyToken": "dc-shared-token"}
	first, es := lifecycleOnboard(t, st, st.Partner, "dc-a", sandbox.ESSessionRequest{Scenario: "finish"}, shared)
	p2 := st.NewPartner()
	second, _ := lifecycleOnboard(t, st, p2, "dc-b", sandbox.ESSessionRequest{Scenario: "finish", WABAID: es.WABAID}, shared)
	a, b := connectionRow(t, st, first), connectionRow(t, st, second)
	// A PIN another active connection still references must survive (re-onboarding reuses the
	// number's PIN). Onboarding only shares it within one connection, so make the sibling share it.
	_, err := st.API.Store.Pool.Exec(context.Background(),
		"UPDATE connections SET registration_pin_secret_id = $1 WHERE id = $2", *a.RegistrationPinSecretID, second)
	require.NoError(t, err)

	res := disconnectCall(st, st.Partner.Key, first)
	require.Equal(t, 200, res.Status, "%s", res.Body)
	assert.Equal(t, "disconnected", res.Map(t)["status"])

	subs := st.Subscriptions(es.WABAID)
	require.Len(t, subs, 1, "the sibling still needs the subscription")
	assert.Equal(t, st.Hook.URL("dc-shared"), subs[0].OverrideURL)
	assert.Empty(t, graphCallsOf(t, st, "DELETE", "waba/subscribed_apps"))
	assert.NotNil(t, secretErasedAt(t, st, a.AccessTokenSecretID), "the disconnected connection's token is erased")
	assert.Nil(t, secretErasedAt(t, st, a.RegistrationPinSecretID), "a PIN the sibling uses is kept")
	assert.Nil(t, secretErasedAt(t, st, b.AccessTokenSecretID), "the sibling's token is kept")
	assert.Nil(t, secretErasedAt(t, st, b.RegistrationPinSecretID))
	assert.Equal(t, "active", connectionRow(t, st, second).Status)
	connectionEvents(t, st, first, "connection.disconnected", 1)

	// The last sibling goes: now Meta's subscription goes too.
	res = disconnectCall(st, p2.Key, second)
	require.Equal(t, 200, res.Status, "%s", res.Body)
	assert.Empty(t, st.Subscriptions(es.WABAID))
	assert.NotNil(t, secretErasedAt(t, st, a.RegistrationPinSecretID), "no active connection uses the PIN any more")
	assert.NotNil(t, secretErasedAt(t, st, b.AccessTokenSecretID))
}

func TestDisconnectOfAnotherPartnersConnectionIsNotFound(t *testing.T) {
	st := stacktest.New(t, stacktest.Options{})
	connID, es := lifecycleOnboard(t, st, st.Partner, "dc-owner", sandbox.ESSessionRequest{Scenario: "finish"}, nil)
	p2 := st.NewPartner()
	res := disconnectCall(st, p2.Key, connID)
	assert.Equal(t, 404, res.Status)
	assert.Equal(t, "not_found", res.ErrorCode())
	assert.Equal(t, 404, disconnectCall(st, p2.Key, "conn_doesnotexist").Status)
	assert.Equal(t, 404, disconnectCall(st, p2.Key, "not-a-connection-id").Status)
	assert.Equal(t, "active", connectionRow(t, st, connID).Status)
	assert.Len(t, st.Subscriptions(es.WABAID), 1)
	_, err := st.API.Temporal.DescribeWorkflow(context.Background(), "disconnect/"+connID, "")
	assert.Error(t, err, "no workflow was started")
}

// A revoked token (Meta answers 190) means Meta already removed the app: the disconnect goes on.
func TestDisconnectWhenMetaAnswers190(t *testing.T) {
	st := stacktest.New(t, stacktest.Options{})
	connID, es := lifecycleOnboard(t, st, st.Partner, "dc-190", sandbox.ESSessionRequest{Scenario: "finish"}, nil)
	_, err := st.Meta.RevokeToken(context.Background(), sandbox.TokenFault{WABAID: es.WABAID})
	require.NoError(t, err)

	res := disconnectCall(st, st.Partner.Key, connID)
	require.Equal(t, 200, res.Status, "%s", res.Body)
	got := res.Map(t)
	assert.Equal(t, "disconnected", got["status"])
	assert.Equal(t, "expired", got["tokenStatus"], "the 190 is noted on the connection")
	deletes := graphCallsOf(t, st, "DELETE", "waba/subscribed_apps")
	require.Len(t, deletes, 1)
	assert.Equal(t, 190, deletes[0].ErrorCode)
	assert.NotNil(t, secretErasedAt(t, st, connectionRow(t, st, connID).AccessTokenSecretID))
	connectionEvents(t, st, connID, "connection.disconnected", 1)
}

// Transient Graph errors on the DELETE are retried; the connection is disconnected once Meta
// accepts, and not before.
func TestDisconnectRetriesTransientMetaErrors(t *testing.T) {
	st := stacktest.New(t, stacktest.Options{})
	connID, es := lifecycleOnboard(t, st, st.Partner, "dc-5xx", sandbox.ESSessionRequest{Scenario: "finish"}, nil)
	_, err := st.Meta.SetFault(context.Background(), sandbox.Fault{Endpoint: "waba/subscribed_apps", Method: "DELETE", Kind: "5xx", Count: 2})
	require.NoError(t, err)

	res := disconnectCall(st, st.Partner.Key, connID)
	require.Equal(t, 200, res.Status, "%s", res.Body)
	assert.Equal(t, "disconnected", res.Map(t)["status"])
	deletes := graphCallsOf(t, st, "DELETE", "waba/subscribed_apps")
	require.Len(t, deletes, 3)
	assert.Equal(t, []int{500, 500, 200}, []int{deletes[0].Status, deletes[1].Status, deletes[2].Status})
	assert.Empty(t, st.Subscriptions(es.WABAID))
	connectionEvents(t, st, connID, "connection.disconnected", 1)
}

// Histories of real disconnects (last sibling through the API, a sibling through a Meta
// removal) and of the Meta event workflow replay against the current code. With
// DUALHOOK_UPDATE_HISTORIES=1 they are written to workflows/testdata for its replay test.
func TestDisconnectHistoriesReplayDeterministically(t *testing.T) {
	st := metaStack(t)
	shared := stacktest.SessionRequest{"webhookOverrideUrl": st.Hook.URL("dc-replay"), "webhookVerifyToken": "dc-replay-token"}
	apiConn, _ := lifecycleOnboard(t, st, st.Partner, "dc-replay-api", sandbox.ESSessionRequest{Scenario: "finish"}, nil)
	require.Equal(t, 200, disconnectCall(st, st.Partner.Key, apiConn).Status)
	first, es := lifecycleOnboard(t, st, st.Partner, "dc-replay-a", sandbox.ESSessionRequest{Scenario: "finish"}, shared)
	second, _ := lifecycleOnboard(t, st, st.Partner, "dc-replay-b", sandbox.ESSessionRequest{Scenario: "finish", WABAID: es.WABAID}, shared)
	res := emitMeta(t, st, sandbox.EmitRequest{Event: "PARTNER_REMOVED", WABAID: es.WABAID}, 200)
	metaEvent := metaEventDone(t, st, res.Body)
	for _, id := range []string{first, second} {
		st.WaitWorkflowClosed("disconnect/" + id)
	}
	// Whichever sibling committed second was the last one and removed the subscription.
	lastSibling := first
	if connectionRow(t, st, second).DisconnectedAt.After(*connectionRow(t, st, first).DisconnectedAt) {
		lastSibling = second
	}
	replayRecorded(t, st, map[string]string{
		"disconnect_api.json":             "disconnect/" + apiConn,
		"disconnect_meta_removed.json":    "disconnect/" + lastSibling,
		"meta_event_partner_removed.json": metaEvent,
	})
}

// replayRecorded replays each closed workflow's history (file name → workflow id) and, with
// DUALHOOK_UPDATE_HISTORIES=1, keeps it in workflows/testdata.
func replayRecorded(t *testing.T, st *stacktest.Stack, histories map[string]string) {
	t.Helper()
	update := os.Getenv("DUALHOOK_UPDATE_HISTORIES") == "1"
	dir := t.TempDir()
	for file, workflowID := range histories {
		st.WaitWorkflowClosed(workflowID)
		path := filepath.Join(dir, file)
		raw := st.DecodedHistory(workflowID)
		require.NoError(t, os.WriteFile(path, raw, 0o600))
		replayer := sdkworker.NewWorkflowReplayer()
		worker.RegisterWorkflows(replayer)
		require.NoError(t, replayer.ReplayWorkflowHistoryFromJSONFile(nil, path), "%s does not replay", file)
		if update {
			require.NoError(t, os.WriteFile(filepath.Join("..", "workflows", "testdata", file), raw, 0o644))
		}
	}
}

// The DELETE answers once the disconnect is committed, not once the partner's receiver took the
// event (which may take the whole ~31 h retry schedule).
func TestDisconnectAnswersBeforeTheEventIsDelivered(t *testing.T) {
	st := stacktest.New(t, stacktest.Options{Config: func(c *config.Config) { c.DeliverySchedule = []time.Duration{time.Hour} }})
	down := eventstest.NewReceiver(t, eventstest.Status(503))
	p := st.API.NewPartner(func(s *partners.Settings) {
		s.AllowedRedirectURLs = []string{st.Redirect}
		s.EventWebhookURL = &down.URL
	})
	connID, _ := lifecycleOnboard(t, st, p, "dc-slow", sandbox.ESSessionRequest{Scenario: "finish"}, nil)

	began := time.Now()
	res := disconnectCall(st, p.Key, connID)
	require.Equal(t, 200, res.Status, "%s", res.Body)
	assert.Less(t, time.Since(began), 10*time.Second)
	assert.Equal(t, "disconnected", res.Map(t)["status"])
	var status string
	require.NoError(t, st.API.Store.Pool.QueryRow(context.Background(),
		"SELECT status FROM events WHERE connection_id = $1 AND type = 'connection.disconnected'", connID).Scan(&status))
	assert.Equal(t, "pending", status, "the delivery is still retrying")
}

// Meta refusing the DELETE of the last sibling: nothing changes here (the subscription and the
// secrets stay, no event), the DELETE answers 202 with the connection as it is, and the workflow
// keeps trying until Meta accepts.
func TestDisconnectWaitsForMetaWhenItRefuses(t *testing.T) {
	st := stacktest.New(t, stacktest.Options{})
	connID, es := lifecycleOnboard(t, st, st.Partner, "dc-refused", sandbox.ESSessionRequest{Scenario: "finish"}, nil)
	ctx := context.Background()
	_, err := st.Meta.SetFault(ctx, sandbox.Fault{Endpoint: "waba/subscribed_apps", Method: "DELETE", Kind: "graph_error",
		Code: 100, Status: 400, Message: "Invalid parameter", Count: -1})
	require.NoError(t, err)

	res := disconnectCall(st, st.Partner.Key, connID)
	require.Equal(t, 202, res.Status, "%s", res.Body)
	assert.Equal(t, "active", res.Map(t)["status"])
	row := connectionRow(t, st, connID)
	assert.Nil(t, secretErasedAt(t, st, row.AccessTokenSecretID))
	assert.Len(t, st.Subscriptions(es.WABAID), 1)
	var n int
	require.NoError(t, st.API.Store.Pool.QueryRow(ctx, "SELECT count(*) FROM events WHERE connection_id = $1 AND type = 'connection.disconnected'", connID).Scan(&n))
	assert.Zero(t, n)

	require.NoError(t, st.Meta.ClearFaults(ctx))
	eventstest.Eventually(t, 90*time.Second, func() bool { return connectionRow(t, st, connID).Status == "disconnected" },
		"the disconnect never completed after Meta recovered")
	assert.Empty(t, st.Subscriptions(es.WABAID))
	connectionEvents(t, st, connID, "connection.disconnected", 1)
}
