package e2e

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/dualhook/dualhook/internal/config"
	"github.com/dualhook/dualhook/internal/domain"
	"github.com/dualhook/dualhook/internal/eventtypes"
	"github.com/dualhook/dualhook/sandbox"
	"github.com/dualhook/dualhook/testkit/apitest"
	"github.com/dualhook/dualhook/testkit/eventstest"
	"github.com/dualhook/dualhook/testkit/stacktest"
)

func confirmPath(id string) string { return "/api/v1/connections/" + id + "/heartbeat/confirm" }

// compressedHeartbeat runs the stack with the heartbeat's 13 days / 3 days as 8 s / 4 s.
func compressedHeartbeat(c *config.Config) {
	c.HeartbeatPeriod, c.HeartbeatDueSoonBefore = 8*time.Second, 4*time.Second
}

// heartbeatData is the data of a heartbeat event as the partner received it.
type heartbeatData struct {
	ConnectionID             string `json:"connectionId"`
	TenantID                 string `json:"tenantId"`
	HeartbeatStatus          string `json:"heartbeatStatus"`
	HeartbeatLastConfirmedAt string `json:"heartbeatLastConfirmedAt"`
	HeartbeatNextDueAt       string `json:"heartbeatNextDueAt"`
}

func receivedHeartbeats(t *testing.T, st *stacktest.Stack, typ, connectionID string) []heartbeatData {
	t.Helper()
	var out []heartbeatData
	for _, body := range received(st, typ) {
		raw, err := json.Marshal(body["data"])
		require.NoError(t, err)
		var d heartbeatData
		require.NoError(t, json.Unmarshal(raw, &d))
		if d.ConnectionID == connectionID {
			out = append(out, d)
		}
	}
	return out
}

func waitHeartbeatStatus(t *testing.T, st *stacktest.Stack, connectionID, status string) map[string]any {
	t.Helper()
	var c map[string]any
	eventstest.Eventually(t, 30*time.Second, func() bool {
		c = getConnection(t, st, st.Partner, connectionID)
		return c["heartbeatStatus"] == status
	}, "connection %s never became %s", connectionID, status)
	return c
}

// The whole heartbeat through the real server, worker and Temporal, with the periods compressed
// by configuration: onboarding starts it, DUE_SOON and OVERDUE arrive on durable timers as
// events delivered by child workflows, a confirmation restarts the clock (and the next cycle
// runs in a new run), and the disconnect's cancel ends it cleanly.
func TestHeartbeatThroughTheServerWithACompressedSchedule(t *testing.T) {
	st := stacktest.New(t, stacktest.Options{Config: compressedHeartbeat})
	ctx := context.Background()
	c := onboardConnection(t, st, st.Partner, "heartbeat-1", stacktest.SessionRequest{"coexistence": true},
		sandbox.ESSessionRequest{Scenario: "finish_coex"})
	id := c.ConnectionID
	conn := getConnection(t, st, st.Partner, id)
	require.Equal(t, "coexistence", conn["connectionMode"])
	require.Equal(t, true, conn["heartbeatApplies"])
	last := mustTime(t, conn["heartbeatLastConfirmedAt"])

	// The workflow owns the deadline: last confirmation + the configured period.
	eventstest.Eventually(t, 20*time.Second, func() bool {
		c := getConnection(t, st, st.Partner, id)
		return c["heartbeatNextDueAt"] != nil && mustTime(t, c["heartbeatNextDueAt"]).Equal(last.Add(8*time.Second))
	}, "heartbeatNextDueAt never aligned with the configured period")

	// DUE_SOON lasts only 4 s here: watch the events rather than poll the status.
	waitHeartbeatStatus(t, st, id, "OVERDUE")
	eventstest.Eventually(t, 20*time.Second, func() bool {
		return len(receivedHeartbeats(t, st, eventtypes.HeartbeatOverdue, id)) == 1 &&
			len(receivedHeartbeats(t, st, eventtypes.HeartbeatDueSoon, id)) == 1
	}, "the due_soon and overdue events never arrived")
	due := receivedHeartbeats(t, st, eventtypes.HeartbeatDueSoon, id)
	require.Len(t, due, 1)
	assert.Equal(t, heartbeatData{ConnectionID: id, TenantID: "heartbeat-1", HeartbeatStatus: "DUE_SOON",
		HeartbeatLastConfirmedAt: due[0].HeartbeatLastConfirmedAt, HeartbeatNextDueAt: due[0].HeartbeatNextDueAt}, due[0])
	assert.True(t, mustTime(t, due[0].HeartbeatLastConfirmedAt).Equal(last))
	assert.True(t, mustTime(t, due[0].HeartbeatNextDueAt).Equal(last.Add(8*time.Second)))
	assert.Equal(t, "OVERDUE", receivedHeartbeats(t, st, eventtypes.HeartbeatOverdue, id)[0].HeartbeatStatus)
	// Each went out through its own child workflow delivery/<eventId>.
	for _, e := range eventsOfConnection(t, st, id, eventtypes.HeartbeatDueSoon) {
		d, err := describe(st, domain.DeliveryID(e.ID), "")
		require.NoError(t, err)
		assert.Equal(t, domain.DeliveryWorkflowName, d.GetWorkflowExecutionInfo().GetType().GetName())
	}

	// Confirm: the committed state comes back.
	before := time.Now()
	res := st.API.Do(apitest.Request{Method: "POST", Path: confirmPath(id), Key: st.Partner.Key})
	require.Equal(t, 200, res.Status, "%s", res.Body)
	var got struct {
		ConnectionID             string
		HeartbeatStatus          string
		HeartbeatLastConfirmedAt time.Time
		HeartbeatNextDueAt       time.Time
	}
	res.JSON(t, &got)
	assert.Equal(t, id, got.ConnectionID)
	assert.Equal(t, "OK", got.HeartbeatStatus)
	assert.WithinDuration(t, before, got.HeartbeatLastConfirmedAt, 5*time.Second)
	assert.Equal(t, got.HeartbeatLastConfirmedAt.Add(8*time.Second), got.HeartbeatNextDueAt)
	conn = getConnection(t, st, st.Partner, id)
	assert.Equal(t, "OK", conn["heartbeatStatus"], "the answer is what was committed")
	assert.True(t, mustTime(t, conn["heartbeatLastConfirmedAt"]).Equal(got.HeartbeatLastConfirmedAt))
	eventstest.Eventually(t, 20*time.Second, func() bool {
		return len(receivedHeartbeats(t, st, eventtypes.HeartbeatConfirmed, id)) == 1
	}, "the confirmed event never arrived")

	// The next cycle runs in a fresh run of heartbeat/<id> (continue-as-new).
	eventstest.Eventually(t, 20*time.Second, func() bool {
		return len(receivedHeartbeats(t, st, eventtypes.HeartbeatDueSoon, id)) == 2
	}, "the second cycle's due_soon event never arrived")
	d, err := describe(st, domain.HeartbeatID(id), "")
	require.NoError(t, err)
	assert.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, d.GetWorkflowExecutionInfo().GetStatus())
	assert.NotEmpty(t, d.GetWorkflowExecutionInfo().GetFirstRunId())
	assert.NotEqual(t, d.GetWorkflowExecutionInfo().GetFirstRunId(), d.GetWorkflowExecutionInfo().GetExecution().GetRunId(), "a new run per cycle")
	assert.Less(t, d.GetWorkflowExecutionInfo().GetHistoryLength(), int64(60), "each run's history stays small")

	// The disconnect workflow cancels heartbeat/<id>: it ends cleanly, as cancelled.
	require.NoError(t, st.API.Temporal.CancelWorkflow(ctx, domain.HeartbeatID(id), ""))
	eventstest.Eventually(t, 20*time.Second, func() bool {
		d, err := describe(st, domain.HeartbeatID(id), "")
		return err == nil && d.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED
	}, "the heartbeat did not end when cancelled")
}

// Confirmation rules: only active coexistence connections; a heartbeat workflow that is missing
// (ended by an operator) is started by the confirmation itself.
func TestHeartbeatConfirmEndpoint(t *testing.T) {
	st := stacktest.New(t, stacktest.Options{})
	ctx := context.Background()
	cloud := onboardConnection(t, st, st.Partner, "heartbeat-cloud", nil, sandbox.ESSessionRequest{})
	res := st.API.Do(apitest.Request{Method: "POST", Path: confirmPath(cloud.ConnectionID), Key: st.Partner.Key})
	assert.Equal(t, 409, res.Status, "%s", res.Body)
	assert.Equal(t, "heartbeat_not_applicable", res.ErrorCode())
	_, err := describe(st, domain.HeartbeatID(cloud.ConnectionID), "")
	assert.Error(t, err, "no heartbeat workflow for a Cloud API number")

	coex := onboardConnection(t, st, st.Partner, "heartbeat-coex", stacktest.SessionRequest{"coexistence": true},
		sandbox.ESSessionRequest{Scenario: "finish_coex"})
	hb := domain.HeartbeatID(coex.ConnectionID)
	eventstest.Eventually(t, 20*time.Second, func() bool {
		d, err := describe(st, hb, "")
		return err == nil && d.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
	}, "onboarding did not start the heartbeat")
	require.NoError(t, st.API.Temporal.TerminateWorkflow(ctx, hb, "", "operator ended it"))

	res = st.API.Do(apitest.Request{Method: "POST", Path: confirmPath(coex.ConnectionID), Key: st.Partner.Key})
	require.Equal(t, 200, res.Status, "%s", res.Body)
	assert.Equal(t, "OK", res.Map(t)["heartbeatStatus"])
	d, err := describe(st, hb, "")
	require.NoError(t, err)
	assert.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, d.GetWorkflowExecutionInfo().GetStatus(), "started again by the confirmation")
	assert.Len(t, eventsOfConnection(t, st, coex.ConnectionID, eventtypes.HeartbeatConfirmed), 1)

	// Twice in a row: two confirmations, two events.
	require.Equal(t, 200, st.API.Do(apitest.Request{Method: "POST", Path: confirmPath(coex.ConnectionID), Key: st.Partner.Key}).Status)
	assert.Len(t, eventsOfConnection(t, st, coex.ConnectionID, eventtypes.HeartbeatConfirmed), 2)

	p2 := st.NewPartner()
	assert.Equal(t, 404, st.API.Do(apitest.Request{Method: "POST", Path: confirmPath(coex.ConnectionID), Key: p2.Key}).Status)
	assert.Equal(t, 404, st.API.Do(apitest.Request{Method: "POST", Path: confirmPath("conn_doesnotexist"), Key: st.Partner.Key}).Status)

	markDisconnected(t, st, coex.ConnectionID)
	res = st.API.Do(apitest.Request{Method: "POST", Path: confirmPath(coex.ConnectionID), Key: st.Partner.Key})
	assert.Equal(t, 409, res.Status)
	assert.Equal(t, "connection_disconnected", res.ErrorCode())
}

// The disconnect (DELETE, SPEC §7.4) cancels heartbeat/<id>: the heartbeat ends cleanly, as
// cancelled, and a confirmation afterwards is refused.
func TestDisconnectEndsTheHeartbeat(t *testing.T) {
	st := stacktest.New(t, stacktest.Options{})
	c := onboardConnection(t, st, st.Partner, "heartbeat-dc", stacktest.SessionRequest{"coexistence": true},
		sandbox.ESSessionRequest{Scenario: "finish_coex"})
	hb := domain.HeartbeatID(c.ConnectionID)
	eventstest.Eventually(t, 20*time.Second, func() bool {
		d, err := describe(st, hb, "")
		return err == nil && d.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
	}, "onboarding did not start the heartbeat")

	res := st.API.Do(apitest.Request{Method: "DELETE", Path: "/api/v1/connections/" + c.ConnectionID, Key: st.Partner.Key})
	require.Contains(t, []int{200, 202}, res.Status, "%s", res.Body)
	eventstest.Eventually(t, 30*time.Second, func() bool {
		d, err := describe(st, hb, "")
		return err == nil && d.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED
	}, "the heartbeat did not end when the connection was disconnected")
	res = st.API.Do(apitest.Request{Method: "POST", Path: confirmPath(c.ConnectionID), Key: st.Partner.Key})
	assert.Equal(t, 409, res.Status)
	assert.Equal(t, "connection_disconnected", res.ErrorCode())
	assert.Empty(t, eventsOfConnection(t, st, c.ConnectionID, eventtypes.HeartbeatConfirmed))
}

// Re-onboarding a coexistence number restarts its heartbeat clock: the commit sets OK from now,
// and the running heartbeat is reset (signal-with-start) into a new run that counts from there.
func TestReonboardingRestartsTheHeartbeatClock(t *testing.T) {
	st := stacktest.New(t, stacktest.Options{Config: compressedHeartbeat})
	c := onboardConnection(t, st, st.Partner, "heartbeat-again", stacktest.SessionRequest{"coexistence": true},
		sandbox.ESSessionRequest{Scenario: "finish_coex"})
	hb := domain.HeartbeatID(c.ConnectionID)
	waitHeartbeatStatus(t, st, c.ConnectionID, "OVERDUE")
	d, err := describe(st, hb, "")
	require.NoError(t, err)
	overdueRun := d.GetWorkflowExecutionInfo().GetExecution().GetRunId()

	// The same number again (the page reports its id as a hint).
	sessionID, token := st.CreateSession(st.Partner, "heartbeat-again", stacktest.SessionRequest{"coexistence": true})
	body, _ := st.Signup(sandbox.ESSessionRequest{Scenario: "finish_coex", WABAID: c.ES.WABAID})
	body["phoneNumberId"] = c.ES.PhoneNumberID
	require.Equal(t, "completed", decide(t, st.Callback(token, body)).Status)
	require.Equal(t, c.ConnectionID, *st.Session(sessionID).ConnectionID, "re-onboarding keeps the connection")
	require.Equal(t, "OK", getConnection(t, st, st.Partner, c.ConnectionID)["heartbeatStatus"])

	eventstest.Eventually(t, 20*time.Second, func() bool {
		d, err := describe(st, hb, "")
		return err == nil && d.GetWorkflowExecutionInfo().GetExecution().GetRunId() != overdueRun &&
			d.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
	}, "the heartbeat was not reset into a new run")
	eventstest.Eventually(t, 30*time.Second, func() bool {
		return len(eventsOfConnection(t, st, c.ConnectionID, eventtypes.HeartbeatDueSoon)) == 2
	}, "the new clock never reached DUE_SOON")
}
