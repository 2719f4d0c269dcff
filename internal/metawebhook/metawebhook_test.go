package metawebhook_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dualhook/dualhook/internal/metawebhook"
)

func TestVerifySignature(t *testing.T) {
	body := []byte(`{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[]}],"name":"\u00e4"}`)
	sig := metawebhook.Sign("app-secret", body)
	assert.True(t, metawebhook.VerifySignature("app-secret", body, sig))
	assert.False(t, metawebhook.VerifySignature("other-secret", body, sig))
	assert.False(t, metawebhook.VerifySignature("", body, metawebhook.Sign("", body)), "no secret, no trust")
	assert.False(t, metawebhook.VerifySignature("app-secret", body, sig[len("sha256="):]), "prefix required")
	assert.False(t, metawebhook.VerifySignature("app-secret", body, "sha256=nothex"))
	assert.False(t, metawebhook.VerifySignature("app-secret", append(body, ' '), sig), "exact bytes")
}

func TestParseResolvesTheWabaAndDropsMessages(t *testing.T) {
	body := []byte(`{"object":"whatsapp_business_account","entry":[
	  {"id":"2949482758682047","time":1745337174,"changes":[
	    {"value":{"event":"PARTNER_APP_UNINSTALLED","waba_info":{"waba_id":"1191624265890717","owner_business_id":"2329417887457253"}},"field":"account_update"}]},
	  {"id":102290129340398,"time":1739212624,"changes":[
	    {"value":{"phone_number":"+1 555-078-3881","event":"PARTNER_REMOVED"},"field":"account_update"},
	    {"value":{"messaging_product":"whatsapp","messages":[{"text":{"body":"private"}}]},"field":"messages"},
	    {"value":{"display_phone_number":"15550783881","event":"THROUGHPUT_UPGRADE","max_daily_conversations_per_business":"TIER_2K"},"field":"phone_number_quality_update"}]},
	  {"id":"5","field":"account_review_update","object":"whatsapp_business_account","changes":[{"value":{"decision":"APPROVED"}}]},
	  {"id":"6","changes":[{"value":"not an object","field":"account_alerts"}]}
	]}`)
	changes, err := metawebhook.Parse(body)
	require.NoError(t, err)
	require.Len(t, changes, 4)

	assert.Equal(t, "1191624265890717", changes[0].WabaID, "waba_info, not the partner's entry.id")
	assert.Equal(t, "2949482758682047", changes[0].EntryID)
	assert.Equal(t, time.Unix(1745337174, 0).UTC(), changes[0].Time)

	assert.Equal(t, "102290129340398", changes[1].WabaID, "coexistence form: entry.id (a JSON number, kept exact)")
	assert.Equal(t, "PARTNER_REMOVED", changes[1].Event)
	assert.Equal(t, "15550783881", changes[1].PhoneDigits)

	assert.Equal(t, "phone_number_quality_update", changes[2].Field, "the message change is dropped")
	assert.Equal(t, "TIER_2K", changes[2].Limit)
	assert.Equal(t, "15550783881", changes[2].PhoneDigits)

	assert.Equal(t, "account_review_update", changes[3].Field, "field misplaced on the entry")
	assert.JSONEq(t, `{"decision":"APPROVED"}`, string(changes[3].Value))
	assert.True(t, changes[3].Time.IsZero())

	_, err = metawebhook.Parse([]byte("not json"))
	assert.ErrorIs(t, err, metawebhook.ErrNotJSON)
	other, err := metawebhook.Parse([]byte(`{"object":"page","entry":[{"id":"1","changes":[{"field":"feed","value":{}}]}]}`))
	require.NoError(t, err)
	assert.Empty(t, other, "only WhatsApp Business Account objects")
}

func TestHashIsOfTheExactBytes(t *testing.T) {
	assert.Equal(t, metawebhook.Hash([]byte("a")), metawebhook.Hash([]byte("a")))
	assert.NotEqual(t, metawebhook.Hash([]byte("a")), metawebhook.Hash([]byte("a ")))
	assert.Len(t, metawebhook.Hash(nil), 64)
}

func TestFreshRefusesChangesOlderThanMetasRetryWindow(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	late := metawebhook.Change{Field: "account_update", Time: now.Add(-35 * time.Hour)}
	old := metawebhook.Change{Field: "account_update", Time: now.Add(-metawebhook.MaxAge - time.Second)}
	undated := metawebhook.Change{Field: "account_update"}
	fresh, stale := metawebhook.Fresh([]metawebhook.Change{late, old, undated}, now)
	assert.Equal(t, []metawebhook.Change{late}, fresh, "Meta's retries last 36 h: still acted on")
	assert.Equal(t, []metawebhook.Change{old, undated}, stale)
	assert.Greater(t, metawebhook.MaxAge, 36*time.Hour)
}
