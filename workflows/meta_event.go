package workflows

import (
	"encoding/json"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/dualhook/dualhook/internal/eventtypes"
	"github.com/dualhook/dualhook/internal/metawebhook"
)

// What happens when Meta posts to the app's webhook URL (SPEC §11). The API checks the
// signature, drops message-path fields, and starts this workflow as meta-event/<sha256 of the
// body>: Meta's retries and duplicates carry the same bytes, so they find this workflow and do
// nothing. Each change, in order:
//
//   - account_update PARTNER_APP_UNINSTALLED / PARTNER_REMOVED / ACCOUNT_DELETED: every active
//     connection of the WABA is disconnected by its own DisconnectWorkflow (a child with the id
//     disconnect/<connectionId>, so an API DELETE already running is not doubled), with the
//     matching meta_* reason;
//   - account_update ACCOUNT_OFFBOARDED / ACCOUNT_RECONNECTED: the coexistence status;
//   - phone_number_quality_update: the number's health snapshot, unless a newer one is stored;
//   - anything else (templates, reviews, alerts, other account_update events): forwarded as
//     waba.<field> to each partner with an active connection on the WABA. Whether the partner
//     receives it (eventTypes) is decided at delivery, which stores it skipped otherwise.
//
// A change that cannot be handled is logged and the next one goes on: the workflow id rejects a
// second run, so failing the workflow would only lose the rest of the batch.

// MetaEventWorkflowName is the registered name of MetaEventWorkflow.
const MetaEventWorkflowName = "MetaEventWorkflow"

// Coexistence statuses a connection takes from account_update (meta.md §4.3).
const (
	CoexistenceOnboarded  = "ONBOARDED"
	CoexistenceOffboarded = "OFFBOARDED"
)

// Activity names of the Meta event workflow.
const (
	activityListWabaConnections  = "ListWabaConnections"
	activitySetCoexistenceStatus = "SetCoexistenceStatus"
	activityApplyQualityUpdate   = "ApplyQualityUpdate"
	activityEmitWabaEvents       = "EmitWabaEvents"
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

// MetaEventWorkflow handles one Meta app webhook delivery (meta-event/<hash>).
func MetaEventWorkflow(ctx workflow.Context, in MetaEventInput) (MetaEventResult, error) {
	// Nobody waits on this workflow: first attempts run in the worker, the cheapest way.
	sh := currentShape(ctx)
	m := &metaEvent{deliveries: StartDeliveriesInWorker(ctx), shape: sh, ids: sh.idSource()}
	for _, ch := range in.Changes {
		m.handle(ctx, ch)
	}
	m.deliveries.Wait(ctx)
	return m.result, nil
}

type metaEvent struct {
	ids        IDSource // every id this run makes
	shape      shape
	result     MetaEventResult
	deliveries *Deliveries
}

func (m *metaEvent) handle(ctx workflow.Context, ch metawebhook.Change) {
	logger := workflow.GetLogger(ctx)
	switch {
	case ch.Field == metawebhook.FieldAccountUpdate && RemovalReason(ch.Event) != "":
		m.disconnectAll(ctx, ch.WabaID, RemovalReason(ch.Event))
	case ch.Field == metawebhook.FieldAccountUpdate &&
		(ch.Event == metawebhook.EventAccountOffboarded || ch.Event == metawebhook.EventAccountReconnected):
		status := CoexistenceOffboarded
		if ch.Event == metawebhook.EventAccountReconnected {
			status = CoexistenceOnboarded
		}
		var n int
		in := CoexistenceInput{WabaID: ch.WabaID, PhoneDigits: ch.PhoneDigits, Status: status}
		if err := m.shape.db(ctx, activitySetCoexistenceStatus, in).Get(ctx, &n); err != nil {
			logger.Error("the coexistence status could not be stored", "WabaId", ch.WabaID, "error", err)
		}
		m.result.Coexistence += n
	case ch.Field == metawebhook.FieldQualityUpdate:
		var n int
		in := QualityInput{WabaID: ch.WabaID, PhoneDigits: ch.PhoneDigits, Event: ch.Event, Limit: ch.Limit, At: ch.Time}
		if err := m.shape.db(ctx, activityApplyQualityUpdate, in).Get(ctx, &n); err != nil {
			logger.Error("the quality update could not be stored", "WabaId", ch.WabaID, "error", err)
		}
		m.result.HealthUpdates += n
	default:
		m.forward(ctx, ch)
	}
}

// connections lists the WABA's active connections.
func (m *metaEvent) connections(ctx workflow.Context, wabaID string) ([]WabaConnection, bool) {
	var conns []WabaConnection
	if err := m.shape.db(ctx, activityListWabaConnections, wabaID).Get(ctx, &conns); err != nil {
		workflow.GetLogger(ctx).Error("the WABA's connections could not be listed", "WabaId", wabaID, "error", err)
		return nil, false
	}
	return conns, true
}

// disconnectAll starts a DisconnectWorkflow per active connection and returns once they have
// started; they outlive this workflow (abandon). A disconnect that already exists — an API
// DELETE in flight, or a duplicate webhook — is left to finish with its own reason.
func (m *metaEvent) disconnectAll(ctx workflow.Context, wabaID, reason string) {
	conns, ok := m.connections(ctx, wabaID)
	if !ok {
		return
	}
	futures := make([]workflow.ChildWorkflowFuture, 0, len(conns))
	for _, c := range conns {
		target := DisconnectTarget{ConnectionID: c.ConnectionID, PartnerID: c.PartnerID, TenantID: c.TenantID, WabaID: c.WabaID}
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
			WorkflowID:            DisconnectID(c.ConnectionID),
			ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_ABANDON,
			WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
			TypedSearchAttributes: temporal.NewSearchAttributes(disconnectAttributes(target)...),
		})
		futures = append(futures, workflow.ExecuteChildWorkflow(cctx, DisconnectWorkflowName,
			DisconnectInput{ConnectionID: c.ConnectionID, Reason: reason}))
	}
	for i, f := range futures {
		err := f.GetChildWorkflowExecution().Get(ctx, nil)
		switch {
		case err == nil:
			m.result.Disconnects++
		case temporal.IsWorkflowExecutionAlreadyStartedError(err):
		default:
			workflow.GetLogger(ctx).Error("the disconnect could not start", "ConnectionId", conns[i].ConnectionID, "error", err)
		}
	}
}

// forward stores waba.<field> for each partner with an active connection on the WABA, with
// event ids made here so a retried activity (or a replay) never stores one twice.
func (m *metaEvent) forward(ctx workflow.Context, ch metawebhook.Change) {
	eventType := eventtypes.WabaPrefix + ch.Field
	if !eventtypes.Valid(eventType) {
		workflow.GetLogger(ctx).Warn("a Meta webhook field that cannot be an event type; dropped", "field", ch.Field)
		return
	}
	conns, ok := m.connections(ctx, ch.WabaID)
	if !ok || len(conns) == 0 {
		return
	}
	in := WabaEventInput{WabaID: ch.WabaID, Field: ch.Field, Value: ch.Value}
	index := map[string]int{}
	for _, c := range conns {
		i, seen := index[c.PartnerID]
		if !seen {
			i = len(in.Targets)
			index[c.PartnerID] = i
			in.Targets = append(in.Targets, WabaEventTarget{EventID: m.ids.EventID(ctx), PartnerID: c.PartnerID})
		}
		t := &in.Targets[i]
		t.ConnectionIDs = append(t.ConnectionIDs, c.ConnectionID)
		if !contains(t.TenantIDs, c.TenantID) {
			t.TenantIDs = append(t.TenantIDs, c.TenantID)
		}
	}
	if err := m.shape.db(ctx, activityEmitWabaEvents, in).Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Error("the forwarded events could not be stored", "WabaId", ch.WabaID, "field", ch.Field, "error", err)
		return
	}
	for _, t := range in.Targets {
		m.deliveries.Start(ctx, t.EventID)
		m.result.ForwardedEvent = append(m.result.ForwardedEvent, t.EventID)
	}
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
