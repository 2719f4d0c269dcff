package sandbox

import (
	"crypto/subtle"
	"time"
)

// codeLifetime is how long an Embedded Signup code can be exchanged.
const codeLifetime = 30 * time.Second

// handleAccessToken exchanges an authorization code for the business token
// it was minted with: GET|POST /oauth/access_token?client_id&client_secret&code.
// Check order follows what integrators observe: app, secret, then the code.
func (s *Sandbox) handleAccessToken(c *graphCall) (any, *GraphError) {
	p := c.params
	switch {
	case p["client_id"] == "":
		return nil, errOAuth(101, 0, "Missing client_id parameter.")
	case p["client_id"] != s.cfg.AppID:
		return nil, errOAuth(101, 0, "Error validating application. Invalid application ID.")
	case !constantTimeEqual(p["client_secret"], s.cfg.AppSecret):
		return nil, errOAuth(1, 0, "Error validating client secret.")
	case p["code"] == "":
		return nil, errOAuth(100, 0, "Missing authorization code")
	}

	unlock := s.lock()
	defer unlock()
	code, ok := s.st.Codes[p["code"]]
	if !ok {
		return nil, errOAuth(100, 0, "Invalid verification code format.")
	}
	if code.Used {
		return nil, errOAuth(100, 36009, "This authorization code has been used.")
	}
	if code.Expired || s.clock.Now().Sub(code.IssuedAt) > codeLifetime {
		return nil, errOAuth(100, 36007, "This authorization code has expired.")
	}
	// Popup codes are bound to no redirect_uri; a full-page fallback binds
	// them to the page URL. Any difference is Meta's 36008.
	if redirect, sent := p["redirect_uri"]; (sent || code.RedirectURI != "") && redirect != code.RedirectURI {
		return nil, errOAuth(100, 36008, "Error validating verification code. Please make sure your redirect_uri is identical to the one you used in the OAuth dialog request")
	}
	code.Used = true
	s.changed()
	tok := s.st.Tokens[code.Token]
	body := map[string]any{"access_token": tok.Value, "token_type": "bearer"}
	if !tok.ExpiresAt.IsZero() {
		body["expires_in"] = int(tok.ExpiresAt.Sub(s.clock.Now()).Seconds())
	}
	s.log.Info("code exchanged", "waba_ids", tok.WABAIDs)
	return body, nil
}

// handleDebugToken describes input_token. The caller authenticates with an
// app token ("APP_ID|APP_SECRET") or any valid token of the app, as Graph
// allows. granular_scopes lists the granted WABAs newest first, which is how
// integrations find the WABA when the message event never arrived.
func (s *Sandbox) handleDebugToken(c *graphCall) (any, *GraphError) {
	input := c.params["input_token"]
	if input == "" {
		return nil, errParam("The parameter input_token is required")
	}
	if s.isAppToken(input) {
		return map[string]any{"data": map[string]any{
			"app_id": s.cfg.AppID, "type": "APP", "application": s.cfg.AppName, "is_valid": true,
		}}, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.st.Tokens[input]
	if !ok {
		return map[string]any{"data": map[string]any{
			"error":    map[string]any{"code": 190, "message": "Invalid OAuth access token - Cannot parse access token"},
			"is_valid": false,
			"scopes":   []string{},
		}}, nil
	}
	targets := append([]string{}, t.WABAIDs...)
	data := map[string]any{
		"app_id":                 s.cfg.AppID,
		"type":                   t.Type,
		"application":            s.cfg.AppName,
		"data_access_expires_at": t.IssuedAt.Add(90 * 24 * time.Hour).Unix(),
		"expires_at":             unixOrZero(t.ExpiresAt),
		"issued_at":              t.IssuedAt.Unix(),
		"is_valid":               true,
		"scopes":                 []string{"whatsapp_business_management", "whatsapp_business_messaging", "public_profile"},
		"granular_scopes": []map[string]any{
			{"scope": "whatsapp_business_management", "target_ids": targets},
			{"scope": "whatsapp_business_messaging", "target_ids": targets},
		},
		"user_id": t.UserID,
	}
	if t.Type == "SYSTEM_USER" {
		data["data_access_expires_at"] = 0
	}
	if gerr := s.tokenProblem(t); gerr != nil {
		data["is_valid"] = false
		e := map[string]any{"code": gerr.Code, "message": gerr.Message}
		if gerr.Subcode != 0 {
			e["subcode"] = gerr.Subcode
		}
		data["error"] = e
	}
	return map[string]any{"data": data}, nil
}

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func constantTimeEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
