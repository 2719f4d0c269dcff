package workflows

import (
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// What happens when a connection is disconnected (SPEC §7.4) — by DELETE /api/v1/connections/{id}
// or by Meta (an account_update webhook, SPEC §11, which starts this workflow per connection):
//
//  1. A connection that is already disconnected stays as it is: the first reason wins.
//  2. Claim the WABA. The claim makes "am I the last active sibling?" → Meta call → commit one
//     step that no onboarding, webhook update or sibling disconnect interleaves with.
//  3. When no other active connection remains on the WABA, DELETE /{waba}/subscribed_apps at
//     Meta first (190 or "not subscribed" = already removed). With active siblings the override
//     stays: it is theirs too.
//  4. One transaction: the connection disconnected (status, time, reason), its token and PIN
//     erased unless another active connection still uses them, and connection.disconnected.
//  5. Deliver the event, and cancel the connection's heartbeat workflow.
//
// The workflow id is disconnect/<connectionId> with reject-duplicate, so it runs once per
// connection and must never fail: if Meta cannot be reached (or refuses) while this connection
// is the last sibling, the round is retried later without holding the claim, until Meta accepts.
// When Meta itself removed the app, its answer to the DELETE does not matter.

// DisconnectWorkflowName is the registered name of DisconnectWorkflow.
const DisconnectWorkflowName = "DisconnectWorkflow"

// UpdateAwaitDisconnect answers once the disconnect is decided (committed, or found done): the
// API waits for it, not for the workflow, which goes on delivering the event for up to ~31 h
// when the partner's receiver is down.
const UpdateAwaitDisconnect = "await-disconnect"

// Disconnect reasons (SPEC §7.4, §11), stored as disconnect_reason and sent in the event.
const (
	DisconnectReasonAPI            = "api"
	DisconnectReasonPartnerRemoved = "meta_partner_removed"
	DisconnectReasonAppUninstalled = "meta_app_uninstalled"
	DisconnectReasonAccountDeleted = "meta_account_deleted"
)

// ConnectionDisconnected is the status of a disconnected connection (SPEC §7.1).
const ConnectionDisconnected = "disconnected"

// Activity names of the disconnect.
const (
	activityGetDisconnectTarget      = "GetDisconnectTarget"
	activityUnsubscribeIfLastSibling = "UnsubscribeIfLastSibling"
	activityCommitDisconnect         = "CommitDisconnect"
)

// MetaRemoved reports whether the reason means Meta already removed the app from the WABA, so
// the DELETE at Meta is a courtesy whose failure changes nothing.
func MetaRemoved(reason string) bool {
	switch reason {
	case DisconnectReasonPartnerRemoved, DisconnectReasonAppUninstalled, DisconnectReasonAccountDeleted:
		return true
	}
	return false
}

// DisconnectInput starts a DisconnectWorkflow.
type DisconnectInput struct {
	ConnectionID string
	Reason       string
}

// DisconnectTarget is what the workflow needs to know about the connection (and what its
// starters put in the search attributes).
type DisconnectTarget struct {
	ConnectionID string
	PartnerID    string
	TenantID     string
	WabaID       string
	Status       string
	// Found is false for an id that does not exist (nothing to do).
	Found bool
}

// DisconnectStep is the input of the Meta step and of the commit.
type DisconnectStep struct {
	ConnectionID string
	WabaID       string
	Reason       string
	// Holder is the workflow id holding the WABA's claim.
	Holder  string
	EventID string
}

// UnsubscribeResult says what the Meta step did.
type UnsubscribeResult struct {
	// Siblings counts the other active connections on the WABA; with any, Meta is left alone.
	Siblings int
	// Unsubscribed: the DELETE was sent and Meta accepted it or said it was already gone.
	Unsubscribed bool
}

// DisconnectCommit is the commit's outcome.
type DisconnectCommit struct {
	// Disconnected is false when the connection was already disconnected (no event stored).
	Disconnected bool
}

// DisconnectResult is the workflow's result.
type DisconnectResult struct {
	Disconnected bool
	Unsubscribed bool
	EventID      string `json:",omitempty"`
}

// Retry cadence of a round that could not finish (Meta refused or was unreachable while this
// was the last sibling, the claim was busy or lost): it grows to an hour and never stops,
// because the workflow id rejects a second run.
const (
	disconnectRetryFirst = 30 * time.Second
	disconnectRetryMax   = time.Hour
)

// DisconnectStartOptions are the start options of a connection's disconnect workflow: the id
// derives from the connection, a repeated DELETE finds the running (or finished) workflow
// instead of starting another, and operators find it by partner, tenant, connection and WABA.
func DisconnectStartOptions(t DisconnectTarget, taskQueue string) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		ID:                       DisconnectID(t.ConnectionID),
		TaskQueue:                taskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		TypedSearchAttributes:    temporal.NewSearchAttributes(disconnectAttributes(t)...),
	}
}

func disconnectAttributes(t DisconnectTarget) []temporal.SearchAttributeUpdate {
	return []temporal.SearchAttributeUpdate{
		PartnerIDAttr.ValueSet(t.PartnerID), TenantIDAttr.ValueSet(t.TenantID),
		ConnectionIDAttr.ValueSet(t.ConnectionID), WabaIDAttr.ValueSet(t.WabaID),
	}
}

// DisconnectWorkflow disconnects one connection (disconnect/<connectionId>).
func DisconnectWorkflow(ctx workflow.Context, in DisconnectInput) (DisconnectResult, error) {
	sh := currentShape(ctx)
	d := &disconnect{in: in, holder: workflow.GetInfo(ctx).WorkflowExecution.ID, shape: sh, ids: sh.idSource()}
	err := workflow.SetUpdateHandler(ctx, UpdateAwaitDisconnect, func(ctx workflow.Context) (DisconnectResult, error) {
		err := workflow.Await(ctx, func() bool { return d.decided })
		return d.result, err
	})
	if err != nil {
		return DisconnectResult{}, err
	}
	result, err := d.run(ctx)
	d.decided = true
	// Callers waiting in the Update get their answer before the workflow completes.
	_ = workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
	return result, err
}

func (d *disconnect) run(ctx workflow.Context) (DisconnectResult, error) {
	// Unlimited retries: a failed run could never be repeated under this id (reject-duplicate).
	readLocal, read := dbLocalOptions, dbOptions
	readLocal.ScheduleToCloseTimeout, read.ScheduleToCloseTimeout = 0, 0
	var target DisconnectTarget
	if err := d.shape.dbWith(ctx, readLocal, read, activityGetDisconnectTarget, d.in.ConnectionID).Get(ctx, &target); err != nil {
		return DisconnectResult{}, err // cancelled by an operator
	}
	if !target.Found || target.Status == ConnectionDisconnected {
		return DisconnectResult{}, nil
	}
	d.target = target
	wait := disconnectRetryFirst
	for !d.round(ctx) {
		// Without the claim: onboarding and webhook updates of the WABA go on meanwhile.
		if err := workflow.Sleep(ctx, wait); err != nil {
			return d.result, err // cancelled by an operator
		}
		wait = min(2*wait, disconnectRetryMax)
	}
	d.decided = true
	if d.result.Disconnected {
		deliveries := d.shape.startDeliveries(ctx, d.result.EventID)
		d.cancelHeartbeat(ctx)
		deliveries.Wait(ctx)
	}
	return d.result, nil
}

type disconnect struct {
	ids     IDSource // every id this run makes
	shape   shape
	in      DisconnectInput
	holder  string
	target  DisconnectTarget
	result  DisconnectResult
	decided bool
}

// round is one attempt of steps 2–4. It reports done once the commit ran (whether or not it
// found the connection still active); false asks for another round later.
func (d *disconnect) round(ctx workflow.Context) bool {
	logger := workflow.GetLogger(ctx)
	claim := ClaimInput{WabaID: d.target.WabaID, Holder: d.holder}
	if err := workflow.ExecuteActivity(withOptions(ctx, claimOptions), activityClaimWaba, claim).Get(ctx, nil); err != nil {
		logger.Warn("the WABA's claim stayed busy; retrying the disconnect later", "WabaId", d.target.WabaID, "error", err)
		return false
	}
	defer d.release(ctx, claim)

	step := DisconnectStep{ConnectionID: d.in.ConnectionID, WabaID: d.target.WabaID, Reason: d.in.Reason, Holder: d.holder}
	var meta UnsubscribeResult
	if err := workflow.ExecuteActivity(withOptions(ctx, graphOptions), activityUnsubscribeIfLastSibling, step).Get(ctx, &meta); err != nil {
		if !MetaRemoved(d.in.Reason) {
			logger.Warn("Meta did not remove the subscription; retrying the disconnect later", "WabaId", d.target.WabaID, "error", err)
			return false
		}
		// Meta removed the app itself (the webhook said so): nothing left to remove there.
		logger.Info("unsubscribing after Meta's removal failed; continuing", "WabaId", d.target.WabaID, "error", err)
	}
	if d.result.EventID == "" {
		d.result.EventID = d.ids.EventID(ctx)
	}
	step.EventID = d.result.EventID
	var commit DisconnectCommit
	if err := d.shape.db(ctx, activityCommitDisconnect, step).Get(ctx, &commit); err != nil {
		// The claim was lost (an expired lease taken over) or PostgreSQL refused for minutes:
		// the sibling check is stale, so the next round starts over.
		logger.Warn("the disconnect could not commit; retrying later", "ConnectionId", d.in.ConnectionID, "error", err)
		return false
	}
	d.result.Disconnected, d.result.Unsubscribed = commit.Disconnected, meta.Unsubscribed
	if !commit.Disconnected {
		d.result.EventID = ""
	}
	return true
}

func (d *disconnect) release(ctx workflow.Context, claim ClaimInput) {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	// A release that fails is harmless: the lease expires by itself.
	_ = d.shape.db(dctx, activityReleaseWaba, claim).Get(dctx, nil)
}

// cancelHeartbeat ends the connection's heartbeat workflow (coexistence only; the others have
// none, and a missing workflow is fine).
func (d *disconnect) cancelHeartbeat(ctx workflow.Context) {
	err := workflow.RequestCancelExternalWorkflow(ctx, HeartbeatID(d.in.ConnectionID), "").Get(ctx, nil)
	if err != nil {
		workflow.GetLogger(ctx).Debug("no heartbeat workflow to cancel", "ConnectionId", d.in.ConnectionID, "error", err)
	}
}
