// Package workflows holds the deterministic workflow code: no I/O, no clock or randomness outside
// the SDK's wrappers. Everything that touches the world is an activity (package activities).
package workflows

import "strconv"

// Workflow ids derive from business ids (SPEC §13), so the API, the worker and an operator agree
// on names without a lookup table.

// OnboardingID is the workflow of one onboarding session.
func OnboardingID(sessionID string) string { return "onboarding/" + sessionID }

// HeartbeatID is the long-lived heartbeat workflow of a coexistence connection.
func HeartbeatID(connectionID string) string { return "heartbeat/" + connectionID }

// DisconnectID is the (reject-duplicate) disconnect workflow of a connection.
func DisconnectID(connectionID string) string { return "disconnect/" + connectionID }

// WebhookUpdateID is the n-th webhook update of a WABA.
func WebhookUpdateID(wabaID string, n int64) string {
	return "webhook-update/" + wabaID + "/" + strconv.FormatInt(n, 10)
}

// ModeID resolves a connection's mode.
func ModeID(connectionID string) string { return "mode/" + connectionID }

// MetaEventID handles one Meta app webhook delivery, keyed by its content hash.
func MetaEventID(hash string) string { return "meta-event/" + hash }

// DeliveryID is a child delivery of a long-lived workflow.
func DeliveryID(eventID string) string { return "delivery/" + eventID }

// RedeliveryID is the n-th replay of an event.
func RedeliveryID(eventID string, n int64) string {
	return "redelivery/" + eventID + "/" + strconv.FormatInt(n, 10)
}

// Schedules.
const (
	HealthRefreshScheduleID = "health-refresh"
	RetentionScheduleID     = "retention-prune"
)
