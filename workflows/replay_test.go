package workflows_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/dualhook/dualhook/worker"
)

// Recorded histories of real sessions (e2e.TestSessionHistoriesReplayDeterministically writes
// them with DUALHOOK_UPDATE_HISTORIES=1) must replay against the current workflow code: workflows
// in flight when a new version deploys would otherwise fail with a non-determinism error.
func TestRecordedHistoriesReplay(t *testing.T) {
	files, err := filepath.Glob("testdata/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			replayer := sdkworker.NewWorkflowReplayer()
			worker.RegisterWorkflows(replayer)
			require.NoError(t, replayer.ReplayWorkflowHistoryFromJSONFile(nil, f))
		})
	}
}
