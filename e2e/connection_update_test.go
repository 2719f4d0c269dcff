package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dualhook/dualhook/db/dbq"
	"github.com/dualhook/dualhook/internal/domain"
	"github.com/dualhook/dualhook/internal/eventtypes"
	"github.com/dualhook/dualhook/sandbox"
	"github.com/dualhook/dualhook/testkit/apitest"
	"github.com/dualhook/dualhook/testkit/eventstest"
	"github.com/dualhook/dualhook/testkit/stacktest"
)

func patchConnection(st *stacktest.Stack, p apitest.Partner, id string, body map[string]any) *apitest.Response {
	st.T.Helper()
	return st.API.Do(apitest.Request{Method: "PATCH", Path: "/api/v1/connections/" + id, Key: p.Key, Body: body})
}

func newWebhook(st *stacktest.Stack, name string) map[string]any {
	return map[string]any{"webhookUrl": st.Hook.URL(name), "webhookVerifyToken": "verify-" + name}
}

// A webhook PATCH reaches every sibling: three numbers of one tenant on one WABA share the
// override, so all three move together, in one transaction, after Meta accepted — and only the
// patched connection's name and metadata change.
func TestPatchWebhookFansOutToEverySibling(t *testing.T) {
	st := stacktest.New(t, stacktest.Options{})
	subscribeTypes(t, st, st.Partner, eventtypes.ConnectionWebhookUpdate)
	first := onboardConnection(t, st, st.Partner, "fanout", nil, sandbox.ESSessionRequest{})
	waba := first.ES.WABAID
	second := onboardConnection(t, st, st.Partner, "fanout", nil, sandbox.ESSessionRequest{WABAID: waba})
	third := onboardConnection(t, st, st.Partner, "fanout", nil, sandbox.ESSessionRequest{WABAID: waba})
	all := []string{first.ConnectionID, second.ConnectionID, third.ConnectionID}

	body := newWebhook(st, "fanout-v2")
	body["name"] = "Support line"
	body["metadata"] = map[string]any{"plan": "enterprise"}
	res := patchConnection(st, st.Partner, second.ConnectionID, body)
	require.Equal(t, 200, res.Status, "%s", res.Body)
	got := res.Map(t)
	assert.Equal(t, second.ConnectionID, got["connectionId"])
	assert.Equal(t, st.Hook.URL("fanout-v2"), got["webhookUrl"])
	assert.Equal(t, "Support line", got["name"])
	assert.Equal(t, map[string]any{"plan": "enterprise"}, got["metadata"])
	assert.ElementsMatch(t, all, got["affectedConnectionIds"])
	assert.NotContains(t, string(res.Body), "verify-fanout-v2", "the verify token is never shown")

	for _, id := range all {
		c := getConnection(t, st, st.Partner, id)
		assert.Equal(t, st.Hook.URL("fanout-v2"), c["webhookUrl"], "sibling %s", id)
		if id != second.ConnectionID {
			assert.Nil(t, c["name"], "only the patched connection is renamed")
			assert.Equal(t, "pro", c["metadata"].(map[string]any)["plan"])
		}
	}
	// Meta has the new override, verified by Meta itself (after our preflight).
	subs := st.Subscriptions(waba)
	require.Len(t, subs, 1)
	assert.Equal(t, st.Hook.URL("fanout-v2"), subs[0].OverrideURL)
	assert.GreaterOrEqual(t, st.Hook.Hits(st.Hook.URL("fanout-v2")), 2, "our preflight and Meta's verification")

	// The workflow is webhook-update/<waba>/1, and connection.webhook_updated went out (listed).
	st.WaitWorkflowClosed(domain.WebhookUpdateID(waba, 1))
	evs := eventsOfConnection(t, st, second.ConnectionID, eventtypes.ConnectionWebhookUpdate)
	require.Len(t, evs, 1)
	eventstest.Eventually(t, 20*time.Second, func() bool { return len(received(st, eventtypes.ConnectionWebhookUpdate)) == 1 },
		"connection.webhook_updated never delivered")
	data := received(st, eventtypes.ConnectionWebhookUpdate)[0]["data"].(map[string]any)
	assert.Equal(t, second.ConnectionID, data["connectionId"])
	assert.Equal(t, "fanout", data["tenantId"])
	assert.Equal(t, waba, data["wabaId"])
	assert.Equal(t, st.Hook.URL("fanout-v2"), data["webhookUrl"])
	assert.ElementsMatch(t, all, data["affectedConnectionIds"])

	// The next update of the WABA is number 2.
	res = patchConnection(st, st.Partner, first.ConnectionID, newWebhook(st, "fanout-v3"))
	require.Equal(t, 200, res.Status, "%s", res.Body)
	st.WaitWorkflowClosed(domain.WebhookUpdateID(waba, 2))

	// Name and metadata alone commit directly: no workflow, no call to Meta, no event.
	require.NoError(t, st.Meta.ClearCalls(context.Background()))
	res = patchConnection(st, st.Partner, third.ConnectionID, map[string]any{"name": "Sales", "metadata": map[string]any{"team": "sales"}})
	require.Equal(t, 200, res.Status, "%s", res.Body)
	got = res.Map(t)
	assert.Equal(t, "Sales", got["name"])
	assert.Equal(t, map[string]any{"team": "sales"}, got["metadata"])
	assert.Equal(t, []any{third.ConnectionID}, got["affectedConnectionIds"])
	assert.Equal(t, st.Hook.URL("fanout-v3"), got["webhookUrl"])
	assert.Empty(t, st.GraphCalls())
	// null clears the name and the metadata.
	res = patchConnection(st, st.Partner, third.ConnectionID, map[string]any{"name": nil, "metadata": nil})
	require.Equal(t, 200, res.Status, "%s", res.Body)
	assert.Nil(t, res.Map(t)["name"])
	assert.Equal(t, map[string]any{}, res.Map(t)["metadata"])
}

// Every malformed PATCH is refused before anything happens.
func TestPatchValidation(t *testing.T) {
	st := stacktest.New(t, stacktest.Options{})
	c := onboardConnection(t, st, st.Partner, "patch-validate", nil, sandbox.ESSessionRequest{})
	before := dbConnection(t, st, c.ConnectionID)
	long := "https://example.com/" + strings.Repeat("a", 200)
	for _, tc := range []struct {
		name  string
		body  any
		code  string
		field string
	}{
		{"empty body", map[string]any{}, "invalid_request", "body"},
		{"url without token", map[string]any{"webhookUrl": st.Hook.URL("x")}, "invalid_request", "webhookVerifyToken"},
		{"token without url", map[string]any{"webhookVerifyToken": "x"}, "invalid_request", "webhookUrl"},
		{"empty token", map[string]any{"webhookUrl": st.Hook.URL("x"), "webhookVerifyToken": ""}, "invalid_request", "webhookVerifyToken"},
		{"long token", map[string]any{"webhookUrl": st.Hook.URL("x"), "webhookVerifyToken": strings.Repeat("t", 201)}, "invalid_request", "webhookVerifyToken"},
		{"null url", map[string]any{"webhookUrl": nil, "webhookVerifyToken": "x"}, "invalid_request", "webhookUrl"},
		{"empty name", map[string]any{"name": ""}, "invalid_request", "name"},
		{"long name", map[string]any{"name": strings.Repeat("n", 201)}, "invalid_request", "name"},
		{"name not a string", map[string]any{"name": 5}, "invalid_request", "name"},
		{"metadata not an object", map[string]any{"metadata": []int{1}}, "invalid_request", "metadata"},
		{"metadata too big", map[string]any{"metadata": map[string]any{"x": strings.Repeat("m", 17<<10)}}, "invalid_request", "metadata"},
		{"skip not a boolean", map[string]any{"name": "x", "skipWebhookPreflight": "yes"}, "invalid_request", "skipWebhookPreflight"},
		{"url not a URL", map[string]any{"webhookUrl": "not a url", "webhookVerifyToken": "x"}, "invalid_webhook_url", ""},
		{"url with a bad scheme", map[string]any{"webhookUrl": "ftp://example.com/hook", "webhookVerifyToken": "x"}, "invalid_webhook_url", ""},
		{"url over 200 characters", map[string]any{"webhookUrl": long, "webhookVerifyToken": "x"}, "invalid_webhook_url", ""},
		{"url on a private address", map[string]any{"webhookUrl": "http://10.0.0.1/hook", "webhookVerifyToken": "x"}, "invalid_webhook_url", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := st.API.Do(apitest.Request{Method: "PATCH", Path: "/api/v1/connections/" + c.ConnectionID, Key: st.Partner.Key, Body: tc.body})
			require.Equal(t, 400, res.Status, "%s", res.Body)
			assert.Equal(t, tc.code, res.ErrorCode())
			var env struct {
				Error struct {
					Details map[string]any `json:"details"`
				} `json:"error"`
			}
			res.JSON(t, &env)
			if tc.field != "" {
				assert.Contains(t, env.Error.Details["fields"], tc.field)
			} else {
				assert.Equal(t, "webhookUrl", env.Error.Details["field"])
			}
		})
	}

	// A preflight failure is a 422 and changes nothing.
	st.Hook.Break(st.Hook.URL("broken"))
	body := newWebhook(st, "broken")
	body["name"] = "not applied"
	res := patchConnection(st, st.Partner, c.ConnectionID, body)
	assert.Equal(t, 422, res.Status, "%s", res.Body)
	assert.Equal(t, "webhook_preflight_failed", res.ErrorCode())

	// Another partner's connection, an unknown id: 404.
	p2 := st.NewPartner()
	assert.Equal(t, 404, patchConnection(st, p2, c.ConnectionID, map[string]any{"name": "x"}).Status)
	assert.Equal(t, 404, patchConnection(st, st.Partner, "conn_doesnotexist", map[string]any{"name": "x"}).Status)

	after := dbConnection(t, st, c.ConnectionID)
	assert.Equal(t, before.WebhookURL, after.WebhookURL)
	assert.Equal(t, before.Name, after.Name)
	assert.JSONEq(t, string(before.Metadata), string(after.Metadata))

	// A disconnected connection cannot be changed.
	markDisconnected(t, st, c.ConnectionID)
	for _, body := range []map[string]any{{"name": "x"}, newWebhook(st, "late")} {
		res := patchConnection(st, st.Partner, c.ConnectionID, body)
		assert.Equal(t, 409, res.Status, "%s", res.Body)
		assert.Equal(t, "connection_disconnected", res.ErrorCode())
	}
}

// Siblings share one override across partners, so a tenant cannot move another tenant's
// traffic: any other tenant's active sibling on the WABA is a conflict, and nothing changes.
func TestPatchWebhookConflictsWithAnotherTenantsSibling(t *testing.T) {
	st := stacktest.New(t, stacktest.Options{})
	shared := stacktest.SessionRequest{"webhookOverrideUrl": st.Hook.URL("shared"), "webhookVerifyToken": "shared-token"}
	a := onboardConnection(t, st, st.Partner, "tenant-a", shared, sandbox.ESSessionRequest{})
	waba := a.ES.WABAID
	p2 := st.NewPartner()
	b := onboardConnection(t, st, p2, "tenant-b", shared, sandbox.ESSessionRequest{WABAID: waba})

	body := newWebhook(st, "tenant-a-own")
	body["name"] = "renamed"
	res := patchConnection(st, st.Partner, a.ConnectionID, body)
	assert.Equal(t, 409, res.Status, "%s", res.Body)
	assert.Equal(t, "waba_webhook_conflict", res.ErrorCode())
	assert.NotContains(t, string(res.Body), "shared", "another partner's URL stays hidden")

	for _, id := range []string{a.ConnectionID, b.ConnectionID} {
		row := dbConnection(t, st, id)
		assert.Equal(t, st.Hook.URL("shared"), row.WebhookURL)
		assert.Nil(t, row.Name)
	}
	subs := st.Subscriptions(waba)
	require.Len(t, subs, 1)
	assert.Equal(t, st.Hook.URL("shared"), subs[0].OverrideURL)
	assert.Equal(t, 1, st.Hook.Hits(st.Hook.URL("tenant-a-own")), "only our preflight reached the new URL: Meta was never asked")
	assert.Empty(t, eventsOfConnection(t, st, a.ConnectionID, eventtypes.ConnectionWebhookUpdate))
	u, err := st.API.Store.GetWebhookUpdate(context.Background(), dbq.GetWebhookUpdateParams{WabaID: waba, N: 1})
	require.NoError(t, err)
	assert.Equal(t, "rejected", u.Status)
	assert.Nil(t, u.WebhookVerifyTokenCiphertext, "a finished update keeps no verify token")

	// The same partner's other tenant conflicts too.
	c := onboardConnection(t, st, st.Partner, "tenant-c", shared, sandbox.ESSessionRequest{WABAID: waba})
	res = patchConnection(st, st.Partner, c.ConnectionID, newWebhook(st, "tenant-c-own"))
	assert.Equal(t, 409, res.Status)
	assert.Equal(t, "waba_webhook_conflict", res.ErrorCode())
}

// Meta refusing the new URL (its own hub.challenge fails, 2200) is a 502 and NOTHING changed:
// not the webhook of any sibling, not the name, not the metadata, not Meta's override.
func TestMetaRejectingTheNewWebhookChangesNothing(t *testing.T) {
	st := stacktest.New(t, stacktest.Options{})
	subscribeTypes(t, st, st.Partner, eventtypes.ConnectionWebhookUpdate)
	a := onboardConnection(t, st, st.Partner, "reject", nil, sandbox.ESSessionRequest{})
	waba := a.ES.WABAID
	b := onboardConnection(t, st, st.Partner, "reject", nil, sandbox.ESSessionRequest{WABAID: waba})
	before := map[string]dbq.Connection{a.ConnectionID: dbConnection(t, st, a.ConnectionID), b.ConnectionID: dbConnection(t, st, b.ConnectionID)}

	require.NoError(t, st.Meta.FailOverrideVerification(context.Background(), sandbox.OverrideFault{Count: 1}))
	body := newWebhook(st, "reject-v2")
	body["name"] = "must not stick"
	body["metadata"] = map[string]any{"must": "not stick"}
	idem := map[string]string{"Idempotency-Key": "patch-reject"}
	res := st.API.Do(apitest.Request{Method: "PATCH", Path: "/api/v1/connections/" + a.ConnectionID, Key: st.Partner.Key, Body: body, Header: idem})
	assert.Equal(t, 502, res.Status, "%s", res.Body)
	assert.Equal(t, "webhook_subscribe_failed", res.ErrorCode())

	for id, was := range before {
		now := dbConnection(t, st, id)
		assert.Equal(t, was.WebhookURL, now.WebhookURL)
		assert.Equal(t, was.WebhookVerifyTokenCiphertext, now.WebhookVerifyTokenCiphertext)
		assert.Equal(t, was.Name, now.Name)
		assert.JSONEq(t, string(was.Metadata), string(now.Metadata))
		assert.Equal(t, was.UpdatedAt, now.UpdatedAt)
	}
	subs := st.Subscriptions(waba)
	require.Len(t, subs, 1)
	assert.Equal(t, st.Hook.URL("reject"), subs[0].OverrideURL)
	assert.Empty(t, eventsOfConnection(t, st, a.ConnectionID, eventtypes.ConnectionWebhookUpdate))

	// With the URL fixed, the same request goes through: a refused update leaves the key free,
	// and the retry is a new update (webhook-update/<waba>/2), not the refused one again.
	res = st.API.Do(apitest.Request{Method: "PATCH", Path: "/api/v1/connections/" + a.ConnectionID, Key: st.Partner.Key, Body: body, Header: idem})
	require.Equal(t, 200, res.Status, "%s", res.Body)
	assert.Empty(t, res.Header.Get("Idempotent-Replayed"))
	assert.Equal(t, "must not stick", res.Map(t)["name"])
	assert.Equal(t, st.Hook.URL("reject-v2"), st.Subscriptions(waba)[0].OverrideURL)
	st.WaitWorkflowClosed(domain.WebhookUpdateID(waba, 2))

	// Now the key replays the stored answer: no third update.
	again := st.API.Do(apitest.Request{Method: "PATCH", Path: "/api/v1/connections/" + a.ConnectionID, Key: st.Partner.Key, Body: body, Header: idem})
	require.Equal(t, 200, again.Status)
	assert.Equal(t, "true", again.Header.Get("Idempotent-Replayed"))
	assert.JSONEq(t, string(res.Body), string(again.Body))
	_, err := describe(st, domain.WebhookUpdateID(waba, 3), "")
	assert.Error(t, err, "a replay starts no workflow")
}

// patchRaw sends a PATCH from any goroutine (apitest's helpers are for the test's own).
func patchRaw(st *stacktest.Stack, p apitest.Partner, id string, body map[string]any) (int, []byte, error) {
	raw, _ := json.Marshal(body)
	req, err := http.NewRequest(http.MethodPatch, st.API.HTTP.URL+"/api/v1/connections/"+id, bytes.NewReader(raw))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+p.Key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	return res.StatusCode, out, err
}

// A PATCH and an onboarding on the same WABA take the same claim: whichever commits last wins
// for every sibling, and PostgreSQL always agrees with Meta.
func TestPatchRacingOnboardingEndsConsistentWithMeta(t *testing.T) {
	st := stacktest.New(t, stacktest.Options{})
	ctx := context.Background()
	a := onboardConnection(t, st, st.Partner, "race", nil, sandbox.ESSessionRequest{})
	waba := a.ES.WABAID

	// First, deterministic: while someone else holds the WABA's claim, the PATCH waits for it.
	// (The onboarding releases its own claim just after answering the callback.)
	eventstest.Eventually(t, 20*time.Second, func() bool {
		_, err := st.API.Store.ClaimWaba(ctx, dbq.ClaimWabaParams{WabaID: waba, Holder: "onboarding/sess_other", ExpiresAt: time.Now().Add(time.Minute)})
		return err == nil
	}, "the onboarding never released the WABA's claim")
	type result struct {
		status int
		body   []byte
		err    error
	}
	done := make(chan result, 1)
	go func() {
		s, b, err := patchRaw(st, st.Partner, a.ConnectionID, newWebhook(st, "race-held"))
		done <- result{s, b, err}
	}()
	eventstest.Eventually(t, 30*time.Second, func() bool {
		d, err := describe(st, domain.WebhookUpdateID(waba, 1), "")
		if err != nil {
			return false
		}
		for _, p := range d.GetPendingActivities() {
			if p.GetActivityType().GetName() == "ClaimWaba" && p.GetAttempt() >= 2 {
				return true
			}
		}
		return false
	}, "the webhook update never waited for the claim")
	assert.Equal(t, st.Hook.URL("race"), st.Subscriptions(waba)[0].OverrideURL, "nothing reached Meta while the claim was held")
	require.NoError(t, st.API.Store.ReleaseWaba(ctx, dbq.ReleaseWabaParams{WabaID: waba, Holder: "onboarding/sess_other"}))
	r := <-done
	require.NoError(t, r.err)
	require.Equal(t, 200, r.status, "%s", r.body)

	// Then real races: the tenant onboards another number with new values while a PATCH runs.
	for round := range 3 {
		patchHook := "race-patch-" + string(rune('a'+round))
		onboardHook := "race-onboard-" + string(rune('a'+round))
		sessionID, token := st.CreateSession(st.Partner, "race", stacktest.SessionRequest{
			"webhookOverrideUrl": st.Hook.URL(onboardHook), "webhookVerifyToken": "verify-" + onboardHook,
		})
		cb, _ := st.Signup(sandbox.ESSessionRequest{Scenario: "finish", WABAID: waba})
		go func() {
			s, b, err := patchRaw(st, st.Partner, a.ConnectionID, newWebhook(st, patchHook))
			done <- result{s, b, err}
		}()
		assert.Equal(t, "completed", decide(t, st.Callback(token, cb)).Status, "same tenant: new values win, no conflict")
		r := <-done
		require.NoError(t, r.err)
		require.Equal(t, 200, r.status, "%s", r.body)
		st.WaitSession(sessionID, "completed")

		subs := st.Subscriptions(waba)
		require.Len(t, subs, 1)
		metaURL := subs[0].OverrideURL
		assert.Contains(t, []string{st.Hook.URL(patchHook), st.Hook.URL(onboardHook)}, metaURL, "round %d", round)
		active, err := st.API.Store.ListActiveWabaConnections(ctx, waba)
		require.NoError(t, err)
		require.Len(t, active, round+2)
		for _, c := range active {
			assert.Equal(t, metaURL, c.WebhookURL, "round %d: connection %s disagrees with Meta", round, c.ID)
			assert.Equal(t, active[0].WebhookVerifyTokenCiphertext, c.WebhookVerifyTokenCiphertext)
		}
	}
}
