package metagraph

import (
	"context"
	"net/http"
)

// SubscribedApp is one app subscribed to a WABA's webhooks. Other
// partners' apps appear too (a WABA shared with several partners).
type SubscribedApp struct {
	AppID   string
	AppName string
	// OverrideCallbackURI is the app's WABA-level webhook override; empty
	// when none is set (Meta then omits the member).
	OverrideCallbackURI string
}

// SubscribedApps lists the apps subscribed to a WABA: GET
// /{waba}/subscribed_apps → {"data":[{"whatsapp_business_api_data":
// {"id","name","link"},"override_callback_uri"?}]}. Verify tokens are
// never returned by Meta.
func (c *Client) SubscribedApps(ctx context.Context, token, wabaID string) ([]SubscribedApp, error) {
	if err := checkToken(opListSubscribedApps, token); err != nil {
		return nil, err
	}
	if err := checkID(opListSubscribedApps, "waba id", wabaID); err != nil {
		return nil, err
	}
	type wireApp struct {
		Data struct {
			ID   flexString `json:"id"`
			Name string     `json:"name"`
		} `json:"whatsapp_business_api_data"`
		Override string `json:"override_callback_uri"`
	}
	list, err := listAll[wireApp](ctx, c, request{
		op: opListSubscribedApps, method: http.MethodGet, path: wabaID + "/subscribed_apps",
		token: token, idempotent: true,
	})
	if err != nil {
		return nil, err
	}
	out := make([]SubscribedApp, 0, len(list))
	for _, a := range list {
		out = append(out, SubscribedApp{AppID: string(a.Data.ID), AppName: a.Data.Name, OverrideCallbackURI: a.Override})
	}
	return out, nil
}

// SubscribeApp subscribes the app to the WABA's webhooks: POST
// /{waba}/subscribed_apps with no body.
//
// Meta quirk: the same body-less POST is how an override is removed, so
// on a WABA where the app is already subscribed this also CLEARS the
// app's override (traffic falls back to the App Dashboard URL) until
// SetOverride runs again. See ClearOverride.
func (c *Client) SubscribeApp(ctx context.Context, token, wabaID string) error {
	return c.postSubscribedApps(ctx, opSubscribeApp, token, wabaID)
}

// ClearOverride removes the app's WABA-level override — the same body-less
// POST /{waba}/subscribed_apps as SubscribeApp (Meta documents no other
// way), named for what the caller means when undoing an override (SPEC
// §6, "restore the previous override").
func (c *Client) ClearOverride(ctx context.Context, token, wabaID string) error {
	return c.postSubscribedApps(ctx, opClearOverride, token, wabaID)
}

func (c *Client) postSubscribedApps(ctx context.Context, op, token, wabaID string) error {
	if err := checkToken(op, token); err != nil {
		return err
	}
	if err := checkID(op, "waba id", wabaID); err != nil {
		return err
	}
	return c.doSuccess(ctx, request{
		op: op, method: http.MethodPost, path: wabaID + "/subscribed_apps", token: token, idempotent: true,
	})
}

// SetOverride points the WABA's webhooks for this app at callbackURL:
// POST /{waba}/subscribed_apps {"override_callback_uri","verify_token"}.
//
// The app must be subscribed first (SubscribeApp; otherwise
// IsNotSubscribed). Meta verifies the URL synchronously with a
// hub.challenge GET carrying verifyToken; any failure is code 2200
// (IsOverrideVerificationFailed), whose message quotes what the endpoint
// answered — scrubbed of verifyToken here. Meta limits the URL to 200
// characters (code 100) and requires valid HTTPS.
func (c *Client) SetOverride(ctx context.Context, token, wabaID, callbackURL, verifyToken string) error {
	if err := checkToken(opSetOverride, token); err != nil {
		return err
	}
	if err := checkID(opSetOverride, "waba id", wabaID); err != nil {
		return err
	}
	if callbackURL == "" || verifyToken == "" {
		return argError(opSetOverride, "callback URL and verify token are required")
	}
	return c.doSuccess(ctx, request{
		op: opSetOverride, method: http.MethodPost, path: wabaID + "/subscribed_apps", token: token,
		body:    map[string]string{"override_callback_uri": callbackURL, "verify_token": verifyToken},
		secrets: []string{verifyToken}, idempotent: true,
	})
}

// UnsubscribeApp removes the app's subscription (and its override) from
// the WABA: DELETE /{waba}/subscribed_apps. Delivery to the app stops at
// once. Meta answers success even when the app was not subscribed, so a
// repeat returns nil; SPEC §7.4 also treats IsTokenInvalid as "already
// removed".
func (c *Client) UnsubscribeApp(ctx context.Context, token, wabaID string) error {
	if err := checkToken(opUnsubscribeApp, token); err != nil {
		return err
	}
	if err := checkID(opUnsubscribeApp, "waba id", wabaID); err != nil {
		return err
	}
	return c.doSuccess(ctx, request{
		op: opUnsubscribeApp, method: http.MethodDelete, path: wabaID + "/subscribed_apps", token: token, idempotent: true,
	})
}
