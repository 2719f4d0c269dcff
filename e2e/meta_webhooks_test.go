package e2e

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/dualhook/dualhook/api"
	"github.com/dualhook/dualhook/db/dbq"
	"github.com/dualhook/dualhook/internal/config"
	"github.com/dualhook/dualhook/internal/connhealth"
	"github.com/dualhook/dualhook/internal/eventtypes"
	"github.com/dualhook/dualhook/internal/metawebhook"
	"github.com/dualhook/dualhook/internal/partners"
	"github.com/dualhook/dualhook/sandbox"
	"github.com/dualhook/dualhook/testkit/apitest"
	"github.com/dualhook/dualhook/testkit/eventstest"
	"github.com/dualhook/dualhook/testkit/stacktest"
)

// Meta app webhooks (SPEC §11): the sandbox's emitter posts to the API's /meta/webhooks, signed
// with the sandbox app's secret, exactly as Meta would.

func metaStack(t *testing.T) *stacktest.Stack {
	return stacktest.New(t, stacktest.Options{Config: func(c *config.Config) {
		c.MetaAppVerifyToken = sandbox.DefaultConfig().AppVerifyToken
	}})
}

// emitMeta has the sandbox send a webhook to this stack's API and checks every delivery got status.
func emitMeta(t *testing.T, st *stacktest.Stack, req sandbox.EmitRequest, status int) sandbox.EmitResult {
	t.Helper()
	req.URL = st.API.HTTP.URL + "/meta/webhooks"
	res, err := st.Meta.EmitWebhook(context.Background(), req)
	require.NoError(t, err)
	require.NotEmpty(t, res.Deliveries)
	for _, d := range res.Deliveries {
		require.Equal(t, status, d.Status, "delivery error: %s", d.Error)
	}
	return res
}

// metaEventDone waits for the delivery's workflow (and returns its id).
func metaEventDone(t *testing.T, st *stacktest.Stack, body string) string {
	t.Helper()
	id := "meta-event/" + metawebhook.Hash([]byte(body))
	st.WaitWorkflowClosed(id)
	return id
}

func postMetaWebhook(st *stacktest.Stack, body []byte, signature string) *apitest.Response {
	h := map[string]string{}
	if signature != "" {
		h[metawebhook.SignatureHeader] = signature
	}
	return st.API.Do(apitest.Request{Method: "POST", Path: "/meta/webhooks", Body: body, Header: h, NoCheck: true})
}

func workflowExists(st *stacktest.Stack, id string) bool {
	_, err := st.API.Temporal.DescribeWorkflow(context.Background(), id, "")
	return err == nil
}

// recordedDeliveries counts the meta_webhook_deliveries rows of these bodies.
func recordedDeliveries(t *testing.T, st *stacktest.Stack, bodies ...string) int {
	t.Helper()
	hashes := make([]string, 0, len(bodies))
	for _, b := range bodies {
		hashes = append(hashes, metawebhook.Hash([]byte(b)))
	}
	var n int
	require.NoError(t, st.API.Store.Pool.QueryRow(context.Background(),
		"SELECT count(*) FROM meta_webhook_deliveries WHERE content_hash = ANY($1)", hashes).Scan(&n))
	return n
}

// eventsOfType are the stored events of a type about a WABA, once none is pending.
func eventsOfType(t *testing.T, st *stacktest.Stack, wabaID, eventType string, want int) []dbq.Event {
	t.Helper()
	var out []dbq.Event
	eventstest.Eventually(t, 30*time.Second, func() bool {
		out = out[:0]
		rows, err := st.API.Store.Pool.Query(context.Background(),
			"SELECT id, partner_id, type, status, body FROM events WHERE waba_id = $1 AND type = $2 ORDER BY created_at, id", wabaID, eventType)
		require.NoError(t, err)
		defer rows.Close()
		pending := false
		for rows.Next() {
			var e dbq.Event
			require.NoError(t, rows.Scan(&e.ID, &e.PartnerID, &e.Type, &e.Status, &e.Body))
			pending = pending || e.Status == "pending"
			out = append(out, e)
		}
		return len(out) >= want && !pending
	}, "never %d settled %s events", want, eventType)
	return out
}

func TestMetaWebhookVerification(t *testing.T) {
	st := metaStack(t)
	res, err := st.Meta.VerifyAppWebhook(context.Background(), sandbox.VerifyRequest{URL: st.API.HTTP.URL + "/meta/webhooks"})
	require.NoError(t, err)
	assert.True(t, res.Verified, "the App Dashboard's check passes: %s", res.Error)

	get := func(mode, token string) *apitest.Response {
		q := url.Values{"hub.mode": {mode}, "hub.verify_token": {token}, "hub.challenge": {"1158201444"}}
		return st.API.Do(apitest.Request{Method: "GET", Path: "/meta/webhooks?" + q.Encode(), NoCheck: true})
	}
	ok := get("subscribe", sandbox.DefaultConfig().AppVerifyToken)
	assert.Equal(t, 200, ok.Status)
	assert.Equal(t, "1158201444", string(ok.Body))
	assert.Equal(t, 403, get("subscribe", "wrong-token").Status)
	assert.Equal(t, 403, get("subscribe", "").Status)
	assert.Equal(t, 403, get("unsubscribe", sandbox.DefaultConfig().AppVerifyToken).Status)

	// Without a configured verify token nothing verifies (an empty token must not match).
	bare := stacktest.New(t, stacktest.Options{})
	q := url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {""}, "hub.challenge": {"1"}}
	assert.Equal(t, 403, bare.API.Do(apitest.Request{Method: "GET", Path: "/meta/webhooks?" + q.Encode(), NoCheck: true}).Status)
}

func TestMetaWebhookWithoutAValidSignatureIsRejectedAndChangesNothing(t *testing.T) {
	st := metaStack(t)
	connID, es := lifecycleOnboard(t, st, st.Partner, "mw-sig", sandbox.ESSessionRequest{Scenario: "finish"}, nil)

	bad := emitMeta(t, st, sandbox.EmitRequest{Event: "PARTNER_REMOVED", WABAID: es.WABAID, BadSignature: true, NoStateChange: true}, 401)
	body := []byte(bad.Body)
	assert.Equal(t, 401, postMetaWebhook(st, body, "").Status, "no signature")
	assert.Equal(t, 401, postMetaWebhook(st, body, strings.Replace(metawebhook.Sign("sandbox-app-secret-0123456789abcdef", body), "sha256=", "sha1=", 1)).Status)
	assert.Equal(t, 401, postMetaWebhook(st, body, "sha256=zz").Status, "not hex")
	assert.Equal(t, 401, postMetaWebhook(st, append([]byte(" "), body...), metawebhook.Sign(sandbox.DefaultConfig().AppSecret, body)).Status,
		"the signature covers the exact bytes")

	assert.False(t, workflowExists(st, "meta-event/"+metawebhook.Hash(body)))
	assert.Zero(t, recordedDeliveries(t, st, bad.Body))
	assert.Equal(t, "active", connectionRow(t, st, connID).Status)

	// Over the route's 1 MiB limit: refused before anything is read into a workflow.
	huge := []byte(`{"object":"whatsapp_business_account","entry":[],"pad":"` + strings.Repeat("x", api.MaxMetaWebhookBodyBytes) + `"}`)
	assert.Equal(t, 413, postMetaWebhook(st, huge, metawebhook.Sign(sandbox.DefaultConfig().AppSecret, huge)).Status)
}

func TestMetaPartnerRemovedDisconnectsEveryConnectionOfTheWabaOnce(t *testing.T) {
	st := metaStack(t)
	shared := stacktest.SessionRequest{"webhookOverrideUrl": st.Hook.URL("mw-shared"), "webhookVerifyToken": "mw-shared-token"}
	first, es := lifecycleOnboard(t, st, st.Partner, "mw-a", sandbox.ESSessionRequest{Scenario: "finish"}, shared)
	p2 := st.NewPartner()
	second, _ := lifecycleOnboard(t, st, p2, "mw-b", sandbox.ESSessionRequest{Scenario: "finish", WABAID: es.WABAID}, shared)
	elsewhere, other := lifecycleOnboard(t, st, st.Partner, "mw-c", sandbox.ESSessionRequest{Scenario: "finish"}, nil)

	// Meta delivers the same bytes twice.
	res := emitMeta(t, st, sandbox.EmitRequest{Event: "PARTNER_REMOVED", WABAID: es.WABAID, Duplicate: true}, 200)
	assert.Contains(t, res.Body, `"waba_info"`, "the partner form: entry.id is the partner business")
	metaEventDone(t, st, res.Body)
	for _, id := range []string{first, second} {
		st.WaitWorkflowClosed("disconnect/" + id)
		c := connectionRow(t, st, id)
		assert.Equal(t, "disconnected", c.Status)
		assert.Equal(t, "meta_partner_removed", *c.DisconnectReason)
		assert.NotNil(t, secretErasedAt(t, st, c.AccessTokenSecretID))
		evs := connectionEvents(t, st, id, "connection.disconnected", 1)
		require.Len(t, evs, 1, "one event per connection")
		assert.Equal(t, "meta_partner_removed", eventData(t, evs[0])["reason"])
	}
	assert.Equal(t, "active", connectionRow(t, st, elsewhere).Status, "another WABA is not touched")
	assert.Len(t, st.Subscriptions(other.WABAID), 1)
	assert.Equal(t, 1, recordedDeliveries(t, st, res.Body), "the duplicate is the same delivery")
	assert.Len(t, eventsOfType(t, st, es.WABAID, "connection.disconnected", 2), 2)

	// Meta retries later (new bytes, new time): there is nothing left to disconnect.
	again := emitMeta(t, st, sandbox.EmitRequest{Event: "PARTNER_REMOVED", WABAID: es.WABAID, NoStateChange: true}, 200)
	metaEventDone(t, st, again.Body)
	assert.Len(t, eventsOfType(t, st, es.WABAID, "connection.disconnected", 2), 2)
}

func TestMetaRemovalEventsCarryTheirReason(t *testing.T) {
	st := metaStack(t)
	for event, reason := range map[string]string{
		"PARTNER_APP_UNINSTALLED": "meta_app_uninstalled",
		"ACCOUNT_DELETED":         "meta_account_deleted",
	} {
		connID, es := lifecycleOnboard(t, st, st.Partner, "mw-"+strings.ToLower(event), sandbox.ESSessionRequest{Scenario: "finish"}, nil)
		res := emitMeta(t, st, sandbox.EmitRequest{Event: event, WABAID: es.WABAID}, 200)
		metaEventDone(t, st, res.Body)
		st.WaitWorkflowClosed("disconnect/" + connID)
		c := connectionRow(t, st, connID)
		assert.Equal(t, "disconnected", c.Status, event)
		assert.Equal(t, reason, *c.DisconnectReason, event)
		connectionEvents(t, st, connID, "connection.disconnected", 1)
	}
}

// Coexistence: OFFBOARDED/RECONNECTED move the coexistence status; Meta's coexistence
// PARTNER_REMOVED names the WABA in entry.id and has no waba_info.
func TestMetaCoexistenceAccountUpdates(t *testing.T) {
	st := metaStack(t)
	connID, es := lifecycleOnboard(t, st, st.Partner, "mw-coex", sandbox.ESSessionRequest{Scenario: "finish_coex"},
		stacktest.SessionRequest{"coexistence": true})
	require.Equal(t, "ONBOARDED", *connectionRow(t, st, connID).CoexistenceStatus)

	res := emitMeta(t, st, sandbox.EmitRequest{Event: "ACCOUNT_OFFBOARDED", WABAID: es.WABAID}, 200)
	metaEventDone(t, st, res.Body)
	assert.Equal(t, "OFFBOARDED", *connectionRow(t, st, connID).CoexistenceStatus)
	res = emitMeta(t, st, sandbox.EmitRequest{Event: "ACCOUNT_RECONNECTED", WABAID: es.WABAID}, 200)
	metaEventDone(t, st, res.Body)
	assert.Equal(t, "ONBOARDED", *connectionRow(t, st, connID).CoexistenceStatus)
	assert.Equal(t, "active", connectionRow(t, st, connID).Status)

	res = emitMeta(t, st, sandbox.EmitRequest{Event: "PARTNER_REMOVED", WABAID: es.WABAID}, 200)
	assert.NotContains(t, res.Body, "waba_info", "Meta's coexistence form")
	metaEventDone(t, st, res.Body)
	st.WaitWorkflowClosed("disconnect/" + connID)
	c := connectionRow(t, st, connID)
	assert.Equal(t, "disconnected", c.Status)
	assert.Equal(t, "meta_partner_removed", *c.DisconnectReason)
	st.WaitWorkflowClosed("heartbeat/" + connID) // the disconnect cancelled the number's heartbeat
}

func TestMetaTemplateWebhookReachesOnlySubscribedPartners(t *testing.T) {
	st := metaStack(t)
	const eventType = "waba.message_template_status_update"
	subscribed := st.API.NewPartner(func(p *partners.Settings) {
		p.AllowedRedirectURLs = []string{st.Redirect}
		u := st.Events.URL
		p.EventWebhookURL = &u
		p.EventTypes = append(eventtypes.Default(), eventType)
	})
	shared := stacktest.SessionRequest{"webhookOverrideUrl": st.Hook.URL("mw-tpl"), "webhookVerifyToken": "mw-tpl-token"}
	subConn, es := lifecycleOnboard(t, st, subscribed, "mw-sub", sandbox.ESSessionRequest{Scenario: "finish"}, shared)
	_, _ = lifecycleOnboard(t, st, st.Partner, "mw-unsub", sandbox.ESSessionRequest{Scenario: "finish", WABAID: es.WABAID}, shared)

	value := map[string]any{"event": "APPROVED", "message_template_id": 594425479261596, "message_template_name": "order_ready",
		"message_template_language": "en_US", "reason": "NONE"}
	res := emitMeta(t, st, sandbox.EmitRequest{Field: "message_template_status_update", WABAID: es.WABAID, Value: value}, 200)
	metaEventDone(t, st, res.Body)

	evs := eventsOfType(t, st, es.WABAID, eventType, 2)
	require.Len(t, evs, 2, "one event per partner on the WABA")
	byPartner := map[string]dbq.Event{}
	for _, e := range evs {
		byPartner[e.PartnerID] = e
	}
	assert.Equal(t, "delivered", byPartner[subscribed.Row.ID].Status)
	assert.Equal(t, "skipped", byPartner[st.Partner.Row.ID].Status, "not in the partner's eventTypes")
	data := eventData(t, byPartner[subscribed.Row.ID])
	assert.Equal(t, es.WABAID, data["wabaId"])
	assert.Equal(t, []any{subConn}, data["connectionIds"], "only the partner's own connections")
	assert.Equal(t, "message_template_status_update", data["field"])
	assert.Equal(t, "order_ready", data["value"].(map[string]any)["message_template_name"])
	assert.Equal(t, json.Number("594425479261596"), numberOf(t, byPartner[subscribed.Row.ID].Body), "ids keep their digits")

	var got int
	for _, r := range st.Events.Requests() {
		if r.Header.Get("X-Dualhook-Event") == eventType {
			got++
		}
	}
	assert.Equal(t, 1, got, "the subscribed partner's receiver got it once")
}

func numberOf(t *testing.T, body []byte) json.Number {
	t.Helper()
	var env struct {
		Data struct {
			Value struct {
				ID json.Number `json:"message_template_id"`
			} `json:"value"`
		} `json:"data"`
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	require.NoError(t, dec.Decode(&env))
	return env.Data.Value.ID
}

func TestMetaQualityUpdateLandsInTheHealthSnapshotUnlessStale(t *testing.T) {
	st := metaStack(t)
	connID, es := lifecycleOnboard(t, st, st.Partner, "mw-quality", sandbox.ESSessionRequest{Scenario: "finish"}, nil)
	health := func() connhealth.Snapshot {
		var s connhealth.Snapshot
		raw := connectionRow(t, st, connID).Health
		require.NotEmpty(t, raw)
		require.NoError(t, json.Unmarshal(raw, &s))
		return s
	}

	res := emitMeta(t, st, sandbox.EmitRequest{Field: "phone_number_quality_update", WABAID: es.WABAID, CurrentLimit: "TIER_10K"}, 200)
	metaEventDone(t, st, res.Body)
	first := health()
	assert.Equal(t, "TIER_10K", first.MessagingTier)
	var env map[string]any
	require.NoError(t, json.Unmarshal([]byte(res.Body), &env))
	entry := env["entry"].([]any)[0].(map[string]any)
	sent := time.Unix(int64(entry["time"].(float64)), 0).UTC()
	assert.True(t, first.CheckedAt.Equal(sent), "checkedAt is when Meta produced the update")
	api := st.API.Do(apitest.Request{Method: "GET", Path: "/api/v1/connections/" + connID, Key: st.Partner.Key})
	assert.Equal(t, "TIER_10K", api.Map(t)["health"].(map[string]any)["messagingTier"])

	// An older update delivered late does not overwrite the newer snapshot; a newer one does.
	resend := func(delta time.Duration, tier, event string) {
		entry["time"] = sent.Add(delta).Unix()
		change := entry["changes"].([]any)[0].(map[string]any)
		change["value"].(map[string]any)["current_limit"] = tier
		change["value"].(map[string]any)["event"] = event
		body, err := json.Marshal(env)
		require.NoError(t, err)
		require.Equal(t, 200, postMetaWebhook(st, body, metawebhook.Sign(sandbox.DefaultConfig().AppSecret, body)).Status)
		metaEventDone(t, st, string(body))
	}
	resend(-time.Hour, "TIER_250", "FLAGGED")
	assert.Equal(t, first, health(), "stale: unchanged")
	resend(time.Minute, "TIER_UNLIMITED", "FLAGGED")
	newer := health()
	assert.Equal(t, "TIER_UNLIMITED", newer.MessagingTier)
	assert.Equal(t, "RED", newer.QualityRating)
	assert.True(t, newer.CheckedAt.Equal(sent.Add(time.Minute)))
}

// Message-path fields reach the app URL only without an override; they are dropped unread,
// alone or batched with a management change, and never enter a Temporal history.
func TestMetaMessageFieldsAreDroppedUnread(t *testing.T) {
	st := metaStack(t)
	_, es := lifecycleOnboard(t, st, st.Partner, "mw-msg", sandbox.ESSessionRequest{Scenario: "finish"}, nil)
	const private = "hello-PRIVATE-customer-text"
	msgValue := map[string]any{"messaging_product": "whatsapp", "metadata": map[string]any{"display_phone_number": es.DisplayPhone},
		"messages": []any{map[string]any{"from": "15551234567", "type": "text", "text": map[string]any{"body": private}}}}

	res := emitMeta(t, st, sandbox.EmitRequest{Field: "messages", WABAID: es.WABAID, Value: msgValue}, 200)
	assert.False(t, workflowExists(st, "meta-event/"+metawebhook.Hash([]byte(res.Body))), "nothing to act on: no workflow")
	assert.Zero(t, recordedDeliveries(t, st, res.Body))

	// A batch: two entries, a message and an account review decision.
	batch := map[string]any{"object": "whatsapp_business_account", "entry": []any{
		map[string]any{"id": es.WABAID, "time": time.Now().Unix(), "changes": []any{map[string]any{"field": "messages", "value": msgValue}}},
		map[string]any{"id": es.WABAID, "time": time.Now().Unix(), "changes": []any{
			map[string]any{"field": "account_review_update", "value": map[string]any{"decision": "APPROVED"}}}},
	}}
	body, err := json.Marshal(batch)
	require.NoError(t, err)
	require.Equal(t, 200, postMetaWebhook(st, body, metawebhook.Sign(sandbox.DefaultConfig().AppSecret, body)).Status)
	id := metaEventDone(t, st, string(body))
	evs := eventsOfType(t, st, es.WABAID, "waba.account_review_update", 1)
	require.Len(t, evs, 1)
	assert.Equal(t, "skipped", evs[0].Status, "the partner did not list it")
	assert.Equal(t, map[string]any{"decision": "APPROVED"}, eventData(t, evs[0])["value"])
	var n int
	require.NoError(t, st.API.Store.Pool.QueryRow(context.Background(), "SELECT count(*) FROM events WHERE waba_id = $1 AND type LIKE 'waba.messages%'", es.WABAID).Scan(&n))
	assert.Zero(t, n)

	iter := st.API.Temporal.GetWorkflowHistory(context.Background(), id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	require.True(t, iter.HasNext())
	assert.NotContains(t, string(st.DecodedHistory(id)), private, "the message never reached Temporal")
}
