package workflows_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/dualhook/dualhook/internal/domain"
	"github.com/dualhook/dualhook/internal/metawebhook"
	wf "github.com/dualhook/dualhook/workflows"
)

func metaEventEnv(t *testing.T) *testsuite.TestWorkflowEnvironment {
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(wf.MetaEventWorkflow, workflow.RegisterOptions{Name: domain.MetaEventWorkflowName})
	env.RegisterWorkflowWithOptions(wf.DisconnectWorkflow, workflow.RegisterOptions{Name: domain.DisconnectWorkflowName})
	env.RegisterActivity(a)
	delivered := domain.DeliveryResult{Status: domain.DeliveryDelivered}
	env.OnActivity(a.DeliverEventFirst, mock.Anything, mock.Anything).Return(delivered, nil).Maybe()
	return env
}

func runMetaEvent(t *testing.T, env *testsuite.TestWorkflowEnvironment, changes ...metawebhook.Change) domain.MetaEventResult {
	env.ExecuteWorkflow(domain.MetaEventWorkflowName, domain.MetaEventInput{DeliveryHash: "h", Changes: changes})
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var out domain.MetaEventResult
	require.NoError(t, env.GetWorkflowResult(&out))
	return out
}

var wabaConns = []domain.WabaConnection{
	{ConnectionID: "conn_a1", PartnerID: "ptn_a", TenantID: "ta", WabaID: "100"},
	{ConnectionID: "conn_b1", PartnerID: "ptn_b", TenantID: "tb", WabaID: "100"},
	{ConnectionID: "conn_a2", PartnerID: "ptn_a", TenantID: "ta2", WabaID: "100"},
}

// A removal starts one disconnect per active connection, with the event's reason.
func TestMetaEventRemovalDisconnectsEachConnection(t *testing.T) {
	env := metaEventEnv(t)
	env.OnActivity(a.ListWabaConnections, mock.Anything, "100").Return(wabaConns, nil).Once()
	var started []domain.DisconnectInput
	env.OnWorkflow(domain.DisconnectWorkflowName, mock.Anything, mock.Anything).Return(
		func(_ workflow.Context, in domain.DisconnectInput) (domain.DisconnectResult, error) {
			started = append(started, in)
			return domain.DisconnectResult{Disconnected: true}, nil
		}).Times(3)
	out := runMetaEvent(t, env, metawebhook.Change{Field: "account_update", Event: "PARTNER_APP_UNINSTALLED", WabaID: "100", EntryID: "2949482758682047"})
	assert.Equal(t, 3, out.Disconnects)
	assert.ElementsMatch(t, []domain.DisconnectInput{
		{ConnectionID: "conn_a1", Reason: "meta_app_uninstalled"}, {ConnectionID: "conn_b1", Reason: "meta_app_uninstalled"},
		{ConnectionID: "conn_a2", Reason: "meta_app_uninstalled"},
	}, started)
}

// Management fields become one waba.<field> event per partner, each with its own connections.
func TestMetaEventForwardsOneEventPerPartner(t *testing.T) {
	env := metaEventEnv(t)
	env.OnActivity(a.ListWabaConnections, mock.Anything, "100").Return(wabaConns, nil).Once()
	var emitted domain.WabaEventInput
	env.OnActivity(a.EmitWabaEvents, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in domain.WabaEventInput) error { emitted = in; return nil }).Once()
	value := json.RawMessage(`{"decision":"APPROVED"}`)
	out := runMetaEvent(t, env, metawebhook.Change{Field: "account_review_update", WabaID: "100", EntryID: "100", Value: value})

	require.Len(t, emitted.Targets, 2)
	a0, b0 := emitted.Targets[0], emitted.Targets[1]
	assert.Equal(t, "ptn_a", a0.PartnerID)
	assert.Equal(t, []string{"conn_a1", "conn_a2"}, a0.ConnectionIDs)
	assert.Equal(t, []string{"ta", "ta2"}, a0.TenantIDs)
	assert.Equal(t, "ptn_b", b0.PartnerID)
	assert.Equal(t, []string{"conn_b1"}, b0.ConnectionIDs)
	assert.NotEqual(t, a0.EventID, b0.EventID)
	assert.Equal(t, "account_review_update", emitted.Field)
	assert.JSONEq(t, string(value), string(emitted.Value))
	assert.Equal(t, []string{a0.EventID, b0.EventID}, out.ForwardedEvent, "both delivered")
}

func TestMetaEventCoexistenceAndQualityUpdates(t *testing.T) {
	env := metaEventEnv(t)
	var coex []domain.CoexistenceInput
	env.OnActivity(a.SetCoexistenceStatus, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in domain.CoexistenceInput) (int, error) {
			coex = append(coex, in)
			return 1, nil
		}).Twice()
	at := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	env.OnActivity(a.ApplyQualityUpdate, mock.Anything, domain.QualityInput{
		WabaID: "100", PhoneDigits: "15550783881", Event: "THROUGHPUT_UPGRADE", Limit: "TIER_UNLIMITED", At: at,
	}).Return(1, nil).Once()
	out := runMetaEvent(t, env,
		metawebhook.Change{Field: "account_update", Event: "ACCOUNT_OFFBOARDED", WabaID: "100", PhoneDigits: "15550783881"},
		metawebhook.Change{Field: "account_update", Event: "ACCOUNT_RECONNECTED", WabaID: "100"},
		metawebhook.Change{Field: "phone_number_quality_update", Event: "THROUGHPUT_UPGRADE", WabaID: "100", PhoneDigits: "15550783881",
			Limit: "TIER_UNLIMITED", Time: at},
	)
	assert.Equal(t, []domain.CoexistenceInput{
		{WabaID: "100", PhoneDigits: "15550783881", Status: "OFFBOARDED"}, {WabaID: "100", Status: "ONBOARDED"},
	}, coex)
	assert.Equal(t, 2, out.Coexistence)
	assert.Equal(t, 1, out.HealthUpdates)
	env.AssertExpectations(t)
}
