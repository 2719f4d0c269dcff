package sandbox

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dualhook/dualhook/testkit/browser"
)

// demoResult is what the demo opener page shows once the flow ended.
type demoResult struct {
	Callback LoginResponse
	Message  map[string]any
	Order    string
	Noise    string
}

// runDemo opens the demo page in a new tab, clicks launch, drives the popup
// with popupSteps, and waits until the opener got the callback (and the
// message event when wantEvent).
func runDemo(t *testing.T, e *env, bctx context.Context, launch string, wantEvent bool, popupSteps ...chromedp.Action[chromedp.Void]) demoResult {
	t.Helper()
	tab, cancel := chromedp.NewContext(bctx)
	t.Cleanup(cancel)
	step := browser.WithTimeout(t, tab, 30*time.Second)
	require.NoError(t, chromedp.Do(step,
		chromedp.Navigate(e.srv.URL+Prefix+"demo"),
		chromedp.WaitVisible(chromedp.CSS(`body[data-sdk="ready"]`)),
	))
	popup := browser.Popup(t, tab, step, Prefix+"dialog/es", chromedp.Click(chromedp.ID(launch)))
	pstep := browser.WithTimeout(t, popup, 30*time.Second)
	steps := append([]chromedp.Action[chromedp.Void]{chromedp.WaitVisible(chromedp.CSS(`body[data-ready="true"]`))}, popupSteps...)
	require.NoError(t, chromedp.Do(pstep, steps...))

	want := `document.getElementById('demo-callback').textContent !== ''`
	if wantEvent {
		want += ` && document.getElementById('demo-message').textContent !== ''`
	}
	_, err := chromedp.Run(step, chromedp.Poll[bool](want, chromedp.WithPollingInterval(50*time.Millisecond)))
	require.NoError(t, err)
	var res demoResult
	cb, err := chromedp.Run(step, chromedp.TextContent(chromedp.ID("demo-callback")))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal([]byte(cb), &res.Callback), cb)
	if wantEvent {
		msg, err := chromedp.Run(step, chromedp.TextContent(chromedp.ID("demo-message")))
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal([]byte(msg), &res.Message), msg)
	}
	res.Order, err = chromedp.Run(step, chromedp.TextContent(chromedp.ID("demo-order")))
	require.NoError(t, err)
	res.Noise, err = chromedp.Run(step, chromedp.TextContent(chromedp.ID("demo-noise")))
	require.NoError(t, err)
	return res
}

func TestBrowserPopup(t *testing.T) {
	e := newEnv(t)
	bctx := browser.Start(t)

	t.Run("finish through every step of the Cloud API flow", func(t *testing.T) {
		next := chromedp.Click(chromedp.ID("es-next"))
		res := runDemo(t, e, bctx, "demo-login", true,
			chromedp.SetValue(chromedp.ID("es-business-name"), "Lucky Shrub"),
			next, // business portfolio
			next, // WABA / phone picker (new WABA, new number)
			chromedp.WaitVisible(chromedp.ID("es-waba-name")),
			next, // business profile
			chromedp.SetValue(chromedp.ID("es-new-phone"), "+1 555 078 3881"),
			next, // phone number
			chromedp.WaitVisible(chromedp.ID("es-otp")),
			next, // verification
			chromedp.WaitVisible(chromedp.ID("es-step-permissions")),
			next, // permissions
			chromedp.WaitVisible(chromedp.ID("es-summary")),
			chromedp.Click(chromedp.ID("es-finish")),
		)
		assert.Equal(t, "message,callback", res.Order)
		// Meta-like SDK chatter and the SDK's own code message reach the page
		// too; the page's listener ignores both.
		assert.Equal(t, "2", res.Noise)
		assert.Equal(t, "connected", res.Callback.Status)
		require.NotNil(t, res.Callback.AuthResponse)
		assert.True(t, strings.HasPrefix(res.Callback.AuthResponse.Code, "AQ"))
		assert.Equal(t, "WA_EMBEDDED_SIGNUP", res.Message["type"])
		assert.Equal(t, "FINISH", res.Message["event"])
		data := res.Message["data"].(map[string]any)

		tok := e.exchange(res.Callback.AuthResponse.Code)
		r := e.graph("GET", "/v21.0/"+data["phone_number_id"].(string), tok, map[string]any{"fields": "display_phone_number,verified_name"})
		require.Equal(t, 200, r.Status, r.Raw)
		assert.Equal(t, "15550783881", r.Body["display_phone_number"])
		assert.Equal(t, "Lucky Shrub", r.Body["verified_name"])
		r = e.graph("GET", "/v21.0/"+data["waba_id"].(string), tok, map[string]any{"fields": "owner_business_info"})
		assert.Equal(t, data["business_id"], r.Body["owner_business_info"].(map[string]any)["id"])
	})

	t.Run("cancel at a chosen step", func(t *testing.T) {
		res := runDemo(t, e, bctx, "demo-login", true,
			chromedp.SetValue(chromedp.ID("es-cancel-step"), "WABA_PHONE_PROFILE_PICKER"),
			chromedp.Click(chromedp.ID("es-cancel")),
		)
		assert.Equal(t, LoginResponse{Status: "unknown"}, res.Callback)
		assert.Equal(t, map[string]any{"type": "WA_EMBEDDED_SIGNUP", "event": "CANCEL",
			"data": map[string]any{"current_step": "WABA_PHONE_PROFILE_PICKER"}}, res.Message)
	})

	t.Run("coexistence, code before the event", func(t *testing.T) {
		res := runDemo(t, e, bctx, "demo-login-coex", true,
			chromedp.WaitVisible(chromedp.ID("es-finish-coex")),
			chromedp.SetValue(chromedp.ID("es-order"), "code_first"),
			chromedp.Click(chromedp.ID("es-finish-coex")),
		)
		assert.Equal(t, "callback,message", res.Order)
		assert.Equal(t, "connected", res.Callback.Status)
		assert.Equal(t, "FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING", res.Message["event"])
		assert.EqualValues(t, 3, res.Message["version"])
		data := res.Message["data"].(map[string]any)
		require.Len(t, data, 1)
		tok := e.exchange(res.Callback.AuthResponse.Code)
		r := e.graph("GET", "/v21.0/"+data["waba_id"].(string)+"/phone_numbers", tok, map[string]any{"fields": "is_on_biz_app,platform_type"})
		require.Equal(t, 200, r.Status, r.Raw)
		n := r.Body["data"].([]any)[0].(map[string]any)
		assert.Equal(t, true, n["is_on_biz_app"])
		assert.Equal(t, "CLOUD_API", n["platform_type"])
	})

	t.Run("no message event", func(t *testing.T) {
		res := runDemo(t, e, bctx, "demo-login", false,
			chromedp.SetValue(chromedp.ID("es-order"), "no_event"),
			chromedp.Click(chromedp.ID("es-finish-cloud")),
		)
		assert.Equal(t, "callback", res.Order)
		assert.Equal(t, "connected", res.Callback.Status)
	})
}
