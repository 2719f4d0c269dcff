package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
)

// routes wires every path under Prefix.
func (s *Sandbox) routes() *http.ServeMux {
	m := http.NewServeMux()
	p := Prefix
	m.HandleFunc(p+"graph/", s.serveGraph)

	m.HandleFunc("GET "+p+"sdk.js", s.handleSDK)
	m.HandleFunc("GET "+p+"en_US/sdk.js", s.handleSDK)
	m.HandleFunc("GET "+p+"dialog/es", s.handlePopup)
	m.HandleFunc("POST "+p+"dialog/es/complete", s.handlePopupComplete)
	m.HandleFunc("GET "+p+"demo", s.handleDemo)

	m.HandleFunc("POST "+p+"es/sessions", s.handleCreateSession)

	m.HandleFunc("GET "+p+"faults", s.handleListFaults)
	m.HandleFunc("POST "+p+"faults", s.handleAddFault)
	m.HandleFunc("DELETE "+p+"faults", s.handleClearFaults)
	m.HandleFunc("DELETE "+p+"faults/{id}", s.handleDeleteFault)
	m.HandleFunc("POST "+p+"faults/codes", s.handleCodeFault)
	m.HandleFunc("POST "+p+"faults/override-verification", s.handleOverrideFault)
	m.HandleFunc("POST "+p+"faults/numbers", s.handleNumberFault)
	m.HandleFunc("POST "+p+"faults/tokens", s.handleTokenFault)
	m.HandleFunc("POST "+p+"faults/wabas", s.handleWABAFault)
	m.HandleFunc("POST "+p+"faults/quota", s.handleQuotaFault)
	m.HandleFunc("POST "+p+"faults/clock", s.handleClock)

	m.HandleFunc("GET "+p+"clock", s.handleClock)
	m.HandleFunc("POST "+p+"clock", s.handleClock)
	m.HandleFunc("GET "+p+"calls", s.handleCalls)
	m.HandleFunc("DELETE "+p+"calls", s.handleCalls)
	m.HandleFunc("POST "+p+"webhooks/emit", s.handleEmit)
	m.HandleFunc("POST "+p+"webhooks/verify", s.handleVerifyAppWebhook)
	m.HandleFunc("GET "+p+"state", s.handleState)
	m.HandleFunc("POST "+p+"reset", s.handleReset)
	m.HandleFunc("GET "+p+"{$}", s.handleIndex)
	return m
}

const maxControlBody = 1 << 20

// decodeBody reads a JSON control request; an empty body is an empty object.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	data, err := io.ReadAll(io.LimitReader(r.Body, maxControlBody))
	if err == nil && len(strings.TrimSpace(string(data))) > 0 {
		err = json.Unmarshal(data, v)
	}
	if err != nil {
		controlError(w, errorf("invalid JSON body: %v", err))
		return false
	}
	return true
}

// badRequest and notFound are control-endpoint errors (400 and 404).
type badRequest struct{ msg string }

func (e badRequest) Error() string { return e.msg }

func errorf(format string, a ...any) error { return badRequest{fmt.Sprintf(format, a...)} }

type notFound struct{ msg string }

func (e notFound) Error() string { return e.msg }

// controlError renders control-endpoint errors (not Graph's envelope: these
// endpoints are the sandbox's own).
func controlError(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	var br badRequest
	var nf notFound
	switch {
	case errors.As(err, &br):
		status = http.StatusBadRequest
	case errors.As(err, &nf):
		status = http.StatusNotFound
	}
	writeJSON(w, status, map[string]any{"error": map[string]any{"message": err.Error()}})
}

func (s *Sandbox) handleCreateSession(w http.ResponseWriter, r *http.Request) {
	var req ESSessionRequest
	if !decodeBody(w, r, &req) {
		return
	}
	sess, err := s.runSignup(req)
	if err != nil {
		controlError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, sess)
}

// FaultList is GET /_sandbox/meta/faults.
type FaultList struct {
	Rules []Fault `json:"rules"`
	// OverrideVerificationFailures are pending forced failures, in order.
	OverrideVerificationFailures []string `json:"overrideVerificationFailures"`
	QuotaPerHour                 int      `json:"quotaPerHour,omitempty"`
}

func (s *Sandbox) handleListFaults(w http.ResponseWriter, r *http.Request) {
	s.faults.mu.Lock()
	out := FaultList{Rules: []Fault{}, OverrideVerificationFailures: append([]string{}, s.faults.overrideFails...)}
	for _, f := range s.faults.rules {
		out.Rules = append(out.Rules, *f)
	}
	s.faults.mu.Unlock()
	s.mu.Lock()
	out.QuotaPerHour = s.quota.perHour
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

func (s *Sandbox) handleAddFault(w http.ResponseWriter, r *http.Request) {
	var f Fault
	if !decodeBody(w, r, &f) {
		return
	}
	added, err := s.faults.add(f)
	if err != nil {
		controlError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, added)
}

// handleClearFaults removes every fault: rules, forced verification
// failures and the quota override.
func (s *Sandbox) handleClearFaults(w http.ResponseWriter, r *http.Request) {
	s.clearFaults()
	w.WriteHeader(http.StatusNoContent)
}

func (s *Sandbox) clearFaults() {
	s.faults.mu.Lock()
	s.faults.rules, s.faults.overrideFails = nil, nil
	s.faults.mu.Unlock()
	s.mu.Lock()
	s.quota.perHour = 0
	s.mu.Unlock()
}

func (s *Sandbox) handleDeleteFault(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.faults.mu.Lock()
	n := len(s.faults.rules)
	s.faults.rules = slices.DeleteFunc(s.faults.rules, func(f *Fault) bool { return f.ID == id })
	found := len(s.faults.rules) != n
	s.faults.mu.Unlock()
	if !found {
		controlError(w, notFound{"no fault " + id})
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// CodeFault expires or burns (marks used) an authorization code.
type CodeFault struct {
	Code   string `json:"code"`
	Action string `json:"action"` // "expire" or "burn"
}

func (s *Sandbox) handleCodeFault(w http.ResponseWriter, r *http.Request) {
	var req CodeFault
	if !decodeBody(w, r, &req) {
		return
	}
	err := s.update(func(st *state) error {
		c := st.Codes[req.Code]
		if c == nil {
			return notFound{"unknown code"}
		}
		switch req.Action {
		case "expire":
			c.Expired = true
		case "burn":
			c.Used = true
		default:
			return errorf(`action must be "expire" or "burn"`)
		}
		return nil
	})
	if err != nil {
		controlError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// OverrideFault makes the next Count override verifications fail
// (WABA and phone level) whatever the listener answers.
type OverrideFault struct {
	Count   int    `json:"count,omitempty"`   // default 1
	Failure string `json:"failure,omitempty"` // http_404 (default), http_500, wrong_challenge, timeout, connection_refused
}

func (s *Sandbox) handleOverrideFault(w http.ResponseWriter, r *http.Request) {
	var req OverrideFault
	if !decodeBody(w, r, &req) {
		return
	}
	if req.Failure == "" {
		req.Failure = VerifyFailHTTP404
	}
	if !slices.Contains([]string{VerifyFailHTTP404, VerifyFailHTTP500, VerifyFailWrongChallenge, VerifyFailTimeout, VerifyFailRefused}, req.Failure) {
		controlError(w, errorf("unknown failure %q", req.Failure))
		return
	}
	s.faults.mu.Lock()
	for range max(req.Count, 1) {
		s.faults.overrideFails = append(s.faults.overrideFails, req.Failure)
	}
	s.faults.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// NumberFault changes a number the way events outside onboarding would:
// registered elsewhere (another account took it), health fields, status.
// Nil fields are left alone.
type NumberFault struct {
	PhoneNumberID       string  `json:"phoneNumberId"`
	RegisteredElsewhere *bool   `json:"registeredElsewhere,omitempty"`
	QualityRating       *string `json:"qualityRating,omitempty"`
	NameStatus          *string `json:"nameStatus,omitempty"`
	Status              *string `json:"status,omitempty"`
	MessagingLimitTier  *string `json:"messagingLimitTier,omitempty"`
	// OnboardedAt moves the onboarding time (14-day register and 24-h sync windows).
	OnboardedAt *time.Time `json:"onboardedAt,omitempty"`
}

func (s *Sandbox) handleNumberFault(w http.ResponseWriter, r *http.Request) {
	var req NumberFault
	if !decodeBody(w, r, &req) {
		return
	}
	err := s.update(func(st *state) error {
		p := st.Phones[req.PhoneNumberID]
		if p == nil {
			return notFound{"unknown phone number " + req.PhoneNumberID}
		}
		set := func(dst *string, v *string) {
			if v != nil {
				*dst = *v
			}
		}
		if req.RegisteredElsewhere != nil {
			p.RegisteredElsewhere = *req.RegisteredElsewhere
		}
		set(&p.QualityRating, req.QualityRating)
		set(&p.NameStatus, req.NameStatus)
		set(&p.Status, req.Status)
		set(&p.MessagingLimitTier, req.MessagingLimitTier)
		if req.OnboardedAt != nil {
			p.OnboardedAt = *req.OnboardedAt
		}
		return nil
	})
	if err != nil {
		controlError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// TokenFault revokes, expires or restores tokens: one token, or every token
// granted a WABA.
type TokenFault struct {
	Token   string `json:"token,omitempty"`
	WABAID  string `json:"wabaId,omitempty"`
	Action  string `json:"action"`            // "revoke" (default), "expire", "restore"
	Subcode int    `json:"subcode,omitempty"` // 190 subcode when revoked (default 458)
}

func (s *Sandbox) handleTokenFault(w http.ResponseWriter, r *http.Request) {
	var req TokenFault
	if !decodeBody(w, r, &req) {
		return
	}
	var n int
	err := s.update(func(st *state) error {
		if req.Token == "" && req.WABAID == "" {
			return errorf("token or wabaId is required")
		}
		now := s.clock.Now()
		for _, t := range st.Tokens {
			if (req.Token != "" && t.Value != req.Token) || (req.WABAID != "" && !t.grants(req.WABAID)) {
				continue
			}
			n++
			switch req.Action {
			case "", "revoke":
				t.Revoked, t.RevokedSubcode = true, req.Subcode
			case "expire":
				t.ExpiresAt = now.Add(-time.Second)
			case "restore":
				t.Revoked, t.RevokedSubcode = false, 0
				if !t.ExpiresAt.IsZero() && s.cfg.TokenLifetime > 0 {
					t.ExpiresAt = now.Add(s.cfg.TokenLifetime)
				}
			default:
				return errorf(`action must be "revoke", "expire" or "restore"`)
			}
		}
		if n == 0 {
			return notFound{"no matching token"}
		}
		return nil
	})
	if err != nil {
		controlError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": n})
}

// WABAFault sets up a WABA as other partners left it: extra subscribed
// apps (with their own overrides) that GET subscribed_apps will list.
type WABAFault struct {
	WABAID          string          `json:"wabaId"`
	OtherApps       []SubscribedApp `json:"otherApps"`
	ClearOtherApps  bool            `json:"clearOtherApps,omitempty"`
	AccountReviewed string          `json:"accountReviewStatus,omitempty"`
}

func (s *Sandbox) handleWABAFault(w http.ResponseWriter, r *http.Request) {
	var req WABAFault
	if !decodeBody(w, r, &req) {
		return
	}
	err := s.update(func(st *state) error {
		wb := st.WABAs[req.WABAID]
		if wb == nil {
			return notFound{"unknown WABA " + req.WABAID}
		}
		if req.ClearOtherApps {
			wb.SubscribedApps = slices.DeleteFunc(wb.SubscribedApps, func(a SubscribedApp) bool { return a.AppID != s.cfg.AppID })
		}
		for _, a := range req.OtherApps {
			if a.AppID == "" || a.AppID == s.cfg.AppID {
				return errorf("other apps need an appId different from the sandbox app")
			}
			wb.SubscribedApps = append(wb.SubscribedApps, a)
		}
		if req.AccountReviewed != "" {
			wb.ReviewStatus = req.AccountReviewed
		}
		return nil
	})
	if err != nil {
		controlError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// QuotaFault overrides the per-WABA hourly quota (0 restores the defaults).
type QuotaFault struct {
	PerHour int `json:"perHour"`
}

func (s *Sandbox) handleQuotaFault(w http.ResponseWriter, r *http.Request) {
	var req QuotaFault
	if !decodeBody(w, r, &req) {
		return
	}
	if req.PerHour < 0 {
		controlError(w, errorf("perHour must not be negative"))
		return
	}
	s.mu.Lock()
	s.quota.perHour = req.PerHour
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// ClockRequest moves the sandbox clock. Advance is a Go duration ("31s",
// "72h"); Set an RFC 3339 instant; Freeze stops or restarts it.
type ClockRequest struct {
	Advance string     `json:"advance,omitempty"`
	Set     *time.Time `json:"set,omitempty"`
	Freeze  *bool      `json:"freeze,omitempty"`
}

// ClockState is the answer of the clock endpoint.
type ClockState struct {
	Now           time.Time `json:"now"`
	Frozen        bool      `json:"frozen"`
	OffsetSeconds float64   `json:"offsetSeconds"`
}

func (s *Sandbox) handleClock(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		var req ClockRequest
		if !decodeBody(w, r, &req) {
			return
		}
		var d time.Duration
		if req.Advance != "" {
			var err error
			if d, err = time.ParseDuration(req.Advance); err != nil {
				controlError(w, errorf("advance: %v", err))
				return
			}
		}
		if req.Freeze != nil {
			s.clock.Freeze(*req.Freeze)
		}
		if req.Set != nil {
			s.clock.Set(*req.Set)
		}
		s.clock.Advance(d)
		_ = s.update(func(*state) error { return nil }) // persist the new offset
	}
	writeJSON(w, http.StatusOK, ClockState{Now: s.clock.Now(), Frozen: s.clock.Frozen(), OffsetSeconds: s.clock.Offset().Seconds()})
}

// handleReset forgets all state, faults, calls and clock changes.
func (s *Sandbox) handleReset(w http.ResponseWriter, r *http.Request) {
	s.clearFaults()
	s.calls.clear()
	s.clock.Freeze(false)
	s.clock.Advance(-s.clock.Offset())
	_ = s.update(func(*state) error {
		*s.st = *newState()
		s.quota.calls = map[string][]time.Time{}
		return nil
	})
	w.WriteHeader(http.StatusNoContent)
}

func (s *Sandbox) handleIndex(w http.ResponseWriter, r *http.Request) {
	base := s.publicURL(r) + Prefix
	writeJSON(w, http.StatusOK, map[string]any{
		"name":    "Meta sandbox (WhatsApp Embedded Signup simulator)",
		"appId":   s.cfg.AppID,
		"graph":   base + "graph/v21.0/",
		"sdk":     base + "sdk.js",
		"demo":    base + "demo",
		"control": []string{"es/sessions", "faults", "calls", "clock", "state", "reset", "webhooks/emit", "webhooks/verify"},
		"configIds": map[string]string{
			"cloudApi": s.cfg.CloudAPIConfigID, "coexistence": s.cfg.CoexistenceConfigID,
		},
	})
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
