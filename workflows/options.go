package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// stepHeartbeat: every regular (not local) step heartbeats while it runs (activities'
// heartbeatUntilDone), so when its worker dies Temporal notices within seconds and retries the
// step on another worker, instead of waiting out a StartToCloseTimeout sized for a slow Meta.
const stepHeartbeat = 5 * time.Second

// Activity options per kind of step.
var (
	// dbOptions: PostgreSQL (and Temporal) only; retried until it works (a database blip must not
	// fail a user).
	dbOptions = workflow.ActivityOptions{
		StartToCloseTimeout:    30 * time.Second,
		HeartbeatTimeout:       stepHeartbeat,
		ScheduleToCloseTimeout: 10 * time.Minute,
		RetryPolicy:            &temporal.RetryPolicy{InitialInterval: 200 * time.Millisecond, MaximumInterval: 10 * time.Second},
	}
	// dbLocalOptions run the same PostgreSQL-only steps as local activities, in the worker that
	// runs the workflow: no task queue round trip and no extra workflow task, which is most of a
	// step's cost on a busy Temporal server (docs/events.md). Their event ids must come from
	// the workflow (eventID), never from a side effect (ids.go). A worker lost while they run is
	// noticed by the workflow task's timeout (10 s), and the task retried elsewhere.
	dbLocalOptions = workflow.LocalActivityOptions{
		StartToCloseTimeout:    dbOptions.StartToCloseTimeout,
		ScheduleToCloseTimeout: dbOptions.ScheduleToCloseTimeout,
		RetryPolicy:            dbOptions.RetryPolicy,
	}
	// endOptions: a session's end (EndSession) once its local attempt (dbLocalOptions) gave up
	// after ten minutes of PostgreSQL refusing it. An outcome exists only once committed, so it
	// is retried with no limit (no ScheduleToCloseTimeout, no MaximumAttempts), backing off to a
	// minute, until PostgreSQL accepts it; an operator meanwhile sees a pending activity with its
	// attempt count and last error. A regular activity rather than a local one: the Go SDK takes
	// a local activity's zero ScheduleToCloseTimeout as its StartToCloseTimeout (30 s, not
	// unlimited), and its retries past the workflow task timeout become timers in the history —
	// several events a minute, up to the history limit — invisible as a pending activity, while
	// the server retries a regular one without adding events.
	endOptions = workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
	}
	// exchangeOptions: a code lives 30 s and works once. The activity retries only requests
	// that never reached Meta (it marks everything else non-retryable).
	exchangeOptions = workflow.ActivityOptions{
		StartToCloseTimeout:    15 * time.Second,
		HeartbeatTimeout:       stepHeartbeat,
		ScheduleToCloseTimeout: 30 * time.Second,
		RetryPolicy:            &temporal.RetryPolicy{InitialInterval: 300 * time.Millisecond, MaximumInterval: 2 * time.Second},
	}
	// graphOptions: transient Graph errors (5xx, is_transient, 2, 4, 80007, 80008, 131000) back off
	// and retry; permanent ones come back non-retryable with their reason.
	// One step makes a few Graph calls of at most metagraph.DefaultTimeout (15 s) each.
	graphOptions = workflow.ActivityOptions{
		StartToCloseTimeout:    30 * time.Second,
		HeartbeatTimeout:       stepHeartbeat,
		ScheduleToCloseTimeout: 5 * time.Minute,
		RetryPolicy:            &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second},
	}
	// claimOptions: the claim is retried while another workflow holds it.
	claimOptions = workflow.ActivityOptions{
		StartToCloseTimeout:    10 * time.Second,
		HeartbeatTimeout:       stepHeartbeat,
		ScheduleToCloseTimeout: 5 * time.Minute,
		RetryPolicy:            &temporal.RetryPolicy{InitialInterval: 100 * time.Millisecond, BackoffCoefficient: 1.5, MaximumInterval: 2 * time.Second},
	}
)

// local runs a PostgreSQL-only step as a local activity with dbLocalOptions.
func local(ctx workflow.Context, activity any, args ...any) workflow.Future {
	return workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, dbLocalOptions), activity, args...)
}

func withOptions(ctx workflow.Context, o workflow.ActivityOptions) workflow.Context {
	return workflow.WithActivityOptions(ctx, o)
}
