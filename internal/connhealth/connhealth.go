// Package connhealth is the health snapshot stored on a connection (SPEC §7.6), built from
// Meta's phone-number fields (a health refresh) or from a phone_number_quality_update webhook.
package connhealth

import (
	"encoding/json"
	"time"

	"github.com/dualhook/dualhook/metagraph"
)

// Snapshot is `health` of SPEC §7.6, stored as JSON in connections.health.
type Snapshot struct {
	HealthStatus   string    `json:"healthStatus"`   // AVAILABLE, LIMITED, BLOCKED or UNKNOWN
	QualityRating  string    `json:"qualityRating"`  // GREEN, YELLOW, RED, NA, UNKNOWN
	MessagingTier  string    `json:"messagingTier"`  // e.g. TIER_1K
	NameStatus     string    `json:"nameStatus"`     // APPROVED, PENDING_REVIEW, DECLINED, …
	AccountMode    string    `json:"accountMode"`    // SANDBOX or LIVE
	CanSendMessage *bool     `json:"canSendMessage"` // false when BLOCKED; null when Meta says nothing
	ErrorMessage   *string   `json:"errorMessage"`   // the first health error Meta reports, if any
	CheckedAt      time.Time `json:"checkedAt"`
}

// FromPhone builds a snapshot from a Graph phone-number read.
func FromPhone(p metagraph.PhoneNumber, now time.Time) Snapshot {
	s := Snapshot{
		HealthStatus: "UNKNOWN", QualityRating: p.QualityRating, MessagingTier: p.MessagingLimitTier,
		NameStatus: p.NameStatus, AccountMode: p.AccountMode, CheckedAt: now.UTC(),
	}
	if h := p.Health(); h != nil {
		if h.CanSendMessage != "" {
			s.HealthStatus = h.CanSendMessage
			can := h.CanSendMessage != "BLOCKED"
			s.CanSendMessage = &can
		}
		for _, e := range h.Entities {
			for _, issue := range e.Errors {
				if s.ErrorMessage == nil && issue.ErrorDescription != "" {
					msg := issue.ErrorDescription
					s.ErrorMessage = &msg
				}
			}
		}
	}
	return s
}

// JSON is the snapshot as stored.
func (s Snapshot) JSON() json.RawMessage {
	raw, _ := json.Marshal(s)
	return raw
}
