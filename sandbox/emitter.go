package sandbox

import (
	"bytes"
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"
)

// Partner events whose entry.id is the partner's business, not the WABA.
var partnerEvents = map[string]bool{
	"PARTNER_APP_INSTALLED": true, "PARTNER_APP_UNINSTALLED": true, "PARTNER_ADDED": true, "PARTNER_REMOVED": true,
}

// EmitRequest asks the sandbox to send one Meta app webhook
// (POST /_sandbox/meta/webhooks/emit).
type EmitRequest struct {
	// Field is the webhook field: "account_update" (default),
	// "phone_number_quality_update", or any other field given with Value.
	Field string `json:"field,omitempty"`
	// Event is value.event: PARTNER_APP_INSTALLED, PARTNER_APP_UNINSTALLED,
	// PARTNER_REMOVED, ACCOUNT_DELETED, ACCOUNT_OFFBOARDED,
	// ACCOUNT_RECONNECTED, …; for quality updates ONBOARDING or
	// THROUGHPUT_UPGRADE (default) and the legacy FLAGGED/UNFLAGGED/UPGRADE/DOWNGRADE.
	Event  string `json:"event,omitempty"`
	WABAID string `json:"wabaId,omitempty"`
	// PhoneNumberID selects the number of a quality update (default: the
	// WABA's newest number).
	PhoneNumberID string `json:"phoneNumberId,omitempty"`
	// CurrentLimit / OldLimit for phone_number_quality_update
	// (TIER_50 … TIER_UNLIMITED; default TIER_UNLIMITED).
	CurrentLimit string `json:"currentLimit,omitempty"`
	OldLimit     string `json:"oldLimit,omitempty"`
	// EntryID overrides entry[0].id.
	EntryID string `json:"entryId,omitempty"`
	// Value is merged over the generated value (or is the whole value for
	// other fields). Non-ASCII text in it shows Meta's \uXXXX escaping.
	Value map[string]any `json:"value,omitempty"`
	// URL overrides Config.AppWebhookURL for this delivery.
	URL string `json:"url,omitempty"`
	// Duplicate delivers the same bytes twice (Meta retries and duplicates).
	Duplicate bool `json:"duplicate,omitempty"`
	// BadSignature signs with the wrong key.
	BadSignature bool `json:"badSignature,omitempty"`
	// NoStateChange skips the event's effect on the sandbox state (by
	// default PARTNER_APP_UNINSTALLED / PARTNER_REMOVED revoke the tokens
	// granted the WABA and unsubscribe the app, a quality update changes
	// the number's tier, OFFBOARDED/RECONNECTED change a coexistence
	// number's status).
	NoStateChange bool `json:"noStateChange,omitempty"`
}

// Delivery is one POST of an emitted webhook.
type Delivery struct {
	Status int    `json:"status"` // 0 when no HTTP answer
	Error  string `json:"error,omitempty"`
}

// EmitResult tells what was sent: the exact body bytes and signature.
type EmitResult struct {
	URL        string     `json:"url"`
	Body       string     `json:"body"`
	Signature  string     `json:"signature"` // X-Hub-Signature-256 value
	Deliveries []Delivery `json:"deliveries"`
}

type webhookChange struct {
	Value map[string]any `json:"value"`
	Field string         `json:"field"`
}

type webhookEntry struct {
	ID      string          `json:"id"`
	Time    int64           `json:"time"`
	Changes []webhookChange `json:"changes"`
}

type webhookEnvelope struct {
	Object string         `json:"object"`
	Entry  []webhookEntry `json:"entry"`
}

// emit builds, signs and delivers one webhook, applying its state effects.
func (s *Sandbox) emit(ctx context.Context, req EmitRequest) (EmitResult, error) {
	req.Field = cmp.Or(req.Field, "account_update")
	target := cmp.Or(req.URL, s.cfg.AppWebhookURL)
	if target == "" {
		return EmitResult{}, errorf("no url: set Config.AppWebhookURL or give url")
	}
	entryID, value, err := s.webhookValue(req)
	if err != nil {
		return EmitResult{}, err
	}
	env := webhookEnvelope{Object: "whatsapp_business_account", Entry: []webhookEntry{{
		ID: cmp.Or(req.EntryID, entryID), Time: s.clock.Now().Unix(),
		Changes: []webhookChange{{Value: value, Field: req.Field}},
	}}}
	body, err := metaJSON(env)
	if err != nil {
		return EmitResult{}, err
	}
	key := s.cfg.AppSecret
	if req.BadSignature {
		key = "not-the-app-secret"
	}
	res := EmitResult{URL: target, Body: string(body), Signature: "sha256=" + hmacHex(sha256.New, key, body)}
	if !req.NoStateChange {
		s.applyWebhookEffects(req)
	}
	times := 1
	if req.Duplicate {
		times = 2
	}
	for range times {
		res.Deliveries = append(res.Deliveries, s.deliver(ctx, target, body, res.Signature, key))
	}
	s.log.Info("webhook emitted", "field", req.Field, "event", req.Event, "waba_id", req.WABAID, "url", target)
	return res, nil
}

// webhookValue builds entry.id and value the way Meta's examples show them.
func (s *Sandbox) webhookValue(req EmitRequest) (string, map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	waba := s.st.WABAs[req.WABAID]
	value := map[string]any{}
	entryID := req.WABAID
	switch req.Field {
	case "account_update":
		if req.Event == "" || req.WABAID == "" {
			return "", nil, errorf("account_update needs event and wabaId")
		}
		value["event"] = req.Event
		coexPhone := s.coexPhone(req.WABAID)
		switch {
		case req.Event == "PARTNER_REMOVED" && coexPhone != nil:
			// Meta's coexistence example: entry.id is the WABA and the
			// value names the number, without waba_info.
			value["phone_number"] = coexPhone.DisplayPhoneNumber
		default:
			info := map[string]any{"waba_id": req.WABAID}
			if waba != nil {
				info["owner_business_id"] = waba.BusinessID
			}
			if req.Event == "PARTNER_APP_INSTALLED" || req.Event == "PARTNER_APP_UNINSTALLED" {
				info["partner_app_id"] = s.cfg.AppID
			}
			value["waba_info"] = info
			if partnerEvents[req.Event] {
				entryID = s.cfg.PartnerBusinessID
			}
			if (req.Event == "ACCOUNT_OFFBOARDED" || req.Event == "ACCOUNT_RECONNECTED") && coexPhone != nil {
				value["phone_number"] = coexPhone.DisplayPhoneNumber
			}
		}
	case "phone_number_quality_update":
		if req.WABAID == "" {
			return "", nil, errorf("phone_number_quality_update needs wabaId")
		}
		p := s.st.Phones[req.PhoneNumberID]
		if p == nil && req.PhoneNumberID == "" {
			if phones := s.st.phonesOf(req.WABAID); len(phones) > 0 {
				p = phones[0]
			}
		}
		if p == nil {
			return "", nil, errorf("no phone number for the quality update: give phoneNumberId of a known number")
		}
		value["display_phone_number"] = p.DisplayPhoneNumber
		value["event"] = cmp.Or(req.Event, "THROUGHPUT_UPGRADE")
		value["current_limit"] = cmp.Or(req.CurrentLimit, "TIER_UNLIMITED")
		if req.OldLimit != "" {
			value["old_limit"] = req.OldLimit
		}
	default:
		if len(req.Value) == 0 {
			return "", nil, errorf("field %s needs value", req.Field)
		}
		if req.Event != "" {
			value["event"] = req.Event
		}
	}
	for k, v := range req.Value {
		value[k] = v
	}
	if entryID == "" && req.EntryID == "" {
		return "", nil, errorf("entryId or wabaId is required")
	}
	return entryID, value, nil
}

// coexPhone returns the WABA's coexistence number, if any. Callers hold s.mu.
func (s *Sandbox) coexPhone(wabaID string) *Phone {
	for _, p := range s.st.phonesOf(wabaID) {
		if p.IsOnBizApp {
			return p
		}
	}
	return nil
}

// applyWebhookEffects keeps the sandbox consistent with what it announced.
// Revoking the business token on uninstall/removal is a simulator choice
// (Meta does not document the exact behaviour).
func (s *Sandbox) applyWebhookEffects(req EmitRequest) {
	_ = s.update(func(st *state) error {
		switch {
		case req.Field == "account_update" && (req.Event == "PARTNER_APP_UNINSTALLED" || req.Event == "PARTNER_REMOVED"):
			for _, t := range st.Tokens {
				if t.grants(req.WABAID) {
					t.Revoked, t.RevokedSubcode = true, 458
				}
			}
			if w := st.WABAs[req.WABAID]; w != nil {
				w.SubscribedApps = deleteApp(w.SubscribedApps, s.cfg.AppID)
			}
		case req.Field == "account_update" && (req.Event == "ACCOUNT_OFFBOARDED" || req.Event == "ACCOUNT_RECONNECTED"):
			if p := s.coexPhone(req.WABAID); p != nil {
				p.Status = map[bool]string{true: "DISCONNECTED", false: "CONNECTED"}[req.Event == "ACCOUNT_OFFBOARDED"]
			}
		case req.Field == "phone_number_quality_update":
			p := st.Phones[req.PhoneNumberID]
			if p == nil {
				if phones := st.phonesOf(req.WABAID); len(phones) > 0 {
					p = phones[0]
				}
			}
			if p != nil {
				p.MessagingLimitTier = cmp.Or(req.CurrentLimit, "TIER_UNLIMITED")
			}
		default:
			return errNoChange
		}
		return nil
	})
}

func deleteApp(apps []SubscribedApp, appID string) []SubscribedApp {
	out := apps[:0]
	for _, a := range apps {
		if a.AppID != appID {
			out = append(out, a)
		}
	}
	return out
}

// deliver POSTs the exact bytes once, with Meta's headers.
func (s *Sandbox) deliver(ctx context.Context, target string, body []byte, sig256, key string) Delivery {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return Delivery{Error: err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "facebookexternalua")
	req.Header.Set("X-Hub-Signature-256", sig256)
	req.Header.Set("X-Hub-Signature", "sha1="+hmacHex(sha1.New, key, body))
	resp, err := s.http.Do(req)
	if err != nil {
		return Delivery{Error: err.Error()}
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	return Delivery{Status: resp.StatusCode}
}

// emitInBackground sends a webhook without blocking the caller (used when a
// finished signup announces PARTNER_APP_INSTALLED).
func (s *Sandbox) emitInBackground(req EmitRequest) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if _, err := s.emit(s.ctx, req); err != nil {
			s.log.Warn("background webhook failed", "event", req.Event, "error", err)
		}
	}()
}

func (s *Sandbox) handleEmit(w http.ResponseWriter, r *http.Request) {
	var req EmitRequest
	if !decodeBody(w, r, &req) {
		return
	}
	res, err := s.emit(r.Context(), req)
	if err != nil {
		controlError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// metaJSON serialises like Meta before signing: non-ASCII as lowercase
// \uXXXX escapes (surrogate pairs beyond the BMP) and "/" as "\/". A
// receiver that re-serialises instead of hashing the raw bytes fails here as
// it would in production.
func metaJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	raw := bytes.TrimRight(buf.Bytes(), "\n")
	var out strings.Builder
	for len(raw) > 0 {
		r, size := utf8.DecodeRune(raw)
		raw = raw[size:]
		switch {
		case r == '/':
			out.WriteString(`\/`)
		case r < utf8.RuneSelf:
			out.WriteRune(r)
		case r > 0xFFFF:
			r -= 0x10000
			fmt.Fprintf(&out, `\u%04x\u%04x`, 0xD800+(r>>10), 0xDC00+(r&0x3FF))
		default:
			fmt.Fprintf(&out, `\u%04x`, r)
		}
	}
	return []byte(out.String()), nil
}

func hmacHex(h func() hash.Hash, key string, body []byte) string {
	m := hmac.New(h, []byte(key))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// VerifyRequest asks the sandbox to verify the app's callback URL the way
// the App Dashboard does when the URL is saved: a hub.challenge GET carrying
// the app verify token.
type VerifyRequest struct {
	URL string `json:"url,omitempty"` // default Config.AppWebhookURL
}

// VerifyResult is the outcome; Error holds Meta's 2200 message on failure.
type VerifyResult struct {
	URL      string `json:"url"`
	Verified bool   `json:"verified"`
	Error    string `json:"error,omitempty"`
}

func (s *Sandbox) handleVerifyAppWebhook(w http.ResponseWriter, r *http.Request) {
	var req VerifyRequest
	if !decodeBody(w, r, &req) {
		return
	}
	target := cmp.Or(req.URL, s.cfg.AppWebhookURL)
	if target == "" {
		controlError(w, errorf("no url: set Config.AppWebhookURL or give url"))
		return
	}
	res := VerifyResult{URL: target, Verified: true}
	if gerr := s.verifyCallback(r.Context(), target, s.cfg.AppVerifyToken); gerr != nil {
		res.Verified, res.Error = false, gerr.Message
	}
	writeJSON(w, http.StatusOK, res)
}
