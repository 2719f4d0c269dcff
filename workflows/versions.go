package workflows

import "go.temporal.io/sdk/workflow"

// Workflow shape versions. A workflow in flight when a new build deploys replays its history
// against the new code, so every change of a workflow's shape is gated: a run started before the
// change keeps the old shape to its end. workflows/testdata/v0 keeps histories recorded before
// the gate below; TestRecordedHistoriesReplay replays them and the current ones.

// changeLocalSteps: PostgreSQL-only steps run as local activities, ids come from IDSource
// instead of side effects, and workflows someone waits on deliver with activities only
// (docs/events.md).
const changeLocalSteps = "local-steps"

// shape is how this run executes the steps changeLocalSteps changed.
type shape struct {
	legacy bool // started before changeLocalSteps
}

// currentShape records (or, on replay, reads) the run's shape. Call it first thing in the
// workflow, before any other command.
func currentShape(ctx workflow.Context) shape {
	return shape{legacy: workflow.GetVersion(ctx, changeLocalSteps, workflow.DefaultVersion, 1) == workflow.DefaultVersion}
}

// db runs a PostgreSQL-only step as a local activity with dbLocalOptions.
func (sh shape) db(ctx workflow.Context, name string, args ...any) workflow.Future {
	return sh.dbWith(ctx, dbLocalOptions, dbOptions, name, args...)
}

// dbWith is db with other options: local for current runs, regular for legacy ones.
func (sh shape) dbWith(ctx workflow.Context, local workflow.LocalActivityOptions, legacy workflow.ActivityOptions, name string, args ...any) workflow.Future {
	if sh.legacy {
		return workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, legacy), name, args...)
	}
	return workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, local), name, args...)
}

// idSource makes the run's ids the way its shape does.
func (sh shape) idSource() IDSource { return IDSource{sideEffects: sh.legacy} }

// startDeliveries starts the deliveries of a workflow someone waits on (StartDeliveries).
func (sh shape) startDeliveries(ctx workflow.Context, eventIDs ...string) *Deliveries {
	if sh.legacy {
		return StartDeliveriesInWorker(ctx, eventIDs...)
	}
	return StartDeliveries(ctx, eventIDs...)
}
