package workflows_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/dualhook/dualhook/worker"
)

// Recorded histories of real workflows (the e2e *HistoriesReplayDeterministically tests write
// them with DUALHOOK_UPDATE_HISTORIES=1) must replay against the current workflow code: workflows
// in flight when a new version deploys would otherwise fail with a non-determinism error.
//
// Until the first tagged release these are re-recorded whenever a workflow's shape changes (no
// install runs old workflows). From that release on, a shape change is gated with
// workflow.GetVersion and the release's histories stay here, in testdata/<release>/, next to the
// current ones (README, "Upgrading").
func TestRecordedHistoriesReplay(t *testing.T) {
	histories, err := filepath.Glob("testdata/*.json")
	require.NoError(t, err)
	released, err := filepath.Glob("testdata/*/*.json")
	require.NoError(t, err)
	histories = append(histories, released...)
	require.GreaterOrEqual(t, len(histories), 12)
	for _, f := range histories {
		t.Run(strings.TrimPrefix(f, "testdata/"), func(t *testing.T) {
			replayer := sdkworker.NewWorkflowReplayer()
			worker.RegisterWorkflows(replayer)
			require.NoError(t, replayer.ReplayWorkflowHistoryFromJSONFile(nil, f))
		})
	}
}
