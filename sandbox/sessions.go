package sandbox

import (
	"cmp"
	"slices"
	"strconv"
	"time"
)

// Embedded Signup scenarios, for the headless API and the popup.
const (
	ScenarioFinish         = "finish"           // Cloud API: FINISH with phone, WABA and business ids
	ScenarioFinishCoex     = "finish_coex"      // Coexistence: FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING, {waba_id}, version 3
	ScenarioFinishOnlyWABA = "finish_only_waba" // FINISH_ONLY_WABA, {waba_id}, no number
	ScenarioFinishAppOnly  = "finish_app_only"  // App-Only Install: FINISH_GRANT_ONLY_API_ACCESS
	ScenarioCancel         = "cancel"           // CANCEL {current_step}, no code
	ScenarioError          = "error"            // CANCEL {error_message, error_id, session_id, timestamp}, no code
	ScenarioErrorLegacy    = "error_legacy"     // older flows: ERROR {error_message}, no code
)

// Message event names Meta uses.
const (
	EventFinish         = "FINISH"
	EventFinishOnlyWABA = "FINISH_ONLY_WABA"
	EventFinishCoex     = "FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING"
	EventFinishAppOnly  = "FINISH_GRANT_ONLY_API_ACCESS"
	EventCancel         = "CANCEL"
	EventError          = "ERROR"
)

// CancelSteps are the current_step values Meta reports on CANCEL.
var CancelSteps = []string{
	"BUSINESS_ACCOUNT_SELECTION", "WABA_PHONE_PROFILE_PICKER", "WHATSAPP_BUSINESS_PROFILE_SETUP",
	"PHONE_NUMBER_SETUP", "PHONE_NUMBER_VERIFICATION", "PERMISSIONS",
}

const defaultErrorMessage = "Your verified name violates WhatsApp guidelines. Please edit your verified name and try again."

// ESSessionRequest asks for one Embedded Signup outcome
// (POST /_sandbox/meta/es/sessions). Ids are optional: a given WABA is
// reused (adding a number to it: how tests build siblings), a given id that
// does not exist yet is created with that id.
type ESSessionRequest struct {
	Scenario      string `json:"scenario"`
	WABAID        string `json:"wabaId,omitempty"`
	PhoneNumberID string `json:"phoneNumberId,omitempty"`
	BusinessID    string `json:"businessId,omitempty"`
	// CancelStep is current_step for "cancel" (default PHONE_NUMBER_SETUP).
	CancelStep string `json:"cancelStep,omitempty"`
	// ErrorMessage / ErrorID for "error" and "error_legacy".
	ErrorMessage string `json:"errorMessage,omitempty"`
	ErrorID      string `json:"errorId,omitempty"`
	// Names for created objects (defaults are generated).
	BusinessName       string `json:"businessName,omitempty"`
	WABAName           string `json:"wabaName,omitempty"`
	DisplayPhoneNumber string `json:"displayPhoneNumber,omitempty"`
	VerifiedName       string `json:"verifiedName,omitempty"`
	// RedirectURI binds the code to a redirect_uri (the full-page fallback
	// of the SDK); empty means bound to none, like popup codes.
	RedirectURI string `json:"redirectUri,omitempty"`
}

// MessageEventData is the data member of a WA_EMBEDDED_SIGNUP event.
type MessageEventData struct {
	PhoneNumberID string `json:"phone_number_id,omitempty"`
	WABAID        string `json:"waba_id,omitempty"`
	BusinessID    string `json:"business_id,omitempty"`
	CurrentStep   string `json:"current_step,omitempty"`
	ErrorMessage  string `json:"error_message,omitempty"`
	ErrorID       string `json:"error_id,omitempty"`
	SessionID     string `json:"session_id,omitempty"`
	Timestamp     string `json:"timestamp,omitempty"`
}

// MessageEvent is the WA_EMBEDDED_SIGNUP message the popup posts to the
// opener (as a JSON string).
type MessageEvent struct {
	Data    MessageEventData `json:"data"`
	Type    string           `json:"type"`
	Event   string           `json:"event"`
	Version int              `json:"version,omitempty"`
}

// AuthResponse is FB.login's authResponse.
type AuthResponse struct {
	Code string `json:"code"`
}

// LoginResponse is what FB.login passes to its callback.
type LoginResponse struct {
	Status       string        `json:"status"` // "connected" or "unknown"
	AuthResponse *AuthResponse `json:"authResponse"`
}

// ESSession is the outcome of one Embedded Signup, exactly as a browser
// would receive it: the code (through the FB.login callback) and the
// message event. The ids say which state backs it (for coexistence the event
// carries no phone id, but a number was created).
type ESSession struct {
	Code             string        `json:"code,omitempty"`
	MessageEvent     MessageEvent  `json:"messageEvent"`
	MessageEventJSON string        `json:"messageEventJson"`
	LoginResponse    LoginResponse `json:"loginResponse"`
	BusinessID       string        `json:"businessId,omitempty"`
	WABAID           string        `json:"wabaId,omitempty"`
	PhoneNumberID    string        `json:"phoneNumberId,omitempty"`
	DisplayPhone     string        `json:"displayPhoneNumber,omitempty"`
}

// runSignup performs one Embedded Signup and, for a finish, creates the
// backing business, WABA, number, token and code.
func (s *Sandbox) runSignup(req ESSessionRequest) (ESSession, error) {
	for _, id := range []string{req.WABAID, req.PhoneNumberID, req.BusinessID} {
		if id != "" && !numericIDPattern.MatchString(id) {
			return ESSession{}, errorf("ids must be numeric strings, got %q", id)
		}
	}
	out := ESSession{LoginResponse: LoginResponse{Status: "unknown"}}
	ev := MessageEvent{Type: "WA_EMBEDDED_SIGNUP"}
	switch req.Scenario {
	case ScenarioCancel:
		step := cmp.Or(req.CancelStep, "PHONE_NUMBER_SETUP")
		if !slices.Contains(CancelSteps, step) {
			return ESSession{}, errorf("cancelStep must be one of %v", CancelSteps)
		}
		ev.Event, ev.Data.CurrentStep = EventCancel, step
	case ScenarioError:
		ev.Event = EventCancel
		ev.Data = MessageEventData{
			ErrorMessage: cmp.Or(req.ErrorMessage, defaultErrorMessage),
			ErrorID:      cmp.Or(req.ErrorID, "524126"),
			SessionID:    randomHex(15),
			Timestamp:    strconv.FormatInt(s.clock.Now().Unix(), 10),
		}
	case ScenarioErrorLegacy:
		ev.Event, ev.Data.ErrorMessage = EventError, cmp.Or(req.ErrorMessage, defaultErrorMessage)
	case ScenarioFinish, ScenarioFinishCoex, ScenarioFinishOnlyWABA, ScenarioFinishAppOnly:
		var err error
		if out, err = s.createSignupState(req); err != nil {
			return ESSession{}, err
		}
		ev = out.MessageEvent
	default:
		return ESSession{}, errorf("unknown scenario %q", req.Scenario)
	}
	out.MessageEvent = ev
	out.MessageEventJSON = mustJSON(ev)
	if out.Code != "" {
		out.LoginResponse = LoginResponse{Status: "connected", AuthResponse: &AuthResponse{Code: out.Code}}
		if s.cfg.EmitInstalledOnFinish && s.cfg.AppWebhookURL != "" {
			s.emitInBackground(EmitRequest{Field: "account_update", Event: "PARTNER_APP_INSTALLED", WABAID: out.WABAID})
		}
	}
	return out, nil
}

// createSignupState is the Meta side of a finished Embedded Signup.
func (s *Sandbox) createSignupState(req ESSessionRequest) (ESSession, error) {
	var out ESSession
	err := s.update(func(st *state) error {
		now := s.clock.Now()
		waba := st.WABAs[req.WABAID]
		if waba == nil && req.WABAID != "" && st.idTaken(req.WABAID) {
			return errorf("id %s is already used by another object", req.WABAID)
		}
		// The business: the WABA's owner when the WABA exists.
		bizID := req.BusinessID
		if waba != nil {
			if bizID != "" && bizID != waba.BusinessID {
				return errorf("WABA %s belongs to business %s, not %s", waba.ID, waba.BusinessID, bizID)
			}
			bizID = waba.BusinessID
		}
		biz := st.Businesses[bizID]
		if biz == nil {
			if bizID != "" && st.idTaken(bizID) {
				return errorf("id %s is already used by another object", bizID)
			}
			biz = &Business{ID: cmp.Or(bizID, st.newObjectID()), CreatedAt: now}
			biz.Name = cmp.Or(req.BusinessName, "Sandbox Business "+biz.ID[len(biz.ID)-4:])
			st.Businesses[biz.ID] = biz
		}
		if waba == nil {
			waba = &WABA{
				ID: cmp.Or(req.WABAID, st.newObjectID()), BusinessID: biz.ID,
				Currency: "USD", TimezoneID: "1", ReviewStatus: "APPROVED", Country: "US", Status: "ACTIVE",
				TemplateNamespace: randomHex(8) + "_" + randomHex(4) + "_" + randomHex(4) + "_" + randomHex(4) + "_" + randomHex(12),
				CreatedAt:         now, Seq: st.nextSeq(),
			}
			waba.Name = cmp.Or(req.WABAName, biz.Name+" WhatsApp")
			waba.SubscribedApps = []SubscribedApp{}
			st.WABAs[waba.ID] = waba
		}
		waba.GrantedAt = now
		out.BusinessID, out.WABAID = biz.ID, waba.ID

		if req.Scenario != ScenarioFinishOnlyWABA || req.PhoneNumberID != "" {
			p, err := s.onboardPhone(st, req, waba, biz, now)
			if err != nil {
				return err
			}
			out.PhoneNumberID, out.DisplayPhone = p.ID, p.DisplayPhoneNumber
		}

		tok := s.mintToken(st, waba, now)
		code := &Code{Value: newCode(), IssuedAt: now, Token: tok.Value, RedirectURI: req.RedirectURI}
		st.Codes[code.Value] = code
		out.Code = code.Value
		s.pruneCodes(st, now)

		ev := MessageEvent{Type: "WA_EMBEDDED_SIGNUP"}
		switch req.Scenario {
		case ScenarioFinish:
			ev.Event = EventFinish
			ev.Data = MessageEventData{PhoneNumberID: out.PhoneNumberID, WABAID: waba.ID, BusinessID: biz.ID}
		case ScenarioFinishAppOnly:
			ev.Event = EventFinishAppOnly
			ev.Data = MessageEventData{PhoneNumberID: out.PhoneNumberID, WABAID: waba.ID, BusinessID: biz.ID}
		case ScenarioFinishOnlyWABA:
			ev.Event, ev.Data.WABAID = EventFinishOnlyWABA, waba.ID
		case ScenarioFinishCoex:
			// Meta documents only waba_id here, plus the top-level version.
			ev.Event, ev.Data.WABAID, ev.Version = EventFinishCoex, waba.ID, 3
		}
		out.MessageEvent = ev
		return nil
	})
	if err == nil {
		s.log.Info("embedded signup finished", "scenario", req.Scenario, "waba_id", out.WABAID, "phone_number_id", out.PhoneNumberID)
	}
	return out, err
}

// onboardPhone creates the number, or re-onboards an existing one of the
// WABA. Coexistence numbers stay registered by the WhatsApp Business app.
func (s *Sandbox) onboardPhone(st *state, req ESSessionRequest, waba *WABA, biz *Business, now time.Time) (*Phone, error) {
	coex := req.Scenario == ScenarioFinishCoex
	p := st.Phones[req.PhoneNumberID]
	switch {
	case p != nil && p.WABAID != waba.ID:
		return nil, errorf("phone number %s belongs to WABA %s, not %s", p.ID, p.WABAID, waba.ID)
	case p == nil && req.PhoneNumberID != "" && st.idTaken(req.PhoneNumberID):
		return nil, errorf("id %s is already used by another object", req.PhoneNumberID)
	case p == nil:
		p = &Phone{
			ID: cmp.Or(req.PhoneNumberID, st.newObjectID()), WABAID: waba.ID,
			DisplayPhoneNumber: cmp.Or(req.DisplayPhoneNumber, "1555"+newDigits(7)),
			VerifiedName:       cmp.Or(req.VerifiedName, biz.Name),
			QualityRating:      "GREEN", NameStatus: "APPROVED", CodeVerificationStatus: "VERIFIED",
			MessagingLimitTier: "TIER_250", ThroughputLevel: "STANDARD", AccountMode: "LIVE",
			CreatedAt: now, Seq: st.nextSeq(),
		}
		st.Phones[p.ID] = p
	}
	p.OnboardedAt = now
	p.SMBSyncs = nil
	p.IsOnBizApp = coex
	switch {
	case coex:
		// The number keeps working in the WhatsApp Business app and is
		// already registered on Cloud API.
		p.Status, p.PlatformType = "CONNECTED", "CLOUD_API"
	case !p.Registered:
		p.Status, p.PlatformType = "PENDING", "NOT_APPLICABLE"
	}
	return p, nil
}

// mintToken creates the business token an Embedded Signup yields. It is
// granted the WABA just shared, then the business's earlier granted WABAs,
// newest grant first, as debug_token's target_ids show.
func (s *Sandbox) mintToken(st *state, waba *WABA, now time.Time) *Token {
	var siblings []*WABA
	for _, w := range st.WABAs {
		if w.BusinessID == waba.BusinessID && w.ID != waba.ID && !w.GrantedAt.IsZero() {
			siblings = append(siblings, w)
		}
	}
	slices.SortFunc(siblings, func(a, b *WABA) int {
		if c := b.GrantedAt.Compare(a.GrantedAt); c != 0 {
			return c
		}
		return int(b.Seq - a.Seq)
	})
	ids := []string{waba.ID}
	for _, w := range siblings {
		ids = append(ids, w.ID)
	}
	t := &Token{Value: newAccessToken(), Type: "SYSTEM_USER", UserID: newNumericID(), WABAIDs: ids, IssuedAt: now}
	if s.cfg.TokenLifetime > 0 {
		t.Type, t.ExpiresAt = "USER", now.Add(s.cfg.TokenLifetime)
	}
	st.Tokens[t.Value] = t
	return t
}

// pruneCodes drops codes that can no longer matter (long expired), so a
// long-running `dualhook dev` snapshot does not grow without bound.
func (s *Sandbox) pruneCodes(st *state, now time.Time) {
	for k, c := range st.Codes {
		if now.Sub(c.IssuedAt) > 24*time.Hour {
			delete(st.Codes, k)
		}
	}
}

func randomHex(n int) string {
	const hex = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = hex[randInt(16)]
	}
	return string(b)
}
