package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Session reconciliation (SPEC §4.4): a crash between a session's row and its workflow start
// leaves a session nobody drives. A retried create with the same Idempotency-Key repairs it, and
// so do the page and the callback (they signal- and update-with-start); this schedule repairs
// the rest, so every session still expires on time.

// SessionReconcilerScheduleID names the schedule.
const SessionReconcilerScheduleID = "session-reconciler"

// ReconcileResult counts the workflows started.
type ReconcileResult struct {
	Started int
}

// SessionReconcilerWorkflow runs one reconciliation pass.
func SessionReconcilerWorkflow(ctx workflow.Context) (ReconcileResult, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 5 * time.Second, MaximumAttempts: 3},
	})
	var out ReconcileResult
	err := workflow.ExecuteActivity(ctx, activityReconcileSessions).Get(ctx, &out)
	return out, err
}

const activityReconcileSessions = "ReconcileSessions"
