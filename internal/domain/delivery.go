package domain

import (
	"time"

	"go.temporal.io/sdk/temporal"
)

// Delivery outcomes, as in the events table.
const (
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
	DeliverySkipped   = "skipped"
	// DeliveryRetry: an attempt failed and another follows after NextDelay (the first attempt's
	// result only; also the outcome recorded with such an attempt).
	DeliveryRetry = "retry"
	// DeliveryMissing: the event no longer exists (pruned, or its partner deleted).
	DeliveryMissing = "missing"
	// DeliveryHandedOff: a child workflow delivery/<eventId> delivers the event (long-lived
	// workflows); the workflow that handed it off does not wait for the outcome.
	DeliveryHandedOff = "handed_off"
)

// DeliverEventInput is the DeliverEvent activity's input. Only the id travels through Temporal:
// the body is read from PostgreSQL, so no event data sits in workflow histories.
type DeliverEventInput struct {
	EventID string
}

// DeliveryInput starts a DeliveryWorkflow or RedeliveryWorkflow.
type DeliveryInput struct {
	EventID string
}

// DeliveryResult is how one delivery ended.
type DeliveryResult struct {
	EventID string
	// Status is DeliveryDelivered, DeliveryFailed, DeliverySkipped or DeliveryMissing.
	Status string
	// Attempts is the number of HTTP attempts this delivery made.
	Attempts int
	// Error describes the last failure (no URL, no secret).
	Error string `json:",omitempty"`
	// NextDelay is the wait before the next attempt when Status is DeliveryRetry.
	NextDelay time.Duration `json:",omitempty"`
}

// EventSummary is what DescribeEvent returns: enough to label a workflow for operators.
type EventSummary struct {
	EventID   string
	Type      string
	PartnerID string
	TenantID  string
}

// SearchAttributes labels a workflow that delivers the event.
func (s EventSummary) SearchAttributes() []temporal.SearchAttributeUpdate {
	u := []temporal.SearchAttributeUpdate{EventTypeAttr.ValueSet(s.Type), PartnerIDAttr.ValueSet(s.PartnerID)}
	if s.TenantID != "" {
		u = append(u, TenantIDAttr.ValueSet(s.TenantID))
	}
	return u
}
