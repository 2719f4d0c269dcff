package domain

import "time"

// Disconnect reasons (SPEC §7.4, §11), stored as disconnect_reason and sent in the event.
const (
	DisconnectReasonAPI            = "api"
	DisconnectReasonPartnerRemoved = "meta_partner_removed"
	DisconnectReasonAppUninstalled = "meta_app_uninstalled"
	DisconnectReasonAccountDeleted = "meta_account_deleted"
)

// ConnectionDisconnected is the status of a disconnected connection (SPEC §7.1).
const ConnectionDisconnected = "disconnected"

// MetaRemoved reports whether the reason means Meta already removed the app from the WABA, so
// the DELETE at Meta is a courtesy whose failure changes nothing.
func MetaRemoved(reason string) bool {
	switch reason {
	case DisconnectReasonPartnerRemoved, DisconnectReasonAppUninstalled, DisconnectReasonAccountDeleted:
		return true
	}
	return false
}

// DisconnectInput starts a DisconnectWorkflow.
type DisconnectInput struct {
	ConnectionID string
	Reason       string
}

// DisconnectTarget is what the workflow needs to know about the connection (and what its
// starters put in the search attributes).
type DisconnectTarget struct {
	ConnectionID string
	PartnerID    string
	TenantID     string
	WabaID       string
	Status       string
	// Found is false for an id that does not exist (nothing to do).
	Found bool
}

// DisconnectStep is the input of the Meta step and of the commit.
type DisconnectStep struct {
	ConnectionID string
	WabaID       string
	Reason       string
	// Holder is the workflow id holding the WABA's claim.
	Holder  string
	EventID string
}

// UnsubscribeResult says what the Meta step did.
type UnsubscribeResult struct {
	// Siblings counts the other active connections on the WABA; with any, Meta is left alone.
	Siblings int
	// Unsubscribed: the DELETE was sent and Meta accepted it or said it was already gone.
	Unsubscribed bool
}

// DisconnectCommit is the commit's outcome.
type DisconnectCommit struct {
	// Disconnected is false when the connection was already disconnected (no event stored).
	Disconnected bool
}

// DisconnectResult is the workflow's result.
type DisconnectResult struct {
	Disconnected bool
	Unsubscribed bool
	EventID      string `json:",omitempty"`
}

// Heartbeat statuses (SPEC §7.1).
const (
	HeartbeatOK      = "OK"
	HeartbeatDueSoon = "DUE_SOON"
	HeartbeatOverdue = "OVERDUE"
	HeartbeatUnknown = "UNKNOWN"
)

// SPEC §7.6's heartbeat periods; the worker's configuration may change them (tests compress
// them).
const (
	DefaultHeartbeatPeriod        = 13 * 24 * time.Hour
	DefaultHeartbeatDueSoonBefore = 3 * 24 * time.Hour
)

// HeartbeatInput starts (and continues) the workflow.
type HeartbeatInput struct {
	ConnectionID string
	PartnerID    string
	TenantID     string
	// Period and DueSoonBefore override the worker's configuration when set (tests use this);
	// zero takes the configured values, read afresh by every run.
	Period        time.Duration `json:",omitempty"`
	DueSoonBefore time.Duration `json:",omitempty"`
}

// HeartbeatState is a connection's heartbeat as committed, plus the periods in force.
type HeartbeatState struct {
	ConnectionID string
	// Applies is false when the connection is not (any more) an active coexistence connection:
	// the workflow then ends.
	Applies         bool
	Status          string
	LastConfirmedAt time.Time
	NextDueAt       time.Time
	Period          time.Duration
	DueSoonBefore   time.Duration
}

// Activity inputs.
type (
	// HeartbeatLoadInput reads the state (and aligns the deadline with the period).
	HeartbeatLoadInput struct {
		ConnectionID  string
		Period        time.Duration `json:",omitempty"`
		DueSoonBefore time.Duration `json:",omitempty"`
	}
	// HeartbeatTransitionInput moves the status when nobody confirmed since LastConfirmedAt.
	HeartbeatTransitionInput struct {
		ConnectionID    string
		LastConfirmedAt time.Time
		Status          string
		EventID         string
	}
	// HeartbeatTransition is the state after a transition and whether its event was stored.
	HeartbeatTransition struct {
		State   HeartbeatState
		Emitted bool
	}
	// HeartbeatConfirmInput commits a confirmation.
	HeartbeatConfirmInput struct {
		ConnectionID string
		EventID      string
		Period       time.Duration
	}
)

// ModeInput starts (and continues) the workflow.
type ModeInput struct {
	ConnectionID string
	PartnerID    string
	TenantID     string
	// Delay is the wait before the next question (carried across continue-as-new); MaxDelay
	// caps the doubling. Zero takes the defaults.
	Delay    time.Duration `json:",omitempty"`
	MaxDelay time.Duration `json:",omitempty"`
}

// ConnectionStep names a connection for its activities.
type ConnectionStep struct {
	ConnectionID string
}

// ModeCheck is what Meta says about a connection's number now.
type ModeCheck struct {
	// Pending is false when there is nothing left to resolve: the connection is not active, or
	// its mode is known already.
	Pending bool
	// Mode is ModeUnknown while Meta does not say.
	Mode string
}

// ModeResolveInput commits a resolved mode.
type ModeResolveInput struct {
	ConnectionID string
	Mode         string
	EventID      string
}

// Connection modes (SPEC §7.1).
const (
	ModeUnknown     = "unknown"
	ModeCoexistence = "coexistence"
	ModeCloudAPI    = "cloud_api"
)

// Reasons a connection operation is refused with, besides the onboarding ones. Like those, they
// travel as the Type of the activities' ApplicationErrors and equal the API's error codes.
const (
	ReasonConnectionDisconnected = "connection_disconnected"
	ReasonMetaTokenExpired       = "meta_token_expired"
	ReasonHeartbeatNotApplicable = "heartbeat_not_applicable"
)

// WebhookUpdateInput names the stored update; everything else is read from PostgreSQL.
type WebhookUpdateInput struct {
	WabaID       string
	N            int64
	ConnectionID string
	PartnerID    string
	TenantID     string
}

// WebhookUpdateOutcome is what the `result` Update and the workflow answer.
type WebhookUpdateOutcome struct {
	Applied               bool
	Reason                string   `json:",omitempty"`
	Message               string   `json:",omitempty"`
	AffectedConnectionIDs []string `json:",omitempty"`
}

// WebhookUpdateStep is the input of the update's activities.
type WebhookUpdateStep struct {
	WabaID  string
	N       int64
	Holder  string
	EventID string `json:",omitempty"`
}

// WebhookUpdateEnd records a refused update.
type WebhookUpdateEnd struct {
	WabaID  string
	N       int64
	Reason  string
	Message string
}
