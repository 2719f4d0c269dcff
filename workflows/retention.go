package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// RetentionPolicy says how many days each kind of record is kept (SPEC §8.6).
type RetentionPolicy struct {
	EventsDays      int
	IdempotencyDays int
	AuditDays       int
}

// PruneResult counts what one run deleted.
type PruneResult struct {
	Events            int64
	IdempotencyRecord int64
	AuditRows         int64
	RateLimitCounters int64
	// WebhookUpdates and MetaWebhookDeliveries follow the events' retention.
	WebhookUpdates        int64
	MetaWebhookDeliveries int64
}

// RetentionWorkflow prunes old records. A Schedule runs it periodically, so operators see every
// run, its counts and any failure in the Temporal UI.
func RetentionWorkflow(ctx workflow.Context, policy RetentionPolicy) (PruneResult, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 5 * time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 10 * time.Second, MaximumAttempts: 5},
	})
	var result PruneResult
	err := workflow.ExecuteActivity(ctx, activityPruneRetention, policy).Get(ctx, &result)
	return result, err
}

// Activity names: workflows refer to activities by name so this package never imports the
// activities package (and through it the database).
const activityPruneRetention = "PruneRetention"
