package sandbox

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type received struct {
	body   []byte
	header http.Header
}

// receiver records deliveries; it answers status.
func receiver(t *testing.T, status int) (*httptest.Server, chan received) {
	t.Helper()
	ch := make(chan received, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ch <- received{body: b, header: r.Header.Clone()}
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv, ch
}

// validSignature is written independently of the emitter, the way a
// receiver checks Meta's X-Hub-Signature-256.
func validSignature(secret string, body []byte, header string) bool {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	want := "sha256=" + hex.EncodeToString(m.Sum(nil))
	return hmac.Equal([]byte(want), []byte(header))
}

func next(t *testing.T, ch chan received) received {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery")
		return received{}
	}
}

func TestEmitAccountUpdate(t *testing.T) {
	srv, ch := receiver(t, http.StatusOK)
	e := newEnv(t, func(c *Config) { c.AppWebhookURL = srv.URL + "/meta/webhooks" })
	cfg := e.sb.Config()
	sess, tok := e.onboard(ESSessionRequest{Scenario: ScenarioFinish})
	coex, _ := e.onboard(ESSessionRequest{Scenario: ScenarioFinishCoex, DisplayPhoneNumber: "15550783881"})

	cases := []struct {
		event   string
		waba    string
		entryID string
		value   map[string]any
	}{
		{"PARTNER_APP_INSTALLED", sess.WABAID, cfg.PartnerBusinessID, map[string]any{"event": "PARTNER_APP_INSTALLED",
			"waba_info": map[string]any{"waba_id": sess.WABAID, "owner_business_id": sess.BusinessID, "partner_app_id": cfg.AppID}}},
		{"ACCOUNT_DELETED", sess.WABAID, sess.WABAID, map[string]any{"event": "ACCOUNT_DELETED",
			"waba_info": map[string]any{"waba_id": sess.WABAID, "owner_business_id": sess.BusinessID}}},
		{"ACCOUNT_OFFBOARDED", coex.WABAID, coex.WABAID, map[string]any{"event": "ACCOUNT_OFFBOARDED", "phone_number": "15550783881",
			"waba_info": map[string]any{"waba_id": coex.WABAID, "owner_business_id": coex.BusinessID}}},
		{"ACCOUNT_RECONNECTED", coex.WABAID, coex.WABAID, map[string]any{"event": "ACCOUNT_RECONNECTED", "phone_number": "15550783881",
			"waba_info": map[string]any{"waba_id": coex.WABAID, "owner_business_id": coex.BusinessID}}},
		{"PARTNER_REMOVED", coex.WABAID, coex.WABAID, map[string]any{"event": "PARTNER_REMOVED", "phone_number": "15550783881"}},
		{"PARTNER_APP_UNINSTALLED", sess.WABAID, cfg.PartnerBusinessID, map[string]any{"event": "PARTNER_APP_UNINSTALLED",
			"waba_info": map[string]any{"waba_id": sess.WABAID, "owner_business_id": sess.BusinessID, "partner_app_id": cfg.AppID}}},
	}
	for _, tc := range cases {
		t.Run(tc.event, func(t *testing.T) {
			res, err := e.client.EmitWebhook(ctx(t), EmitRequest{Event: tc.event, WABAID: tc.waba})
			require.NoError(t, err)
			assert.Equal(t, []Delivery{{Status: 200}}, res.Deliveries)
			got := next(t, ch)
			assert.Equal(t, res.Body, string(got.body))
			assert.True(t, validSignature(cfg.AppSecret, got.body, got.header.Get("X-Hub-Signature-256")))
			assert.Equal(t, res.Signature, got.header.Get("X-Hub-Signature-256"))
			assert.Regexp(t, `^sha1=[0-9a-f]{40}$`, got.header.Get("X-Hub-Signature"))
			assert.Equal(t, "application/json", got.header.Get("Content-Type"))

			var env struct {
				Object string `json:"object"`
				Entry  []struct {
					ID      string `json:"id"`
					Time    int64  `json:"time"`
					Changes []struct {
						Value map[string]any `json:"value"`
						Field string         `json:"field"`
					} `json:"changes"`
				} `json:"entry"`
			}
			require.NoError(t, json.Unmarshal(got.body, &env))
			assert.Equal(t, "whatsapp_business_account", env.Object)
			require.Len(t, env.Entry, 1)
			assert.Equal(t, tc.entryID, env.Entry[0].ID)
			assert.InDelta(t, time.Now().Unix(), env.Entry[0].Time, 5)
			assert.Equal(t, "account_update", env.Entry[0].Changes[0].Field)
			assert.Equal(t, tc.value, env.Entry[0].Changes[0].Value)
		})
	}

	t.Run("uninstall revoked the token and unsubscribed the app", func(t *testing.T) {
		r := e.graph("GET", "/v21.0/"+sess.WABAID, tok, nil)
		c, sc := r.errCode()
		assert.Equal(t, []int{190, 458}, []int{c, sc})
	})
}

func TestEmitSigningQuirks(t *testing.T) {
	srv, ch := receiver(t, http.StatusOK)
	e := newEnv(t, func(c *Config) { c.AppWebhookURL = srv.URL })
	cfg := e.sb.Config()
	sess, _ := e.onboard(ESSessionRequest{Scenario: ScenarioFinish})

	t.Run("non-ASCII and slashes are escaped before signing", func(t *testing.T) {
		_, err := e.client.EmitWebhook(ctx(t), EmitRequest{Event: "ACCOUNT_DELETED", WABAID: sess.WABAID,
			Value: map[string]any{"note": "äöå/€😀"}, NoStateChange: true})
		require.NoError(t, err)
		got := next(t, ch)
		assert.Contains(t, string(got.body), `"note":"\u00e4\u00f6\u00e5\/\u20ac\ud83d\ude00"`)
		for _, b := range got.body {
			require.Less(t, b, byte(0x80), "only ASCII on the wire")
		}
		require.True(t, validSignature(cfg.AppSecret, got.body, got.header.Get("X-Hub-Signature-256")))
		var v map[string]any
		require.NoError(t, json.Unmarshal(got.body, &v))
		value := v["entry"].([]any)[0].(map[string]any)["changes"].([]any)[0].(map[string]any)["value"].(map[string]any)
		assert.Equal(t, "äöå/€😀", value["note"])
		// A receiver that re-serialises gets different bytes, so a different signature.
		reencoded, _ := json.Marshal(v)
		assert.False(t, validSignature(cfg.AppSecret, reencoded, got.header.Get("X-Hub-Signature-256")))
	})

	t.Run("bad signature", func(t *testing.T) {
		res, err := e.client.EmitWebhook(ctx(t), EmitRequest{Event: "ACCOUNT_DELETED", WABAID: sess.WABAID, BadSignature: true})
		require.NoError(t, err)
		got := next(t, ch)
		assert.Equal(t, res.Signature, got.header.Get("X-Hub-Signature-256"))
		assert.False(t, validSignature(cfg.AppSecret, got.body, got.header.Get("X-Hub-Signature-256")))
	})

	t.Run("duplicate delivers the same bytes twice", func(t *testing.T) {
		res, err := e.client.EmitWebhook(ctx(t), EmitRequest{Event: "ACCOUNT_DELETED", WABAID: sess.WABAID, Duplicate: true})
		require.NoError(t, err)
		assert.Len(t, res.Deliveries, 2)
		a, b := next(t, ch), next(t, ch)
		assert.Equal(t, a.body, b.body)
		assert.Equal(t, a.header.Get("X-Hub-Signature-256"), b.header.Get("X-Hub-Signature-256"))
	})

	t.Run("quality update", func(t *testing.T) {
		_, err := e.client.EmitWebhook(ctx(t), EmitRequest{Field: "phone_number_quality_update", WABAID: sess.WABAID, CurrentLimit: "TIER_10K", OldLimit: "TIER_2K"})
		require.NoError(t, err)
		got := next(t, ch)
		require.True(t, validSignature(cfg.AppSecret, got.body, got.header.Get("X-Hub-Signature-256")))
		var v map[string]any
		require.NoError(t, json.Unmarshal(got.body, &v))
		entry := v["entry"].([]any)[0].(map[string]any)
		assert.Equal(t, sess.WABAID, entry["id"])
		change := entry["changes"].([]any)[0].(map[string]any)
		assert.Equal(t, "phone_number_quality_update", change["field"])
		assert.Equal(t, map[string]any{"display_phone_number": sess.DisplayPhone, "event": "THROUGHPUT_UPGRADE",
			"current_limit": "TIER_10K", "old_limit": "TIER_2K"}, change["value"])
		st, err := e.client.State(ctx(t))
		require.NoError(t, err)
		assert.Equal(t, "TIER_10K", st.Phones[0].MessagingLimitTier)
	})

	t.Run("per-call URL and receiver errors are reported", func(t *testing.T) {
		failing, fch := receiver(t, http.StatusInternalServerError)
		res, err := e.client.EmitWebhook(ctx(t), EmitRequest{Event: "ACCOUNT_DELETED", WABAID: sess.WABAID, URL: failing.URL + "/x"})
		require.NoError(t, err)
		assert.Equal(t, []Delivery{{Status: 500}}, res.Deliveries)
		next(t, fch)
		res, err = e.client.EmitWebhook(ctx(t), EmitRequest{Event: "ACCOUNT_DELETED", WABAID: sess.WABAID, URL: "http://127.0.0.1:1/"})
		require.NoError(t, err)
		assert.Equal(t, 0, res.Deliveries[0].Status)
		assert.NotEmpty(t, res.Deliveries[0].Error)
	})

	t.Run("bad requests", func(t *testing.T) {
		for _, req := range []EmitRequest{{WABAID: sess.WABAID}, {Event: "ACCOUNT_DELETED"}, {Field: "history", WABAID: sess.WABAID}} {
			_, err := e.client.EmitWebhook(ctx(t), req)
			var ce *ControlError
			require.ErrorAs(t, err, &ce, "%+v", req)
			assert.Equal(t, 400, ce.Status)
		}
	})
}

func TestEmitInstalledOnFinish(t *testing.T) {
	srv, ch := receiver(t, http.StatusOK)
	e := newEnv(t, func(c *Config) { c.AppWebhookURL = srv.URL; c.EmitInstalledOnFinish = true })
	sess, err := e.client.CreateESSession(ctx(t), ESSessionRequest{Scenario: ScenarioFinish})
	require.NoError(t, err)
	got := next(t, ch)
	assert.Contains(t, string(got.body), `"event":"PARTNER_APP_INSTALLED"`)
	assert.Contains(t, string(got.body), `"waba_id":"`+sess.WABAID+`"`)
	_, err = e.client.CreateESSession(ctx(t), ESSessionRequest{Scenario: ScenarioCancel})
	require.NoError(t, err)
	e.sb.wg.Wait() // background deliveries are done
	select {
	case r := <-ch:
		t.Fatalf("a cancel must not emit: %s", r.body)
	default:
	}
}

func TestVerifyAppWebhook(t *testing.T) {
	echo, seen := challengeServer(t, true)
	silent, _ := challengeServer(t, false)
	e := newEnv(t, func(c *Config) { c.AppWebhookURL = echo.URL + "/meta/webhooks" })
	res, err := e.client.VerifyAppWebhook(ctx(t), VerifyRequest{})
	require.NoError(t, err)
	assert.True(t, res.Verified, res.Error)
	assert.Equal(t, e.sb.Config().AppVerifyToken, (<-seen).Get("hub.verify_token"))
	res, err = e.client.VerifyAppWebhook(ctx(t), VerifyRequest{URL: silent.URL})
	require.NoError(t, err)
	assert.False(t, res.Verified)
	assert.Contains(t, res.Error, "(#2200)")
}
