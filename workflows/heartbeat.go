package workflows

import (
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/dualhook/dualhook/internal/domain"
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
//   - events go out as child workflows delivery/<eventId> (NobodyWaitsLongLived), so the
//     workflow never waits ~31 h for a partner's receiver and can continue-as-new after every
//     confirmation: each run is one cycle, and the history stays small;
//   - the `reset` signal (re-onboarding restarted the clock) reloads the state in a new run;
//   - it ends when the connection no longer needs it (disconnected, no longer coexistence) and
//     when it is cancelled — the disconnect workflow cancels heartbeat/<connectionId>.

// HeartbeatWorkflow is heartbeat/<connectionId>.
func HeartbeatWorkflow(ctx workflow.Context, in domain.HeartbeatInput) error {
	h := &heartbeat{in: in}
	if err := h.setup(ctx); err != nil {
		return err
	}
	return h.run(ctx)
}

type heartbeat struct {
	in        domain.HeartbeatInput
	state     domain.HeartbeatState
	loaded    bool
	reset     bool
	changed   bool // a confirmation committed since the main loop last looked
	confirmed bool
}

func (h *heartbeat) setup(ctx workflow.Context) error {
	err := workflow.SetUpdateHandlerWithOptions(ctx, domain.UpdateHeartbeatConfirm, h.confirm, workflow.UpdateHandlerOptions{
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
	reset := workflow.GetSignalChannel(ctx, domain.SignalHeartbeatReset)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for reset.Receive(ctx, nil) {
			h.reset = true
		}
	})
	return nil
}

// confirm commits a confirmation (SPEC §7.6) and answers the committed state.
func (h *heartbeat) confirm(ctx workflow.Context) (domain.HeartbeatState, error) {
	if err := workflow.Await(ctx, func() bool { return h.loaded }); err != nil {
		return domain.HeartbeatState{}, err
	}
	if !h.state.Applies {
		return domain.HeartbeatState{}, temporal.NewNonRetryableApplicationError(
			"The heartbeat applies to coexistence connections only.", domain.ReasonHeartbeatNotApplicable, nil)
	}
	in := domain.HeartbeatConfirmInput{ConnectionID: h.in.ConnectionID, Period: h.state.Period,
		// One event per confirmation: the Update's id names it.
		EventID: eventID(ctx, "confirm/"+workflow.GetCurrentUpdateInfo(ctx).ID),
	}
	var st domain.HeartbeatState
	if err := local(ctx, acts.ConfirmHeartbeat, in).Get(ctx, &st); err != nil {
		return domain.HeartbeatState{}, err
	}
	h.accept(st)
	h.changed, h.confirmed = true, true
	h.deliver(ctx, in.EventID)
	return st, nil
}

func (h *heartbeat) run(ctx workflow.Context) error {
	load := domain.HeartbeatLoadInput{ConnectionID: h.in.ConnectionID, Period: h.in.Period, DueSoonBefore: h.in.DueSoonBefore}
	if err := local(ctx, acts.LoadHeartbeat, load).Get(ctx, &h.state); err != nil {
		return err
	}
	h.loaded = true
	for h.state.Applies {
		if h.reset || h.confirmed || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			// A new run per cycle keeps the history small; it reloads the state from PostgreSQL.
			if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
				return err
			}
			return workflow.NewContinueAsNewError(ctx, HeartbeatWorkflow, h.in)
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
	case h.state.Status == domain.HeartbeatOverdue:
		return "", 0
	case !now.Before(deadline):
		return domain.HeartbeatOverdue, 0
	case h.state.Status == domain.HeartbeatDueSoon:
		return domain.HeartbeatOverdue, deadline.Sub(now)
	case !now.Before(dueSoon):
		return domain.HeartbeatDueSoon, 0
	}
	return domain.HeartbeatDueSoon, dueSoon.Sub(now)
}

func (h *heartbeat) transition(ctx workflow.Context, status string) error {
	in := domain.HeartbeatTransitionInput{
		ConnectionID: h.in.ConnectionID, LastConfirmedAt: h.state.LastConfirmedAt, Status: status,
		// One event per status per confirmation cycle.
		EventID: eventID(ctx, "transition/"+status+"/"+h.state.LastConfirmedAt.UTC().Format(time.RFC3339Nano)),
	}
	var out domain.HeartbeatTransition
	if err := local(ctx, acts.TransitionHeartbeat, in).Get(ctx, &out); err != nil {
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
func (h *heartbeat) accept(st domain.HeartbeatState) {
	if h.loaded && st.Applies && st.LastConfirmedAt.Before(h.state.LastConfirmedAt) {
		return
	}
	h.state = st
}

func (h *heartbeat) deliver(ctx workflow.Context, eventID string) {
	// Disconnected: a committed event is delivered even if the workflow is being cancelled.
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	StartDeliveries(dctx, NobodyWaitsLongLived, eventID).Wait(dctx)
}
