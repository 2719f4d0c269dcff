package workflows

import (
	"errors"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// The coexistence heartbeat (SPEC §7.6) — read top to bottom:
//
// A coexistence number needs the WhatsApp Business app opened at least every 13 days. One
// long-lived workflow per coexistence connection (heartbeat/<connectionId>) keeps the clock with
// durable timers, not a polling cron:
//
//   - it loads the connection's last confirmation (onboarding's completion, or the latest
//     `confirm`) and sleeps until DUE_SOON (3 days before the deadline), then until OVERDUE (the
//     deadline); each transition is one transaction that changes the status only if nobody
//     confirmed meanwhile, and stores connection.heartbeat.due_soon / .overdue;
//   - POST /api/v1/connections/{id}/heartbeat/confirm is the `confirm` Update (Update-with-Start,
//     so a missing workflow is started): it commits OK, last = now, next = now + 13 d with
//     connection.heartbeat.confirmed, and answers the committed state;
//   - events go out as child workflows delivery/<eventId> (DeliverEventsAsChildren), so the
//     workflow never waits ~31 h for a partner's receiver and can continue-as-new after every
//     confirmation: each run is one cycle, and the history stays small;
//   - the `reset` signal (re-onboarding restarted the clock) reloads the state in a new run;
//   - it ends when the connection no longer needs it (disconnected, no longer coexistence) and
//     when it is cancelled — the disconnect workflow cancels heartbeat/<connectionId>.

// Names of the workflow, its Update and signal.
const (
	HeartbeatWorkflowName  = "HeartbeatWorkflow"
	UpdateHeartbeatConfirm = "confirm"
	SignalHeartbeatReset   = "reset"
)

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

const (
	activityLoadHeartbeat       = "LoadHeartbeat"
	activityTransitionHeartbeat = "TransitionHeartbeat"
	activityConfirmHeartbeat    = "ConfirmHeartbeat"
)

// HeartbeatStartOptions: one workflow per connection. A confirm finds the running one; a closed
// one (cancelled by an operator) may be started again, because the connection still needs it.
func HeartbeatStartOptions(in HeartbeatInput, taskQueue string) client.StartWorkflowOptions {
	return connectionStartOptions(HeartbeatID(in.ConnectionID), in.PartnerID, in.TenantID, in.ConnectionID, taskQueue)
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

// HeartbeatWorkflow is heartbeat/<connectionId>.
func HeartbeatWorkflow(ctx workflow.Context, in HeartbeatInput) error {
	sh := currentShape(ctx)
	h := &heartbeat{in: in, shape: sh, ids: sh.idSource()}
	if err := h.setup(ctx); err != nil {
		return err
	}
	return h.run(ctx)
}

type heartbeat struct {
	ids       IDSource // every id this run makes
	shape     shape
	in        HeartbeatInput
	state     HeartbeatState
	loaded    bool
	reset     bool
	changed   bool // a confirmation committed since the main loop last looked
	confirmed bool
}

func (h *heartbeat) setup(ctx workflow.Context) error {
	err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateHeartbeatConfirm, h.confirm, workflow.UpdateHandlerOptions{
		Validator: func(workflow.Context) error {
			if h.loaded && !h.state.Applies {
				return errors.New("the heartbeat does not apply to this connection")
			}
			return nil
		},
	})
	if err != nil {
		return err
	}
	reset := workflow.GetSignalChannel(ctx, SignalHeartbeatReset)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for reset.Receive(ctx, nil) {
			h.reset = true
		}
	})
	return nil
}

// confirm commits a confirmation (SPEC §7.6) and answers the committed state.
func (h *heartbeat) confirm(ctx workflow.Context) (HeartbeatState, error) {
	if err := workflow.Await(ctx, func() bool { return h.loaded }); err != nil {
		return HeartbeatState{}, err
	}
	if !h.state.Applies {
		return HeartbeatState{}, temporal.NewNonRetryableApplicationError(
			"The heartbeat applies to coexistence connections only.", ReasonHeartbeatNotApplicable, nil)
	}
	in := HeartbeatConfirmInput{ConnectionID: h.in.ConnectionID, EventID: h.ids.EventID(ctx), Period: h.state.Period}
	var st HeartbeatState
	if err := h.shape.db(ctx, activityConfirmHeartbeat, in).Get(ctx, &st); err != nil {
		return HeartbeatState{}, err
	}
	h.accept(st)
	h.changed, h.confirmed = true, true
	h.deliver(ctx, in.EventID)
	return st, nil
}

func (h *heartbeat) run(ctx workflow.Context) error {
	load := HeartbeatLoadInput{ConnectionID: h.in.ConnectionID, Period: h.in.Period, DueSoonBefore: h.in.DueSoonBefore}
	if err := h.shape.db(ctx, activityLoadHeartbeat, load).Get(ctx, &h.state); err != nil {
		return err
	}
	h.loaded = true
	for h.state.Applies {
		if h.reset || h.confirmed || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			// A new run per cycle keeps the history small; it reloads the state from PostgreSQL.
			if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
				return err
			}
			return workflow.NewContinueAsNewError(ctx, HeartbeatWorkflowName, h.in)
		}
		next, wait := h.next(workflow.Now(ctx))
		if next == "" || wait > 0 {
			h.changed = false
			var err error
			if next == "" {
				err = workflow.Await(ctx, func() bool { return h.changed || h.reset })
			} else {
				_, err = workflow.AwaitWithTimeout(ctx, wait, func() bool { return h.changed || h.reset })
			}
			if err != nil {
				return err // cancelled: the connection was disconnected
			}
			continue // re-evaluate: a confirmation, a reset, or the timer
		}
		if err := h.transition(ctx, next); err != nil {
			return err
		}
	}
	_ = workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
	return nil
}

// next is the status due now ("" wait = 0) or the next one and how long until it ("" when
// OVERDUE: only a confirmation changes it).
func (h *heartbeat) next(now time.Time) (string, time.Duration) {
	deadline := h.state.LastConfirmedAt.Add(h.state.Period)
	dueSoon := deadline.Add(-h.state.DueSoonBefore)
	switch {
	case h.state.Status == HeartbeatOverdue:
		return "", 0
	case !now.Before(deadline):
		return HeartbeatOverdue, 0
	case h.state.Status == HeartbeatDueSoon:
		return HeartbeatOverdue, deadline.Sub(now)
	case !now.Before(dueSoon):
		return HeartbeatDueSoon, 0
	}
	return HeartbeatDueSoon, dueSoon.Sub(now)
}

func (h *heartbeat) transition(ctx workflow.Context, status string) error {
	in := HeartbeatTransitionInput{ConnectionID: h.in.ConnectionID, LastConfirmedAt: h.state.LastConfirmedAt, Status: status, EventID: h.ids.EventID(ctx)}
	var out HeartbeatTransition
	if err := h.shape.db(ctx, activityTransitionHeartbeat, in).Get(ctx, &out); err != nil {
		return err
	}
	h.accept(out.State)
	if out.Emitted {
		h.deliver(ctx, in.EventID)
	}
	return nil
}

// accept takes a committed state unless a newer confirmation was already seen: a transition's
// answer may arrive after a concurrent confirmation's.
func (h *heartbeat) accept(st HeartbeatState) {
	if h.loaded && st.Applies && st.LastConfirmedAt.Before(h.state.LastConfirmedAt) {
		return
	}
	h.state = st
}

func (h *heartbeat) deliver(ctx workflow.Context, eventID string) {
	// Disconnected: a committed event is delivered even if the workflow is being cancelled.
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	if err := DeliverEventsAsChildren(dctx, eventID); err != nil {
		workflow.GetLogger(ctx).Error("starting an event's delivery failed; replay it from the delivery log", "EventId", eventID, "error", err)
	}
}
