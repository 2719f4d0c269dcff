package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/dualhook/dualhook/internal/domain"
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

// Retry cadence of a round that could not finish (Meta refused or was unreachable while this
// was the last sibling, the claim was busy or lost): it grows to an hour and never stops,
// because the workflow id rejects a second run.
const (
	disconnectRetryFirst = 30 * time.Second
	disconnectRetryMax   = time.Hour
)

// DisconnectWorkflow disconnects one connection (disconnect/<connectionId>).
func DisconnectWorkflow(ctx workflow.Context, in domain.DisconnectInput) (domain.DisconnectResult, error) {
	d := &disconnect{in: in, holder: workflow.GetInfo(ctx).WorkflowExecution.ID}
	err := workflow.SetUpdateHandler(ctx, domain.UpdateAwaitDisconnect, func(ctx workflow.Context) (domain.DisconnectResult, error) {
		err := workflow.Await(ctx, func() bool { return d.decided })
		return d.result, err
	})
	if err != nil {
		return domain.DisconnectResult{}, err
	}
	result, err := d.run(ctx)
	d.decided = true
	// Callers waiting in the Update get their answer before the workflow completes.
	_ = workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
	return result, err
}

func (d *disconnect) run(ctx workflow.Context) (domain.DisconnectResult, error) {
	// Unlimited retries: a failed run could never be repeated under this id (reject-duplicate).
	readLocal := dbLocalOptions
	readLocal.ScheduleToCloseTimeout = 0
	var target domain.DisconnectTarget
	if err := workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, readLocal), acts.GetDisconnectTarget, d.in.ConnectionID).Get(ctx, &target); err != nil {
		return domain.DisconnectResult{}, err // cancelled by an operator
	}
	if !target.Found || target.Status == domain.ConnectionDisconnected {
		return domain.DisconnectResult{}, nil
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
		deliveries := StartDeliveries(ctx, SomeoneWaits, d.result.EventID)
		d.cancelHeartbeat(ctx)
		deliveries.Wait(ctx)
	}
	return d.result, nil
}

type disconnect struct {
	in      domain.DisconnectInput
	holder  string
	target  domain.DisconnectTarget
	result  domain.DisconnectResult
	decided bool
}

// round is one attempt of steps 2–4. It reports done once the commit ran (whether or not it
// found the connection still active); false asks for another round later.
func (d *disconnect) round(ctx workflow.Context) bool {
	logger := workflow.GetLogger(ctx)
	claim := domain.ClaimInput{WabaID: d.target.WabaID, Holder: d.holder}
	if err := workflow.ExecuteActivity(withOptions(ctx, claimOptions), acts.ClaimWaba, claim).Get(ctx, nil); err != nil {
		logger.Warn("the WABA's claim stayed busy; retrying the disconnect later", "WabaId", d.target.WabaID, "error", err)
		return false
	}
	defer d.release(ctx, claim)

	step := domain.DisconnectStep{ConnectionID: d.in.ConnectionID, WabaID: d.target.WabaID, Reason: d.in.Reason, Holder: d.holder}
	var meta domain.UnsubscribeResult
	if err := workflow.ExecuteActivity(withOptions(ctx, graphOptions), acts.UnsubscribeIfLastSibling, step).Get(ctx, &meta); err != nil {
		if !domain.MetaRemoved(d.in.Reason) {
			logger.Warn("Meta did not remove the subscription; retrying the disconnect later", "WabaId", d.target.WabaID, "error", err)
			return false
		}
		// Meta removed the app itself (the webhook said so): nothing left to remove there.
		logger.Info("unsubscribing after Meta's removal failed; continuing", "WabaId", d.target.WabaID, "error", err)
	}
	if d.result.EventID == "" {
		d.result.EventID = eventID(ctx, "disconnected") // a connection disconnects once
	}
	step.EventID = d.result.EventID
	var commit domain.DisconnectCommit
	if err := local(ctx, acts.CommitDisconnect, step).Get(ctx, &commit); err != nil {
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

func (d *disconnect) release(ctx workflow.Context, claim domain.ClaimInput) {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	// A release that fails is harmless: the lease expires by itself.
	_ = local(dctx, acts.ReleaseWaba, claim).Get(dctx, nil)
}

// cancelHeartbeat ends the connection's heartbeat workflow (coexistence only; the others have
// none, and a missing workflow is fine).
func (d *disconnect) cancelHeartbeat(ctx workflow.Context) {
	err := workflow.RequestCancelExternalWorkflow(ctx, domain.HeartbeatID(d.in.ConnectionID), "").Get(ctx, nil)
	if err != nil {
		workflow.GetLogger(ctx).Debug("no heartbeat workflow to cancel", "ConnectionId", d.in.ConnectionID, "error", err)
	}
}
