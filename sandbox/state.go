package sandbox

import (
	"slices"
	"time"
)

// The state is kept the way Meta keeps it, in a single struct guarded by
// Sandbox.mu. Field names are exported only so the snapshot can be JSON.

// Business is a Meta business portfolio.
type Business struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"createdAt"`
}

// SubscribedApp is one app subscribed to a WABA's webhooks, with that app's
// optional WABA-level override. VerifyToken is only stored for the override.
type SubscribedApp struct {
	AppID       string `json:"appId"`
	AppName     string `json:"appName"`
	OverrideURL string `json:"overrideUrl,omitempty"`
	VerifyToken string `json:"verifyToken,omitempty"`
}

// WABA is a WhatsApp Business Account.
type WABA struct {
	ID                string          `json:"id"`
	BusinessID        string          `json:"businessId"`
	Name              string          `json:"name"`
	Currency          string          `json:"currency"`
	TimezoneID        string          `json:"timezoneId"`
	TemplateNamespace string          `json:"templateNamespace"`
	ReviewStatus      string          `json:"reviewStatus"`
	Country           string          `json:"country"`
	Status            string          `json:"status"`
	SubscribedApps    []SubscribedApp `json:"subscribedApps"`
	CreatedAt         time.Time       `json:"createdAt"`
	// GrantedAt is the last time an Embedded Signup granted this WABA to the
	// app; tokens list their WABAs newest grant first.
	GrantedAt time.Time `json:"grantedAt"`
	Seq       int64     `json:"seq"`
}

// Phone is a business phone number.
type Phone struct {
	ID                     string      `json:"id"`
	WABAID                 string      `json:"wabaId"`
	DisplayPhoneNumber     string      `json:"displayPhoneNumber"`
	VerifiedName           string      `json:"verifiedName"`
	QualityRating          string      `json:"qualityRating"`
	NameStatus             string      `json:"nameStatus"`
	Status                 string      `json:"status"`
	CodeVerificationStatus string      `json:"codeVerificationStatus"`
	MessagingLimitTier     string      `json:"messagingLimitTier"`
	ThroughputLevel        string      `json:"throughputLevel"`
	AccountMode            string      `json:"accountMode"`
	IsOnBizApp             bool        `json:"isOnBizApp"`
	PlatformType           string      `json:"platformType"`
	Registered             bool        `json:"registered"`
	PIN                    string      `json:"pin,omitempty"` // two-step verification PIN
	RegisteredElsewhere    bool        `json:"registeredElsewhere,omitempty"`
	RegisterAttempts       []time.Time `json:"registerAttempts,omitempty"`
	DeregisterAttempts     []time.Time `json:"deregisterAttempts,omitempty"`
	RegisteredAt           time.Time   `json:"registeredAt,omitzero"`
	// OnboardedAt is when Embedded Signup last completed for the number: the
	// 14-day register window and the 24-h smb_app_data window count from it.
	OnboardedAt   time.Time            `json:"onboardedAt"`
	SMBSyncs      map[string]time.Time `json:"smbSyncs,omitempty"`
	OverrideURL   string               `json:"overrideUrl,omitempty"` // phone-level webhook override
	OverrideToken string               `json:"overrideToken,omitempty"`
	CreatedAt     time.Time            `json:"createdAt"`
	Seq           int64                `json:"seq"`
}

// Code is an authorization code returned through FB.login. It is bound to
// the token it mints: exchanging it returns that token, once.
type Code struct {
	Value       string    `json:"value"`
	IssuedAt    time.Time `json:"issuedAt"`
	Used        bool      `json:"used"`
	Expired     bool      `json:"expired,omitempty"` // forced by a fault knob
	RedirectURI string    `json:"redirectUri,omitempty"`
	Token       string    `json:"token"`
}

// Token is an access token (the "business integration system user access
// token" Embedded Signup produces).
type Token struct {
	Value    string    `json:"value"`
	Type     string    `json:"type"` // USER or SYSTEM_USER
	UserID   string    `json:"userId"`
	WABAIDs  []string  `json:"wabaIds"` // granted WABAs, newest grant first
	IssuedAt time.Time `json:"issuedAt"`
	// ExpiresAt zero means "never" (Meta reports expires_at: 0).
	ExpiresAt time.Time `json:"expiresAt,omitzero"`
	Revoked   bool      `json:"revoked,omitempty"`
	// RevokedSubcode is the 190 subcode a revoked token answers with
	// (458: app not installed / user removed the app).
	RevokedSubcode int `json:"revokedSubcode,omitempty"`
}

// state is everything the snapshot persists.
type state struct {
	Businesses map[string]*Business `json:"businesses"`
	WABAs      map[string]*WABA     `json:"wabas"`
	Phones     map[string]*Phone    `json:"phones"`
	Codes      map[string]*Code     `json:"codes"`
	Tokens     map[string]*Token    `json:"tokens"`
	Seq        int64                `json:"seq"`
	// ClockOffset lets a restarted `dualhook dev` keep codes and windows
	// consistent with the time the tests had moved to.
	ClockOffset time.Duration `json:"clockOffset"`
}

func newState() *state {
	return &state{
		Businesses: map[string]*Business{},
		WABAs:      map[string]*WABA{},
		Phones:     map[string]*Phone{},
		Codes:      map[string]*Code{},
		Tokens:     map[string]*Token{},
	}
}

func (st *state) nextSeq() int64 {
	st.Seq++
	return st.Seq
}

// idTaken reports whether any object already uses id; Graph ids are global.
func (st *state) idTaken(id string) bool {
	_, b := st.Businesses[id]
	_, w := st.WABAs[id]
	_, p := st.Phones[id]
	return b || w || p
}

func (st *state) newObjectID() string {
	for {
		id := newNumericID()
		if !st.idTaken(id) {
			return id
		}
	}
}

// phonesOf returns the WABA's numbers, newest first (Seq breaks ties when the
// clock is frozen).
func (st *state) phonesOf(wabaID string) []*Phone {
	var out []*Phone
	for _, p := range st.Phones {
		if p.WABAID == wabaID {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b *Phone) int { return int(b.Seq - a.Seq) })
	return out
}

// wabaHasRegisteredNumber decides the Graph quota tier (200 vs 5,000 calls
// an hour).
func (st *state) wabaHasRegisteredNumber(wabaID string) bool {
	for _, p := range st.Phones {
		if p.WABAID == wabaID && (p.Registered || p.IsOnBizApp) {
			return true
		}
	}
	return false
}

func (w *WABA) subscription(appID string) *SubscribedApp {
	for i := range w.SubscribedApps {
		if w.SubscribedApps[i].AppID == appID {
			return &w.SubscribedApps[i]
		}
	}
	return nil
}

// grants reports whether the token was granted the WABA.
func (t *Token) grants(wabaID string) bool { return slices.Contains(t.WABAIDs, wabaID) }

// attemptsSince counts attempts at or after since, and drops older ones so
// the slices stay short.
func attemptsSince(attempts []time.Time, since time.Time) ([]time.Time, int) {
	kept := attempts[:0]
	for _, a := range attempts {
		if !a.Before(since) {
			kept = append(kept, a)
		}
	}
	return kept, len(kept)
}
