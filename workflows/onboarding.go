package workflows

import (
	"errors"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// What happens when the user clicks Finish — read this file top to bottom (SPEC §4.5, §5, §6).
//
//  1. The API creates the session row and starts this workflow (onboarding/<sessionId>).
//  2. The page's first open signals page-opened: pending → started, onboarding.started.
//  3. The page posts the OAuth callback; the API stores the code encrypted and hands a reference
//     to this workflow as the `callback` Update. Cancel/error callbacks decide at once.
//  4. With a code: processing (the expiry no longer applies), then the steps of SPEC §6 as
//     activities: exchange the code, discover the WABA and number from the token, claim the WABA,
//     check the sibling rules, subscribe the override at Meta, register the number (Cloud API) or
//     trigger the coexistence syncs, and commit everything with onboarding.completed in one
//     transaction. A failure after Meta was changed undoes the change before recording `failed`.
//     The PostgreSQL-only steps are local activities (shape.db); the others call Meta.
//  5. The Update returns the outcome (status + redirect URL) as soon as it is committed; the
//     deliveries are activities (StartDeliveries), so the answer never waits for the partner's
//     receiver; the workflow waits for them before it ends.
//
// The expiry is a durable timer: it fires even if every process restarted in between.

// Search attributes of session and connection workflows (SPEC §13), besides the ones in
// delivery.go.
var (
	SessionIDAttr    = temporal.NewSearchAttributeKeyKeyword("SessionId")
	ConnectionIDAttr = temporal.NewSearchAttributeKeyKeyword("ConnectionId")
	WabaIDAttr       = temporal.NewSearchAttributeKeyKeyword("WabaId")
)

// Names of the workflow, its signal, updates and query.
const (
	OnboardingWorkflowName = "OnboardingWorkflow"
	SignalPageOpened       = "page-opened"
	UpdateCallback         = "callback"
	UpdateCancel           = "cancel"
	QueryStatus            = "status"
)

// Session statuses (SPEC §4.5).
const (
	StatusPending    = "pending"
	StatusStarted    = "started"
	StatusProcessing = "processing"
	StatusCompleted  = "completed"
	StatusFailed     = "failed"
	StatusCancelled  = "cancelled"
	StatusExpired    = "expired"
)

// Failure reasons (SPEC §6) double as the Type of the activities' ApplicationErrors, so an error
// carries its stable code from where it arises.
const (
	ReasonExpired                = "expired"
	ReasonCancelled              = "cancelled"
	ReasonUserError              = "user_error"
	ReasonWabaWebhookConflict    = "waba_webhook_conflict"
	ReasonNumberAlreadyConnected = "number_already_connected"
	ReasonWebhookSubscribeFailed = "webhook_subscribe_failed"
	ReasonOAuthExchangeFailed    = "oauth_exchange_failed"
	ReasonDiscoveryFailed        = "discovery_failed"
	ReasonRegistrationFailed     = "registration_failed"
	ReasonMetaUnavailable        = "meta_unavailable"
	ReasonInternalError          = "internal_error"
)

// ErrorCategory maps a failure reason to its errorCategory (SPEC §6).
func ErrorCategory(reason string) string {
	switch reason {
	case ReasonExpired:
		return "timeout"
	case ReasonCancelled, ReasonUserError:
		return "user"
	case ReasonWabaWebhookConflict, ReasonNumberAlreadyConnected:
		return "conflict"
	case ReasonWebhookSubscribeFailed:
		return "configuration"
	case ReasonOAuthExchangeFailed, ReasonDiscoveryFailed, ReasonRegistrationFailed, ReasonMetaUnavailable:
		return "meta"
	}
	return "internal"
}

// Embedded Signup events the page reports (meta.md §1.4).
const (
	EventFinish            = "FINISH"
	EventFinishOnlyWaba    = "FINISH_ONLY_WABA"
	EventFinishCoexistence = "FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING"
	EventCancel            = "CANCEL"
	EventError             = "ERROR"
)

// Connection modes (SPEC §7.1).
const (
	ModeUnknown     = "unknown"
	ModeCoexistence = "coexistence"
	ModeCloudAPI    = "cloud_api"
)

// OnboardingInput starts the workflow. No secret travels here or anywhere in this workflow's
// payloads: codes, tokens and PINs stay encrypted in PostgreSQL and move by reference (SPEC §12).
type OnboardingInput struct {
	SessionID   string
	PartnerID   string
	TenantID    string
	ExpiresAt   time.Time
	Coexistence bool
}

// CallbackInput is the page's callback (SPEC §5) with the code replaced by a reference.
type CallbackInput struct {
	// CodeSecretID references the encrypted OAuth code; empty for cancel and error callbacks.
	CodeSecretID  string
	Event         string
	WabaID        string
	PhoneNumberID string
	BusinessID    string
	ErrorMessage  string
	CurrentStep   string
}

// Outcome is what the callback and cancel Updates answer.
type Outcome struct {
	Status      string
	RedirectURL string `json:",omitempty"`
	Reason      string `json:",omitempty"`
}

// Discovery is what Meta says the token was granted (SPEC §6 step 2).
type Discovery struct {
	WabaID             string
	PhoneNumberID      string
	BusinessID         string
	DisplayPhoneNumber string
	VerifiedName       string
	Mode               string
}

// SiblingPlan is the outcome of the sibling rules (SPEC §6 step 3).
type SiblingPlan struct {
	// ReonboardConnectionID is set when the tenant re-onboards a number it already has: the same
	// connection is updated in place.
	ReonboardConnectionID string
	// Siblings counts the active connections on the WABA before this session.
	Siblings int
}

// Step inputs. Each carries the session id; activities read the rest from PostgreSQL.
type (
	// SessionStep names a session and, where the step stores an event, its id.
	SessionStep struct {
		SessionID string
		EventID   string
	}
	// ProcessingInput records the accepted callback.
	ProcessingInput struct {
		SessionID string
		Callback  CallbackInput
	}
	// ExchangeResult references the stored access token.
	ExchangeResult struct {
		TokenSecretID string
	}
	// DiscoverInput asks Meta what the token grants.
	DiscoverInput struct {
		SessionID     string
		TokenSecretID string
		Callback      CallbackInput
	}
	// ClaimInput takes or releases a WABA's claim for a holder (the workflow id).
	ClaimInput struct {
		WabaID string
		Holder string
	}
	// SiblingInput applies the sibling rules to a discovery.
	SiblingInput struct {
		SessionID string
		Discovery Discovery
	}
	// MetaStepInput is a Graph call on the session's token.
	MetaStepInput struct {
		SessionID     string
		TokenSecretID string
		Discovery     Discovery
	}
	// RegisterResult references the stored PIN.
	RegisterResult struct {
		PinSecretID string
		Registered  bool
	}
	// SyncResult says when each coexistence sync was triggered.
	SyncResult struct {
		ContactSyncTriggeredAt *time.Time
		HistorySyncTriggeredAt *time.Time
	}
	// CommitInput is everything the final transaction writes.
	CommitInput struct {
		SessionID     string
		Holder        string
		EventID       string
		ConnectionID  string
		TokenSecretID string
		Discovery     Discovery
		Plan          SiblingPlan
		Register      RegisterResult
		Syncs         SyncResult
	}
	// EndInput ends a session as failed, cancelled or expired.
	EndInput struct {
		SessionID string
		EventID   string
		Status    string
		Reason    string
		Message   string
		Details   map[string]any
		// FromCallback: the page's callback decided, so the page gets a redirect URL.
		FromCallback bool
	}
)

// Activity names (the worker registers the methods of activities.Activities by these names).
const (
	activityMarkSessionStarted    = "MarkSessionStarted"
	activityMarkSessionProcessing = "MarkSessionProcessing"
	activityExchangeCode          = "ExchangeCode"
	activityDiscoverAssets        = "DiscoverAssets"
	activityClaimWaba             = "ClaimWaba"
	activityReleaseWaba           = "ReleaseWaba"
	activityCheckSiblings         = "CheckSiblings"
	activitySubscribeOverride     = "SubscribeOverride"
	activityUndoOverride          = "UndoOverride"
	activityRegisterNumber        = "RegisterNumber"
	activityTriggerSyncs          = "TriggerSyncs"
	activityCommitConnection      = "CommitConnection"
	activityEndSession            = "EndSession"
)

// Activity options per kind of step.
var (
	// dbOptions: PostgreSQL only; retried until it works (a database blip must not fail a user).
	dbOptions = workflow.ActivityOptions{
		StartToCloseTimeout:    30 * time.Second,
		ScheduleToCloseTimeout: 10 * time.Minute,
		RetryPolicy:            &temporal.RetryPolicy{InitialInterval: 200 * time.Millisecond, MaximumInterval: 10 * time.Second},
	}
	// dbLocalOptions run the same PostgreSQL-only steps as local activities, in the worker that
	// runs the workflow: no task queue round trip and no extra workflow task, which is most of a
	// step's cost on a busy Temporal server (docs/events.md). Their ids must then come from
	// IDSource, never from a side effect (see IDSource).
	dbLocalOptions = workflow.LocalActivityOptions{
		StartToCloseTimeout:    dbOptions.StartToCloseTimeout,
		ScheduleToCloseTimeout: dbOptions.ScheduleToCloseTimeout,
		RetryPolicy:            dbOptions.RetryPolicy,
	}
	// exchangeOptions: a code lives 30 s and works once. The activity retries only requests
	// that never reached Meta (it marks everything else non-retryable).
	exchangeOptions = workflow.ActivityOptions{
		StartToCloseTimeout:    15 * time.Second,
		ScheduleToCloseTimeout: 30 * time.Second,
		RetryPolicy:            &temporal.RetryPolicy{InitialInterval: 300 * time.Millisecond, MaximumInterval: 2 * time.Second},
	}
	// graphOptions: transient Graph errors (5xx, is_transient, 2, 4, 80007, 80008, 131000) back off
	// and retry; permanent ones come back non-retryable with their reason.
	graphOptions = workflow.ActivityOptions{
		StartToCloseTimeout:    30 * time.Second,
		ScheduleToCloseTimeout: 5 * time.Minute,
		RetryPolicy:            &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second},
	}
	// claimOptions: the claim is retried while another workflow holds it.
	claimOptions = workflow.ActivityOptions{
		StartToCloseTimeout:    10 * time.Second,
		ScheduleToCloseTimeout: 5 * time.Minute,
		RetryPolicy:            &temporal.RetryPolicy{InitialInterval: 100 * time.Millisecond, BackoffCoefficient: 1.5, MaximumInterval: 2 * time.Second},
	}
)

// WabaClaimLease bounds how long a claim survives a crashed holder; the steps from the sibling
// check to the commit take seconds.
const WabaClaimLease = 5 * time.Minute

// OnboardingStartOptions are the start options of a session's workflow: the id derives from the
// session, a retried start finds the running workflow instead of failing or duplicating it, and
// operators find it by partner, tenant and session in the Temporal UI.
func OnboardingStartOptions(in OnboardingInput, taskQueue string) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		ID:                       OnboardingID(in.SessionID),
		TaskQueue:                taskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			PartnerIDAttr.ValueSet(in.PartnerID), TenantIDAttr.ValueSet(in.TenantID), SessionIDAttr.ValueSet(in.SessionID),
		),
	}
}

// OnboardingWorkflow is the workflow of one onboarding session.
func OnboardingWorkflow(ctx workflow.Context, in OnboardingInput) error {
	sh := currentShape(ctx)
	s := &onboarding{in: in, status: StatusPending, shape: sh, ids: sh.idSource()}
	if err := s.setup(ctx); err != nil {
		return err
	}
	s.run(ctx)
	// The workflow is the events' outbox: it ends only when its deliveries have.
	s.deliveries.Wait(ctx)
	return nil
}

type onboarding struct {
	ids        IDSource // every id this run makes
	shape      shape
	in         OnboardingInput
	status     string
	pageOpened bool // a page-opened signal is waiting to be handled
	started    bool
	callback   *CallbackInput
	cancel     bool
	outcome    *Outcome
	deliveries *Deliveries
}

func (s *onboarding) setup(ctx workflow.Context) error {
	s.deliveries = s.shape.startDeliveries(ctx)
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (string, error) { return s.status, nil }); err != nil {
		return err
	}
	err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateCallback,
		func(ctx workflow.Context, cb CallbackInput) (Outcome, error) {
			s.callback = &cb
			if err := workflow.Await(ctx, func() bool { return s.outcome != nil }); err != nil {
				return Outcome{}, err
			}
			return *s.outcome, nil
		},
		workflow.UpdateHandlerOptions{Validator: func(_ workflow.Context, cb CallbackInput) error {
			switch {
			case s.outcome != nil:
				return errors.New("session already ended")
			case s.callback != nil:
				return errors.New("session is already processing a callback")
			case cb.CodeSecretID == "" && cb.Event != EventCancel && cb.Event != EventError:
				return errors.New("a finish callback needs a code")
			}
			return nil
		}})
	if err != nil {
		return err
	}
	err = workflow.SetUpdateHandler(ctx, UpdateCancel, func(ctx workflow.Context) (Outcome, error) {
		if s.outcome == nil && s.callback == nil {
			s.cancel = true
			if err := workflow.Await(ctx, func() bool { return s.outcome != nil }); err != nil {
				return Outcome{}, err
			}
		}
		if s.outcome != nil {
			return *s.outcome, nil
		}
		return Outcome{Status: s.status}, nil
	})
	if err != nil {
		return err
	}
	opened := workflow.GetSignalChannel(ctx, SignalPageOpened)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for opened.Receive(ctx, nil) {
			s.pageOpened = true
		}
	})
	return nil
}

func (s *onboarding) run(ctx workflow.Context) {
	for s.outcome == nil {
		remaining := s.in.ExpiresAt.Sub(workflow.Now(ctx))
		woke := remaining > 0
		if woke {
			var err error
			woke, err = workflow.AwaitWithTimeout(ctx, remaining, func() bool {
				return (s.pageOpened && !s.started) || s.callback != nil || s.cancel
			})
			if err != nil {
				return // cancelled by an operator
			}
		}
		switch {
		case s.callback != nil:
			s.handleCallback(ctx, *s.callback)
		case s.cancel:
			s.end(ctx, StatusCancelled, ReasonCancelled, "The onboarding link was cancelled.", nil)
		case !woke:
			s.end(ctx, StatusExpired, ReasonExpired, "The onboarding link expired before the user finished.", nil)
		default:
			s.markStarted(ctx)
		}
	}
}

// markStarted records the first page open and emits onboarding.started once.
func (s *onboarding) markStarted(ctx workflow.Context) {
	s.started = true
	eventID := s.ids.EventID(ctx)
	var emitted bool
	if err := s.shape.db(ctx, activityMarkSessionStarted,
		SessionStep{SessionID: s.in.SessionID, EventID: eventID}).Get(ctx, &emitted); err != nil {
		return // the session is still usable; an operator sees the failed activity
	}
	if s.status == StatusPending {
		s.status = StatusStarted
	}
	if emitted {
		s.deliveries.Start(ctx, eventID)
	}
}

func (s *onboarding) handleCallback(ctx workflow.Context, cb CallbackInput) {
	if cb.CodeSecretID == "" {
		if cb.Event == EventCancel && cb.ErrorMessage == "" {
			msg := "The user cancelled Embedded Signup."
			if cb.CurrentStep != "" {
				msg = "The user cancelled Embedded Signup at step " + cb.CurrentStep + "."
			}
			s.end(ctx, StatusCancelled, ReasonCancelled, msg, nil)
			return
		}
		msg := cb.ErrorMessage
		if msg == "" {
			msg = "Embedded Signup reported an error."
		}
		s.end(ctx, StatusFailed, ReasonUserError, msg, nil)
		return
	}
	if err := s.shape.db(ctx, activityMarkSessionProcessing,
		ProcessingInput{SessionID: s.in.SessionID, Callback: cb}).Get(ctx, nil); err != nil {
		s.fail(ctx, err)
		return
	}
	s.status = StatusProcessing
	s.process(ctx, cb)
}

// process runs SPEC §6 steps 1–6 for an accepted code.
func (s *onboarding) process(ctx workflow.Context, cb CallbackInput) {
	var exchange ExchangeResult
	if err := workflow.ExecuteActivity(withOptions(ctx, exchangeOptions), activityExchangeCode,
		SessionStep{SessionID: s.in.SessionID}).Get(ctx, &exchange); err != nil {
		s.fail(ctx, err)
		return
	}
	var found Discovery
	if err := workflow.ExecuteActivity(withOptions(ctx, graphOptions), activityDiscoverAssets,
		DiscoverInput{SessionID: s.in.SessionID, TokenSecretID: exchange.TokenSecretID, Callback: cb}).Get(ctx, &found); err != nil {
		s.fail(ctx, err)
		return
	}

	// From the sibling check to the commit this workflow holds the WABA's claim, so no other
	// session, webhook update or disconnect interleaves its check → Meta call → commit.
	holder := workflow.GetInfo(ctx).WorkflowExecution.ID
	claim := ClaimInput{WabaID: found.WabaID, Holder: holder}
	if err := workflow.ExecuteActivity(withOptions(ctx, claimOptions), activityClaimWaba, claim).Get(ctx, nil); err != nil {
		s.fail(ctx, err)
		return
	}
	defer s.release(ctx, claim)

	var plan SiblingPlan
	if err := s.shape.db(ctx, activityCheckSiblings,
		SiblingInput{SessionID: s.in.SessionID, Discovery: found}).Get(ctx, &plan); err != nil {
		s.fail(ctx, err)
		return
	}

	step := MetaStepInput{SessionID: s.in.SessionID, TokenSecretID: exchange.TokenSecretID, Discovery: found}
	// Past this point Meta may have changed: every failure undoes what this session did there.
	if err := workflow.ExecuteActivity(withOptions(ctx, graphOptions), activitySubscribeOverride, step).Get(ctx, nil); err != nil {
		s.undoAndFail(ctx, step, err)
		return
	}
	var reg RegisterResult
	var syncs SyncResult
	switch found.Mode {
	case ModeCloudAPI:
		if err := workflow.ExecuteActivity(withOptions(ctx, graphOptions), activityRegisterNumber, step).Get(ctx, &reg); err != nil {
			s.undoAndFail(ctx, step, err)
			return
		}
	case ModeCoexistence:
		if err := workflow.ExecuteActivity(withOptions(ctx, graphOptions), activityTriggerSyncs, step).Get(ctx, &syncs); err != nil {
			s.undoAndFail(ctx, step, err)
			return
		}
	}
	// ModeUnknown: neither; the connection's mode workflow resolves it later (SPEC §6 step 5).

	commit := CommitInput{
		SessionID: s.in.SessionID, Holder: holder, EventID: s.ids.EventID(ctx), ConnectionID: s.ids.connectionID(ctx),
		TokenSecretID: exchange.TokenSecretID, Discovery: found, Plan: plan, Register: reg, Syncs: syncs,
	}
	var out Outcome
	if err := s.shape.db(ctx, activityCommitConnection, commit).Get(ctx, &out); err != nil {
		s.undoAndFail(ctx, step, err)
		return
	}
	s.decide(out)
	s.deliveries.Start(ctx, commit.EventID)
	if found.Mode != ModeCloudAPI {
		connectionID := commit.ConnectionID
		if plan.ReonboardConnectionID != "" {
			connectionID = plan.ReonboardConnectionID
		}
		s.startConnectionWorkflows(ctx, connectionID)
	}
}

// startConnectionWorkflows hands the new connection to its own workflows once it is committed:
// mode/<id> while the mode is unknown (SPEC §6 step 5), heartbeat/<id> for coexistence (§6
// step 6, §7.6). An activity starts them rather than this workflow starting children: they
// outlive the session by months, a re-onboarded connection needs its running heartbeat reset
// (signal-with-start, which a workflow cannot do), and a start that failed is retried by the
// activity's policy without touching the outcome already answered.
func (s *onboarding) startConnectionWorkflows(ctx workflow.Context, connectionID string) {
	err := workflow.ExecuteActivity(withOptions(ctx, dbOptions), activityStartConnectionWorkflows,
		ConnectionStep{ConnectionID: connectionID}).Get(ctx, nil)
	if err != nil {
		// The session's outcome stands. A heartbeat confirmation starts a missing heartbeat
		// (Update-with-Start); a missing mode workflow needs an operator.
		workflow.GetLogger(ctx).Error("starting the connection's workflows failed", "ConnectionId", connectionID, "error", err)
	}
}

// undoAndFail restores what this session changed at Meta, then records the failure.
func (s *onboarding) undoAndFail(ctx workflow.Context, step MetaStepInput, cause error) {
	// Disconnected: an undo must run even when the workflow is being cancelled.
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	if err := workflow.ExecuteActivity(withOptions(dctx, graphOptions), activityUndoOverride, step).Get(dctx, nil); err != nil {
		workflow.GetLogger(ctx).Error("undo of the override failed; Meta may keep this session's override", "WabaId", step.Discovery.WabaID)
	}
	s.fail(ctx, cause)
}

func (s *onboarding) release(ctx workflow.Context, claim ClaimInput) {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	// A release that fails is harmless: the lease expires by itself.
	_ = s.shape.db(dctx, activityReleaseWaba, claim).Get(dctx, nil)
}

// fail records the failure a step's error carries (its reason travels as the ApplicationError's
// type); anything unexpected is internal_error.
func (s *onboarding) fail(ctx workflow.Context, err error) {
	reason, message, details := ReasonInternalError, "An internal error occurred while connecting WhatsApp.", map[string]any(nil)
	var appErr *temporal.ApplicationError
	var timeoutErr *temporal.TimeoutError
	switch {
	case errors.As(err, &appErr) && isReason(appErr.Type()):
		reason, message = appErr.Type(), appErr.Message()
		var d map[string]any
		if appErr.HasDetails() && appErr.Details(&d) == nil {
			details = d
		}
	case errors.As(err, &timeoutErr):
		reason, message = ReasonMetaUnavailable, "Meta did not answer in time."
	}
	s.end(ctx, StatusFailed, reason, message, details)
}

// end records a terminal state with its onboarding.failed event.
func (s *onboarding) end(ctx workflow.Context, status, reason, message string, details map[string]any) {
	in := EndInput{
		SessionID: s.in.SessionID, EventID: s.ids.EventID(ctx), Status: status, Reason: reason, Message: message, Details: details,
		FromCallback: s.callback != nil,
	}
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	var out Outcome
	if err := s.shape.db(dctx, activityEndSession, in).Get(dctx, &out); err != nil {
		// PostgreSQL refused for ten minutes: report the outcome anyway so callers are not stuck.
		out = Outcome{Status: status, Reason: reason}
	}
	s.decide(out)
	if out.Status == status {
		s.deliveries.Start(ctx, in.EventID)
	}
}

func (s *onboarding) decide(out Outcome) {
	s.status = out.Status
	s.outcome = &out
}

func isReason(t string) bool {
	switch t {
	case ReasonWabaWebhookConflict, ReasonNumberAlreadyConnected, ReasonWebhookSubscribeFailed, ReasonOAuthExchangeFailed,
		ReasonDiscoveryFailed, ReasonRegistrationFailed, ReasonMetaUnavailable, ReasonInternalError:
		return true
	}
	return false
}

func withOptions(ctx workflow.Context, o workflow.ActivityOptions) workflow.Context {
	return workflow.WithActivityOptions(ctx, o)
}
