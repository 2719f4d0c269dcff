package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/dualhook/dualhook/internal/domain"
)

// Health refresh (SPEC §7.6 [ext]): the `health-refresh` Schedule runs this workflow every
// DUALHOOK_HEALTH_REFRESH_INTERVAL. It walks every active connection in id order, a page per
// activity, and stores each number's health snapshot as Meta reports it. One connection's
// failure (a revoked token: tokenStatus becomes expired) does not stop the others.

// healthPagesPerRun bounds one run's history; the next run continues after the last id.
const healthPagesPerRun = 200

// HealthRefreshWorkflow refreshes every active connection once.
func HealthRefreshWorkflow(ctx workflow.Context, in domain.HealthRefreshInput) (domain.HealthRefreshInput, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		// A page makes up to 25 Graph calls of at most 30 s each, one after the other.
		StartToCloseTimeout: 15 * time.Minute,
		HeartbeatTimeout:    2 * time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 10 * time.Second, MaximumAttempts: 5},
	})
	for range healthPagesPerRun {
		var page domain.HealthPageResult
		if err := workflow.ExecuteActivity(ctx, acts.RefreshHealthPage, domain.HealthPage{AfterID: in.AfterID, Limit: domain.HealthRefreshPageSize}).Get(ctx, &page); err != nil {
			return in, err
		}
		in.Refreshed += page.Refreshed
		in.Failed += page.Failed
		if page.LastID == "" {
			in.AfterID = ""
			return in, nil
		}
		in.AfterID = page.LastID
	}
	return in, workflow.NewContinueAsNewError(ctx, HealthRefreshWorkflow, in)
}
