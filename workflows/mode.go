package workflows

import (
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/dualhook/dualhook/internal/domain"
)

// Connection mode resolution (SPEC §6 step 5) — read top to bottom:
//
// When Meta did not say whether a new number is on the WhatsApp Business app, the connection is
// committed with connectionMode `unknown`, neither registered nor synced. This workflow
// (mode/<connectionId>) then keeps asking Meta (GET /{phone} → is_on_biz_app) with backoff on
// durable timers, so it survives restarts and costs nothing while it waits. When Meta answers:
//
//  1. one transaction sets the mode (only if it is still unknown) and stores
//     connection.mode_resolved (previousMode "unknown") — once;
//  2. Cloud API: the number is registered, with onboarding's own RegisterNumber (same PIN
//     rules: the PIN is stored encrypted before the first attempt, the number's existing PIN is
//     reused); coexistence: the contact and history syncs are triggered, again with
//     onboarding's TriggerSyncs, and the heartbeat workflow starts (the clock counts from the
//     resolution).
//
// It ends without doing anything when the connection is disconnected or its mode became known
// otherwise (re-onboarding), and when the connection's token stops working (re-onboarding the
// number starts a new one).

// Backoff of the questions to Meta.
const (
	DefaultModeInitialDelay = time.Minute
	DefaultModeMaxDelay     = 6 * time.Hour
	// modeChecksPerRun bounds one run's history; the next run continues the backoff.
	modeChecksPerRun = 50
)

// ModeWorkflow is mode/<connectionId>.
func ModeWorkflow(ctx workflow.Context, in domain.ModeInput) error {
	if in.Delay <= 0 {
		in.Delay = DefaultModeInitialDelay
	}
	if in.MaxDelay <= 0 {
		in.MaxDelay = DefaultModeMaxDelay
	}
	step := domain.ConnectionStep{ConnectionID: in.ConnectionID}
	var mode string
	for checks := 0; mode == ""; checks++ {
		var check domain.ModeCheck
		err := workflow.ExecuteActivity(withOptions(ctx, graphOptions), acts.CheckConnectionMode, step).Get(ctx, &check)
		switch {
		case err != nil && isReasonError(err, domain.ReasonMetaTokenExpired):
			workflow.GetLogger(ctx).Warn("the connection's token no longer works; its mode stays unknown until it is re-onboarded")
			return nil
		case err == nil && !check.Pending:
			return nil
		case err == nil && check.Mode != domain.ModeUnknown:
			mode = check.Mode
			continue
		}
		// Meta does not say yet, or did not answer: ask again later.
		if checks+1 >= modeChecksPerRun {
			return workflow.NewContinueAsNewError(ctx, ModeWorkflow, in)
		}
		if err := workflow.Sleep(ctx, in.Delay); err != nil {
			return err
		}
		in.Delay = min(in.Delay*2, in.MaxDelay)
	}

	resolve := domain.ModeResolveInput{ConnectionID: in.ConnectionID, Mode: mode, EventID: eventID(ctx, "mode-resolved")}
	var resolved bool
	if err := local(ctx, acts.ResolveConnectionMode, resolve).Get(ctx, &resolved); err != nil {
		return err
	}
	if !resolved {
		return nil // resolved otherwise meanwhile (re-onboarding), or disconnected
	}
	deliveries := StartDeliveries(ctx, NobodyWaits, resolve.EventID) // nobody waits on this workflow
	err := modeStep(ctx, mode, step)
	deliveries.Wait(ctx)
	return err
}

// modeStep does what onboarding skipped while the mode was unknown (SPEC §6 step 5).
func modeStep(ctx workflow.Context, mode string, step domain.ConnectionStep) error {
	gctx := withOptions(ctx, graphOptions)
	if mode == domain.ModeCloudAPI {
		return workflow.ExecuteActivity(gctx, acts.RegisterConnectionNumber, step).Get(ctx, nil)
	}
	if err := workflow.ExecuteActivity(gctx, acts.TriggerConnectionSyncs, step).Get(ctx, nil); err != nil {
		// The syncs are best effort (Meta allows them once, within 24 h); the heartbeat matters
		// more, so it starts regardless.
		workflow.GetLogger(ctx).Warn("triggering the coexistence syncs failed", "error", err)
	}
	return workflow.ExecuteActivity(withOptions(ctx, dbOptions), acts.StartConnectionWorkflows, step).Get(ctx, nil)
}

func isReasonError(err error, reason string) bool {
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr) && appErr.Type() == reason
}
