package domain

import (
	"encoding/json"
	"time"

	"github.com/dualhook/dualhook/internal/metawebhook"
)

// Coexistence statuses a connection takes from account_update (meta.md §4.3).
const (
	CoexistenceOnboarded  = "ONBOARDED"
	CoexistenceOffboarded = "OFFBOARDED"
)

// MetaEventInput is one accepted delivery, reduced to the changes to act on (no message-path
// field ever gets here).
type MetaEventInput struct {
	DeliveryHash string
	Changes      []metawebhook.Change
}

// MetaEventResult summarises what the delivery did.
type MetaEventResult struct {
	Disconnects    int
	Coexistence    int
	HealthUpdates  int
	ForwardedEvent []string `json:",omitempty"`
}

// WabaConnection is an active connection on a WABA.
type WabaConnection struct {
	ConnectionID string
	PartnerID    string
	TenantID     string
	WabaID       string
}

// CoexistenceInput sets the coexistence status of a WABA's coexistence connections (only the
// number's, when PhoneDigits is set).
type CoexistenceInput struct {
	WabaID      string
	PhoneDigits string
	Status      string
}

// QualityInput is a phone_number_quality_update for the number PhoneDigits on the WABA.
type QualityInput struct {
	WabaID      string
	PhoneDigits string
	Event       string
	Limit       string
	// At is when Meta produced the update: a snapshot checked later is not overwritten.
	At time.Time
}

// WabaEventTarget is one partner that receives a forwarded waba.<field> event.
type WabaEventTarget struct {
	EventID       string
	PartnerID     string
	TenantIDs     []string
	ConnectionIDs []string
}

// WabaEventInput stores one forwarded event per target.
type WabaEventInput struct {
	WabaID  string
	Field   string
	Value   json.RawMessage
	Targets []WabaEventTarget
}

// RemovalReason is the disconnect reason of an account_update event, or "" when the event does
// not remove the app.
func RemovalReason(event string) string {
	switch event {
	case metawebhook.EventPartnerAppUninstalled:
		return DisconnectReasonAppUninstalled
	case metawebhook.EventPartnerRemoved:
		return DisconnectReasonPartnerRemoved
	case metawebhook.EventAccountDeleted:
		return DisconnectReasonAccountDeleted
	}
	return ""
}
