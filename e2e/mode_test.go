package e2e

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/dualhook/dualhook/internal/domain"
	"github.com/dualhook/dualhook/internal/eventtypes"
	"github.com/dualhook/dualhook/sandbox"
	"github.com/dualhook/dualhook/testkit/eventstest"
	"github.com/dualhook/dualhook/testkit/stacktest"
)

// The sandbox always states is_on_biz_app, so an onboarding never records `unknown` here (the
// workflow's own tests cover "Meta does not say yet"). These tests put a real connection back to
// `unknown` in PostgreSQL — as an onboarding would have left it — and run mode/<id> on the real
// worker against the sandbox: the activities, their SQL and Meta calls are the real ones.

func startMode(t *testing.T, st *stacktest.Stack, c onboarded) {
	t.Helper()
	row := dbConnection(t, st, c.ConnectionID)
	in := domain.ModeInput{ConnectionID: row.ID, PartnerID: row.PartnerID, TenantID: row.TenantID}
	_, err := st.API.Temporal.ExecuteWorkflow(context.Background(), domain.ModeStartOptions(in, st.API.Config.TemporalTaskQueue),
		domain.ModeWorkflowName, in)
	require.NoError(t, err)
	st.WaitWorkflowClosed(domain.ModeID(c.ConnectionID))
}

func modeResolvedData(t *testing.T, st *stacktest.Stack, connectionID string) map[string]any {
	t.Helper()
	evs := eventsOfConnection(t, st, connectionID, eventtypes.ConnectionModeResolved)
	require.Len(t, evs, 1, "connection.mode_resolved is stored once")
	var body struct{ Data map[string]any }
	require.NoError(t, json.Unmarshal(evs[0].Body, &body))
	return body.Data
}

// Cloud API: the mode resolves, the event goes out once, and the number is registered with
// onboarding's RegisterNumber (the session's PIN reused, so Meta accepts it again).
func TestModeResolvesToCloudAPIAndRegisters(t *testing.T) {
	st := stacktest.New(t, stacktest.Options{})
	ctx := context.Background()
	c := onboardConnection(t, st, st.Partner, "mode-cloud", nil, sandbox.ESSessionRequest{})
	pin := dbConnection(t, st, c.ConnectionID).RegistrationPinSecretID
	require.NotNil(t, pin)
	execSQL(t, st, `UPDATE connections SET connection_mode = 'unknown', registration_pin_secret_id = NULL, registered_at = NULL
		WHERE id = $1`, c.ConnectionID)
	require.NoError(t, st.Meta.ClearCalls(ctx))

	startMode(t, st, c)
	row := dbConnection(t, st, c.ConnectionID)
	assert.Equal(t, "cloud_api", row.ConnectionMode)
	require.NotNil(t, row.RegisteredAt)
	assert.Equal(t, pin, row.RegistrationPinSecretID, "the number's PIN is reused, not replaced")
	assert.False(t, row.HeartbeatApplies)
	calls := st.GraphCalls()
	assert.Contains(t, calls, "GET phone", "Meta was asked about the number")
	assert.Contains(t, calls, "POST phone/register")
	assert.Equal(t, map[string]any{"connectionId": c.ConnectionID, "tenantId": "mode-cloud", "connectionMode": "cloud_api", "previousMode": "unknown"},
		modeResolvedData(t, st, c.ConnectionID))
	eventstest.Eventually(t, 20*time.Second, func() bool { return len(received(st, eventtypes.ConnectionModeResolved)) == 1 },
		"connection.mode_resolved never delivered")

	// Nothing left to resolve: a second run asks nothing and emits nothing.
	require.NoError(t, st.Meta.ClearCalls(ctx))
	startMode(t, st, c)
	assert.Empty(t, st.GraphCalls())
	modeResolvedData(t, st, c.ConnectionID)
}

// Coexistence: the syncs (already triggered: Meta's repeat answer, code 4 "sync request limit exceeded", counts
// as done) and the heartbeat, whose clock starts at the resolution.
func TestModeResolvesToCoexistenceAndStartsTheHeartbeat(t *testing.T) {
	st := stacktest.New(t, stacktest.Options{})
	ctx := context.Background()
	c := onboardConnection(t, st, st.Partner, "mode-coex", stacktest.SessionRequest{"coexistence": true},
		sandbox.ESSessionRequest{Scenario: "finish_coex"})
	hb := domain.HeartbeatID(c.ConnectionID)
	eventstest.Eventually(t, 20*time.Second, func() bool {
		_, err := describe(st, hb, "")
		return err == nil
	}, "onboarding never started the heartbeat")
	require.NoError(t, st.API.Temporal.TerminateWorkflow(ctx, hb, "", "the test rewinds the connection to an unknown mode"))
	execSQL(t, st, `UPDATE connections SET connection_mode = 'unknown', coexistence_status = NULL, heartbeat_applies = false,
		heartbeat_status = 'UNKNOWN', heartbeat_last_confirmed_at = NULL, heartbeat_next_due_at = NULL,
		contact_sync_triggered_at = NULL, history_sync_triggered_at = NULL WHERE id = $1`, c.ConnectionID)
	require.NoError(t, st.Meta.ClearCalls(ctx))

	before := time.Now()
	startMode(t, st, c)
	row := dbConnection(t, st, c.ConnectionID)
	assert.Equal(t, "coexistence", row.ConnectionMode)
	assert.True(t, row.HeartbeatApplies)
	assert.Equal(t, "OK", row.HeartbeatStatus)
	require.NotNil(t, row.HeartbeatLastConfirmedAt)
	assert.WithinDuration(t, before, *row.HeartbeatLastConfirmedAt, 10*time.Second)
	assert.NotNil(t, row.ContactSyncTriggeredAt)
	assert.NotNil(t, row.HistorySyncTriggeredAt)
	assert.Nil(t, row.RegisteredAt, "a coexistence number is never registered")
	assert.False(t, slices.Contains(st.GraphCalls(), "POST phone/register"))
	assert.Equal(t, "coexistence", modeResolvedData(t, st, c.ConnectionID)["connectionMode"])
	eventstest.Eventually(t, 20*time.Second, func() bool {
		d, err := describe(st, hb, "")
		return err == nil && d.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
	}, "the heartbeat was not started after the resolution")
}

// A disconnected connection is not resolved (and Meta is not asked).
func TestModeOfADisconnectedConnectionIsLeftAlone(t *testing.T) {
	st := stacktest.New(t, stacktest.Options{})
	c := onboardConnection(t, st, st.Partner, "mode-gone", nil, sandbox.ESSessionRequest{})
	execSQL(t, st, "UPDATE connections SET connection_mode = 'unknown' WHERE id = $1", c.ConnectionID)
	markDisconnected(t, st, c.ConnectionID)
	require.NoError(t, st.Meta.ClearCalls(context.Background()))
	startMode(t, st, c)
	assert.Equal(t, "unknown", dbConnection(t, st, c.ConnectionID).ConnectionMode)
	assert.Empty(t, st.GraphCalls())
	assert.Empty(t, eventsOfConnection(t, st, c.ConnectionID, eventtypes.ConnectionModeResolved))
}
