package activities

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"

	"github.com/dualhook/dualhook/db/dbq"
	"github.com/dualhook/dualhook/internal/domain"
	"github.com/dualhook/dualhook/internal/events"
	"github.com/dualhook/dualhook/internal/opt"
	"github.com/dualhook/dualhook/internal/sessionworkflow"
)

// reconcileGrace leaves a create in flight alone: its own request starts the workflow.
const reconcileGrace = 30 * time.Second

// ReconcileSessions starts the workflow of every session whose start was never confirmed.
func (a *Activities) ReconcileSessions(ctx context.Context) (domain.ReconcileResult, error) {
	var out domain.ReconcileResult
	if a.Temporal == nil {
		return out, fmt.Errorf("reconcile: no Temporal client")
	}
	rows, err := a.Store.ListSessionsWithoutWorkflow(ctx, dbq.ListSessionsWithoutWorkflowParams{
		CreatedAt: a.now().Add(-reconcileGrace), Limit: 200,
	})
	if err != nil {
		return out, err
	}
	for _, s := range rows {
		starter := sessionworkflow.Starter{Temporal: a.Temporal, TaskQueue: a.Config.TemporalTaskQueue}
		if err := starter.Start(ctx, s); err != nil {
			return out, err
		}
		if err := a.Store.MarkSessionWorkflowStarted(ctx, s.ID); err != nil {
			return out, err
		}
		out.Started++
	}
	return out, nil
}

// Stranded events: how the reconciler works through pending events.
const (
	// rescueRecheck: a pending event whose workflow was running is looked at again after this.
	// Events wait up to 24 h between attempts, so most candidates are alive; this keeps the
	// Temporal calls to a trickle however many there are.
	rescueRecheck = time.Hour
	// rescueBatch bounds one pass (the schedule runs every minute).
	rescueBatch = 200
)

// RescueStrandedEvents replays pending events that no running workflow delivers: their
// workflow was terminated (or timed out, or reset) before the delivery ended, so nothing would
// ever send them. Each is replayed like an operator's replay (redelivery/<eventId>/<n>); the
// receiver may have seen it already, as with any retry. Events stored before the emitting
// workflow was recorded with them are left alone: there is nothing to ask about.
func (a *Activities) RescueStrandedEvents(ctx context.Context) (int, error) {
	if a.Temporal == nil {
		return 0, fmt.Errorf("rescue: no Temporal client")
	}
	now := a.now()
	rows, err := a.Store.ListRescueCandidates(ctx, dbq.ListRescueCandidatesParams{
		UpdatedBefore: now.Add(-a.Config.EventRescueWait()), CheckedBefore: now.Add(-rescueRecheck), RowLimit: rescueBatch,
	})
	if err != nil {
		return 0, err
	}
	replayer := events.Replayer{Store: a.Store, Temporal: a.Temporal, TaskQueue: a.Config.TemporalTaskQueue}
	rescued := 0
	for _, ev := range rows {
		stranded, err := a.stranded(ctx, ev)
		if err != nil {
			return rescued, err
		}
		if stranded {
			id, err := replayer.Redeliver(ctx, ev)
			if err != nil {
				return rescued, err
			}
			a.Logger.Warn("replaying an event no running workflow was delivering",
				"event_id", ev.ID, "event_type", ev.Type, "partner_id", ev.PartnerID, "was", opt.Deref(ev.WorkflowID), "workflow_id", id)
			rescued++
		}
		if err := a.Store.MarkRescueChecked(ctx, ev.ID); err != nil {
			return rescued, err
		}
	}
	return rescued, nil
}

// stranded reports whether no running workflow delivers ev: not its latest replay, not a child
// delivery/<eventId>, not the workflow recorded with it (the emitter, or the latest attempt's).
func (a *Activities) stranded(ctx context.Context, ev dbq.Event) (bool, error) {
	if ev.WorkflowID == nil {
		return false, nil
	}
	candidates := []string{domain.DeliveryID(ev.ID)}
	if ev.RedeliveryCount > 0 {
		candidates = append(candidates, domain.RedeliveryID(ev.ID, int64(ev.RedeliveryCount)))
	}
	// After an attempt the recorded workflow is often one of those two: ask Temporal once.
	if !slices.Contains(candidates, *ev.WorkflowID) {
		candidates = append(candidates, *ev.WorkflowID)
	}
	for _, id := range candidates {
		d, err := a.Temporal.DescribeWorkflow(ctx, id, "")
		var notFound *serviceerror.NotFound
		switch {
		case errors.As(err, &notFound):
			continue
		case err != nil:
			return false, fmt.Errorf("rescue: describe %s: %w", id, err)
		case d.Status == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
			return false, nil
		}
	}
	return true, nil
}
