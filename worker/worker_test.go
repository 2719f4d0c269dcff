package worker_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/dualhook/dualhook/activities"
	"github.com/dualhook/dualhook/internal/config"
	"github.com/dualhook/dualhook/internal/domain"
	"github.com/dualhook/dualhook/internal/temporalclient"
	"github.com/dualhook/dualhook/testkit/apitest"
	"github.com/dualhook/dualhook/testkit/testenv"
	"github.com/dualhook/dualhook/worker"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// The retention workflow runs on a real worker against the real database, and its payloads
// are stored encrypted in Temporal's history.
func TestRetentionWorkflowPrunesOldRecords(t *testing.T) {
	env := apitest.New(t, false)
	p := env.NewPartner()
	ctx := context.Background()
	pool := env.Store.Pool
	_, err := pool.Exec(ctx, `INSERT INTO events (id, partner_id, type, body, status, created_at) VALUES
		('evt_old', $1, 'onboarding.started', '{}', 'delivered', now() - interval '31 days'),
		('evt_pending_old', $1, 'onboarding.started', '{}', 'pending', now() - interval '31 days'),
		('evt_new', $1, 'onboarding.started', '{}', 'delivered', now() - interval '29 days')`, p.Row.ID)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `INSERT INTO idempotency_records (partner_id, method, path, idempotency_key, request_hash, state,
		response_status, response_ciphertext, created_at, expires_at) VALUES
		($1, 'POST', '/x', 'old', '\x00', 'completed', 201, 'c', now() - interval '2 days', now() - interval '47 hours'),
		($1, 'POST', '/x', 'new', '\x00', 'completed', 201, 'c', now() - interval '1 hour', now())`, p.Row.ID)
	require.NoError(t, err)

	_, err = pool.Exec(ctx, `INSERT INTO meta_webhook_deliveries (content_hash, received_at, workflow_id) VALUES
		('old-`+p.Row.ID+`', now() - interval '31 days', 'meta-event/old'), ('new-`+p.Row.ID+`', now(), 'meta-event/new')`)
	require.NoError(t, err)

	tc := testenv.Temporal(t)
	queue := testenv.TaskQueue(t)
	w := worker.New(tc, queue, &activities.Activities{Store: env.Store, Ring: env.Ring})
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)

	run, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: queue, WorkflowExecutionTimeout: time.Minute},
		"RetentionWorkflow", domain.RetentionPolicy{EventsDays: 30, IdempotencyDays: 1, AuditDays: 365})
	require.NoError(t, err)
	var result domain.PruneResult
	require.NoError(t, run.Get(ctx, &result))
	assert.Equal(t, int64(1), result.Events, "old finished events go; pending ones stay until delivered")
	assert.Equal(t, int64(1), result.IdempotencyRecord)
	assert.Equal(t, int64(1), result.MetaWebhookDeliveries, "Meta delivery dedupe records follow the events' retention")

	var left []string
	rows, err := pool.Query(ctx, "SELECT id FROM events WHERE partner_id = $1 ORDER BY id", p.Row.ID)
	require.NoError(t, err)
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		left = append(left, id)
	}
	assert.Equal(t, []string{"evt_new", "evt_pending_old"}, left)

	// Read the history with a client that has no codec: every payload must be ciphertext.
	raw, err := client.Dial(client.Options{HostPort: testenv.TemporalAddress(t), Logger: nil})
	require.NoError(t, err)
	defer raw.Close()
	iter := raw.GetWorkflowHistory(ctx, run.GetID(), run.GetRunID(), false, 0)
	payloads := 0
	for iter.HasNext() {
		ev, err := iter.Next()
		require.NoError(t, err)
		if a := ev.GetWorkflowExecutionStartedEventAttributes(); a != nil {
			for _, pl := range a.GetInput().GetPayloads() {
				payloads++
				assert.Equal(t, "binary/encrypted", string(pl.Metadata["encoding"]))
				assert.NotContains(t, string(pl.Data), "EventsDays")
			}
		}
		if a := ev.GetActivityTaskCompletedEventAttributes(); a != nil {
			for _, pl := range a.GetResult().GetPayloads() {
				payloads++
				assert.Equal(t, "binary/encrypted", string(pl.Metadata["encoding"]))
			}
		}
	}
	assert.GreaterOrEqual(t, payloads, 2)
}

func TestSearchAttributeRegistrationIsIdempotent(t *testing.T) {
	tc := testenv.Temporal(t)
	ctx := context.Background()
	for range 2 {
		require.NoError(t, temporalclient.RegisterSearchAttributes(ctx, tc, "default"))
	}
	list, err := tc.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: "default"})
	require.NoError(t, err)
	for _, name := range temporalclient.SearchAttributes {
		assert.Contains(t, list.GetCustomAttributes(), name)
	}
}

func TestSchedulesAreCreatedOnceAndUpdated(t *testing.T) {
	tc := testenv.Temporal(t)
	ctx := context.Background()
	cfg := config.Config{TemporalTaskQueue: testenv.TaskQueue(t), RetentionInterval: time.Hour, RetentionEventsDays: 30}
	require.NoError(t, worker.EnsureSchedules(ctx, tc, cfg))
	cfg.RetentionInterval = 2 * time.Hour
	require.NoError(t, worker.EnsureSchedules(ctx, tc, cfg), "a second start updates instead of failing")
	desc, err := tc.ScheduleClient().GetHandle(ctx, domain.RetentionScheduleID).Describe(ctx)
	require.NoError(t, err)
	require.Len(t, desc.Schedule.Spec.Intervals, 1)
	assert.Equal(t, 2*time.Hour, desc.Schedule.Spec.Intervals[0].Every)
}
