package workflows

import (
	"strconv"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/dualhook/dualhook/internal/domain"
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

// MetaEventWorkflow handles one Meta app webhook delivery (meta-event/<hash>).
func MetaEventWorkflow(ctx workflow.Context, in domain.MetaEventInput) (domain.MetaEventResult, error) {
	// Nobody waits on this workflow: first attempts run in the worker, the cheapest way.
	m := &metaEvent{deliveries: StartDeliveries(ctx, NobodyWaits)}
	for i, ch := range in.Changes {
		m.handle(ctx, i, ch)
	}
	m.deliveries.Wait(ctx)
	return m.result, nil
}

type metaEvent struct {
	result     domain.MetaEventResult
	deliveries *Deliveries
}

// handle applies the change at index i of the delivery.
func (m *metaEvent) handle(ctx workflow.Context, i int, ch metawebhook.Change) {
	logger := workflow.GetLogger(ctx)
	switch {
	case ch.Field == metawebhook.FieldAccountUpdate && domain.RemovalReason(ch.Event) != "":
		m.disconnectAll(ctx, ch.WabaID, domain.RemovalReason(ch.Event))
	case ch.Field == metawebhook.FieldAccountUpdate &&
		(ch.Event == metawebhook.EventAccountOffboarded || ch.Event == metawebhook.EventAccountReconnected):
		status := domain.CoexistenceOffboarded
		if ch.Event == metawebhook.EventAccountReconnected {
			status = domain.CoexistenceOnboarded
		}
		var n int
		in := domain.CoexistenceInput{WabaID: ch.WabaID, PhoneDigits: ch.PhoneDigits, Status: status}
		if err := local(ctx, acts.SetCoexistenceStatus, in).Get(ctx, &n); err != nil {
			logger.Error("the coexistence status could not be stored", "WabaId", ch.WabaID, "error", err)
		}
		m.result.Coexistence += n
	case ch.Field == metawebhook.FieldQualityUpdate:
		var n int
		in := domain.QualityInput{WabaID: ch.WabaID, PhoneDigits: ch.PhoneDigits, Event: ch.Event, Limit: ch.Limit, At: ch.Time}
		if err := local(ctx, acts.ApplyQualityUpdate, in).Get(ctx, &n); err != nil {
			logger.Error("the quality update could not be stored", "WabaId", ch.WabaID, "error", err)
		}
		m.result.HealthUpdates += n
	default:
		m.forward(ctx, i, ch)
	}
}

// connections lists the WABA's active connections.
func (m *metaEvent) connections(ctx workflow.Context, wabaID string) ([]domain.WabaConnection, bool) {
	var conns []domain.WabaConnection
	if err := local(ctx, acts.ListWabaConnections, wabaID).Get(ctx, &conns); err != nil {
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
		target := domain.DisconnectTarget{ConnectionID: c.ConnectionID, PartnerID: c.PartnerID, TenantID: c.TenantID, WabaID: c.WabaID}
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
			WorkflowID:            domain.DisconnectID(c.ConnectionID),
			ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_ABANDON,
			WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
			TypedSearchAttributes: temporal.NewSearchAttributes(domain.DisconnectAttributes(target)...),
		})
		futures = append(futures, workflow.ExecuteChildWorkflow(cctx, DisconnectWorkflow,
			domain.DisconnectInput{ConnectionID: c.ConnectionID, Reason: reason}))
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
func (m *metaEvent) forward(ctx workflow.Context, change int, ch metawebhook.Change) {
	eventType := eventtypes.WabaPrefix + ch.Field
	if !eventtypes.Valid(eventType) {
		workflow.GetLogger(ctx).Warn("a Meta webhook field that cannot be an event type; dropped", "field", ch.Field)
		return
	}
	conns, ok := m.connections(ctx, ch.WabaID)
	if !ok || len(conns) == 0 {
		return
	}
	in := domain.WabaEventInput{WabaID: ch.WabaID, Field: ch.Field, Value: ch.Value}
	index := map[string]int{}
	for _, c := range conns {
		i, seen := index[c.PartnerID]
		if !seen {
			i = len(in.Targets)
			index[c.PartnerID] = i
			in.Targets = append(in.Targets, domain.WabaEventTarget{
				EventID: eventID(ctx, "forward/"+strconv.Itoa(change)+"/"+c.PartnerID), PartnerID: c.PartnerID,
			})
		}
		t := &in.Targets[i]
		t.ConnectionIDs = append(t.ConnectionIDs, c.ConnectionID)
		if !contains(t.TenantIDs, c.TenantID) {
			t.TenantIDs = append(t.TenantIDs, c.TenantID)
		}
	}
	if err := local(ctx, acts.EmitWabaEvents, in).Get(ctx, nil); err != nil {
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
