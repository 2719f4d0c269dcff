package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Health refresh (SPEC §7.6 [ext]): the `health-refresh` Schedule runs this workflow every
// DUALHOOK_HEALTH_REFRESH_INTERVAL. It walks every active connection in id order, a page per
// activity, and stores each number's health snapshot as Meta reports it. One connection's
// failure (a revoked token: tokenStatus becomes expired) does not stop the others.

// HealthRefreshWorkflowName names the workflow.
const HealthRefreshWorkflowName = "HealthRefreshWorkflow"

// HealthRefreshPageSize is how many connections one activity refreshes.
const HealthRefreshPageSize = 25

// healthPagesPerRun bounds one run's history; the next run continues after the last id.
const healthPagesPerRun = 200

// HealthRefreshInput continues a pass after a connection id ("" starts from the beginning).
type HealthRefreshInput struct {
	AfterID string `json:",omitempty"`
	// Totals of the pass so far (carried across continue-as-new).
	Refreshed int `json:",omitempty"`
	Failed    int `json:",omitempty"`
}

// HealthPage asks for one page of refreshes.
type HealthPage struct {
	AfterID string
	Limit   int
}

// HealthPageResult says what one page did; LastID is "" when there was nothing left.
type HealthPageResult struct {
	LastID    string
	Refreshed int
	Failed    int
}

const activityRefreshHealthPage = "RefreshHealthPage"

// HealthRefreshWorkflow refreshes every active connection once.
func HealthRefreshWorkflow(ctx workflow.Context, in HealthRefreshInput) (HealthRefreshInput, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		// A page makes up to 25 Graph calls of at most 30 s each, one after the other.
		StartToCloseTimeout: 15 * time.Minute,
		HeartbeatTimeout:    2 * time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 10 * time.Second, MaximumAttempts: 5},
	})
	for range healthPagesPerRun {
		var page HealthPageResult
		if err := workflow.ExecuteActivity(ctx, activityRefreshHealthPage, HealthPage{AfterID: in.AfterID, Limit: HealthRefreshPageSize}).Get(ctx, &page); err != nil {
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
	return in, workflow.NewContinueAsNewError(ctx, HealthRefreshWorkflowName, in)
}
