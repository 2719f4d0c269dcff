package e2e

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dualhook/dualhook/internal/metawebhook"
	"github.com/dualhook/dualhook/sandbox"
)

// A captured, validly signed Meta delivery replayed later must not act again: the dedupe row
// (content hash) is read before any workflow starts, so a replay starts nothing even once
// Temporal's retention has dropped the first delivery's workflow (REJECT_DUPLICATE no longer
// protects then).
func TestMetaWebhookReplayedAfterItsWorkflowIsGoneStartsNothing(t *testing.T) {
	st := metaStack(t)
	connID, es := lifecycleOnboard(t, st, st.Partner, "mw-replay", sandbox.ESSessionRequest{Scenario: "finish"}, nil)

	// Meta delivered this PARTNER_REMOVED a day ago; it was handled, and Temporal's retention
	// has since removed its workflow: only the dedupe row remains. (The connection is one
	// onboarded since, which the replay would disconnect.)
	body := partnerRemovedBody(t, es.WABAID, 24*time.Hour)
	id := "meta-event/" + metawebhook.Hash(body)
	execSQL(t, st, `INSERT INTO meta_webhook_deliveries (content_hash, workflow_id, received_at, started_at)
		VALUES ($1, $2, now() - interval '1 day', now() - interval '1 day')`, metawebhook.Hash(body), id)
	require.False(t, workflowExists(st, id))

	// The attacker replays the captured bytes and signature, twice.
	for range 2 {
		replay := postMetaWebhook(st, body, metawebhook.Sign(sandbox.DefaultConfig().AppSecret, body))
		assert.Equal(t, 200, replay.Status, "answered 200 so Meta would not retry")
	}
	time.Sleep(time.Second)
	assert.False(t, workflowExists(st, id), "the replay started no workflow")
	assert.Equal(t, "active", connectionRow(t, st, connID).Status, "nothing was disconnected")
	assert.Equal(t, 1, recordedDeliveries(t, st, string(body)))

	// A first delivery is handled once, however often it arrives.
	fresh := partnerRemovedBody(t, es.WABAID, time.Minute)
	for range 2 {
		require.Equal(t, 200, postMetaWebhook(st, fresh, metawebhook.Sign(sandbox.DefaultConfig().AppSecret, fresh)).Status)
	}
	metaEventDone(t, st, string(fresh))
	st.WaitWorkflowClosed("disconnect/" + connID)
	assert.Equal(t, "disconnected", connectionRow(t, st, connID).Status)
	var started int
	require.NoError(t, st.API.Store.Pool.QueryRow(context.Background(),
		"SELECT count(*) FROM meta_webhook_deliveries WHERE content_hash = $1 AND started_at IS NOT NULL", metawebhook.Hash(fresh)).Scan(&started))
	assert.Equal(t, 1, started)
}

// partnerRemovedBody is Meta's partner form of PARTNER_REMOVED (meta.md §7.2; entry.id is the
// partner business) produced age ago.
func partnerRemovedBody(t *testing.T, wabaID string, age time.Duration) []byte {
	t.Helper()
	entry := map[string]any{"id": "1000000000000001", "time": time.Now().Add(-age).Unix(), "changes": []any{map[string]any{"field": "account_update",
		"value": map[string]any{"event": "PARTNER_REMOVED", "waba_info": map[string]any{"waba_id": wabaID}}}}}
	body, err := json.Marshal(map[string]any{"object": "whatsapp_business_account", "entry": []any{entry}})
	require.NoError(t, err)
	return body
}

// Changes older than Meta's retry window (36 h; refused past metawebhook.MaxAge = 48 h) are
// refused with a 200 and nothing else: no workflow, no dedupe row, no disconnect.
func TestMetaWebhookOlderThanMetasRetryWindowIsIgnored(t *testing.T) {
	st := metaStack(t)
	connID, es := lifecycleOnboard(t, st, st.Partner, "mw-old", sandbox.ESSessionRequest{Scenario: "finish"}, nil)
	old := partnerRemovedBody(t, es.WABAID, metawebhook.MaxAge+time.Hour)
	assert.Equal(t, 200, postMetaWebhook(st, old, metawebhook.Sign(sandbox.DefaultConfig().AppSecret, old)).Status)
	time.Sleep(500 * time.Millisecond)
	assert.False(t, workflowExists(st, "meta-event/"+metawebhook.Hash(old)), "an old change starts no workflow")
	assert.Zero(t, recordedDeliveries(t, st, string(old)))
	assert.Equal(t, "active", connectionRow(t, st, connID).Status)

	// A genuine late retry, inside Meta's 36 h, is still acted on.
	late := partnerRemovedBody(t, es.WABAID, 35*time.Hour)
	assert.Equal(t, 200, postMetaWebhook(st, late, metawebhook.Sign(sandbox.DefaultConfig().AppSecret, late)).Status)
	metaEventDone(t, st, string(late))
	st.WaitWorkflowClosed("disconnect/" + connID)
	assert.Equal(t, "disconnected", connectionRow(t, st, connID).Status)
}
