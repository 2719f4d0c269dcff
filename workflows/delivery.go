package workflows

import (
	"errors"
	"strconv"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/dualhook/dualhook/internal/ids"
)

// Event delivery, the workflow side (SPEC §8.3; docs/events.md).
//
// A workflow that changes state makes the event id here (IDSource.EventID), passes it to the
// activity that writes the change (which stores the event in the same transaction with
// events.Emit), then delivers it:
//
//	eventID := s.ids.EventID(ctx) // s: the workflow's state, ids: its IDSource
//	err := workflow.ExecuteActivity(ctx, "CompleteSession", CompleteInput{…, EventID: eventID}).Get(ctx, nil)
//	…
//	deliveries := workflows.StartDeliveries(ctx, eventID) // the workflow goes on with its work
//	…
//	deliveries.Wait(ctx) // before the workflow returns
//
// The workflow is the outbox: the event row exists only if the change committed, and the
// workflow cannot finish before the delivery has (delivered or failed after the whole
// schedule). Deliveries never fail the calling workflow: a partner's receiver being down is the
// partner's problem, recorded in the delivery log and replayable.
//
// Workflows nobody waits on use StartDeliveriesInWorker (or DeliverEvents): the first attempt
// runs as a local activity, the cheapest path. Long-lived workflows (the coexistence heartbeat)
// use DeliverEventsAsChildren instead, so they can continue-as-new without waiting up to ~31 h
// for a receiver.

// Names the worker registers (worker.Register) and callers start by.
const (
	DeliveryWorkflowName   = "DeliveryWorkflow"
	RedeliveryWorkflowName = "RedeliveryWorkflow"

	activityDeliverEvent      = "DeliverEvent"
	activityDeliverEventFirst = "DeliverEventFirst"
	activityDescribeEvent     = "DescribeEvent"
)

// Search attributes of delivery and redelivery workflows (SPEC §13), registered by
// temporalclient.RegisterSearchAttributes. Other workflows may use them too.
var (
	EventTypeAttr = temporal.NewSearchAttributeKeyKeyword("EventType")
	PartnerIDAttr = temporal.NewSearchAttributeKeyKeyword("PartnerId")
	TenantIDAttr  = temporal.NewSearchAttributeKeyKeyword("TenantId")
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

// Timeouts of the delivery activities. The HTTP timeout itself (10 s) and the retry schedule
// are the worker's configuration (DUALHOOK_DELIVERY_TIMEOUT, DUALHOOK_DELIVERY_SCHEDULE): the
// activity reads them and chooses each next delay (NextDelay, NextRetryDelay), so a schedule
// change needs no workflow change and is never a determinism problem.
const (
	// deliveryStartToClose covers one attempt: the HTTP timeout (at most 30 s) plus the database.
	deliveryStartToClose = time.Minute
	// deliveryHeartbeat: the activity heartbeats while a request is in flight, so a killed worker
	// is noticed within this and the attempt retried on another worker.
	deliveryHeartbeat = 10 * time.Second
	// deliveryBudget is a safety net only: the activity ends the delivery itself after the last
	// scheduled attempt. The longest configurable schedule is 12 × 24 h.
	deliveryBudget = 14 * 24 * time.Hour
)

// DeliveryActivityOptions are the options of the DeliverEvent activity (attempts 2 and later).
// Retries are unlimited here because the activity decides: it returns a retryable error whose
// NextRetryDelay is the schedule's (or Retry-After's) next delay, and a non-retryable one after
// the last attempt or a 410. The policy's own backoff only applies to failures that are not an
// attempt's outcome (database unreachable, worker lost).
func DeliveryActivityOptions() workflow.ActivityOptions {
	return workflow.ActivityOptions{
		StartToCloseTimeout:    deliveryStartToClose,
		HeartbeatTimeout:       deliveryHeartbeat,
		ScheduleToCloseTimeout: deliveryBudget,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    time.Minute,
		},
	}
}

// firstAttemptOptions run the first attempt as a local activity, once: whatever goes wrong with
// it, the retrying DeliverEvent activity takes over.
func firstAttemptOptions() workflow.LocalActivityOptions {
	return workflow.LocalActivityOptions{
		StartToCloseTimeout: deliveryStartToClose,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 1},
	}
}

// IDSource makes the ids of one workflow run (events, connections). Keep one in the workflow's
// state, so the workflow function and its Update handlers share it.
//
// Ids are derived from the run id (a random UUID, so an id is as unguessable as a random one)
// and a counter, so a replay of the workflow makes the same ids in the same order and the
// activity that stores the event inserts it once. Nothing is recorded in the history: a side
// effect is recorded only when the workflow task completes, and a worker lost after a local
// activity committed an event but before that completion would, on replay, make a new id and
// store the event twice (TestWorkerKilledDuringDelivery).
type IDSource struct {
	made int
	// sideEffects: runs started before changeLocalSteps made random ids as side effects.
	sideEffects bool
}

// EventID makes the next event id of this run.
func (s *IDSource) EventID(ctx workflow.Context) string { return s.next(ctx, ids.Event) }

// connectionID makes the id of the connection a session commits.
func (s *IDSource) connectionID(ctx workflow.Context) string { return s.next(ctx, ids.Connection) }

func (s *IDSource) next(ctx workflow.Context, prefix string) string {
	if s.sideEffects {
		var id string
		_ = workflow.SideEffect(ctx, func(workflow.Context) any { return ids.New(prefix) }).Get(&id)
		return id
	}
	s.made++
	return ids.Derived(prefix, workflow.GetInfo(ctx).WorkflowExecution.RunID, strconv.Itoa(s.made))
}

// Deliveries are a workflow's deliveries in flight. Start them as soon as the events are stored,
// Wait for them before the workflow returns.
type Deliveries struct {
	inWorker bool
	pending  []pendingDelivery
}

type pendingDelivery struct {
	eventID string
	future  workflow.Future
}

// StartDeliveries starts the deliveries of the events, concurrently, and returns at once. Each
// is the DeliverEvent activity (run by this worker at once when the server allows eager
// execution), so the workflow's task completes without waiting for a partner's receiver: use it
// in workflows someone waits on (a session's redirect, an API call's Update).
func StartDeliveries(ctx workflow.Context, eventIDs ...string) *Deliveries {
	d := &Deliveries{}
	d.Start(ctx, eventIDs...)
	return d
}

// StartDeliveriesInWorker is StartDeliveries with each first attempt run as a local activity:
// no task queue round trip and no extra workflow task, the cheapest delivery on a busy Temporal
// server (docs/events.md). The price: the workflow's task stays open until the first attempts
// have answered (up to the 10 s HTTP timeout), so an Update or a caller waiting on the workflow
// waits for the partner's receiver too. Use it only in workflows nobody waits on.
func StartDeliveriesInWorker(ctx workflow.Context, eventIDs ...string) *Deliveries {
	d := &Deliveries{inWorker: true}
	d.Start(ctx, eventIDs...)
	return d
}

// Start adds deliveries of more events.
func (d *Deliveries) Start(ctx workflow.Context, eventIDs ...string) {
	// Disconnected: cancelling the workflow (an operator, a parent) must not drop events that
	// are already committed. Only terminating it does.
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	for _, id := range eventIDs {
		f, settable := workflow.NewFuture(dctx)
		workflow.Go(dctx, func(gctx workflow.Context) { settable.Set(deliver(gctx, id, d.inWorker), nil) })
		d.pending = append(d.pending, pendingDelivery{eventID: id, future: f})
	}
}

// Wait blocks until every started delivery has ended and returns how each did, in start order.
// It never returns an error: a failed delivery is recorded in the delivery log, not a failure of
// the workflow.
func (d *Deliveries) Wait(ctx workflow.Context) []DeliveryResult {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	out := make([]DeliveryResult, 0, len(d.pending))
	for _, p := range d.pending {
		var r DeliveryResult
		_ = p.future.Get(dctx, &r)
		out = append(out, r)
	}
	d.pending = nil
	return out
}

// DeliverEvents delivers the events concurrently and waits for all of them, the first attempts in
// this worker (StartDeliveriesInWorker): for workflows with nothing else to do.
func DeliverEvents(ctx workflow.Context, eventIDs ...string) []DeliveryResult {
	return StartDeliveriesInWorker(ctx, eventIDs...).Wait(ctx)
}

// deliver runs one event's delivery: the DeliverEvent activity through the whole schedule, or,
// inWorker, the first attempt as a local activity (recorded as one marker) and then, if it
// failed, the rest of the schedule as DeliverEvent after the first delay.
func deliver(ctx workflow.Context, eventID string, inWorker bool) DeliveryResult {
	in := DeliverEventInput{EventID: eventID}
	actx := workflow.WithActivityOptions(ctx, DeliveryActivityOptions())
	if !inWorker {
		return deliveryResult(ctx, eventID, workflow.ExecuteActivity(actx, activityDeliverEvent, in))
	}
	var first DeliveryResult
	err := workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, firstAttemptOptions()),
		activityDeliverEventFirst, in).Get(ctx, &first)
	if err == nil && first.Status != DeliveryRetry {
		return first
	}
	if err == nil && first.NextDelay > 0 {
		if err := workflow.Sleep(ctx, first.NextDelay); err != nil {
			return DeliveryResult{EventID: eventID, Status: DeliveryFailed, Error: err.Error()}
		}
	}
	// The activity counts the attempts this workflow already recorded, so it continues the
	// schedule where the first attempt left it (or makes the first attempt again if that one
	// could not even be recorded).
	return deliveryResult(ctx, eventID, workflow.ExecuteActivity(actx, activityDeliverEvent, in))
}

func deliveryResult(ctx workflow.Context, eventID string, f workflow.Future) DeliveryResult {
	var r DeliveryResult
	err := f.Get(ctx, &r)
	if err == nil {
		return r
	}
	r = DeliveryResult{EventID: eventID, Status: DeliveryFailed, Error: err.Error()}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		r.Error = appErr.Message()
		var details DeliveryResult
		if appErr.HasDetails() && appErr.Details(&details) == nil && details.Status != "" {
			details.Error = appErr.Message()
			r = details
		}
	}
	return r
}

// DeliverEventsAsChildren hands each delivery to a child workflow delivery/<eventId> that
// outlives the caller (parent-close policy abandon), and returns once the children have started.
// Long-lived workflows use it so they can continue-as-new at any time. A child that already
// exists (the caller was replayed, or delivered the event before) is left alone.
func DeliverEventsAsChildren(ctx workflow.Context, eventIDs ...string) error {
	futures := make([]workflow.ChildWorkflowFuture, 0, len(eventIDs))
	for _, id := range eventIDs {
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
			WorkflowID:            DeliveryID(id),
			ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_ABANDON,
			WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		})
		futures = append(futures, workflow.ExecuteChildWorkflow(cctx, DeliveryWorkflowName, DeliveryInput{EventID: id}))
	}
	for _, f := range futures {
		if err := f.GetChildWorkflowExecution().Get(ctx, nil); err != nil && !temporal.IsWorkflowExecutionAlreadyStartedError(err) {
			return err
		}
	}
	return nil
}

// DeliveryWorkflow (delivery/<eventId>) delivers one event for a long-lived parent.
func DeliveryWorkflow(ctx workflow.Context, in DeliveryInput) (DeliveryResult, error) {
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 10 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: time.Minute},
	})
	var summary EventSummary
	if err := workflow.ExecuteLocalActivity(lctx, activityDescribeEvent, in.EventID).Get(ctx, &summary); err != nil {
		// A missing event is an outcome of the delivery, not a failure of this workflow.
		return DeliveryResult{EventID: in.EventID, Status: DeliveryMissing, Error: err.Error()}, nil //nolint:nilerr // see above
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, summary.SearchAttributes()...); err != nil {
		return DeliveryResult{}, err
	}
	return DeliverEvents(ctx, in.EventID)[0], nil
}

// RedeliveryWorkflow (redelivery/<eventId>/<n>) is a replay (SPEC §8.5): a new delivery of the
// same event id and body, with fresh signatures and its own retry schedule. Whoever starts it
// sets the EventType, PartnerId and TenantId search attributes (events.Replayer does).
func RedeliveryWorkflow(ctx workflow.Context, in DeliveryInput) (DeliveryResult, error) {
	return DeliverEvents(ctx, in.EventID)[0], nil
}
