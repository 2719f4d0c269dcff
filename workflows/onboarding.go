package workflows

import (
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/dualhook/dualhook/activities"
	"github.com/dualhook/dualhook/internal/domain"
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
//     trigger the coexistence syncs (best effort), and commit everything with onboarding.completed
//     in one transaction. A failure after Meta was changed undoes the change first. A failure
//     that is ours or Meta's availability reopens the session for a fresh Embedded Signup
//     ("Try again", reopen) while the link is valid; any other records `failed`.
//     The PostgreSQL-only steps are local activities (`local`); the others call Meta and
//     heartbeat, so a lost worker is noticed within seconds.
//  5. The Update returns the outcome (status + redirect URL) as soon as it is committed; the
//     deliveries are activities (StartDeliveries, SomeoneWaits), so the answer never waits for
//     the partner's receiver; the workflow waits for them before it ends.
//
// Every event is named by what it is (eventID: "started", "outcome"), so a retried task that
// sees the page-open and the callback in another order stores each event once.
//
// The expiry is a durable timer: it fires even if every process restarted in between.

// OnboardingWorkflow is the workflow of one onboarding session.
func OnboardingWorkflow(ctx workflow.Context, in domain.OnboardingInput) error {
	s := &onboarding{in: in, status: domain.StatusPending}
	if err := s.setup(ctx); err != nil {
		return err
	}
	s.run(ctx)
	// The workflow is the events' outbox: it ends only when its deliveries have.
	s.deliveries.Wait(ctx)
	return nil
}

type onboarding struct {
	in         domain.OnboardingInput
	status     string
	pageOpened bool // a page-opened signal is waiting to be handled
	started    bool
	callback   *domain.CallbackInput // the callback being handled
	reply      *domain.Outcome       // the answer to that callback, once there is one
	retries    int                   // attempts reopened after a failure the user may repeat
	cancel     bool
	outcome    *domain.Outcome
	deliveries *Deliveries
}

func (s *onboarding) setup(ctx workflow.Context) error {
	s.deliveries = StartDeliveries(ctx, SomeoneWaits)
	if err := workflow.SetQueryHandler(ctx, domain.QueryStatus, func() (string, error) { return s.status, nil }); err != nil {
		return err
	}
	err := workflow.SetUpdateHandlerWithOptions(ctx, domain.UpdateCallback,
		func(ctx workflow.Context, cb domain.CallbackInput) (domain.Outcome, error) {
			s.callback, s.reply = &cb, nil
			if err := workflow.Await(ctx, func() bool { return s.reply != nil }); err != nil {
				return domain.Outcome{}, err
			}
			return *s.reply, nil
		},
		workflow.UpdateHandlerOptions{Validator: func(_ workflow.Context, cb domain.CallbackInput) error {
			switch {
			case s.outcome != nil:
				return errors.New("session already ended")
			case s.callback != nil:
				return errors.New("session is already processing a callback")
			case cb.CodeSecretID == "" && cb.Event != domain.EventCancel && cb.Event != domain.EventError:
				return errors.New("a finish callback needs a code")
			}
			return nil
		}})
	if err != nil {
		return err
	}
	err = workflow.SetUpdateHandler(ctx, domain.UpdateCancel, func(ctx workflow.Context) (domain.Outcome, error) {
		if s.outcome == nil && s.callback == nil {
			s.cancel = true
			if err := workflow.Await(ctx, func() bool { return s.outcome != nil }); err != nil {
				return domain.Outcome{}, err
			}
		}
		if s.outcome != nil {
			return *s.outcome, nil
		}
		return domain.Outcome{Status: s.status}, nil
	})
	if err != nil {
		return err
	}
	opened := workflow.GetSignalChannel(ctx, domain.SignalPageOpened)
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
		case s.pageOpened && !s.started:
			// Before anything else the same task may hold (a callback, a cancel): the page was
			// opened first, so onboarding.started is stored, and delivered, first.
			s.markStarted(ctx)
		case s.callback != nil:
			if !s.started {
				// The page posted a callback, so it was opened, although its page-opened signal
				// never arrived (the API failed to send it): the session started all the same.
				s.markStarted(ctx)
			}
			s.handleCallback(ctx, *s.callback)
		case s.cancel:
			s.end(ctx, domain.StatusCancelled, domain.ReasonCancelled, "The onboarding link was cancelled.", nil)
		case !woke:
			s.end(ctx, domain.StatusExpired, domain.ReasonExpired, "The onboarding link expired before the user finished.", nil)
		}
	}
}

// markStarted records the first page open and emits onboarding.started once.
func (s *onboarding) markStarted(ctx workflow.Context) {
	s.started = true
	id := eventID(ctx, "started") // a session starts once
	var emitted bool
	if err := local(ctx, acts.MarkSessionStarted,
		domain.SessionStep{SessionID: s.in.SessionID, EventID: id}).Get(ctx, &emitted); err != nil {
		return // the session is still usable; an operator sees the failed activity
	}
	if s.status == domain.StatusPending {
		s.status = domain.StatusStarted
	}
	if emitted {
		s.deliveries.Start(ctx, id)
	}
}

func (s *onboarding) handleCallback(ctx workflow.Context, cb domain.CallbackInput) {
	if cb.CodeSecretID == "" {
		if cb.Event == domain.EventCancel && cb.ErrorMessage == "" {
			msg := "The user cancelled Embedded Signup."
			if cb.CurrentStep != "" {
				msg = "The user cancelled Embedded Signup at step " + cb.CurrentStep + "."
			}
			s.end(ctx, domain.StatusCancelled, domain.ReasonCancelled, msg, nil)
			return
		}
		msg := cb.ErrorMessage
		if msg == "" {
			msg = "Embedded Signup reported an error."
		}
		s.end(ctx, domain.StatusFailed, domain.ReasonUserError, msg, nil)
		return
	}
	if err := local(ctx, acts.MarkSessionProcessing,
		domain.ProcessingInput{SessionID: s.in.SessionID, Callback: cb}).Get(ctx, nil); err != nil {
		s.fail(ctx, err)
		return
	}
	s.status = domain.StatusProcessing
	s.process(ctx, cb)
}

// process runs SPEC §6 steps 1–6 for an accepted code.
func (s *onboarding) process(ctx workflow.Context, cb domain.CallbackInput) {
	var exchange domain.ExchangeResult
	if err := workflow.ExecuteActivity(withOptions(ctx, exchangeOptions), acts.ExchangeCode,
		domain.SessionStep{SessionID: s.in.SessionID}).Get(ctx, &exchange); err != nil {
		s.fail(ctx, err)
		return
	}
	var found domain.Discovery
	if err := workflow.ExecuteActivity(withOptions(ctx, graphOptions), acts.DiscoverAssets,
		domain.DiscoverInput{SessionID: s.in.SessionID, TokenSecretID: exchange.TokenSecretID, Callback: cb}).Get(ctx, &found); err != nil {
		s.fail(ctx, err)
		return
	}

	// From the sibling check to the commit this workflow holds the WABA's claim, so no other
	// session, webhook update or disconnect interleaves its check → Meta call → commit.
	holder := workflow.GetInfo(ctx).WorkflowExecution.ID
	claim := domain.ClaimInput{WabaID: found.WabaID, Holder: holder}
	if err := workflow.ExecuteActivity(withOptions(ctx, claimOptions), acts.ClaimWaba, claim).Get(ctx, nil); err != nil {
		s.fail(ctx, err)
		return
	}
	defer s.release(ctx, claim)

	var plan domain.SiblingPlan
	if err := local(ctx, acts.CheckSiblings,
		domain.SiblingInput{SessionID: s.in.SessionID, Discovery: found}).Get(ctx, &plan); err != nil {
		s.fail(ctx, err)
		return
	}

	step := domain.MetaStepInput{SessionID: s.in.SessionID, TokenSecretID: exchange.TokenSecretID, Discovery: found}
	// Past this point Meta may have changed: every failure undoes what this session did there.
	if err := workflow.ExecuteActivity(withOptions(ctx, graphOptions), acts.SubscribeOverride, step).Get(ctx, nil); err != nil {
		s.undoAndFail(ctx, step, err)
		return
	}
	var reg domain.RegisterResult
	var syncs domain.SyncResult
	switch found.Mode {
	case domain.ModeCloudAPI:
		if err := workflow.ExecuteActivity(withOptions(ctx, graphOptions), acts.RegisterNumber, step).Get(ctx, &reg); err != nil {
			s.undoAndFail(ctx, step, err)
			return
		}
	case domain.ModeCoexistence:
		syncs = s.triggerSyncs(ctx, step)
	}
	// ModeUnknown: neither; the connection's mode workflow resolves it later (SPEC §6 step 5).

	commit := domain.CommitInput{
		SessionID: s.in.SessionID, Holder: holder, EventID: eventID(ctx, outcomeEvent), ConnectionID: connectionID(ctx),
		TokenSecretID: exchange.TokenSecretID, Discovery: found, Plan: plan, Register: reg, Syncs: syncs,
	}
	var out domain.Outcome
	if err := local(ctx, acts.CommitConnection, commit).Get(ctx, &out); err != nil {
		s.undoAndFail(ctx, step, err)
		return
	}
	s.decide(out)
	s.deliveries.Start(ctx, commit.EventID)
	if found.Mode != domain.ModeCloudAPI {
		connectionID := commit.ConnectionID
		if plan.ReonboardConnectionID != "" {
			connectionID = plan.ReonboardConnectionID
		}
		s.startConnectionWorkflows(ctx, connectionID)
	}
}

// triggerSyncs starts the coexistence syncs, best effort as in the mode workflow (modeStep): Meta
// allows each once, within 24 h, and a sync that failed must not undo a connection that works —
// the undo would unsubscribe the app after both one-time syncs may have been spent. The session
// completes with the timestamps of the syncs that started; a failed one stays null on the
// connection, which is the record, and the failure is logged.
func (s *onboarding) triggerSyncs(ctx workflow.Context, step domain.MetaStepInput) domain.SyncResult {
	var syncs domain.SyncResult
	err := workflow.ExecuteActivity(withOptions(ctx, graphOptions), acts.TriggerSyncs, step).Get(ctx, &syncs)
	if err == nil {
		return syncs
	}
	syncs = activities.StartedSyncs(err)
	workflow.GetLogger(ctx).Warn("triggering the coexistence syncs failed; the onboarding completes without them",
		"WabaId", step.Discovery.WabaID, "PhoneNumberId", step.Discovery.PhoneNumberID,
		"ContactSyncStarted", syncs.ContactSyncTriggeredAt != nil, "HistorySyncStarted", syncs.HistorySyncTriggeredAt != nil,
		"error", err)
	return syncs
}

// startConnectionWorkflows hands the new connection to its own workflows once it is committed:
// mode/<id> while the mode is unknown (SPEC §6 step 5), heartbeat/<id> for coexistence (§6
// step 6, §7.6). An activity starts them rather than this workflow starting children: they
// outlive the session by months, a re-onboarded connection needs its running heartbeat reset
// (signal-with-start, which a workflow cannot do), and a start that failed is retried by the
// activity's policy without touching the outcome already answered.
func (s *onboarding) startConnectionWorkflows(ctx workflow.Context, connectionID string) {
	err := workflow.ExecuteActivity(withOptions(ctx, dbOptions), acts.StartConnectionWorkflows,
		domain.ConnectionStep{ConnectionID: connectionID}).Get(ctx, nil)
	if err != nil {
		// The session's outcome stands. A heartbeat confirmation starts a missing heartbeat
		// (Update-with-Start); a missing mode workflow needs an operator.
		workflow.GetLogger(ctx).Error("starting the connection's workflows failed", "ConnectionId", connectionID, "error", err)
	}
}

// undoAndFail restores what this session changed at Meta, then records the failure.
func (s *onboarding) undoAndFail(ctx workflow.Context, step domain.MetaStepInput, cause error) {
	// Disconnected: an undo must run even when the workflow is being cancelled.
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	if err := workflow.ExecuteActivity(withOptions(dctx, graphOptions), acts.UndoOverride, step).Get(dctx, nil); err != nil {
		workflow.GetLogger(ctx).Error("undo of the override failed; Meta may keep this session's override", "WabaId", step.Discovery.WabaID)
	}
	s.fail(ctx, cause)
}

func (s *onboarding) release(ctx workflow.Context, claim domain.ClaimInput) {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	// A release that fails is harmless: the lease expires by itself.
	_ = local(dctx, acts.ReleaseWaba, claim).Get(dctx, nil)
}

// fail records the failure a step's error carries (its reason travels as the ApplicationError's
// type); anything unexpected is internal_error.
func (s *onboarding) fail(ctx workflow.Context, err error) {
	reason, message, details := domain.ReasonInternalError, "An internal error occurred while connecting WhatsApp.", map[string]any(nil)
	var appErr *temporal.ApplicationError
	var timeoutErr *temporal.TimeoutError
	switch {
	case errors.As(err, &appErr) && domain.IsFailureReason(appErr.Type()):
		reason, message = appErr.Type(), appErr.Message()
		var d map[string]any
		if appErr.HasDetails() && appErr.Details(&d) == nil {
			details = d
		}
	case errors.As(err, &timeoutErr):
		reason, message = domain.ReasonMetaUnavailable, "Meta did not answer in time."
	}
	if s.reopen(ctx, reason, message) {
		return
	}
	s.end(ctx, domain.StatusFailed, reason, message, details)
}

// reopen answers a failed attempt the user may repeat — the failure was ours or Meta's
// availability, the link has not expired, and the session has attempts left — with "try
// again", and opens the session for a fresh Embedded Signup: started again, the expiry back in
// force. Meta's side was already undone. It reports false when the session must end instead.
func (s *onboarding) reopen(ctx workflow.Context, reason, message string) bool {
	if s.callback == nil || !domain.UserMayRetry(reason) || s.retries >= domain.MaxSessionRetries ||
		!workflow.Now(ctx).Before(s.in.ExpiresAt) {
		return false
	}
	var reopened bool
	in := domain.ReopenInput{SessionID: s.in.SessionID, Reason: reason, Message: message}
	if err := local(ctx, acts.ReopenSession, in).Get(ctx, &reopened); err != nil || !reopened {
		return false
	}
	s.retries++
	s.status = domain.StatusStarted
	s.reply = &domain.Outcome{Status: domain.StatusStarted, Reason: reason, Message: message, Retry: true}
	s.callback = nil
	return true
}

// end records a terminal state with its onboarding.failed event. The outcome it decides is the one
// EndSession committed (which may be another path's, already stored) — never one made up: while
// PostgreSQL refuses, the workflow stays open and retries, visibly (endOptions).
func (s *onboarding) end(ctx workflow.Context, status, reason, message string, details map[string]any) {
	in := domain.EndInput{
		SessionID: s.in.SessionID, EventID: eventID(ctx, outcomeEvent), Status: status, Reason: reason, Message: message, Details: details,
		FromCallback: s.callback != nil,
	}
	// Disconnected: an operator's cancel must not leave the session without its end.
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	var out domain.Outcome
	if err := local(dctx, acts.EndSession, in).Get(dctx, &out); err != nil {
		workflow.GetLogger(ctx).Error("ending the session failed for ten minutes; retrying until PostgreSQL accepts it",
			"SessionId", s.in.SessionID, "Status", status, "error", err)
		for {
			err := workflow.ExecuteActivity(withOptions(dctx, endOptions), acts.EndSession, in).Get(dctx, &out)
			if err == nil {
				break
			}
			// Only a non-retryable error gets here (EndSession returns none today): try again,
			// slowly, rather than close the workflow on an outcome nobody stored.
			workflow.GetLogger(ctx).Error("ending the session failed", "SessionId", s.in.SessionID, "error", err)
			_ = workflow.Sleep(dctx, time.Minute)
		}
	}
	s.decide(out)
	if out.Status == status {
		s.deliveries.Start(ctx, in.EventID)
	}
}

// outcomeEvent names the session's one outcome event: onboarding.completed, or onboarding.failed
// for any other end. Whichever path decides, the event has the same id, so two paths can never
// both store one.
const outcomeEvent = "outcome"

func (s *onboarding) decide(out domain.Outcome) {
	s.status = out.Status
	s.outcome, s.reply = &out, &out
}
