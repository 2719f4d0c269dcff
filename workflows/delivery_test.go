package workflows_test

import (
	"context"
	"errors"
	"strconv"
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

	"github.com/dualhook/dualhook/internal/domain"
	"github.com/dualhook/dualhook/internal/ids"
	"github.com/dualhook/dualhook/workflows"
)

// The activities as the worker registers them (by name), stubbed per test.
func deliverEvent(context.Context, domain.DeliverEventInput) (domain.DeliveryResult, error) {
	return domain.DeliveryResult{}, nil
}

func deliverEventFirst(context.Context, domain.DeliverEventInput) (domain.DeliveryResult, error) {
	return domain.DeliveryResult{}, nil
}

func describeEvent(context.Context, string) (domain.EventSummary, error) {
	return domain.EventSummary{}, nil
}

func newEnv(t *testing.T) *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterActivityWithOptions(deliverEvent, activity.RegisterOptions{Name: "DeliverEvent"})
	env.RegisterActivityWithOptions(deliverEventFirst, activity.RegisterOptions{Name: "DeliverEventFirst"})
	env.RegisterActivityWithOptions(describeEvent, activity.RegisterOptions{Name: "DescribeEvent"})
	env.RegisterWorkflowWithOptions(workflows.DeliveryWorkflow, workflow.RegisterOptions{Name: domain.DeliveryWorkflowName})
	return env
}

// emitting stands for a session workflow: ids first, then deliveries, then its own result.
func emitting(ctx workflow.Context, n int) ([]domain.DeliveryResult, error) {
	var idList []string
	for i := range n {
		idList = append(idList, workflows.EventID(ctx, strconv.Itoa(i)))
	}
	return workflows.StartDeliveries(ctx, workflows.NobodyWaits, idList...).Wait(ctx), nil
}

func TestDeliverEventsNeverFailsTheCaller(t *testing.T) {
	env := newEnv(t)
	// The three first attempts run concurrently (local activities): guard what they share.
	var mu sync.Mutex
	firstCalls := 0
	var retried string
	env.OnActivity("DeliverEventFirst", mock.Anything, mock.Anything).Return(
		func(_ context.Context, in domain.DeliverEventInput) (domain.DeliveryResult, error) {
			mu.Lock()
			defer mu.Unlock()
			firstCalls++
			if firstCalls == 1 {
				retried = in.EventID
				return domain.DeliveryResult{EventID: in.EventID, Status: domain.DeliveryRetry, Attempts: 1,
					NextDelay: time.Minute, Error: "attempt 1 of 7: HTTP 500"}, nil
			}
			return domain.DeliveryResult{EventID: in.EventID, Status: domain.DeliveryDelivered, Attempts: 1}, nil
		})
	env.OnActivity("DeliverEvent", mock.Anything, mock.Anything).Return(
		func(_ context.Context, in domain.DeliverEventInput) (domain.DeliveryResult, error) {
			mu.Lock()
			defer mu.Unlock()
			assert.Equal(t, retried, in.EventID, "only the failed first attempt goes on to the retrying activity")
			res := domain.DeliveryResult{EventID: in.EventID, Status: domain.DeliveryFailed, Attempts: 7}
			return res, temporal.NewApplicationErrorWithOptions("attempt 7 of 7: HTTP 500", "DeliveryFailed",
				temporal.ApplicationErrorOptions{NonRetryable: true, Details: []any{res}})
		})
	env.ExecuteWorkflow(emitting, 3)
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var results []domain.DeliveryResult
	require.NoError(t, env.GetWorkflowResult(&results))
	require.Len(t, results, 3)
	statuses := map[string]int{}
	for _, r := range results {
		assert.True(t, ids.HasPrefix(r.EventID, ids.Event), r.EventID)
		statuses[r.Status]++
		if r.Status == domain.DeliveryFailed {
			assert.Equal(t, 7, r.Attempts)
			assert.Equal(t, "attempt 7 of 7: HTTP 500", r.Error)
		}
	}
	assert.Equal(t, map[string]int{domain.DeliveryFailed: 1, domain.DeliveryDelivered: 2}, statuses)
	env.AssertNumberOfCalls(t, "DeliverEvent", 1)
}

func TestFirstAttemptErrorHandsOverToTheActivity(t *testing.T) {
	env := newEnv(t)
	env.OnActivity("DeliverEventFirst", mock.Anything, mock.Anything).Return(domain.DeliveryResult{}, errors.New("database unreachable"))
	env.OnActivity("DeliverEvent", mock.Anything, mock.Anything).Return(
		func(_ context.Context, in domain.DeliverEventInput) (domain.DeliveryResult, error) {
			return domain.DeliveryResult{EventID: in.EventID, Status: domain.DeliveryDelivered, Attempts: 1}, nil
		})
	env.ExecuteWorkflow(emitting, 1)
	require.NoError(t, env.GetWorkflowError())
	var results []domain.DeliveryResult
	require.NoError(t, env.GetWorkflowResult(&results))
	assert.Equal(t, domain.DeliveryDelivered, results[0].Status)
}

func TestDeliveriesRunConcurrentlyWithTheWorkflow(t *testing.T) {
	for _, tc := range []struct {
		name     string
		waiter   workflows.Waiter
		activity string // the activity every delivery runs
		unused   string // and the one it never runs
	}{
		{"SomeoneWaits: activities, the task never waits for a receiver", workflows.SomeoneWaits, "DeliverEvent", "DeliverEventFirst"},
		{"NobodyWaits: first attempts as local activities", workflows.NobodyWaits, "DeliverEventFirst", "DeliverEvent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(t)
			delivered := func(_ context.Context, in domain.DeliverEventInput) (domain.DeliveryResult, error) {
				return domain.DeliveryResult{EventID: in.EventID, Status: domain.DeliveryDelivered, Attempts: 1}, nil
			}
			env.OnActivity("DeliverEventFirst", mock.Anything, mock.Anything).Return(delivered).Maybe()
			env.OnActivity("DeliverEvent", mock.Anything, mock.Anything).Return(delivered).Maybe()
			wf := func(ctx workflow.Context) (int, error) {
				d := workflows.StartDeliveries(ctx, tc.waiter, workflows.EventID(ctx, "first"))
				// The workflow goes on with its work while the first event is delivered…
				if err := workflow.Sleep(ctx, 1); err != nil {
					return 0, err
				}
				d.Start(ctx, workflows.EventID(ctx, "second"))
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

// Ids come from the run id and what the event is, never from the order they were made in: the
// same event gets the same id whatever path the run took to it, two events never share one.
func TestEventIDsNameTheEventNotTheOrder(t *testing.T) {
	env := newEnv(t)
	wf := func(ctx workflow.Context) ([]string, error) {
		a, b := workflows.EventID(ctx, "started"), workflows.EventID(ctx, "outcome")
		return []string{a, b, workflows.EventID(ctx, "outcome"), workflows.EventID(ctx, "started")}, nil
	}
	env.ExecuteWorkflow(wf)
	require.NoError(t, env.GetWorkflowError())
	var got []string
	require.NoError(t, env.GetWorkflowResult(&got))
	assert.NotEqual(t, got[0], got[1])
	assert.Equal(t, []string{got[1], got[0]}, got[2:], "made in the other order, the same ids")
	assert.True(t, ids.HasPrefix(got[0], ids.Event), got[0])
	assert.Equal(t, ids.Derived(ids.Event, "default-test-run-id", "event", "started"), got[0], "derived from the run id")
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
		domain.EventSummary{Type: "connection.heartbeat.due_soon", PartnerID: "ptn_1", TenantID: "t"}, nil)
	env.OnActivity("DeliverEventFirst", mock.Anything, mock.Anything).Return(domain.DeliveryResult{Status: domain.DeliveryDelivered}, nil)
	env.OnUpsertTypedSearchAttributes(mock.Anything).Return(nil)
	var idList []string
	wf := func(ctx workflow.Context) ([]domain.DeliveryResult, error) {
		a, b := workflows.EventID(ctx, "a"), workflows.EventID(ctx, "b")
		idList = []string{a, b}
		return workflows.StartDeliveries(ctx, workflows.NobodyWaitsLongLived, a, b).Wait(ctx), nil
	}
	env.ExecuteWorkflow(wf)
	require.NoError(t, env.GetWorkflowError())
	assert.ElementsMatch(t, []string{domain.DeliveryID(idList[0]), domain.DeliveryID(idList[1])}, started)
	var results []domain.DeliveryResult
	require.NoError(t, env.GetWorkflowResult(&results))
	for _, r := range results {
		assert.Equal(t, domain.DeliveryHandedOff, r.Status, "the caller does not wait for the outcome")
	}
}

func TestDeliveryWorkflowOfAMissingEventEnds(t *testing.T) {
	env := newEnv(t)
	env.OnActivity("DescribeEvent", mock.Anything, mock.Anything).Return(domain.EventSummary{},
		temporal.NewNonRetryableApplicationError("no event", "EventMissing", errors.New("gone")))
	env.ExecuteWorkflow(domain.DeliveryWorkflowName, domain.DeliveryInput{EventID: "evt_gone"})
	require.NoError(t, env.GetWorkflowError())
	var r domain.DeliveryResult
	require.NoError(t, env.GetWorkflowResult(&r))
	assert.Equal(t, domain.DeliveryMissing, r.Status)
}
