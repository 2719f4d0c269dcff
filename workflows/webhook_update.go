package workflows

import (
	"errors"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
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

// Names of the workflow and its Update.
const (
	WebhookUpdateWorkflowName = "WebhookUpdateWorkflow"
	UpdateWebhookResult       = "result"
)

// Reasons a connection operation is refused with, besides the onboarding ones. Like those, they
// travel as the Type of the activities' ApplicationErrors and equal the API's error codes.
const (
	ReasonConnectionDisconnected = "connection_disconnected"
	ReasonMetaTokenExpired       = "meta_token_expired"
	ReasonHeartbeatNotApplicable = "heartbeat_not_applicable"
)

// WebhookUpdateInput names the stored update; everything else is read from PostgreSQL.
type WebhookUpdateInput struct {
	WabaID       string
	N            int64
	ConnectionID string
	PartnerID    string
	TenantID     string
}

// WebhookUpdateOutcome is what the `result` Update and the workflow answer.
type WebhookUpdateOutcome struct {
	Applied               bool
	Reason                string   `json:",omitempty"`
	Message               string   `json:",omitempty"`
	AffectedConnectionIDs []string `json:",omitempty"`
}

// WebhookUpdateStep is the input of the update's activities.
type WebhookUpdateStep struct {
	WabaID  string
	N       int64
	Holder  string
	EventID string `json:",omitempty"`
}

// WebhookUpdateEnd records a refused update.
type WebhookUpdateEnd struct {
	WabaID  string
	N       int64
	Reason  string
	Message string
}

const (
	activityPrepareWebhookUpdate   = "PrepareWebhookUpdate"
	activitySetWebhookOverride     = "SetWebhookOverride"
	activityRestoreWebhookOverride = "RestoreWebhookOverride"
	activityCommitWebhookUpdate    = "CommitWebhookUpdate"
	activityRejectWebhookUpdate    = "RejectWebhookUpdate"
)

// WebhookUpdateStartOptions: the id carries the WABA's counter, so a retried API call with the
// same Idempotency-Key (same n) finds the running workflow; operators find it by partner,
// tenant, connection and WABA.
func WebhookUpdateStartOptions(in WebhookUpdateInput, taskQueue string) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		ID:                       WebhookUpdateID(in.WabaID, in.N),
		TaskQueue:                taskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			PartnerIDAttr.ValueSet(in.PartnerID), TenantIDAttr.ValueSet(in.TenantID),
			ConnectionIDAttr.ValueSet(in.ConnectionID), WabaIDAttr.ValueSet(in.WabaID),
		),
	}
}

// WebhookUpdateWorkflow is webhook-update/<wabaId>/<n>.
func WebhookUpdateWorkflow(ctx workflow.Context, in WebhookUpdateInput) (WebhookUpdateOutcome, error) {
	sh := currentShape(ctx)
	u := &webhookUpdate{in: in, deliveries: sh.startDeliveries(ctx), shape: sh, ids: sh.idSource()}
	err := workflow.SetUpdateHandler(ctx, UpdateWebhookResult, func(ctx workflow.Context) (WebhookUpdateOutcome, error) {
		if err := workflow.Await(ctx, func() bool { return u.outcome != nil }); err != nil {
			return WebhookUpdateOutcome{}, err
		}
		return *u.outcome, nil
	})
	if err != nil {
		return WebhookUpdateOutcome{}, err
	}
	u.run(ctx)
	u.deliveries.Wait(ctx)
	// Let a `result` Update that arrived at the last moment answer before the run closes.
	_ = workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
	return *u.outcome, nil
}

type webhookUpdate struct {
	ids        IDSource // every id this run makes
	shape      shape
	in         WebhookUpdateInput
	outcome    *WebhookUpdateOutcome
	deliveries *Deliveries
}

func (u *webhookUpdate) run(ctx workflow.Context) {
	holder := workflow.GetInfo(ctx).WorkflowExecution.ID
	claim := ClaimInput{WabaID: u.in.WabaID, Holder: holder}
	if err := workflow.ExecuteActivity(withOptions(ctx, claimOptions), activityClaimWaba, claim).Get(ctx, nil); err != nil {
		u.reject(ctx, err)
		return
	}
	defer u.release(ctx, claim)

	step := WebhookUpdateStep{WabaID: u.in.WabaID, N: u.in.N, Holder: holder}
	if err := u.shape.db(ctx, activityPrepareWebhookUpdate, step).Get(ctx, nil); err != nil {
		u.reject(ctx, err)
		return
	}
	if err := workflow.ExecuteActivity(withOptions(ctx, graphOptions), activitySetWebhookOverride, step).Get(ctx, nil); err != nil {
		// A definite refusal changed nothing at Meta. Anything else (a timeout, retries run
		// out) may have reached Meta: put the previous override back to be sure.
		if !definiteRefusal(err) {
			u.restore(ctx, step)
		}
		u.reject(ctx, err)
		return
	}
	step.EventID = u.ids.EventID(ctx)
	var out WebhookUpdateOutcome
	if err := u.shape.db(ctx, activityCommitWebhookUpdate, step).Get(ctx, &out); err != nil {
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
	return appErr.Type() == ReasonWebhookSubscribeFailed || appErr.Type() == ReasonMetaTokenExpired
}

func (u *webhookUpdate) restore(ctx workflow.Context, step WebhookUpdateStep) {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	if err := workflow.ExecuteActivity(withOptions(dctx, graphOptions), activityRestoreWebhookOverride, step).Get(dctx, nil); err != nil {
		workflow.GetLogger(ctx).Error("restoring the previous override failed; Meta may keep the refused webhook", "WabaId", step.WabaID)
	}
}

func (u *webhookUpdate) release(ctx workflow.Context, claim ClaimInput) {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	// A release that fails is harmless: the lease expires by itself.
	_ = u.shape.db(dctx, activityReleaseWaba, claim).Get(dctx, nil)
}

// reject records why the update was refused (the reason travels as the ApplicationError's type,
// as in onboarding); anything unexpected is internal_error.
func (u *webhookUpdate) reject(ctx workflow.Context, err error) {
	end := WebhookUpdateEnd{WabaID: u.in.WabaID, N: u.in.N, Reason: ReasonInternalError,
		Message: "An internal error occurred while updating the webhook."}
	var appErr *temporal.ApplicationError
	var timeoutErr *temporal.TimeoutError
	switch {
	case errors.As(err, &appErr) && isWebhookUpdateReason(appErr.Type()):
		end.Reason, end.Message = appErr.Type(), appErr.Message()
	case errors.As(err, &timeoutErr):
		end.Reason, end.Message = ReasonMetaUnavailable, "Meta did not answer in time."
	}
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	var out WebhookUpdateOutcome
	if err := u.shape.db(dctx, activityRejectWebhookUpdate, end).Get(dctx, &out); err != nil {
		out = WebhookUpdateOutcome{Reason: end.Reason, Message: end.Message}
	}
	u.outcome = &out
}

func isWebhookUpdateReason(t string) bool {
	switch t {
	case ReasonWabaWebhookConflict, ReasonWebhookSubscribeFailed, ReasonConnectionDisconnected, ReasonMetaTokenExpired,
		ReasonMetaUnavailable, ReasonInternalError:
		return true
	}
	return false
}
