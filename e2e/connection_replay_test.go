package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/proxy"
	sdkworker "go.temporal.io/sdk/worker"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/dualhook/dualhook/internal/domain"
	"github.com/dualhook/dualhook/internal/payloadcodec"
	"github.com/dualhook/dualhook/sandbox"
	"github.com/dualhook/dualhook/testkit/apitest"
	"github.com/dualhook/dualhook/testkit/eventstest"
	"github.com/dualhook/dualhook/testkit/stacktest"
	"github.com/dualhook/dualhook/worker"
)

// runHistory is one run's history with its payloads decrypted (stacktest.DecodedHistory reads
// the latest run; a heartbeat's cycle is an earlier run once it continued-as-new).
func runHistory(t *testing.T, st *stacktest.Stack, workflowID, runID string) []byte {
	t.Helper()
	ctx := context.Background()
	iter := st.API.Temporal.GetWorkflowHistory(ctx, workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	history := &historypb.History{}
	for iter.HasNext() {
		ev, err := iter.Next()
		require.NoError(t, err)
		history.Events = append(history.Events, ev)
	}
	codec := payloadcodec.Codec{Ring: st.API.Ring}
	require.NoError(t, proxy.VisitPayloads(ctx, history, proxy.VisitPayloadsOptions{
		Visitor: func(_ *proxy.VisitPayloadsContext, p []*commonpb.Payload) ([]*commonpb.Payload, error) {
			return codec.Decode(p)
		},
	}))
	out, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(history)
	require.NoError(t, err)
	return out
}

// Histories of the connection lifecycle's workflows (a coexistence onboarding that hands over to
// the heartbeat, webhook updates applied and refused, one heartbeat cycle, a mode resolution)
// replay against the current code. With DUALHOOK_UPDATE_HISTORIES=1 they are written to
// workflows/testdata, where workflows.TestRecordedHistoriesReplay keeps them.
func TestConnectionHistoriesReplayDeterministically(t *testing.T) {
	st := stacktest.New(t, stacktest.Options{Config: compressedHeartbeat})
	ctx := context.Background()
	type run struct{ workflowID, runID string }
	histories := map[string]run{}

	coex := onboardConnection(t, st, st.Partner, "replay-coex", stacktest.SessionRequest{"coexistence": true},
		sandbox.ESSessionRequest{Scenario: "finish_coex"})
	histories["onboarding_completed_coexistence.json"] = run{workflowID: domain.OnboardingID(coex.SessionID)}

	a := onboardConnection(t, st, st.Partner, "replay-patch", nil, sandbox.ESSessionRequest{})
	require.Equal(t, 200, patchConnection(st, st.Partner, a.ConnectionID, newWebhook(st, "replay-patch-v2")).Status)
	histories["webhook_update_applied.json"] = run{workflowID: domain.WebhookUpdateID(a.ES.WABAID, 1)}
	require.NoError(t, st.Meta.FailOverrideVerification(ctx, sandbox.OverrideFault{Count: 1}))
	require.Equal(t, 502, patchConnection(st, st.Partner, a.ConnectionID, newWebhook(st, "replay-patch-v3")).Status)
	histories["webhook_update_refused.json"] = run{workflowID: domain.WebhookUpdateID(a.ES.WABAID, 2)}

	// One whole heartbeat cycle: DUE_SOON, OVERDUE, a confirmation, continue-as-new.
	hb := domain.HeartbeatID(coex.ConnectionID)
	waitHeartbeatStatus(t, st, coex.ConnectionID, "OVERDUE")
	d, err := describe(st, hb, "")
	require.NoError(t, err)
	firstRun := d.GetWorkflowExecutionInfo().GetExecution().GetRunId()
	require.Equal(t, 200, st.API.Do(apitest.Request{Method: "POST", Path: confirmPath(coex.ConnectionID), Key: st.Partner.Key}).Status)
	eventstest.Eventually(t, 20*time.Second, func() bool {
		d, err := describe(st, hb, firstRun)
		return err == nil && d.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW
	}, "the heartbeat cycle never continued-as-new")
	histories["heartbeat_cycle.json"] = run{workflowID: hb, runID: firstRun}
	require.NoError(t, st.API.Temporal.CancelWorkflow(ctx, hb, ""))

	m := onboardConnection(t, st, st.Partner, "replay-mode", nil, sandbox.ESSessionRequest{})
	execSQL(t, st, "UPDATE connections SET connection_mode = 'unknown', registered_at = NULL WHERE id = $1", m.ConnectionID)
	startMode(t, st, m)
	histories["mode_resolved_cloud_api.json"] = run{workflowID: domain.ModeID(m.ConnectionID)}

	update := os.Getenv("DUALHOOK_UPDATE_HISTORIES") == "1"
	dir := t.TempDir()
	for file, r := range histories {
		if r.runID == "" {
			st.WaitWorkflowClosed(r.workflowID)
		}
		path := filepath.Join(dir, file)
		require.NoError(t, os.WriteFile(path, runHistory(t, st, r.workflowID, r.runID), 0o600))
		replayer := sdkworker.NewWorkflowReplayer()
		worker.RegisterWorkflows(replayer)
		require.NoError(t, replayer.ReplayWorkflowHistoryFromJSONFile(nil, path), "%s does not replay", file)
		if update {
			raw, err := os.ReadFile(path)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join("..", "workflows", "testdata", file), raw, 0o644))
		}
	}
}
