package sandbox

import (
	"encoding/json"
	"regexp"
	"time"
)

// Windows and limits Meta documents for numbers.
const (
	registerWindow      = 72 * time.Hour // rolling window of the register/deregister limit
	registerLimit       = 10             // requests per window → 133016
	registerDeadline    = 14 * 24 * time.Hour
	smbSyncWindow       = 24 * time.Hour
	syncTypeContacts    = "smb_app_state_sync"
	syncTypeHistory     = "history"
	alreadyRegisteredMs = "Phone number is already registered or in invalid state for registration"
)

var pinPattern = regexp.MustCompile(`^[0-9]{6}$`)

// phoneDefaults are Graph's default fields for GET /{phone}.
var phoneDefaults = []string{"id", "display_phone_number", "verified_name", "quality_rating"}

// phoneNode is every field the sandbox knows for a number. Callers hold s.mu.
func (s *Sandbox) phoneNode(p *Phone) map[string]any {
	w := s.st.WABAs[p.WABAID]
	hooks := map[string]any{}
	if s.cfg.AppWebhookURL != "" {
		hooks["application"] = s.cfg.AppWebhookURL
	}
	if w != nil {
		if sub := w.subscription(s.cfg.AppID); sub != nil && sub.OverrideURL != "" {
			hooks["whatsapp_business_account"] = sub.OverrideURL
		}
	}
	if p.OverrideURL != "" {
		hooks["phone_number"] = p.OverrideURL
	}
	var onboarded any
	if !p.OnboardedAt.IsZero() {
		onboarded = graphTime(p.OnboardedAt)
	}
	return map[string]any{
		"id":                       p.ID,
		"display_phone_number":     p.DisplayPhoneNumber,
		"verified_name":            p.VerifiedName,
		"quality_rating":           p.QualityRating,
		"code_verification_status": p.CodeVerificationStatus,
		"name_status":              p.NameStatus,
		"new_name_status":          nil,
		"status":                   p.Status,
		"platform_type":            p.PlatformType,
		"is_on_biz_app":            p.IsOnBizApp,
		"throughput":               map[string]any{"level": p.ThroughputLevel},
		"webhook_configuration":    hooks,
		"account_mode":             p.AccountMode,
		"last_onboarded_time":      onboarded,
		"messaging_limit_tier":     p.MessagingLimitTier,
		"whatsapp_business_manager_messaging_limit": p.MessagingLimitTier,
		"health_status":                 s.phoneHealth(p, w),
		"is_official_business_account":  false,
		"country_code":                  "US",
		"country_dial_code":             "1",
		"search_visibility":             "VISIBLE",
		"is_pin_enabled":                p.PIN != "",
		"certificate":                   nil,
		"new_certificate":               nil,
		"username":                      nil,
		"is_preverified_number":         false,
		"messaging_limit_tier_upgraded": nil,
	}
}

// phoneHealth mirrors Graph's health_status: the number can send only when
// it is on Cloud API (registered, or a coexistence number) and connected.
// The 141xxx code for an unregistered number is a simulator choice.
func (s *Sandbox) phoneHealth(p *Phone, w *WABA) map[string]any {
	phone := map[string]any{"entity_type": "PHONE_NUMBER", "id": p.ID, "can_send_message": "AVAILABLE"}
	overall := "AVAILABLE"
	switch {
	case p.RegisteredElsewhere || (!p.Registered && !p.IsOnBizApp) || p.Status != "CONNECTED":
		overall = "BLOCKED"
		phone["can_send_message"] = overall
		phone["errors"] = []any{map[string]any{
			"error_code":        141010,
			"error_description": "The phone number is not registered on Cloud API.",
			"possible_solution": "Register the phone number with POST /{phone-number-id}/register.",
		}}
	case p.QualityRating == "RED":
		overall = "LIMITED"
		phone["can_send_message"] = overall
	}
	entities := []any{phone}
	if w != nil {
		entities = append(entities,
			map[string]any{"entity_type": "WABA", "id": w.ID, "can_send_message": "AVAILABLE"},
			map[string]any{"entity_type": "BUSINESS", "id": w.BusinessID, "can_send_message": "AVAILABLE"},
		)
	}
	entities = append(entities, map[string]any{"entity_type": "APP", "id": s.cfg.AppID, "can_send_message": "AVAILABLE"})
	return map[string]any{"can_send_message": overall, "entities": entities}
}

// handleGetPhone serves GET /{phone}.
func (s *Sandbox) handleGetPhone(c *graphCall) (any, *GraphError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.st.Phones[c.route.objectID]
	return selectFields(s.phoneNode(p), requestedFields(c.params["fields"], phoneDefaults), "WhatsAppBusinessPhoneNumber")
}

// handleUpdatePhone serves POST /{phone}: {"pin"} sets or changes the
// two-step PIN; {"webhook_configuration":{"override_callback_uri","verify_token"}}
// sets the phone-level override (verified like the WABA one) and an empty
// override_callback_uri removes it.
func (s *Sandbox) handleUpdatePhone(c *graphCall) (any, *GraphError) {
	id := c.route.objectID
	if raw, ok := c.params["webhook_configuration"]; ok {
		var cfg struct {
			URI         string `json:"override_callback_uri"`
			VerifyToken string `json:"verify_token"`
		}
		if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
			return nil, errParam("Param webhook_configuration must be a JSON object")
		}
		if cfg.URI != "" {
			if gerr := validateOverride(cfg.URI, cfg.VerifyToken); gerr != nil {
				return nil, gerr
			}
			if gerr := s.verifyCallback(c.r.Context(), cfg.URI, cfg.VerifyToken); gerr != nil {
				return nil, gerr
			}
		}
		_ = s.update(func(st *state) error {
			p := st.Phones[id]
			p.OverrideURL, p.OverrideToken = cfg.URI, cfg.VerifyToken
			if cfg.URI == "" {
				p.OverrideToken = ""
			}
			return nil
		})
		return map[string]any{"success": true}, nil
	}
	if pin, ok := c.params["pin"]; ok {
		if !pinPattern.MatchString(pin) {
			return nil, errParam("Invalid PIN format. PIN must be exactly 6 digits").withDetails("PIN must be exactly 6 digits")
		}
		_ = s.update(func(st *state) error { st.Phones[id].PIN = pin; return nil })
		return map[string]any{"success": true}, nil
	}
	return nil, errParam("Missing parameter: pin or webhook_configuration")
}

// handleRegister serves POST /{phone}/register {"messaging_product":"whatsapp","pin"}.
// Every well-formed request counts toward the 10-per-72-h limit, as at Meta.
func (s *Sandbox) handleRegister(c *graphCall) (any, *GraphError) {
	if c.params["messaging_product"] != "whatsapp" {
		return nil, errParam("The parameter messaging_product is required and must be whatsapp")
	}
	pin := c.params["pin"]
	if !pinPattern.MatchString(pin) {
		return nil, errParam("Invalid PIN format. PIN must be exactly 6 digits").withDetails("PIN must be exactly 6 digits")
	}
	unlock := s.lock()
	defer unlock()
	p := s.st.Phones[c.route.objectID]
	now := s.clock.Now()
	var n int
	p.RegisterAttempts, n = attemptsSince(p.RegisterAttempts, now.Add(-registerWindow))
	if n >= registerLimit {
		return nil, newGraphError(133016, "OAuthException",
			"(#133016) Account register deregister rate limit exceeded").
			withDetails("Too many register/deregister requests for this number in the last 72 hours. The number is locked; try again later.")
	}
	p.RegisterAttempts = append(p.RegisterAttempts, now)
	s.changed()
	switch {
	case p.IsOnBizApp:
		// A coexistence number is registered by the WhatsApp Business app
		// already; onboarding must skip register.
		return nil, errParam(alreadyRegisteredMs).withDetails("This number is used with the WhatsApp Business app (coexistence) and is already registered. Do not call register for it.")
	case p.RegisteredElsewhere:
		return nil, errParam(alreadyRegisteredMs).withDetails("This phone number is registered to another WhatsApp account or Cloud API app.")
	case !p.OnboardedAt.IsZero() && now.Sub(p.OnboardedAt) > registerDeadline:
		return nil, newGraphError(133006, "OAuthException", "(#133006) Phone number needs to be verified before registering").
			withDetails("Registration must happen within 14 days of completing Embedded Signup. Onboard the number again.")
	case p.PIN != "" && !constantTimeEqual(p.PIN, pin):
		return nil, newGraphError(133005, "OAuthException", "(#133005) Two step verification PIN Mismatch").
			withDetails("The PIN does not match the two-step verification PIN of this number.")
	}
	p.Registered = true
	p.PIN = pin
	p.Status = "CONNECTED"
	p.PlatformType = "CLOUD_API"
	p.CodeVerificationStatus = "VERIFIED"
	p.RegisteredAt = now
	return map[string]any{"success": true}, nil
}

// handleDeregister serves POST /{phone}/deregister (same 10-per-72-h limit,
// refused for coexistence numbers).
func (s *Sandbox) handleDeregister(c *graphCall) (any, *GraphError) {
	unlock := s.lock()
	defer unlock()
	p := s.st.Phones[c.route.objectID]
	now := s.clock.Now()
	var n int
	p.DeregisterAttempts, n = attemptsSince(p.DeregisterAttempts, now.Add(-registerWindow))
	if n >= registerLimit {
		return nil, newGraphError(133016, "OAuthException",
			"(#133016) Account register deregister rate limit exceeded").
			withDetails("Too many register/deregister requests for this number in the last 72 hours.")
	}
	p.DeregisterAttempts = append(p.DeregisterAttempts, now)
	s.changed()
	if p.IsOnBizApp {
		return nil, errParam("Deregistration is not allowed for a phone number used with the WhatsApp Business app").
			withDetails("Coexistence numbers are disconnected from the WhatsApp Business app.")
	}
	if !p.Registered {
		return nil, newGraphError(133010, "OAuthException", "(#133010) Phone number Not Registered").
			withDetails("The phone number is not registered on Cloud API.")
	}
	p.Registered = false
	p.Status = "DISCONNECTED"
	p.PlatformType = "NOT_APPLICABLE"
	return map[string]any{"success": true}, nil
}

// handleSMBAppData serves POST /{phone}/smb_app_data for coexistence
// numbers: each sync_type once (Config.RepeatedSyncCode on repeat), within
// 24 h of onboarding (2593108).
func (s *Sandbox) handleSMBAppData(c *graphCall) (any, *GraphError) {
	if c.params["messaging_product"] != "whatsapp" {
		return nil, errParam("The parameter messaging_product is required and must be whatsapp")
	}
	syncType := c.params["sync_type"]
	if syncType != syncTypeContacts && syncType != syncTypeHistory {
		return nil, errParam("Param sync_type must be one of {smb_app_state_sync, history}")
	}
	unlock := s.lock()
	defer unlock()
	p := s.st.Phones[c.route.objectID]
	now := s.clock.Now()
	switch {
	case !p.IsOnBizApp:
		return nil, errParam("smb_app_data is only available for phone numbers onboarded from the WhatsApp Business app")
	case !p.SMBSyncs[syncType].IsZero():
		return nil, errSyncLimit(s.cfg.RepeatedSyncCode, syncType)
	case now.Sub(p.OnboardedAt) > smbSyncWindow:
		return nil, newGraphError(2593108, "OAuthException", "(#2593108) Synchronization request window has expired").
			withDetails("Synchronization must be requested within 24 hours of onboarding. Offboard and onboard the number again.")
	}
	if p.SMBSyncs == nil {
		p.SMBSyncs = map[string]time.Time{}
	}
	p.SMBSyncs[syncType] = now
	s.changed()
	return map[string]any{"messaging_product": "whatsapp", "request_id": newTraceID()}, nil
}
