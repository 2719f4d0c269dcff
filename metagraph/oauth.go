package metagraph

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"
)

// ScopeWhatsAppBusinessManagement is the permission whose granular_scopes
// target_ids list the WABAs a business token was granted.
const ScopeWhatsAppBusinessManagement = "whatsapp_business_management"

// Token is the business token an Embedded Signup code exchanges for. Its
// String, GoString and LogValue hide AccessToken, so printing or logging
// a Token by mistake does not leak it.
type Token struct {
	AccessToken string
	// TokenType is "bearer".
	TokenType string
	// ExpiresIn is the lifetime in seconds; nil when Meta does not say
	// (its docs never show expires_in; tokens that never expire omit it).
	ExpiresIn *int64
}

func (t Token) String() string {
	exp := "nil"
	if t.ExpiresIn != nil {
		exp = fmt.Sprint(*t.ExpiresIn)
	}
	return fmt.Sprintf("metagraph.Token{AccessToken:%s TokenType:%q ExpiresIn:%s}", redacted, t.TokenType, exp)
}

// GoString hides the token from %#v.
func (t Token) GoString() string { return t.String() }

// LogValue hides the token from log/slog.
func (t Token) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("access_token", redacted), slog.String("token_type", t.TokenType)}
	if t.ExpiresIn != nil {
		attrs = append(attrs, slog.Int64("expires_in", *t.ExpiresIn))
	}
	return slog.GroupValue(attrs...)
}

// ExchangeCode trades an Embedded Signup code for the business token:
// GET /oauth/access_token?client_id&client_secret&code. Meta takes the
// secret and code only as query parameters; they never appear in errors.
//
// No redirect_uri is sent: codes from the FB.login popup are bound to
// none, and sending one makes Meta answer 36008.
//
// The code lives 30 s and works once. Final errors: IsCodeExpired
// (36007), IsCodeUsed (36009), code 1 (wrong app secret), 101 (wrong app
// id), 100 "Invalid verification code format.". Retry only when
// NeverReachedMeta(err): a timeout after the request was written may have
// spent the code, and IsTransient is false for such an error.
//
// net/http itself replays a GET once when a reused keep-alive connection
// turns out to be closed before any answer; for this call that is
// harmless (the replay either succeeds or is answered 36009).
func (c *Client) ExchangeCode(ctx context.Context, code string) (Token, error) {
	if code == "" {
		return Token{}, argError(opExchangeCode, "code is empty")
	}
	q := url.Values{}
	q.Set("client_id", c.appID)
	q.Set("client_secret", c.appSecret)
	q.Set("code", code)
	var out struct {
		AccessToken string   `json:"access_token"`
		TokenType   string   `json:"token_type"`
		ExpiresIn   *flexInt `json:"expires_in"`
	}
	err := c.do(ctx, request{
		op: opExchangeCode, method: http.MethodGet, path: "oauth/access_token", query: q,
		secrets: []string{code},
	}, &out)
	if err != nil {
		return Token{}, err
	}
	if out.AccessToken == "" {
		return Token{}, &Error{Op: opExchangeCode, HTTPStatus: http.StatusOK, Message: "no access_token in Graph's answer"}
	}
	t := Token{AccessToken: out.AccessToken, TokenType: out.TokenType}
	if out.ExpiresIn != nil && *out.ExpiresIn > 0 {
		n := int64(*out.ExpiresIn)
		t.ExpiresIn = &n
	}
	return t, nil
}

// TokenInfo is debug_token's description of a token.
type TokenInfo struct {
	IsValid bool
	// AppID is the app the token belongs to; callers should check it is
	// theirs.
	AppID       string
	Application string
	// Type is "USER", "SYSTEM_USER" (business tokens that never expire) or
	// "APP".
	Type   string
	UserID string
	// ExpiresAt and DataAccessExpiresAt are nil when Meta reports 0
	// ("never", system-user tokens).
	ExpiresAt           *time.Time
	DataAccessExpiresAt *time.Time
	IssuedAt            *time.Time
	Scopes              []string
	// GranularScopes list, per permission, the objects granted — for
	// whatsapp_business_management the WABA ids, newest onboarding first.
	GranularScopes []GranularScope
	// Error is why Meta considers the token invalid (code 190 with
	// subcode 463 expired, 458 app removed, …); nil when valid.
	Error *TokenError
}

// GranularScope is one entry of debug_token's granular_scopes.
type GranularScope struct {
	Scope     string
	TargetIDs []string
}

// TokenError is debug_token's data.error for an invalid token.
type TokenError struct {
	Code, Subcode int
	Message       string
}

// WABAIDs returns the WABAs the token was granted
// (whatsapp_business_management target_ids), newest onboarding first as
// Meta orders them: SPEC §6 step 2 takes the WABA from here, not from the
// browser.
func (ti TokenInfo) WABAIDs() []string {
	for _, g := range ti.GranularScopes {
		if g.Scope == ScopeWhatsAppBusinessManagement {
			return g.TargetIDs
		}
	}
	return nil
}

// DebugToken describes userToken: GET /debug_token?input_token=…,
// authenticated with the app access token "APP_ID|APP_SECRET" (in the
// Authorization header). Meta takes input_token only as a query
// parameter; it never appears in errors.
//
// An invalid, expired or revoked input token is not an error: Meta answers
// 200 with is_valid false (and data.error), returned as TokenInfo. An
// error means the call itself failed (e.g. code 190 when the app
// credentials are wrong).
func (c *Client) DebugToken(ctx context.Context, userToken string) (TokenInfo, error) {
	if err := checkToken(opDebugToken, userToken); err != nil {
		return TokenInfo{}, err
	}
	q := url.Values{}
	q.Set("input_token", userToken)
	var out struct {
		Data struct {
			AppID               flexString `json:"app_id"`
			Application         string     `json:"application"`
			Type                string     `json:"type"`
			UserID              flexString `json:"user_id"`
			ExpiresAt           flexInt    `json:"expires_at"`
			DataAccessExpiresAt flexInt    `json:"data_access_expires_at"`
			IssuedAt            flexInt    `json:"issued_at"`
			IsValid             flexBool   `json:"is_valid"`
			Scopes              []string   `json:"scopes"`
			GranularScopes      []struct {
				Scope     string       `json:"scope"`
				TargetIDs []flexString `json:"target_ids"`
			} `json:"granular_scopes"`
			Error *struct {
				Code         flexInt `json:"code"`
				Subcode      flexInt `json:"subcode"`
				ErrorSubcode flexInt `json:"error_subcode"`
				Message      string  `json:"message"`
			} `json:"error"`
		} `json:"data"`
	}
	err := c.do(ctx, request{
		op: opDebugToken, method: http.MethodGet, path: "debug_token", query: q,
		token: c.appID + "|" + c.appSecret, secrets: []string{userToken}, idempotent: true,
	}, &out)
	if err != nil {
		return TokenInfo{}, err
	}
	d := out.Data
	info := TokenInfo{
		IsValid:             bool(d.IsValid),
		AppID:               string(d.AppID),
		Application:         d.Application,
		Type:                d.Type,
		UserID:              string(d.UserID),
		ExpiresAt:           unixTime(d.ExpiresAt),
		DataAccessExpiresAt: unixTime(d.DataAccessExpiresAt),
		IssuedAt:            unixTime(d.IssuedAt),
		Scopes:              d.Scopes,
	}
	for _, g := range d.GranularScopes {
		info.GranularScopes = append(info.GranularScopes, GranularScope{Scope: g.Scope, TargetIDs: toStrings(g.TargetIDs)})
	}
	if d.Error != nil {
		sub := d.Error.Subcode
		if sub == 0 {
			sub = d.Error.ErrorSubcode
		}
		info.Error = &TokenError{
			Code: int(d.Error.Code), Subcode: int(sub),
			Message: scrub(d.Error.Message, []string{userToken, c.appSecret}),
		}
	}
	return info, nil
}
