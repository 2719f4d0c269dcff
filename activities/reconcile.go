package activities

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/dualhook/dualhook/db/dbq"
	wf "github.com/dualhook/dualhook/workflows"
)

// reconcileGrace leaves a create in flight alone: its own request starts the workflow.
const reconcileGrace = 30 * time.Second

// ReconcileSessions starts the workflow of every session whose start was never confirmed.
func (a *Activities) ReconcileSessions(ctx context.Context) (wf.ReconcileResult, error) {
	var out wf.ReconcileResult
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
		in := wf.OnboardingInput{SessionID: s.ID, PartnerID: s.PartnerID, TenantID: s.TenantID, ExpiresAt: s.ExpiresAt, Coexistence: s.Coexistence}
		_, err := a.Temporal.ExecuteWorkflow(ctx, wf.OnboardingStartOptions(in, a.Config.TemporalTaskQueue), wf.OnboardingWorkflowName, in)
		if err != nil && !temporal.IsWorkflowExecutionAlreadyStartedError(err) {
			return out, err
		}
		if err := a.Store.MarkSessionWorkflowStarted(ctx, s.ID); err != nil {
			return out, err
		}
		out.Started++
	}
	return out, nil
}
