// Package eventtypes names the event types of SPEC §8.2 and which of them a partner receives
// when it has not chosen (the eight hosted types).
package eventtypes

import "regexp"

// The eight hosted types, sent by default.
const (
	OnboardingStarted       = "onboarding.started"
	OnboardingCompleted     = "onboarding.completed"
	OnboardingFailed        = "onboarding.failed"
	ConnectionDisconnected  = "connection.disconnected"
	ConnectionModeResolved  = "connection.mode_resolved"
	HeartbeatDueSoon        = "connection.heartbeat.due_soon"
	HeartbeatOverdue        = "connection.heartbeat.overdue"
	HeartbeatConfirmed      = "connection.heartbeat.confirmed"
	ConnectionWebhookUpdate = "connection.webhook_updated" // [ext] only when listed
)

// WabaPrefix starts the forwarded Meta management webhooks (`waba.<field>`, [ext]).
const WabaPrefix = "waba."

var wabaField = regexp.MustCompile(`^waba\.[a-z][a-z0-9_]{0,63}$`)

// Default is what a partner receives until it lists its own eventTypes.
func Default() []string {
	return []string{
		OnboardingStarted, OnboardingCompleted, OnboardingFailed, ConnectionDisconnected,
		ConnectionModeResolved, HeartbeatDueSoon, HeartbeatOverdue, HeartbeatConfirmed,
	}
}

// Valid reports whether t names a type this service can send.
func Valid(t string) bool {
	switch t {
	case OnboardingStarted, OnboardingCompleted, OnboardingFailed, ConnectionDisconnected,
		ConnectionModeResolved, HeartbeatDueSoon, HeartbeatOverdue, HeartbeatConfirmed,
		ConnectionWebhookUpdate:
		return true
	}
	return wabaField.MatchString(t)
}

// Subscribed reports whether a partner listing types receives t.
func Subscribed(types []string, t string) bool {
	for _, s := range types {
		if s == t {
			return true
		}
	}
	return false
}
