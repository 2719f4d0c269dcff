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
// testdata/v0 holds histories recorded before the changeLocalSteps gate (versions.go): never
// re-record those.
func TestRecordedHistoriesReplay(t *testing.T) {
	current, err := filepath.Glob("testdata/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, current)
	v0, err := filepath.Glob("testdata/v0/*.json")
	require.NoError(t, err)
	require.Len(t, v0, 12)
	for _, f := range append(current, v0...) {
		t.Run(strings.TrimPrefix(f, "testdata/"), func(t *testing.T) {
			replayer := sdkworker.NewWorkflowReplayer()
			worker.RegisterWorkflows(replayer)
			require.NoError(t, replayer.ReplayWorkflowHistoryFromJSONFile(nil, f))
		})
	}
}
