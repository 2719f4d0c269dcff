package sandbox

import (
	"net/http"
	"slices"
	"time"
)

// StateView is GET /_sandbox/meta/state: everything the sandbox holds, with
// secrets (tokens, codes, PINs, verify tokens) shortened to a redacted
// prefix. Lists are newest first.
type StateView struct {
	Now        time.Time   `json:"now"`
	App        AppView     `json:"app"`
	Businesses []Business  `json:"businesses"`
	WABAs      []WABAView  `json:"wabas"`
	Phones     []PhoneView `json:"phoneNumbers"`
	Codes      []CodeView  `json:"codes"`
	Tokens     []TokenView `json:"tokens"`
}

// AppView describes the simulated app (no secret).
type AppView struct {
	ID                  string `json:"id"`
	Name                string `json:"name"`
	DefaultCallbackURL  string `json:"defaultCallbackUrl,omitempty"`
	CloudAPIConfigID    string `json:"cloudApiConfigId"`
	CoexistenceConfigID string `json:"coexistenceConfigId"`
	PartnerBusinessID   string `json:"partnerBusinessId"`
}

// SubscribedAppView is a subscription without its verify token.
type SubscribedAppView struct {
	AppID          string `json:"appId"`
	AppName        string `json:"appName"`
	OverrideURL    string `json:"overrideUrl,omitempty"`
	HasVerifyToken bool   `json:"hasVerifyToken"`
}

// WABAView is a WABA in the state dump.
type WABAView struct {
	ID             string              `json:"id"`
	BusinessID     string              `json:"businessId"`
	Name           string              `json:"name"`
	ReviewStatus   string              `json:"accountReviewStatus"`
	SubscribedApps []SubscribedAppView `json:"subscribedApps"`
	CreatedAt      time.Time           `json:"createdAt"`
	GrantedAt      time.Time           `json:"grantedAt"`
}

// PhoneView is a number in the state dump.
type PhoneView struct {
	ID                  string               `json:"id"`
	WABAID              string               `json:"wabaId"`
	DisplayPhoneNumber  string               `json:"displayPhoneNumber"`
	VerifiedName        string               `json:"verifiedName"`
	QualityRating       string               `json:"qualityRating"`
	NameStatus          string               `json:"nameStatus"`
	Status              string               `json:"status"`
	MessagingLimitTier  string               `json:"messagingLimitTier"`
	IsOnBizApp          bool                 `json:"isOnBizApp"`
	PlatformType        string               `json:"platformType"`
	Registered          bool                 `json:"registered"`
	HasPIN              bool                 `json:"hasPin"`
	RegisteredElsewhere bool                 `json:"registeredElsewhere"`
	RegisterAttempts    int                  `json:"registerAttempts72h"`
	DeregisterAttempts  int                  `json:"deregisterAttempts72h"`
	OnboardedAt         time.Time            `json:"onboardedAt"`
	SMBSyncs            map[string]time.Time `json:"smbSyncs,omitempty"`
	OverrideURL         string               `json:"overrideUrl,omitempty"`
}

// CodeView is an authorization code, redacted.
type CodeView struct {
	Code     string    `json:"code"`
	IssuedAt time.Time `json:"issuedAt"`
	Used     bool      `json:"used"`
	Expired  bool      `json:"expired"`
}

// TokenView is a token, redacted.
type TokenView struct {
	Token     string    `json:"token"`
	Type      string    `json:"type"`
	WABAIDs   []string  `json:"wabaIds"`
	IssuedAt  time.Time `json:"issuedAt"`
	ExpiresAt time.Time `json:"expiresAt,omitzero"`
	Revoked   bool      `json:"revoked"`
}

// View returns the current state, redacted, for in-process tests.
func (s *Sandbox) View() StateView {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	v := StateView{
		Now: now,
		App: AppView{
			ID: s.cfg.AppID, Name: s.cfg.AppName, DefaultCallbackURL: s.cfg.AppWebhookURL,
			CloudAPIConfigID: s.cfg.CloudAPIConfigID, CoexistenceConfigID: s.cfg.CoexistenceConfigID,
			PartnerBusinessID: s.cfg.PartnerBusinessID,
		},
		Businesses: []Business{}, WABAs: []WABAView{}, Phones: []PhoneView{}, Codes: []CodeView{}, Tokens: []TokenView{},
	}
	for _, b := range s.st.Businesses {
		v.Businesses = append(v.Businesses, *b)
	}
	slices.SortFunc(v.Businesses, func(a, b Business) int { return b.CreatedAt.Compare(a.CreatedAt) })
	var wabas []*WABA
	for _, w := range s.st.WABAs {
		wabas = append(wabas, w)
	}
	slices.SortFunc(wabas, func(a, b *WABA) int { return int(b.Seq - a.Seq) })
	for _, w := range wabas {
		wv := WABAView{ID: w.ID, BusinessID: w.BusinessID, Name: w.Name, ReviewStatus: w.ReviewStatus,
			CreatedAt: w.CreatedAt, GrantedAt: w.GrantedAt, SubscribedApps: []SubscribedAppView{}}
		for _, a := range w.SubscribedApps {
			wv.SubscribedApps = append(wv.SubscribedApps, SubscribedAppView{
				AppID: a.AppID, AppName: a.AppName, OverrideURL: a.OverrideURL, HasVerifyToken: a.VerifyToken != "",
			})
		}
		v.WABAs = append(v.WABAs, wv)
	}
	var phones []*Phone
	for _, p := range s.st.Phones {
		phones = append(phones, p)
	}
	slices.SortFunc(phones, func(a, b *Phone) int { return int(b.Seq - a.Seq) })
	for _, p := range phones {
		_, reg := attemptsSince(slices.Clone(p.RegisterAttempts), now.Add(-registerWindow))
		_, dereg := attemptsSince(slices.Clone(p.DeregisterAttempts), now.Add(-registerWindow))
		v.Phones = append(v.Phones, PhoneView{
			ID: p.ID, WABAID: p.WABAID, DisplayPhoneNumber: p.DisplayPhoneNumber, VerifiedName: p.VerifiedName,
			QualityRating: p.QualityRating, NameStatus: p.NameStatus, Status: p.Status,
			MessagingLimitTier: p.MessagingLimitTier, IsOnBizApp: p.IsOnBizApp, PlatformType: p.PlatformType,
			Registered: p.Registered, HasPIN: p.PIN != "", RegisteredElsewhere: p.RegisteredElsewhere,
			RegisterAttempts: reg, DeregisterAttempts: dereg, OnboardedAt: p.OnboardedAt,
			SMBSyncs: p.SMBSyncs, OverrideURL: p.OverrideURL,
		})
	}
	for _, c := range s.st.Codes {
		v.Codes = append(v.Codes, CodeView{Code: redact(c.Value), IssuedAt: c.IssuedAt, Used: c.Used,
			Expired: c.Expired || now.Sub(c.IssuedAt) > codeLifetime})
	}
	slices.SortFunc(v.Codes, func(a, b CodeView) int { return b.IssuedAt.Compare(a.IssuedAt) })
	for _, t := range s.st.Tokens {
		v.Tokens = append(v.Tokens, TokenView{Token: redact(t.Value), Type: t.Type, WABAIDs: t.WABAIDs,
			IssuedAt: t.IssuedAt, ExpiresAt: t.ExpiresAt, Revoked: t.Revoked})
	}
	slices.SortFunc(v.Tokens, func(a, b TokenView) int { return b.IssuedAt.Compare(a.IssuedAt) })
	return v
}

func (s *Sandbox) handleState(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.View())
}
