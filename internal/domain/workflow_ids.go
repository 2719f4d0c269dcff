package domain

import (
	"strconv"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
)

// The names every part agrees on — the API and activities start workflows by them, operators
// find workflows by them, the worker registers the workflow functions under them — and the start
// options of each workflow. Nothing else names a workflow, signal, Update or query.

// Registered names of the workflows.
const (
	OnboardingWorkflowName        = "OnboardingWorkflow"
	HeartbeatWorkflowName         = "HeartbeatWorkflow"
	ModeWorkflowName              = "ModeWorkflow"
	DisconnectWorkflowName        = "DisconnectWorkflow"
	WebhookUpdateWorkflowName     = "WebhookUpdateWorkflow"
	MetaEventWorkflowName         = "MetaEventWorkflow"
	DeliveryWorkflowName          = "DeliveryWorkflow"
	RedeliveryWorkflowName        = "RedeliveryWorkflow"
	HealthRefreshWorkflowName     = "HealthRefreshWorkflow"
	RetentionWorkflowName         = "RetentionWorkflow"
	SessionReconcilerWorkflowName = "SessionReconcilerWorkflow"
)

// Signals, Updates and queries.
const (
	// SignalPageOpened: the session's page was opened (onboarding.started, once).
	SignalPageOpened = "page-opened"
	// UpdateCallback hands the page's callback to the session and answers its outcome.
	UpdateCallback = "callback"
	// UpdateCancel cancels a pending or started session.
	UpdateCancel = "cancel"
	// QueryStatus reads a session's status.
	QueryStatus = "status"
	// UpdateHeartbeatConfirm commits a coexistence heartbeat confirmation.
	UpdateHeartbeatConfirm = "confirm"
	// SignalHeartbeatReset restarts a heartbeat's clock (re-onboarding).
	SignalHeartbeatReset = "reset"
	// UpdateAwaitDisconnect answers once the disconnect is decided (committed, or found done): the
	// API waits for it, not for the workflow, which goes on delivering the event for up to ~31 h
	// when the partner's receiver is down.
	UpdateAwaitDisconnect = "await-disconnect"
	// UpdateWebhookResult answers a webhook update's outcome.
	UpdateWebhookResult = "result"
)

// Schedules.
const (
	SessionReconcilerScheduleID = "session-reconciler"
	HealthRefreshScheduleID     = "health-refresh"
	RetentionScheduleID         = "retention-prune"
)

// Search attributes (SPEC §13), registered by temporalclient.RegisterSearchAttributes.
var (
	PartnerIDAttr    = temporal.NewSearchAttributeKeyKeyword("PartnerId")
	TenantIDAttr     = temporal.NewSearchAttributeKeyKeyword("TenantId")
	SessionIDAttr    = temporal.NewSearchAttributeKeyKeyword("SessionId")
	ConnectionIDAttr = temporal.NewSearchAttributeKeyKeyword("ConnectionId")
	WabaIDAttr       = temporal.NewSearchAttributeKeyKeyword("WabaId")
	EventTypeAttr    = temporal.NewSearchAttributeKeyKeyword("EventType")
)

// Workflow ids derive from business ids (SPEC §13), so the API, the worker and an operator agree
// on names without a lookup table.

// OnboardingID is the workflow of one onboarding session.
func OnboardingID(sessionID string) string { return "onboarding/" + sessionID }

// HeartbeatID is the long-lived heartbeat workflow of a coexistence connection.
func HeartbeatID(connectionID string) string { return "heartbeat/" + connectionID }

// ModeID resolves a connection's mode.
func ModeID(connectionID string) string { return "mode/" + connectionID }

// DisconnectID is the (reject-duplicate) disconnect workflow of a connection.
func DisconnectID(connectionID string) string { return "disconnect/" + connectionID }

// WebhookUpdateID is the n-th webhook update of a WABA.
func WebhookUpdateID(wabaID string, n int64) string {
	return "webhook-update/" + wabaID + "/" + strconv.FormatInt(n, 10)
}

// MetaEventID handles one Meta app webhook delivery, keyed by its content hash.
func MetaEventID(hash string) string { return "meta-event/" + hash }

// DeliveryID is a child delivery of a long-lived workflow.
func DeliveryID(eventID string) string { return "delivery/" + eventID }

// RedeliveryID is the n-th replay of an event.
func RedeliveryID(eventID string, n int64) string {
	return "redelivery/" + eventID + "/" + strconv.FormatInt(n, 10)
}

// OnboardingStartOptions are the start options of a session's workflow: the id derives from the
// session, a retried start finds the running workflow instead of failing or duplicating it, and
// operators find it by partner, tenant and session in the Temporal UI.
func OnboardingStartOptions(in OnboardingInput, taskQueue string) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		ID:                       OnboardingID(in.SessionID),
		TaskQueue:                taskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			PartnerIDAttr.ValueSet(in.PartnerID), TenantIDAttr.ValueSet(in.TenantID), SessionIDAttr.ValueSet(in.SessionID),
		),
	}
}

// HeartbeatStartOptions: one workflow per connection. A confirm finds the running one; a closed
// one (cancelled by an operator) may be started again, because the connection still needs it.
func HeartbeatStartOptions(in HeartbeatInput, taskQueue string) client.StartWorkflowOptions {
	return connectionStartOptions(HeartbeatID(in.ConnectionID), in.PartnerID, in.TenantID, in.ConnectionID, taskQueue)
}

// ModeStartOptions: a running workflow is reused; a finished one may run again (the number was
// re-onboarded with an unknown mode).
func ModeStartOptions(in ModeInput, taskQueue string) client.StartWorkflowOptions {
	return connectionStartOptions(ModeID(in.ConnectionID), in.PartnerID, in.TenantID, in.ConnectionID, taskQueue)
}

// connectionStartOptions start a connection's long-lived workflow (heartbeat, mode): a running
// one is reused, a finished one may run again, and operators find it by partner, tenant and
// connection.
func connectionStartOptions(id, partnerID, tenantID, connectionID, taskQueue string) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		ID:                       id,
		TaskQueue:                taskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			PartnerIDAttr.ValueSet(partnerID), TenantIDAttr.ValueSet(tenantID), ConnectionIDAttr.ValueSet(connectionID),
		),
	}
}

// DisconnectStartOptions are the start options of a connection's disconnect workflow: the id
// derives from the connection, a repeated DELETE finds the running (or finished) workflow
// instead of starting another, and operators find it by partner, tenant, connection and WABA.
func DisconnectStartOptions(t DisconnectTarget, taskQueue string) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		ID:                       DisconnectID(t.ConnectionID),
		TaskQueue:                taskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		TypedSearchAttributes:    temporal.NewSearchAttributes(DisconnectAttributes(t)...),
	}
}

// DisconnectAttributes label a disconnect workflow (also when a Meta event starts it as a child).
func DisconnectAttributes(t DisconnectTarget) []temporal.SearchAttributeUpdate {
	return []temporal.SearchAttributeUpdate{
		PartnerIDAttr.ValueSet(t.PartnerID), TenantIDAttr.ValueSet(t.TenantID),
		ConnectionIDAttr.ValueSet(t.ConnectionID), WabaIDAttr.ValueSet(t.WabaID),
	}
}

// WebhookUpdateStartOptions: the id carries the WABA's counter, so a retried API call with the
// same Idempotency-Key (same n) finds the running workflow; operators find it by partner,
// tenant, connection and WABA.
func WebhookUpdateStartOptions(in WebhookUpdateInput, taskQueue string) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		ID:                       WebhookUpdateID(in.WabaID, in.N),
		TaskQueue:                taskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			PartnerIDAttr.ValueSet(in.PartnerID), TenantIDAttr.ValueSet(in.TenantID),
			ConnectionIDAttr.ValueSet(in.ConnectionID), WabaIDAttr.ValueSet(in.WabaID),
		),
	}
}

// MetaEventStartOptions: the id is the delivery's content hash and reject-duplicate, so the same
// bytes twice (Meta's retries and duplicates) are one workflow.
func MetaEventStartOptions(hash, taskQueue string) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		ID:                       MetaEventID(hash),
		TaskQueue:                taskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
	}
}
