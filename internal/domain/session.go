package domain

import "time"

// Session statuses (SPEC §4.5).
const (
	StatusPending    = "pending"
	StatusStarted    = "started"
	StatusProcessing = "processing"
	StatusCompleted  = "completed"
	StatusFailed     = "failed"
	StatusCancelled  = "cancelled"
	StatusExpired    = "expired"
)

// Failure reasons (SPEC §6) double as the Type of the activities' ApplicationErrors, so an error
// carries its stable code from where it arises.
const (
	ReasonExpired                = "expired"
	ReasonCancelled              = "cancelled"
	ReasonUserError              = "user_error"
	ReasonWabaWebhookConflict    = "waba_webhook_conflict"
	ReasonNumberAlreadyConnected = "number_already_connected"
	ReasonWebhookSubscribeFailed = "webhook_subscribe_failed"
	ReasonOAuthExchangeFailed    = "oauth_exchange_failed"
	ReasonDiscoveryFailed        = "discovery_failed"
	ReasonRegistrationFailed     = "registration_failed"
	ReasonMetaUnavailable        = "meta_unavailable"
	ReasonInternalError          = "internal_error"
)

// ErrorCategory maps a failure reason to its errorCategory (SPEC §6).
func ErrorCategory(reason string) string {
	switch reason {
	case ReasonExpired:
		return "timeout"
	case ReasonCancelled, ReasonUserError:
		return "user"
	case ReasonWabaWebhookConflict, ReasonNumberAlreadyConnected:
		return "conflict"
	case ReasonWebhookSubscribeFailed:
		return "configuration"
	case ReasonOAuthExchangeFailed, ReasonDiscoveryFailed, ReasonRegistrationFailed, ReasonMetaUnavailable:
		return "meta"
	}
	return "internal"
}

// Embedded Signup events the page reports (meta.md §1.4).
const (
	EventFinish            = "FINISH"
	EventFinishOnlyWaba    = "FINISH_ONLY_WABA"
	EventFinishCoexistence = "FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING"
	EventCancel            = "CANCEL"
	EventError             = "ERROR"
)

// OnboardingInput starts the workflow. No secret travels here or anywhere in this workflow's
// payloads: codes, tokens and PINs stay encrypted in PostgreSQL and move by reference (SPEC §12).
type OnboardingInput struct {
	SessionID   string
	PartnerID   string
	TenantID    string
	ExpiresAt   time.Time
	Coexistence bool
}

// CallbackInput is the page's callback (SPEC §5) with the code replaced by a reference.
type CallbackInput struct {
	// CodeSecretID references the encrypted OAuth code; empty for cancel and error callbacks.
	CodeSecretID  string
	Event         string
	WabaID        string
	PhoneNumberID string
	BusinessID    string
	ErrorMessage  string
	CurrentStep   string
}

// Outcome is what the callback and cancel Updates answer.
type Outcome struct {
	Status      string
	RedirectURL string `json:",omitempty"`
	Reason      string `json:",omitempty"`
	// Retry: this callback's attempt failed in a way the user may repeat (ours, or Meta's
	// availability), and the session is open again (Status started) until it expires. Message
	// says why, for the page.
	Retry   bool   `json:",omitempty"`
	Message string `json:",omitempty"`
}

// Discovery is what Meta says the token was granted (SPEC §6 step 2).
type Discovery struct {
	WabaID             string
	PhoneNumberID      string
	BusinessID         string
	DisplayPhoneNumber string
	VerifiedName       string
	Mode               string
}

// SiblingPlan is the outcome of the sibling rules (SPEC §6 step 3).
type SiblingPlan struct {
	// ReonboardConnectionID is set when the tenant re-onboards a number it already has: the same
	// connection is updated in place.
	ReonboardConnectionID string
	// Siblings counts the active connections on the WABA before this session.
	Siblings int
}

// Step inputs. Each carries the session id; activities read the rest from PostgreSQL.
type (
	// SessionStep names a session and, where the step stores an event, its id.
	SessionStep struct {
		SessionID string
		EventID   string
	}
	// ProcessingInput records the accepted callback.
	ProcessingInput struct {
		SessionID string
		Callback  CallbackInput
	}
	// ExchangeResult references the stored access token.
	ExchangeResult struct {
		TokenSecretID string
	}
	// DiscoverInput asks Meta what the token grants.
	DiscoverInput struct {
		SessionID     string
		TokenSecretID string
		Callback      CallbackInput
	}
	// ClaimInput takes or releases a WABA's claim for a holder (the workflow id).
	ClaimInput struct {
		WabaID string
		Holder string
	}
	// SiblingInput applies the sibling rules to a discovery.
	SiblingInput struct {
		SessionID string
		Discovery Discovery
	}
	// MetaStepInput is a Graph call on the session's token.
	MetaStepInput struct {
		SessionID     string
		TokenSecretID string
		Discovery     Discovery
	}
	// RegisterResult references the stored PIN.
	RegisterResult struct {
		PinSecretID string
		Registered  bool
	}
	// SyncResult says when each coexistence sync was triggered.
	SyncResult struct {
		ContactSyncTriggeredAt *time.Time
		HistorySyncTriggeredAt *time.Time
	}
	// CommitInput is everything the final transaction writes.
	CommitInput struct {
		SessionID     string
		Holder        string
		EventID       string
		ConnectionID  string
		TokenSecretID string
		Discovery     Discovery
		Plan          SiblingPlan
		Register      RegisterResult
		Syncs         SyncResult
	}
	// EndInput ends a session as failed, cancelled or expired.
	EndInput struct {
		SessionID string
		EventID   string
		Status    string
		Reason    string
		Message   string
		Details   map[string]any
		// FromCallback: the page's callback decided, so the page gets a redirect URL.
		FromCallback bool
	}
	// ReopenInput opens a session again after a failed attempt the user may repeat.
	ReopenInput struct {
		SessionID string
		Reason    string
		Message   string
	}
)

// MaxSessionRetries bounds the attempts after the first that one session allows.
const MaxSessionRetries = 3

// UserMayRetry reports whether a failure with this reason lets the user try again within the
// same session: the failure was ours or Meta's availability, not the user's choice, a conflict
// or Meta's refusal (those would fail the same way again).
func UserMayRetry(reason string) bool {
	return reason == ReasonInternalError || reason == ReasonMetaUnavailable
}

// WabaClaimLease bounds how long a claim survives a crashed holder; the steps from the sibling
// check to the commit take seconds.
const WabaClaimLease = 5 * time.Minute

func IsFailureReason(t string) bool {
	switch t {
	case ReasonWabaWebhookConflict, ReasonNumberAlreadyConnected, ReasonWebhookSubscribeFailed, ReasonOAuthExchangeFailed,
		ReasonDiscoveryFailed, ReasonRegistrationFailed, ReasonMetaUnavailable, ReasonInternalError:
		return true
	}
	return false
}
