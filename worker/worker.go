// Package worker builds the Temporal worker: every workflow and activity is registered here, in
// one place, and the schedules the service relies on are created (idempotently) at start.
package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/dualhook/dualhook/activities"
	"github.com/dualhook/dualhook/internal/config"
	"github.com/dualhook/dualhook/internal/domain"
	"github.com/dualhook/dualhook/workflows"
)

// Options tune the worker. Pollers matter more than code for delivery throughput on small
// machines (shared/reference/toolchain.md: ~70/s default → ~118/s with 16 pollers and eager
// execution).
func Options() sdkworker.Options {
	return sdkworker.Options{
		MaxConcurrentWorkflowTaskPollers: 8,
		MaxConcurrentActivityTaskPollers: 16,
		// Graceful stop lets in-flight activities (a webhook POST) finish before exit.
		WorkerStopTimeout: 15 * time.Second,
	}
}

// New registers every workflow and activity on a worker for the task queue.
func New(c client.Client, taskQueue string, acts *activities.Activities) sdkworker.Worker {
	w := sdkworker.New(c, taskQueue, Options())
	Register(w, acts)
	return w
}

// Register adds the workflows and activities to a worker or the test environment.
func Register(r interface {
	RegisterWorkflowWithOptions(any, workflow.RegisterOptions)
	RegisterActivity(any)
}, acts *activities.Activities) {
	RegisterWorkflows(r)
	r.RegisterActivity(acts)
}

// RegisterWorkflows adds every workflow; replay tests use it with a replayer.
func RegisterWorkflows(r interface {
	RegisterWorkflowWithOptions(any, workflow.RegisterOptions)
}) {
	r.RegisterWorkflowWithOptions(workflows.RetentionWorkflow, workflow.RegisterOptions{Name: domain.RetentionWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.DeliveryWorkflow, workflow.RegisterOptions{Name: domain.DeliveryWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.RedeliveryWorkflow, workflow.RegisterOptions{Name: domain.RedeliveryWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.OnboardingWorkflow, workflow.RegisterOptions{Name: domain.OnboardingWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.SessionReconcilerWorkflow, workflow.RegisterOptions{Name: domain.SessionReconcilerWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.WebhookUpdateWorkflow, workflow.RegisterOptions{Name: domain.WebhookUpdateWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.HeartbeatWorkflow, workflow.RegisterOptions{Name: domain.HeartbeatWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.ModeWorkflow, workflow.RegisterOptions{Name: domain.ModeWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.HealthRefreshWorkflow, workflow.RegisterOptions{Name: domain.HealthRefreshWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.DisconnectWorkflow, workflow.RegisterOptions{Name: domain.DisconnectWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.MetaEventWorkflow, workflow.RegisterOptions{Name: domain.MetaEventWorkflowName})
}

// EnsureSchedules creates or updates the schedules of the service.
func EnsureSchedules(ctx context.Context, c client.Client, cfg config.Config) error {
	policy := domain.RetentionPolicy{
		EventsDays: cfg.RetentionEventsDays, IdempotencyDays: cfg.RetentionIdempotencyDays, AuditDays: cfg.RetentionAuditDays,
	}
	err := ensureSchedule(ctx, c, client.ScheduleOptions{
		ID:   domain.SessionReconcilerScheduleID,
		Spec: client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: time.Minute}}},
		Action: &client.ScheduleWorkflowAction{
			ID: domain.SessionReconcilerScheduleID, Workflow: domain.SessionReconcilerWorkflowName,
			TaskQueue: cfg.TemporalTaskQueue, WorkflowRunTimeout: 5 * time.Minute,
		},
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
	})
	if err != nil {
		return err
	}
	if err := ensureSchedule(ctx, c, HealthRefreshSchedule(cfg)); err != nil {
		return err
	}
	return ensureSchedule(ctx, c, client.ScheduleOptions{
		ID:   domain.RetentionScheduleID,
		Spec: client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: cfg.RetentionInterval}}},
		Action: &client.ScheduleWorkflowAction{
			ID: domain.RetentionScheduleID, Workflow: domain.RetentionWorkflowName, Args: []any{policy},
			TaskQueue: cfg.TemporalTaskQueue, WorkflowRunTimeout: time.Hour,
		},
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
	})
}

func ensureSchedule(ctx context.Context, c client.Client, opts client.ScheduleOptions) error {
	_, err := c.ScheduleClient().Create(ctx, opts)
	if err == nil {
		return nil
	}
	if !errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		return fmt.Errorf("schedule %s: %w", opts.ID, err)
	}
	// Configuration may have changed since the schedule was made: bring it up to date.
	h := c.ScheduleClient().GetHandle(ctx, opts.ID)
	return h.Update(ctx, client.ScheduleUpdateOptions{
		DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
			s := in.Description.Schedule
			s.Spec = &opts.Spec
			s.Action = opts.Action
			return &client.ScheduleUpdate{Schedule: &s}, nil
		},
	})
}

// HealthRefreshSchedule refreshes every active connection's health snapshot every
// DUALHOOK_HEALTH_REFRESH_INTERVAL (SPEC §7.6 [ext]). A pass still running when the next is due
// is not doubled.
func HealthRefreshSchedule(cfg config.Config) client.ScheduleOptions {
	every := cfg.HealthRefreshInterval
	if every <= 0 {
		every = 6 * time.Hour
	}
	return client.ScheduleOptions{
		ID:   domain.HealthRefreshScheduleID,
		Spec: client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: every}}},
		Action: &client.ScheduleWorkflowAction{
			ID: domain.HealthRefreshScheduleID, Workflow: domain.HealthRefreshWorkflowName,
			Args: []any{domain.HealthRefreshInput{}}, TaskQueue: cfg.TemporalTaskQueue,
		},
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
	}
}
