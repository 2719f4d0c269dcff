package workflows_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/dualhook/dualhook/internal/ids"
	"github.com/dualhook/dualhook/workflows"
)

// The activities as the worker registers them (by name), stubbed per test.
func deliverEvent(context.Context, workflows.DeliverEventInput) (workflows.DeliveryResult, error) {
	return workflows.DeliveryResult{}, nil
}

func deliverEventFirst(context.Context, workflows.DeliverEventInput) (workflows.DeliveryResult, error) {
	return workflows.DeliveryResult{}, nil
}

func describeEvent(context.Context, string) (workflows.EventSummary, error) {
	return workflows.EventSummary{}, nil
}

func newEnv(t *testing.T) *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterActivityWithOptions(deliverEvent, activity.RegisterOptions{Name: "DeliverEvent"})
	env.RegisterActivityWithOptions(deliverEventFirst, activity.RegisterOptions{Name: "DeliverEventFirst"})
	env.RegisterActivityWithOptions(describeEvent, activity.RegisterOptions{Name: "DescribeEvent"})
	env.RegisterWorkflowWithOptions(workflows.DeliveryWorkflow, workflow.RegisterOptions{Name: workflows.DeliveryWorkflowName})
	return env
}

// emitting stands for a session workflow: ids first, then deliveries, then its own result.
func emitting(ctx workflow.Context, n int) ([]workflows.DeliveryResult, error) {
	var src workflows.IDSource
	var idList []string
	for range n {
		idList = append(idList, src.EventID(ctx))
	}
	return workflows.DeliverEvents(ctx, idList...), nil
}

func TestDeliverEventsNeverFailsTheCaller(t *testing.T) {
	env := newEnv(t)
	// The three first attempts run concurrently (local activities): guard what they share.
	var mu sync.Mutex
	firstCalls := 0
	var retried string
	env.OnActivity("DeliverEventFirst", mock.Anything, mock.Anything).Return(
		func(_ context.Context, in workflows.DeliverEventInput) (workflows.DeliveryResult, error) {
			mu.Lock()
			defer mu.Unlock()
			firstCalls++
			if firstCalls == 1 {
				retried = in.EventID
				return workflows.DeliveryResult{EventID: in.EventID, Status: workflows.DeliveryRetry, Attempts: 1,
					NextDelay: time.Minute, Error: "attempt 1 of 7: HTTP 500"}, nil
			}
			return workflows.DeliveryResult{EventID: in.EventID, Status: workflows.DeliveryDelivered, Attempts: 1}, nil
		})
	env.OnActivity("DeliverEvent", mock.Anything, mock.Anything).Return(
		func(_ context.Context, in workflows.DeliverEventInput) (workflows.DeliveryResult, error) {
			mu.Lock()
			defer mu.Unlock()
			assert.Equal(t, retried, in.EventID, "only the failed first attempt goes on to the retrying activity")
			res := workflows.DeliveryResult{EventID: in.EventID, Status: workflows.DeliveryFailed, Attempts: 7}
			return res, temporal.NewApplicationErrorWithOptions("attempt 7 of 7: HTTP 500", "DeliveryFailed",
				temporal.ApplicationErrorOptions{NonRetryable: true, Details: []any{res}})
		})
	env.ExecuteWorkflow(emitting, 3)
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var results []workflows.DeliveryResult
	require.NoError(t, env.GetWorkflowResult(&results))
	require.Len(t, results, 3)
	statuses := map[string]int{}
	for _, r := range results {
		assert.True(t, ids.HasPrefix(r.EventID, ids.Event), r.EventID)
		statuses[r.Status]++
		if r.Status == workflows.DeliveryFailed {
			assert.Equal(t, 7, r.Attempts)
			assert.Equal(t, "attempt 7 of 7: HTTP 500", r.Error)
		}
	}
	assert.Equal(t, map[string]int{workflows.DeliveryFailed: 1, workflows.DeliveryDelivered: 2}, statuses)
	env.AssertNumberOfCalls(t, "DeliverEvent", 1)
}

func TestFirstAttemptErrorHandsOverToTheActivity(t *testing.T) {
	env := newEnv(t)
	env.OnActivity("DeliverEventFirst", mock.Anything, mock.Anything).Return(workflows.DeliveryResult{}, errors.New("database unreachable"))
	env.OnActivity("DeliverEvent", mock.Anything, mock.Anything).Return(
		func(_ context.Context, in workflows.DeliverEventInput) (workflows.DeliveryResult, error) {
			return workflows.DeliveryResult{EventID: in.EventID, Status: workflows.DeliveryDelivered, Attempts: 1}, nil
		})
	env.ExecuteWorkflow(emitting, 1)
	require.NoError(t, env.GetWorkflowError())
	var results []workflows.DeliveryResult
	require.NoError(t, env.GetWorkflowResult(&results))
	assert.Equal(t, workflows.DeliveryDelivered, results[0].Status)
}

func TestDeliveriesRunConcurrentlyWithTheWorkflow(t *testing.T) {
	for _, tc := range []struct {
		name     string
		start    func(workflow.Context, ...string) *workflows.Deliveries
		activity string // the activity every delivery runs
		unused   string // and the one it never runs
	}{
		{"StartDeliveries: activities, the task never waits for a receiver", workflows.StartDeliveries, "DeliverEvent", "DeliverEventFirst"},
		{"StartDeliveriesInWorker: first attempts as local activities", workflows.StartDeliveriesInWorker, "DeliverEventFirst", "DeliverEvent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(t)
			delivered := func(_ context.Context, in workflows.DeliverEventInput) (workflows.DeliveryResult, error) {
				return workflows.DeliveryResult{EventID: in.EventID, Status: workflows.DeliveryDelivered, Attempts: 1}, nil
			}
			env.OnActivity("DeliverEventFirst", mock.Anything, mock.Anything).Return(delivered).Maybe()
			env.OnActivity("DeliverEvent", mock.Anything, mock.Anything).Return(delivered).Maybe()
			wf := func(ctx workflow.Context) (int, error) {
				var src workflows.IDSource
				d := tc.start(ctx, src.EventID(ctx))
				// The workflow goes on with its work while the first event is delivered…
				if err := workflow.Sleep(ctx, 1); err != nil {
					return 0, err
				}
				d.Start(ctx, src.EventID(ctx))
				// …and waits for both before it ends.
				return len(d.Wait(ctx)), nil
			}
			env.ExecuteWorkflow(wf)
			require.NoError(t, env.GetWorkflowError())
			var n int
			require.NoError(t, env.GetWorkflowResult(&n))
			assert.Equal(t, 2, n)
			env.AssertNumberOfCalls(t, tc.activity, 2)
			env.AssertNotCalled(t, tc.unused, mock.Anything, mock.Anything)
		})
	}
}

// Ids come from the run id and a counter: a replay (a fresh IDSource in the same run) makes the
// same ids in the same order, and one run never makes the same id twice.
func TestIDSourceIsDeterministicPerRun(t *testing.T) {
	env := newEnv(t)
	wf := func(ctx workflow.Context) ([]string, error) {
		var first, replay workflows.IDSource
		a, b := first.EventID(ctx), first.EventID(ctx)
		return []string{a, b, replay.EventID(ctx), replay.EventID(ctx)}, nil
	}
	env.ExecuteWorkflow(wf)
	require.NoError(t, env.GetWorkflowError())
	var got []string
	require.NoError(t, env.GetWorkflowResult(&got))
	assert.NotEqual(t, got[0], got[1])
	assert.Equal(t, got[:2], got[2:])
	assert.True(t, ids.HasPrefix(got[0], ids.Event), got[0])
	assert.Equal(t, ids.Derived(ids.Event, "default-test-run-id", "1"), got[0], "derived from the run id")
}

func TestDeliveryActivityOptionsLeaveTheScheduleToTheActivity(t *testing.T) {
	o := workflows.DeliveryActivityOptions()
	assert.Zero(t, o.RetryPolicy.MaximumAttempts, "the activity ends the delivery itself (non-retryable error)")
	assert.NotZero(t, o.HeartbeatTimeout, "a lost worker is noticed quickly")
	assert.Greater(t, o.StartToCloseTimeout.Seconds(), 30.0, "longer than the longest HTTP timeout")
}

func TestChildDeliveriesAreAbandonedAndNotAwaited(t *testing.T) {
	env := newEnv(t)
	var started []string
	env.SetOnChildWorkflowStartedListener(func(info *workflow.Info, _ workflow.Context, _ converter.EncodedValues) {
		started = append(started, info.WorkflowExecution.ID)
	})
	env.OnActivity("DescribeEvent", mock.Anything, mock.Anything).Return(
		workflows.EventSummary{Type: "connection.heartbeat.due_soon", PartnerID: "ptn_1", TenantID: "t"}, nil)
	env.OnActivity("DeliverEventFirst", mock.Anything, mock.Anything).Return(workflows.DeliveryResult{Status: workflows.DeliveryDelivered}, nil)
	env.OnUpsertTypedSearchAttributes(mock.Anything).Return(nil)
	var idList []string
	wf := func(ctx workflow.Context) error {
		var src workflows.IDSource
		a, b := src.EventID(ctx), src.EventID(ctx)
		idList = []string{a, b}
		return workflows.DeliverEventsAsChildren(ctx, a, b)
	}
	env.ExecuteWorkflow(wf)
	require.NoError(t, env.GetWorkflowError())
	assert.ElementsMatch(t, []string{workflows.DeliveryID(idList[0]), workflows.DeliveryID(idList[1])}, started)
}

func TestDeliveryWorkflowOfAMissingEventEnds(t *testing.T) {
	env := newEnv(t)
	env.OnActivity("DescribeEvent", mock.Anything, mock.Anything).Return(workflows.EventSummary{},
		temporal.NewNonRetryableApplicationError("no event", "EventMissing", errors.New("gone")))
	env.ExecuteWorkflow(workflows.DeliveryWorkflowName, workflows.DeliveryInput{EventID: "evt_gone"})
	require.NoError(t, env.GetWorkflowError())
	var r workflows.DeliveryResult
	require.NoError(t, env.GetWorkflowResult(&r))
	assert.Equal(t, workflows.DeliveryMissing, r.Status)
}
