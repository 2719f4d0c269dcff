package worker_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/dualhook/dualhook/internal/config"
	"github.com/dualhook/dualhook/internal/domain"
	"github.com/dualhook/dualhook/testkit/testenv"
	"github.com/dualhook/dualhook/worker"
)

// The health-refresh Schedule (SPEC §7.6 [ext]) runs HealthRefreshWorkflow every
// DUALHOOK_HEALTH_REFRESH_INTERVAL, never two passes at once, and follows a changed interval.
func TestHealthRefreshScheduleFollowsTheConfiguration(t *testing.T) {
	opts := worker.HealthRefreshSchedule(config.Config{TemporalTaskQueue: "q"})
	assert.Equal(t, domain.HealthRefreshScheduleID, opts.ID)
	assert.Equal(t, 6*time.Hour, opts.Spec.Intervals[0].Every, "the default when unset")
	assert.Equal(t, enumspb.SCHEDULE_OVERLAP_POLICY_SKIP, opts.Overlap)
	action := opts.Action.(*client.ScheduleWorkflowAction)
	assert.Equal(t, domain.HealthRefreshWorkflowName, action.Workflow)
	assert.Equal(t, "q", action.TaskQueue)

	tc := testenv.Temporal(t)
	ctx := context.Background()
	cfg := config.Config{TemporalTaskQueue: testenv.TaskQueue(t), RetentionInterval: time.Hour, HealthRefreshInterval: 3 * time.Hour}
	require.NoError(t, worker.EnsureSchedules(ctx, tc, cfg))
	cfg.HealthRefreshInterval = 90 * time.Minute
	require.NoError(t, worker.EnsureSchedules(ctx, tc, cfg))
	desc, err := tc.ScheduleClient().GetHandle(ctx, domain.HealthRefreshScheduleID).Describe(ctx)
	require.NoError(t, err)
	require.Len(t, desc.Schedule.Spec.Intervals, 1)
	assert.Equal(t, 90*time.Minute, desc.Schedule.Spec.Intervals[0].Every)
}
