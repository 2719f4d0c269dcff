// Package workflows holds the deterministic workflow code: no I/O, no clock or randomness outside
// the SDK's wrappers. Everything that touches the world is an activity (package activities),
// called by method value on a nil *activities.Activities (acts).
package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/dualhook/dualhook/activities"
	"github.com/dualhook/dualhook/internal/ids"
)

// acts names the activities: workflows call them by method value (acts.ExchangeCode), which
// gives the SDK their names and lets the compiler check their arguments. It is nil: the worker
// registers a real *activities.Activities under the same method names, and the SDK runs that
// one (for local activities too).
var acts *activities.Activities

// Workflow ids (onboarding/<sessionId>, …) and the names the worker registers are in
// internal/domain (workflow_ids.go): the API, activities and operators use them too.

// eventID is the id of the event that key names within this run: "started", "outcome",
// "confirm/<updateId>", …
//
// An id derives from the run id (a random UUID, so it is as unguessable as a random id) and
// from what the event is, never from the order the workflow made it in. So a replay, or a
// retried workflow task whose inputs (signals, Updates, timers) arrived in another order while
// the worker was away, gives the same event the same id — the activity storing it inserts it
// once — and two different events never share an id. Nothing is recorded in the history (a side
// effect is recorded only when the workflow task completes: a worker lost after a local activity
// committed an event would otherwise make a new id on replay and store the event twice).
// events.Emit refuses an id that is already stored for another event, loudly.
func eventID(ctx workflow.Context, key string) string {
	return ids.Derived(ids.Event, workflow.GetInfo(ctx).WorkflowExecution.RunID, "event", key)
}

// connectionID is the id of the connection a session run commits (one per run).
func connectionID(ctx workflow.Context) string {
	return ids.Derived(ids.Connection, workflow.GetInfo(ctx).WorkflowExecution.RunID, "connection")
}

// EventID is eventID for tests and stand-in workflows outside this package.
func EventID(ctx workflow.Context, key string) string { return eventID(ctx, key) }
