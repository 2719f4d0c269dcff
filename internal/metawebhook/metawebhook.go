// Package metawebhook reads the webhooks Meta sends to this install's app URL (SPEC §11,
// meta.md §7): the X-Hub-Signature-256 check and the envelope, reduced to the changes this
// service acts on. Message-path fields (customers' messages, statuses, histories) are dropped
// here, before anything is stored or handed to Temporal: they are not ours to read.
package metawebhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"time"
	"unicode"
)

// SignatureHeader carries "sha256=<lowercase hex HMAC-SHA256(app secret, raw body)>".
const SignatureHeader = "X-Hub-Signature-256"

// Fields this service handles itself; every other non-message field is forwarded as
// waba.<field> (SPEC §8.2).
const (
	FieldAccountUpdate = "account_update"
	FieldQualityUpdate = "phone_number_quality_update"
)

// account_update events (meta.md §7.2) this service acts on.
const (
	EventPartnerAppUninstalled = "PARTNER_APP_UNINSTALLED"
	EventPartnerRemoved        = "PARTNER_REMOVED"
	EventAccountDeleted        = "ACCOUNT_DELETED"
	EventAccountOffboarded     = "ACCOUNT_OFFBOARDED"
	EventAccountReconnected    = "ACCOUNT_RECONNECTED"
)

// Change is one entry[].changes[] item, with what Meta scatters over the envelope resolved.
type Change struct {
	// EntryID is entry[].id: the WABA for most fields, the partner's business for partner
	// account_update events (meta.md §7.2).
	EntryID string
	// Time is entry[].time: when Meta produced the change (zero when absent).
	Time  time.Time
	Field string
	// Event is value.event.
	Event string
	// WabaID is value.waba_info.waba_id, else entry.id (Meta's coexistence PARTNER_REMOVED
	// carries the WABA as entry.id and no waba_info).
	WabaID string
	// PhoneDigits is value.phone_number or value.display_phone_number, digits only: webhooks
	// write numbers bare, Graph may format them.
	PhoneDigits string
	// Limit is the messaging tier of a quality update: current_limit, or
	// max_daily_conversations_per_business once Meta removes current_limit.
	Limit string
	// Value is value exactly as Meta sent it, for forwarding.
	Value json.RawMessage
}

// VerifySignature reports whether header is the signature of body under the app secret. An
// empty secret verifies nothing: without it anyone could forge a delivery.
func VerifySignature(appSecret string, body []byte, header string) bool {
	hexSig, ok := strings.CutPrefix(strings.TrimSpace(header), "sha256=")
	if appSecret == "" || !ok {
		return false
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, []byte(appSecret))
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

// Sign is what Meta sends for body (tests, and the dev stack's own emitters).
func Sign(appSecret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(appSecret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Hash names a delivery by its exact bytes: Meta's retries and duplicates send the same bytes,
// so they map to the same workflow id.
func Hash(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// MessagePath reports the fields that carry customers' traffic rather than account management.
// They reach the app URL only for WABAs without an override and are dropped unread.
func MessagePath(field string) bool {
	switch field {
	case "messages", "statuses", "message_echoes", "smb_message_echoes", "history", "smb_app_state_sync",
		"calls", "user_preferences", "message_reactions", "tracking_events", "automatic_events":
		return true
	}
	return false
}

// ErrNotJSON means a signed body that is not Meta's envelope: retrying it would not help.
var ErrNotJSON = errors.New("metawebhook: the body is not a webhook envelope")

type wireChange struct {
	Field  string          `json:"field"`
	Value  json.RawMessage `json:"value"`
	Object string          `json:"object"`
}

type wireEntry struct {
	ID      any          `json:"id"`
	Time    any          `json:"time"`
	Field   string       `json:"field"`
	Object  string       `json:"object"`
	Changes []wireChange `json:"changes"`
}

type wireEnvelope struct {
	Object string      `json:"object"`
	Entry  []wireEntry `json:"entry"`
}

type wireValue struct {
	Event              string `json:"event"`
	PhoneNumber        any    `json:"phone_number"`
	DisplayPhoneNumber any    `json:"display_phone_number"`
	CurrentLimit       string `json:"current_limit"`
	MaxDaily           string `json:"max_daily_conversations_per_business"`
	WabaInfo           struct {
		WabaID any `json:"waba_id"`
	} `json:"waba_info"`
}

// Parse reads a delivery and returns the changes to act on, in order. Message-path fields,
// objects other than whatsapp_business_account, and values that are not JSON objects are left
// out. Meta's examples sometimes put field/object one level off; both places are accepted.
func Parse(body []byte) ([]Change, error) {
	var env wireEnvelope
	if err := decode(body, &env); err != nil {
		return nil, ErrNotJSON
	}
	var out []Change
	for _, e := range env.Entry {
		object := firstNonEmpty(env.Object, e.Object)
		for _, ch := range e.Changes {
			field := firstNonEmpty(ch.Field, e.Field)
			if field == "" || MessagePath(field) || !wabaObject(firstNonEmpty(object, ch.Object)) {
				continue
			}
			if len(ch.Value) == 0 || ch.Value[0] != '{' {
				continue
			}
			var v wireValue
			_ = decode(ch.Value, &v) // fields of unexpected types stay empty
			c := Change{
				EntryID: text(e.ID), Field: field, Event: v.Event, Value: ch.Value,
				PhoneDigits: digits(text(v.PhoneNumber)), Limit: firstNonEmpty(v.CurrentLimit, v.MaxDaily),
			}
			if c.PhoneDigits == "" {
				c.PhoneDigits = digits(text(v.DisplayPhoneNumber))
			}
			c.WabaID = firstNonEmpty(text(v.WabaInfo.WabaID), c.EntryID)
			if sec, err := json.Number(text(e.Time)).Int64(); err == nil && sec > 0 {
				c.Time = time.Unix(sec, 0).UTC()
			}
			out = append(out, c)
		}
	}
	return out, nil
}

func wabaObject(object string) bool {
	return object == "" || object == "whatsapp_business_account"
}

// text renders an id Meta may send as a string or a number.
func text(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	}
	return ""
}

// decode keeps numbers as written: WABA ids are 15–16 digits, beyond float64's exact range.
func decode(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	return dec.Decode(v)
}

// Digits keeps the digits of a phone number.
func Digits(s string) string { return digits(s) }

func digits(s string) string {
	var b strings.Builder
	for _, r := range s {
		if unicode.IsDigit(r) && r < 128 {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// MaxAge is how old a change may be (entry[].time) and still be acted on. Meta retries a
// delivery it could not hand over for up to 36 hours, then drops it (meta.md §7.1); 48 hours
// keeps every genuine retry with 12 hours to spare for clock skew and queueing, and refuses a
// captured, validly signed body (say a PARTNER_REMOVED) replayed after that, when the
// numbers onboarded since would otherwise be disconnected. The dedupe records are kept at least
// this long (retention), so a replay inside the window is caught by the record instead.
const MaxAge = 48 * time.Hour

// Fresh splits changes into those produced within MaxAge of now and those older. A change
// without a time (Meta always sends entry.time) cannot prove its age and counts as stale.
func Fresh(changes []Change, now time.Time) (fresh, stale []Change) {
	for _, c := range changes {
		if c.Time.IsZero() || now.Sub(c.Time) > MaxAge {
			stale = append(stale, c)
			continue
		}
		fresh = append(fresh, c)
	}
	return fresh, stale
}
