package workflows

import (
	"errors"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
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

// ModeWorkflowName names the workflow.
const ModeWorkflowName = "ModeWorkflow"

// Backoff of the questions to Meta.
const (
	DefaultModeInitialDelay = time.Minute
	DefaultModeMaxDelay     = 6 * time.Hour
	// modeChecksPerRun bounds one run's history; the next run continues the backoff.
	modeChecksPerRun = 50
)

// ModeInput starts (and continues) the workflow.
type ModeInput struct {
	ConnectionID string
	PartnerID    string
	TenantID     string
	// Delay is the wait before the next question (carried across continue-as-new); MaxDelay
	// caps the doubling. Zero takes the defaults.
	Delay    time.Duration `json:",omitempty"`
	MaxDelay time.Duration `json:",omitempty"`
}

// ConnectionStep names a connection for its activities.
type ConnectionStep struct {
	ConnectionID string
}

// ModeCheck is what Meta says about a connection's number now.
type ModeCheck struct {
	// Pending is false when there is nothing left to resolve: the connection is not active, or
	// its mode is known already.
	Pending bool
	// Mode is ModeUnknown while Meta does not say.
	Mode string
}

// ModeResolveInput commits a resolved mode.
type ModeResolveInput struct {
	ConnectionID string
	Mode         string
	EventID      string
}

const (
	activityCheckConnectionMode      = "CheckConnectionMode"
	activityResolveConnectionMode    = "ResolveConnectionMode"
	activityRegisterConnectionNumber = "RegisterConnectionNumber"
	activityTriggerConnectionSyncs   = "TriggerConnectionSyncs"
	activityStartConnectionWorkflows = "StartConnectionWorkflows"
)

// ModeStartOptions: a running workflow is reused; a finished one may run again (the number was
// re-onboarded with an unknown mode).
func ModeStartOptions(in ModeInput, taskQueue string) client.StartWorkflowOptions {
	return connectionStartOptions(ModeID(in.ConnectionID), in.PartnerID, in.TenantID, in.ConnectionID, taskQueue)
}

// ModeWorkflow is mode/<connectionId>.
func ModeWorkflow(ctx workflow.Context, in ModeInput) error {
	sh := currentShape(ctx)
	if in.Delay <= 0 {
		in.Delay = DefaultModeInitialDelay
	}
	if in.MaxDelay <= 0 {
		in.MaxDelay = DefaultModeMaxDelay
	}
	step := ConnectionStep{ConnectionID: in.ConnectionID}
	var mode string
	for checks := 0; mode == ""; checks++ {
		var check ModeCheck
		err := workflow.ExecuteActivity(withOptions(ctx, graphOptions), activityCheckConnectionMode, step).Get(ctx, &check)
		switch {
		case err != nil && isReasonError(err, ReasonMetaTokenExpired):
			workflow.GetLogger(ctx).Warn("the connection's token no longer works; its mode stays unknown until it is re-onboarded")
			return nil
		case err == nil && !check.Pending:
			return nil
		case err == nil && check.Mode != ModeUnknown:
			mode = check.Mode
			continue
		}
		// Meta does not say yet, or did not answer: ask again later.
		if checks+1 >= modeChecksPerRun {
			return workflow.NewContinueAsNewError(ctx, ModeWorkflowName, in)
		}
		if err := workflow.Sleep(ctx, in.Delay); err != nil {
			return err
		}
		in.Delay = min(in.Delay*2, in.MaxDelay)
	}

	idSrc := sh.idSource() // the run's only event
	resolve := ModeResolveInput{ConnectionID: in.ConnectionID, Mode: mode, EventID: idSrc.EventID(ctx)}
	var resolved bool
	if err := sh.db(ctx, activityResolveConnectionMode, resolve).Get(ctx, &resolved); err != nil {
		return err
	}
	if !resolved {
		return nil // resolved otherwise meanwhile (re-onboarding), or disconnected
	}
	deliveries := StartDeliveriesInWorker(ctx, resolve.EventID) // nobody waits on this workflow
	err := modeStep(ctx, mode, step)
	deliveries.Wait(ctx)
	return err
}

// modeStep does what onboarding skipped while the mode was unknown (SPEC §6 step 5).
func modeStep(ctx workflow.Context, mode string, step ConnectionStep) error {
	gctx := withOptions(ctx, graphOptions)
	if mode == ModeCloudAPI {
		return workflow.ExecuteActivity(gctx, activityRegisterConnectionNumber, step).Get(ctx, nil)
	}
	if err := workflow.ExecuteActivity(gctx, activityTriggerConnectionSyncs, step).Get(ctx, nil); err != nil {
		// The syncs are best effort (Meta allows them once, within 24 h); the heartbeat matters
		// more, so it starts regardless.
		workflow.GetLogger(ctx).Warn("triggering the coexistence syncs failed", "error", err)
	}
	return workflow.ExecuteActivity(withOptions(ctx, dbOptions), activityStartConnectionWorkflows, step).Get(ctx, nil)
}

func isReasonError(err error, reason string) bool {
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr) && appErr.Type() == reason
}
