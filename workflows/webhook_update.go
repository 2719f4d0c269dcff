package workflows

import (
	"errors"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/dualhook/dualhook/internal/domain"
)

// What happens when a partner changes a connection's webhook (PATCH /api/v1/connections/{id},
// SPEC §7.3) — read top to bottom:
//
//  1. The API validates the body, runs the preflight, numbers the update with the WABA's counter
//     and stores it (URL, verify token encrypted, name/metadata) as webhook_updates row
//     (wabaId, n). It then starts this workflow (webhook-update/<wabaId>/<n>) with the `result`
//     Update (Update-with-Start) and waits for the answer.
//  2. The workflow takes the WABA's claim — the one onboarding and disconnect take — so no
//     other change of the WABA's override interleaves its check → Meta call → commit.
//  3. Under the claim it checks the connection (active, token valid) and its siblings (another
//     tenant's active sibling → waba_webhook_conflict), then sets the override at Meta. Meta
//     verifies the URL itself; a refusal ends the update as webhook_subscribe_failed with
//     nothing changed.
//  4. Only after Meta accepted, one transaction updates every sibling's webhook, the name and
//     metadata, marks the row applied and stores connection.webhook_updated.
//  5. A commit that fails after Meta changed restores the previous override at Meta first.
//
// The Update answers as soon as the outcome is recorded; the workflow then waits for the event's
// delivery (the workflow is the outbox, as in onboarding).

// WebhookUpdateWorkflow is webhook-update/<wabaId>/<n>.
func WebhookUpdateWorkflow(ctx workflow.Context, in domain.WebhookUpdateInput) (domain.WebhookUpdateOutcome, error) {
	u := &webhookUpdate{in: in, deliveries: StartDeliveries(ctx, SomeoneWaits)}
	err := workflow.SetUpdateHandler(ctx, domain.UpdateWebhookResult, func(ctx workflow.Context) (domain.WebhookUpdateOutcome, error) {
		if err := workflow.Await(ctx, func() bool { return u.outcome != nil }); err != nil {
			return domain.WebhookUpdateOutcome{}, err
		}
		return *u.outcome, nil
	})
	if err != nil {
		return domain.WebhookUpdateOutcome{}, err
	}
	u.run(ctx)
	u.deliveries.Wait(ctx)
	// Let a `result` Update that arrived at the last moment answer before the run closes.
	_ = workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
	return *u.outcome, nil
}

type webhookUpdate struct {
	in         domain.WebhookUpdateInput
	outcome    *domain.WebhookUpdateOutcome
	deliveries *Deliveries
}

func (u *webhookUpdate) run(ctx workflow.Context) {
	holder := workflow.GetInfo(ctx).WorkflowExecution.ID
	claim := domain.ClaimInput{WabaID: u.in.WabaID, Holder: holder}
	if err := workflow.ExecuteActivity(withOptions(ctx, claimOptions), acts.ClaimWaba, claim).Get(ctx, nil); err != nil {
		u.reject(ctx, err)
		return
	}
	defer u.release(ctx, claim)

	step := domain.WebhookUpdateStep{WabaID: u.in.WabaID, N: u.in.N, Holder: holder}
	if err := local(ctx, acts.PrepareWebhookUpdate, step).Get(ctx, nil); err != nil {
		u.reject(ctx, err)
		return
	}
	if err := workflow.ExecuteActivity(withOptions(ctx, graphOptions), acts.SetWebhookOverride, step).Get(ctx, nil); err != nil {
		// A definite refusal changed nothing at Meta. Anything else (a timeout, retries run
		// out) may have reached Meta: put the previous override back to be sure.
		if !definiteRefusal(err) {
			u.restore(ctx, step)
		}
		u.reject(ctx, err)
		return
	}
	step.EventID = eventID(ctx, "applied") // a webhook update applies once
	var out domain.WebhookUpdateOutcome
	if err := local(ctx, acts.CommitWebhookUpdate, step).Get(ctx, &out); err != nil {
		u.restore(ctx, step)
		u.reject(ctx, err)
		return
	}
	u.outcome = &out
	u.deliveries.Start(ctx, step.EventID)
}

// definiteRefusal: Meta answered no (verification failed, token invalid), so its override is
// unchanged.
func definiteRefusal(err error) bool {
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		return false
	}
	return appErr.Type() == domain.ReasonWebhookSubscribeFailed || appErr.Type() == domain.ReasonMetaTokenExpired
}

func (u *webhookUpdate) restore(ctx workflow.Context, step domain.WebhookUpdateStep) {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	if err := workflow.ExecuteActivity(withOptions(dctx, graphOptions), acts.RestoreWebhookOverride, step).Get(dctx, nil); err != nil {
		workflow.GetLogger(ctx).Error("restoring the previous override failed; Meta may keep the refused webhook", "WabaId", step.WabaID)
	}
}

func (u *webhookUpdate) release(ctx workflow.Context, claim domain.ClaimInput) {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	// A release that fails is harmless: the lease expires by itself.
	_ = local(dctx, acts.ReleaseWaba, claim).Get(dctx, nil)
}

// reject records why the update was refused (the reason travels as the ApplicationError's type,
// as in onboarding); anything unexpected is internal_error.
func (u *webhookUpdate) reject(ctx workflow.Context, err error) {
	end := domain.WebhookUpdateEnd{WabaID: u.in.WabaID, N: u.in.N, Reason: domain.ReasonInternalError,
		Message: "An internal error occurred while updating the webhook."}
	var appErr *temporal.ApplicationError
	var timeoutErr *temporal.TimeoutError
	switch {
	case errors.As(err, &appErr) && isWebhookUpdateReason(appErr.Type()):
		end.Reason, end.Message = appErr.Type(), appErr.Message()
	case errors.As(err, &timeoutErr):
		end.Reason, end.Message = domain.ReasonMetaUnavailable, "Meta did not answer in time."
	}
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	var out domain.WebhookUpdateOutcome
	if err := local(dctx, acts.RejectWebhookUpdate, end).Get(dctx, &out); err != nil {
		out = domain.WebhookUpdateOutcome{Reason: end.Reason, Message: end.Message}
	}
	u.outcome = &out
}

func isWebhookUpdateReason(t string) bool {
	switch t {
	case domain.ReasonWabaWebhookConflict, domain.ReasonWebhookSubscribeFailed, domain.ReasonConnectionDisconnected, domain.ReasonMetaTokenExpired,
		domain.ReasonMetaUnavailable, domain.ReasonInternalError:
		return true
	}
	return false
}
