// Package sessionworkflow is the one place that starts, or finds, an onboarding session's
// workflow: the API (create, page open, callback, cancel), the session reconciler and the
// operator CLI all go through it, so the workflow's id, input and start options are written once.
//
// Every way in starts the workflow if it is missing — a crash between the session row and the
// workflow start must never leave a session that nothing can move — and finds the running one
// otherwise (WorkflowIDConflictPolicy USE_EXISTING).
package sessionworkflow

import (
	"context"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/dualhook/dualhook/db/dbq"
	"github.com/dualhook/dualhook/internal/domain"
)

// Starter starts sessions' workflows on a task queue.
type Starter struct {
	Temporal  client.Client
	TaskQueue string
}

// Input is the workflow's input for a session row.
func Input(session dbq.OnboardingSession) domain.OnboardingInput {
	return domain.OnboardingInput{
		SessionID: session.ID, PartnerID: session.PartnerID, TenantID: session.TenantID,
		ExpiresAt: session.ExpiresAt, Coexistence: session.Coexistence,
	}
}

// Options are the workflow's start options for a session row.
func (s Starter) Options(session dbq.OnboardingSession) client.StartWorkflowOptions {
	return domain.OnboardingStartOptions(Input(session), s.TaskQueue)
}

// Start starts the session's workflow, or finds the one already running.
func (s Starter) Start(ctx context.Context, session dbq.OnboardingSession) error {
	_, err := s.Temporal.ExecuteWorkflow(ctx, s.Options(session), domain.OnboardingWorkflowName, Input(session))
	if temporal.IsWorkflowExecutionAlreadyStartedError(err) {
		return nil // it ran and finished: the session is decided
	}
	return err
}

// Signal sends a signal, starting the workflow first if it is missing.
func (s Starter) Signal(ctx context.Context, session dbq.OnboardingSession, signal string, arg any) error {
	_, err := s.Temporal.SignalWithStartWorkflow(ctx, session.WorkflowID, signal, arg, s.Options(session),
		domain.OnboardingWorkflowName, Input(session))
	return err
}

// Update sends an Update, starting the workflow first if it is missing.
func (s Starter) Update(ctx context.Context, session dbq.OnboardingSession, update client.UpdateWorkflowOptions) (client.WorkflowUpdateHandle, error) {
	start := s.Temporal.NewWithStartWorkflowOperation(s.Options(session), domain.OnboardingWorkflowName, Input(session))
	return s.Temporal.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: start, UpdateOptions: update,
	})
}
