package workflows

import (
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/dualhook/dualhook/internal/domain"
)

// Reconciliation, every minute:
//   - sessions (SPEC §4.4): a crash between a session's row and its workflow start leaves a
//     session nobody drives. A retried create with the same Idempotency-Key repairs it, and so do
//     the page and the callback (they signal- and update-with-start); this repairs the rest, so
//     every session still expires on time;
//   - stranded events: a pending event whose delivering workflow was terminated is replayed
//     (docs/events.md).

// SessionReconcilerWorkflow runs one reconciliation pass.
func SessionReconcilerWorkflow(ctx workflow.Context) (domain.ReconcileResult, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 5 * time.Second, MaximumAttempts: 3},
	})
	var out domain.ReconcileResult
	sessions := workflow.ExecuteActivity(ctx, acts.ReconcileSessions)
	rescue := workflow.ExecuteActivity(ctx, acts.RescueStrandedEvents)
	errSessions := sessions.Get(ctx, &out)
	errRescue := rescue.Get(ctx, &out.RescuedEvents)
	return out, errors.Join(errSessions, errRescue)
}
