package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/dualhook/dualhook/internal/domain"
)

// RetentionWorkflow prunes old records. A Schedule runs it periodically, so operators see every
// run, its counts and any failure in the Temporal UI.
func RetentionWorkflow(ctx workflow.Context, policy domain.RetentionPolicy) (domain.PruneResult, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 5 * time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 10 * time.Second, MaximumAttempts: 5},
	})
	var result domain.PruneResult
	err := workflow.ExecuteActivity(ctx, acts.PruneRetention, policy).Get(ctx, &result)
	return result, err
}
