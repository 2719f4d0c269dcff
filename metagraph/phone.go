package metagraph

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// phoneFields is what PhoneNumbers and PhoneNumber ask for. Graph's
// defaults omit most of them (GET /{phone} returns only id,
// display_phone_number, verified_name, quality_rating), and an unknown
// field fails the whole call with code 100, so only fields meta.md §4.1
// documents are listed. messaging_limit_tier is deprecated in favour of
// whatsapp_business_manager_messaging_limit; it is kept because the
// service reports it (SPEC §7.6) and the new field's availability per
// version is undocumented.
const phoneFields = "id,display_phone_number,verified_name,quality_rating,name_status,status," +
	"platform_type,is_on_biz_app,messaging_limit_tier,health_status,code_verification_status," +
	"account_mode,last_onboarded_time"

// smb_app_data sync types (coexistence numbers, once each within 24 h of
// onboarding).
const (
	SyncTypeContacts = "smb_app_state_sync"
	SyncTypeHistory  = "history"
)

// PhoneNumber is a WhatsApp business phone number. Enumerations are kept
// as Meta's strings: their full value lists are undocumented (meta.md §4.1).
type PhoneNumber struct {
	ID                 string
	DisplayPhoneNumber string
	VerifiedName       string
	// QualityRating: GREEN, YELLOW, RED, NA, UNKNOWN.
	QualityRating string
	// NameStatus: APPROVED, AVAILABLE_WITHOUT_REVIEW, DECLINED, EXPIRED,
	// PENDING_REVIEW, NONE.
	NameStatus string
	// Status: CONNECTED, PENDING, DISCONNECTED, FLAGGED, …
	Status string
	// PlatformType: CLOUD_API, ON_PREMISE, NOT_APPLICABLE.
	PlatformType string
	// IsOnBizApp is true for a WhatsApp Business app (coexistence) number,
	// false when Meta says it is not, nil when Meta does not say — SPEC §6
	// step 2 then keeps the connection mode "unknown".
	IsOnBizApp         *bool
	MessagingLimitTier string
	// CodeVerificationStatus: VERIFIED, NOT_VERIFIED/UNVERIFIED, EXPIRED.
	CodeVerificationStatus string
	// AccountMode: SANDBOX or LIVE.
	AccountMode string
	// LastOnboardedTime is nil when absent or unparsable. Meta does not
	// document the order of phone_numbers; sort on this for "newest".
	LastOnboardedTime *time.Time
	// HealthStatus is Graph's health_status object as sent; see Health.
	HealthStatus json.RawMessage
}

// Health is the decoded health_status of a number (SPEC §7.6).
type Health struct {
	// CanSendMessage: AVAILABLE, LIMITED or BLOCKED, over all entities.
	CanSendMessage string         `json:"can_send_message"`
	Entities       []HealthEntity `json:"entities"`
}

// HealthEntity is one entity (PHONE_NUMBER, WABA, BUSINESS, APP) of
// health_status.
type HealthEntity struct {
	EntityType     string        `json:"entity_type"`
	ID             string        `json:"id"`
	CanSendMessage string        `json:"can_send_message"`
	Errors         []HealthIssue `json:"errors"`
	AdditionalInfo []string      `json:"additional_info"`
}

// HealthIssue explains why an entity cannot (fully) send.
type HealthIssue struct {
	ErrorCode        int    `json:"error_code"`
	ErrorDescription string `json:"error_description"`
	PossibleSolution string `json:"possible_solution"`
}

// Health decodes HealthStatus; nil when Meta sent none or it does not
// parse.
func (p PhoneNumber) Health() *Health {
	if len(p.HealthStatus) == 0 || string(p.HealthStatus) == "null" {
		return nil
	}
	var h Health
	if json.Unmarshal(p.HealthStatus, &h) != nil {
		return nil
	}
	return &h
}

// wirePhone is a number as Graph sends it.
type wirePhone struct {
	ID                     flexString      `json:"id"`
	DisplayPhoneNumber     string          `json:"display_phone_number"`
	VerifiedName           string          `json:"verified_name"`
	QualityRating          string          `json:"quality_rating"`
	NameStatus             string          `json:"name_status"`
	Status                 string          `json:"status"`
	PlatformType           string          `json:"platform_type"`
	IsOnBizApp             *flexBool       `json:"is_on_biz_app"`
	MessagingLimitTier     string          `json:"messaging_limit_tier"`
	CodeVerificationStatus string          `json:"code_verification_status"`
	AccountMode            string          `json:"account_mode"`
	LastOnboardedTime      string          `json:"last_onboarded_time"`
	HealthStatus           json.RawMessage `json:"health_status"`
}

func (w wirePhone) phone() PhoneNumber {
	p := PhoneNumber{
		ID:                     string(w.ID),
		DisplayPhoneNumber:     w.DisplayPhoneNumber,
		VerifiedName:           w.VerifiedName,
		QualityRating:          w.QualityRating,
		NameStatus:             w.NameStatus,
		Status:                 w.Status,
		PlatformType:           w.PlatformType,
		MessagingLimitTier:     w.MessagingLimitTier,
		CodeVerificationStatus: w.CodeVerificationStatus,
		AccountMode:            w.AccountMode,
		HealthStatus:           w.HealthStatus,
	}
	if w.IsOnBizApp != nil {
		b := bool(*w.IsOnBizApp)
		p.IsOnBizApp = &b
	}
	if w.LastOnboardedTime != "" {
		p.LastOnboardedTime = parseGraphTime(w.LastOnboardedTime)
	}
	return p
}

// PhoneNumbers lists every number of a WABA: GET /{waba}/phone_numbers,
// following paging.next until the last page. Order is Meta's.
func (c *Client) PhoneNumbers(ctx context.Context, token, wabaID string) ([]PhoneNumber, error) {
	if err := checkToken(opListPhoneNumbers, token); err != nil {
		return nil, err
	}
	if err := checkID(opListPhoneNumbers, "waba id", wabaID); err != nil {
		return nil, err
	}
	q := url.Values{}
	q.Set("fields", phoneFields)
	q.Set("limit", strconv.Itoa(c.pageSize))
	list, err := listAll[wirePhone](ctx, c, request{
		op: opListPhoneNumbers, method: http.MethodGet, path: wabaID + "/phone_numbers",
		query: q, token: token, idempotent: true,
	})
	if err != nil {
		return nil, err
	}
	out := make([]PhoneNumber, 0, len(list))
	for _, w := range list {
		out = append(out, w.phone())
	}
	return out, nil
}

// PhoneNumber reads one number: GET /{phone}?fields=…. The health refresh
// (SPEC §7.6) and the coexistence check (is_on_biz_app) use it.
func (c *Client) PhoneNumber(ctx context.Context, token, phoneID string) (PhoneNumber, error) {
	if err := checkToken(opGetPhoneNumber, token); err != nil {
		return PhoneNumber{}, err
	}
	if err := checkID(opGetPhoneNumber, "phone number id", phoneID); err != nil {
		return PhoneNumber{}, err
	}
	q := url.Values{}
	q.Set("fields", phoneFields)
	var w wirePhone
	err := c.do(ctx, request{
		op: opGetPhoneNumber, method: http.MethodGet, path: phoneID, query: q, token: token, idempotent: true,
	}, &w)
	if err != nil {
		return PhoneNumber{}, err
	}
	return w.phone(), nil
}

// Register registers a Cloud API number: POST /{phone}/register
// {"messaging_product":"whatsapp","pin"}. The PIN (6 digits, checked here
// so a malformed one costs no call) becomes the two-step verification PIN,
// or must equal it when one is set (133005).
//
// Every well-formed request counts toward Meta's 10 per number per rolling
// 72 h (133016, not transient: the number is locked). Coexistence numbers
// must not be registered. See IsAlreadyRegistered for the ambiguous
// "already registered or in invalid state" answer.
func (c *Client) Register(ctx context.Context, token, phoneID, pin string) error {
	if err := checkToken(opRegister, token); err != nil {
		return err
	}
	if err := checkID(opRegister, "phone number id", phoneID); err != nil {
		return err
	}
	if len(pin) != 6 || !isDigits(pin) {
		return argError(opRegister, "pin must be exactly 6 digits")
	}
	return c.doSuccess(ctx, request{
		op: opRegister, method: http.MethodPost, path: phoneID + "/register", token: token,
		body:    map[string]string{"messaging_product": "whatsapp", "pin": pin},
		secrets: []string{pin}, idempotent: true,
	})
}

// SMBAppData asks Meta to sync a coexistence number's WhatsApp Business
// app data: POST /{phone}/smb_app_data {"messaging_product":"whatsapp",
// "sync_type"}, with SyncTypeContacts ("smb_app_state_sync") or
// SyncTypeHistory ("history"). Each type works once per onboarding
// (IsAlreadySynced: 2593107, or code 4 "sync request limit exceeded";
// neither is transient) and only within 24 h of it (2593108, final: the
// number must be onboarded again). The results arrive as webhooks.
func (c *Client) SMBAppData(ctx context.Context, token, phoneID, syncType string) error {
	if err := checkToken(opSMBAppData, token); err != nil {
		return err
	}
	if err := checkID(opSMBAppData, "phone number id", phoneID); err != nil {
		return err
	}
	if syncType != SyncTypeContacts && syncType != SyncTypeHistory {
		return argError(opSMBAppData, "sync type must be "+SyncTypeContacts+" or "+SyncTypeHistory)
	}
	return c.doSuccess(ctx, request{
		op: opSMBAppData, method: http.MethodPost, path: phoneID + "/smb_app_data", token: token,
		body:       map[string]string{"messaging_product": "whatsapp", "sync_type": syncType},
		idempotent: true,
	})
}
