package workflows

import (
	"errors"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/dualhook/dualhook/internal/domain"
)

// Event delivery, the workflow side (SPEC §8.3; docs/events.md).
//
// A workflow that changes state names the event (eventID, ids.go), passes the id to the
// activity that writes the change (which stores the event in the same transaction with
// events.Emit), then delivers it:
//
//	id := eventID(ctx, "outcome")
//	err := workflow.ExecuteLocalActivity(ctx, acts.EndSession, domain.EndInput{…, EventID: id}).Get(ctx, nil)
//	…
//	deliveries := StartDeliveries(ctx, SomeoneWaits, id) // the workflow goes on with its work
//	…
//	deliveries.Wait(ctx) // before the workflow returns
//
// The workflow is the outbox: the event row exists only if the change committed, and the
// workflow cannot finish before the delivery has (delivered or failed after the whole
// schedule). Deliveries never fail the calling workflow: a partner's receiver being down is the
// partner's problem, recorded in the delivery log and replayable. The Waiter says how the
// attempts run, chosen by who waits on the workflow.

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

// Who waits on a workflow decides how its deliveries run.
type Waiter int

const (
	// SomeoneWaits: a user's redirect or an API call waits on the workflow (an Update's answer).
	// Every attempt is the DeliverEvent activity (run by this worker at once when the server allows
	// eager execution), so the workflow task completes without waiting for a partner's receiver.
	SomeoneWaits Waiter = iota
	// NobodyWaits: the first attempt runs as a local activity — no task queue round trip and no
	// extra workflow task, the cheapest delivery on a busy Temporal server (docs/events.md). The
	// price: the workflow task stays open until the first attempts have answered (up to the 10 s
	// HTTP timeout), so only workflows nobody waits on may use it.
	NobodyWaits
	// NobodyWaitsLongLived: each delivery is a child workflow delivery/<eventId> that outlives the
	// caller (parent-close policy abandon), so a long-lived workflow (the coexistence heartbeat)
	// can continue-as-new without waiting up to ~31 h for a receiver. Wait returns once the
	// children have started.
	NobodyWaitsLongLived
)

// Deliveries are a workflow's deliveries in flight. Start them as soon as the events are stored,
// Wait for them before the workflow returns (or continues as new).
type Deliveries struct {
	waiter  Waiter
	pending []pendingDelivery
}

type pendingDelivery struct {
	eventID string
	future  workflow.Future
}

// StartDeliveries starts the deliveries of the events, concurrently, and returns at once; more
// can be added with Start.
func StartDeliveries(ctx workflow.Context, waiter Waiter, eventIDs ...string) *Deliveries {
	d := &Deliveries{waiter: waiter}
	d.Start(ctx, eventIDs...)
	return d
}

// Start adds deliveries of more events.
func (d *Deliveries) Start(ctx workflow.Context, eventIDs ...string) {
	// Disconnected: cancelling the workflow (an operator, a parent) must not drop events that
	// are already committed. Only terminating it does.
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	for _, id := range eventIDs {
		if d.waiter == NobodyWaitsLongLived {
			d.pending = append(d.pending, pendingDelivery{eventID: id, future: startChildDelivery(dctx, id)})
			continue
		}
		f, settable := workflow.NewFuture(dctx)
		workflow.Go(dctx, func(gctx workflow.Context) { settable.Set(deliver(gctx, id, d.waiter == NobodyWaits), nil) })
		d.pending = append(d.pending, pendingDelivery{eventID: id, future: f})
	}
}

// Wait blocks until every started delivery has ended (for NobodyWaitsLongLived: has started as
// a child) and returns how each did, in start order. It never returns an error: a failed delivery
// is recorded in the delivery log, not a failure of the workflow.
func (d *Deliveries) Wait(ctx workflow.Context) []domain.DeliveryResult {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	out := make([]domain.DeliveryResult, 0, len(d.pending))
	for _, p := range d.pending {
		if d.waiter == NobodyWaitsLongLived {
			out = append(out, childStarted(dctx, p))
			continue
		}
		var r domain.DeliveryResult
		_ = p.future.Get(dctx, &r)
		out = append(out, r)
	}
	d.pending = nil
	return out
}

// deliver runs one event's delivery: the DeliverEvent activity through the whole schedule, or,
// firstInWorker, the first attempt as a local activity (recorded as one marker) and then, if it
// failed, the rest of the schedule as DeliverEvent after the first delay.
func deliver(ctx workflow.Context, eventID string, firstInWorker bool) domain.DeliveryResult {
	in := domain.DeliverEventInput{EventID: eventID}
	actx := workflow.WithActivityOptions(ctx, DeliveryActivityOptions())
	if !firstInWorker {
		return deliveryResult(ctx, eventID, workflow.ExecuteActivity(actx, acts.DeliverEvent, in))
	}
	var first domain.DeliveryResult
	err := workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, firstAttemptOptions()),
		acts.DeliverEventFirst, in).Get(ctx, &first)
	if err == nil && first.Status != domain.DeliveryRetry {
		return first
	}
	if err == nil && first.NextDelay > 0 {
		if err := workflow.Sleep(ctx, first.NextDelay); err != nil {
			return domain.DeliveryResult{EventID: eventID, Status: domain.DeliveryFailed, Error: err.Error()}
		}
	}
	// The activity counts the attempts this workflow already recorded, so it continues the
	// schedule where the first attempt left it (or makes the first attempt again if that one
	// could not even be recorded).
	return deliveryResult(ctx, eventID, workflow.ExecuteActivity(actx, acts.DeliverEvent, in))
}

func deliveryResult(ctx workflow.Context, eventID string, f workflow.Future) domain.DeliveryResult {
	var r domain.DeliveryResult
	err := f.Get(ctx, &r)
	if err == nil {
		return r
	}
	r = domain.DeliveryResult{EventID: eventID, Status: domain.DeliveryFailed, Error: err.Error()}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		r.Error = appErr.Message()
		var details domain.DeliveryResult
		if appErr.HasDetails() && appErr.Details(&details) == nil && details.Status != "" {
			details.Error = appErr.Message()
			r = details
		}
	}
	return r
}

// startChildDelivery starts delivery/<eventId> as an abandoned child; its future is the child's
// start.
func startChildDelivery(ctx workflow.Context, eventID string) workflow.Future {
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:            domain.DeliveryID(eventID),
		ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_ABANDON,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
	})
	return workflow.ExecuteChildWorkflow(cctx, DeliveryWorkflow, domain.DeliveryInput{EventID: eventID}).GetChildWorkflowExecution()
}

// childStarted reports a child delivery's start. A child that already exists (the caller was
// replayed, or delivered the event before) is left alone; one that could not start is logged
// (the event stays pending, and the reconciler's rescue replays it).
func childStarted(ctx workflow.Context, p pendingDelivery) domain.DeliveryResult {
	err := p.future.Get(ctx, nil)
	if err == nil || temporal.IsWorkflowExecutionAlreadyStartedError(err) {
		return domain.DeliveryResult{EventID: p.eventID, Status: domain.DeliveryHandedOff}
	}
	workflow.GetLogger(ctx).Error("starting an event's delivery failed; the reconciler replays it", "EventId", p.eventID, "error", err)
	return domain.DeliveryResult{EventID: p.eventID, Status: domain.DeliveryFailed, Error: err.Error()}
}

// DeliveryWorkflow (delivery/<eventId>) delivers one event for a long-lived parent.
func DeliveryWorkflow(ctx workflow.Context, in domain.DeliveryInput) (domain.DeliveryResult, error) {
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 10 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: time.Minute},
	})
	var summary domain.EventSummary
	if err := workflow.ExecuteLocalActivity(lctx, acts.DescribeEvent, in.EventID).Get(ctx, &summary); err != nil {
		// A missing event is an outcome of the delivery, not a failure of this workflow.
		return domain.DeliveryResult{EventID: in.EventID, Status: domain.DeliveryMissing, Error: err.Error()}, nil //nolint:nilerr // see above
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, summary.SearchAttributes()...); err != nil {
		return domain.DeliveryResult{}, err
	}
	return StartDeliveries(ctx, NobodyWaits, in.EventID).Wait(ctx)[0], nil
}

// RedeliveryWorkflow (redelivery/<eventId>/<n>) is a replay (SPEC §8.5): a new delivery of the
// same event id and body, with fresh signatures and its own retry schedule. Whoever starts it
// sets the EventType, PartnerId and TenantId search attributes (events.Replayer does).
func RedeliveryWorkflow(ctx workflow.Context, in domain.DeliveryInput) (domain.DeliveryResult, error) {
	return StartDeliveries(ctx, NobodyWaits, in.EventID).Wait(ctx)[0], nil
}
