package workflows_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"github.com/stretchr/testify/suite"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/dualhook/dualhook/activities"
	wf "github.com/dualhook/dualhook/workflows"
)

// Unit tests of the session workflow's shape: the activities are mocked (their behaviour has
// integration tests in e2e), timers are skipped by the test environment.
type onboardingSuite struct {
	suite.Suite
	testsuite.WorkflowTestSuite
	env *testsuite.TestWorkflowEnvironment
	in  wf.OnboardingInput
}

func TestOnboardingWorkflow(t *testing.T) { suite.Run(t, new(onboardingSuite)) }

var a *activities.Activities // nil: method values name the activities

func (s *onboardingSuite) SetupTest() {
	s.env = s.NewTestWorkflowEnvironment()
	s.env.RegisterWorkflowWithOptions(wf.OnboardingWorkflow, workflow.RegisterOptions{Name: wf.OnboardingWorkflowName})
	s.env.RegisterActivity(a)
	s.in = wf.OnboardingInput{SessionID: "sess_1", PartnerID: "ptn_1", TenantID: "t1", ExpiresAt: s.env.Now().Add(time.Hour)}
	s.env.OnActivity(a.DeliverEvent, mock.Anything, mock.Anything).Return(wf.DeliveryResult{Status: wf.DeliveryDelivered}, nil).Maybe()
	s.env.OnActivity(a.StartConnectionWorkflows, mock.Anything, mock.Anything).Return(nil).Maybe()
}

// recordEnd mocks EndSession and returns where its input lands.
func (s *onboardingSuite) recordEnd() *wf.EndInput {
	var ended wf.EndInput
	s.env.OnActivity(a.EndSession, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in wf.EndInput) (wf.Outcome, error) {
			ended = in
			return wf.Outcome{Status: in.Status, Reason: in.Reason, RedirectURL: "https://app.test/x?status=" + in.Status}, nil
		})
	return &ended
}

func (s *onboardingSuite) callback(cb wf.CallbackInput, got *wf.Outcome, rejected *error) {
	s.env.UpdateWorkflow(wf.UpdateCallback, "cb-1", &testsuite.TestUpdateCallback{
		OnReject: func(err error) {
			if rejected != nil {
				*rejected = err
			}
		},
		OnAccept: func() {},
		OnComplete: func(v any, err error) {
			s.NoError(err)
			if out, ok := v.(wf.Outcome); ok {
				*got = out
			}
		},
	}, cb)
}

// The expiry is a durable timer: a session nobody finishes expires after its hour.
func (s *onboardingSuite) TestExpiresWhenNobodyFinishes() {
	ended := s.recordEnd()
	start := s.env.Now()
	s.env.ExecuteWorkflow(wf.OnboardingWorkflowName, s.in)
	s.True(s.env.IsWorkflowCompleted())
	s.NoError(s.env.GetWorkflowError())
	s.Equal(wf.StatusExpired, ended.Status)
	s.Equal(wf.ReasonExpired, ended.Reason)
	s.False(ended.FromCallback)
	s.WithinDuration(start.Add(time.Hour), s.env.Now(), time.Second)
}

// The first page open emits onboarding.started once, however often the page is opened.
func (s *onboardingSuite) TestPageOpenedMarksStartedOnce() {
	s.recordEnd()
	s.env.OnActivity(a.MarkSessionStarted, mock.Anything, mock.Anything).Return(true, nil).Once()
	for _, at := range []time.Duration{time.Minute, 2 * time.Minute, 3 * time.Minute} {
		s.env.RegisterDelayedCallback(func() { s.env.SignalWorkflow(wf.SignalPageOpened, nil) }, at)
	}
	s.env.ExecuteWorkflow(wf.OnboardingWorkflowName, s.in)
	s.True(s.env.IsWorkflowCompleted())
	s.env.AssertExpectations(s.T())
}

func (s *onboardingSuite) TestCancelCallbackDecidesWithoutMeta() {
	s.recordEnd()
	var got wf.Outcome
	s.env.RegisterDelayedCallback(func() {
		s.callback(wf.CallbackInput{Event: wf.EventCancel, CurrentStep: "PERMISSIONS"}, &got, nil)
	}, time.Minute)
	s.env.ExecuteWorkflow(wf.OnboardingWorkflowName, s.in)
	s.NoError(s.env.GetWorkflowError())
	s.Equal(wf.StatusCancelled, got.Status)
	s.env.AssertNotCalled(s.T(), "ExchangeCode", mock.Anything, mock.Anything)
}

func (s *onboardingSuite) happyPathMocks(mode string) {
	s.mocksUntilSiblings(mode)
	s.env.OnActivity(a.CheckSiblings, mock.Anything, mock.Anything).Return(wf.SiblingPlan{}, nil)
	s.env.OnActivity(a.SubscribeOverride, mock.Anything, mock.Anything).Return(nil)
}

func (s *onboardingSuite) mocksUntilSiblings(mode string) {
	s.env.OnActivity(a.MarkSessionProcessing, mock.Anything, mock.Anything).Return(nil)
	s.env.OnActivity(a.ExchangeCode, mock.Anything, mock.Anything).Return(wf.ExchangeResult{TokenSecretID: "sec_t"}, nil)
	s.env.OnActivity(a.DiscoverAssets, mock.Anything, mock.Anything).Return(wf.Discovery{WabaID: "1", PhoneNumberID: "2", Mode: mode}, nil)
	s.env.OnActivity(a.ClaimWaba, mock.Anything, mock.Anything).Return(nil)
	s.env.OnActivity(a.ReleaseWaba, mock.Anything, mock.Anything).Return(nil)
}

func (s *onboardingSuite) TestFinishRunsTheStepsAndCommits() {
	s.recordEnd()
	s.happyPathMocks(wf.ModeCloudAPI)
	s.env.OnActivity(a.RegisterNumber, mock.Anything, mock.Anything).Return(wf.RegisterResult{PinSecretID: "sec_p", Registered: true}, nil).Once()
	var commit wf.CommitInput
	s.env.OnActivity(a.CommitConnection, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in wf.CommitInput) (wf.Outcome, error) {
			commit = in
			return wf.Outcome{Status: wf.StatusCompleted, RedirectURL: "https://app.test/done"}, nil
		}).Once()
	var got wf.Outcome
	s.env.RegisterDelayedCallback(func() {
		s.callback(wf.CallbackInput{CodeSecretID: "sec_code", Event: wf.EventFinish}, &got, nil)
	}, time.Minute)
	// A second callback while processing is rejected by the validator.
	var rejected error
	s.env.RegisterDelayedCallback(func() {
		s.env.UpdateWorkflow(wf.UpdateCallback, "cb-2", &testsuite.TestUpdateCallback{
			OnReject: func(err error) { rejected = err }, OnAccept: func() {}, OnComplete: func(any, error) {},
		}, wf.CallbackInput{CodeSecretID: "sec_other", Event: wf.EventFinish})
	}, time.Minute+time.Millisecond)
	s.env.ExecuteWorkflow(wf.OnboardingWorkflowName, s.in)
	s.NoError(s.env.GetWorkflowError())
	s.Equal(wf.Outcome{Status: wf.StatusCompleted, RedirectURL: "https://app.test/done"}, got)
	s.Equal("sec_p", commit.Register.PinSecretID)
	s.Equal("default-test-workflow-id", commit.Holder, "the claim's holder is the workflow (its id)")
	s.NotEmpty(commit.EventID)
	s.NotEmpty(commit.ConnectionID)
	s.Error(rejected)
	s.env.AssertNotCalled(s.T(), "UndoOverride", mock.Anything, mock.Anything)
	s.env.AssertNotCalled(s.T(), "TriggerSyncs", mock.Anything, mock.Anything)
}

// Once a code is accepted the session no longer expires, however long Meta takes.
func (s *onboardingSuite) TestProcessingSessionDoesNotExpire() {
	s.happyPathMocks(wf.ModeUnknown)
	s.env.OnActivity(a.CommitConnection, mock.Anything, mock.Anything).After(3*time.Hour).Return(wf.Outcome{Status: wf.StatusCompleted}, nil)
	var got wf.Outcome
	s.env.RegisterDelayedCallback(func() {
		s.callback(wf.CallbackInput{CodeSecretID: "sec_code"}, &got, nil)
	}, 59*time.Minute)
	s.env.ExecuteWorkflow(wf.OnboardingWorkflowName, s.in)
	s.Equal(wf.StatusCompleted, got.Status)
	s.env.AssertNotCalled(s.T(), "RegisterNumber", mock.Anything, mock.Anything)
	s.env.AssertNotCalled(s.T(), "TriggerSyncs", mock.Anything, mock.Anything)
}

// A failure after the override was set undoes it at Meta, then records the step's reason.
func (s *onboardingSuite) TestFailureAfterTheOverrideIsUndone() {
	s.happyPathMocks(wf.ModeCoexistence)
	s.env.OnActivity(a.TriggerSyncs, mock.Anything, mock.Anything).Return(wf.SyncResult{},
		temporal.NewNonRetryableApplicationError("sync refused", wf.ReasonRegistrationFailed, nil))
	s.env.OnActivity(a.UndoOverride, mock.Anything, mock.Anything).Return(nil).Once()
	ended := s.recordEnd()
	var got wf.Outcome
	s.env.RegisterDelayedCallback(func() { s.callback(wf.CallbackInput{CodeSecretID: "sec_code"}, &got, nil) }, time.Minute)
	s.env.ExecuteWorkflow(wf.OnboardingWorkflowName, s.in)
	s.Equal(wf.StatusFailed, got.Status)
	s.Equal(wf.ReasonRegistrationFailed, ended.Reason)
	s.Equal("sync refused", ended.Message)
	s.True(ended.FromCallback)
	s.env.AssertExpectations(s.T())
}

// A failure before Meta was changed needs no undo.
func (s *onboardingSuite) TestConflictNeedsNoUndo() {
	s.mocksUntilSiblings(wf.ModeCloudAPI)
	s.env.OnActivity(a.CheckSiblings, mock.Anything, mock.Anything).Return(wf.SiblingPlan{},
		temporal.NewNonRetryableApplicationError("conflict", wf.ReasonWabaWebhookConflict, nil, map[string]any{"mismatch": "url"}))
	ended := s.recordEnd()
	var got wf.Outcome
	s.env.RegisterDelayedCallback(func() { s.callback(wf.CallbackInput{CodeSecretID: "sec_code"}, &got, nil) }, time.Minute)
	s.env.ExecuteWorkflow(wf.OnboardingWorkflowName, s.in)
	s.Equal(wf.ReasonWabaWebhookConflict, ended.Reason)
	s.Equal(map[string]any{"mismatch": "url"}, ended.Details)
	s.env.AssertNotCalled(s.T(), "SubscribeOverride", mock.Anything, mock.Anything)
	s.env.AssertNotCalled(s.T(), "UndoOverride", mock.Anything, mock.Anything)
	s.env.AssertCalled(s.T(), "ReleaseWaba", mock.Anything, mock.Anything)
}

func TestErrorCategoriesFollowTheSpec(t *testing.T) {
	for reason, category := range map[string]string{
		"expired": "timeout", "cancelled": "user", "user_error": "user", "waba_webhook_conflict": "conflict",
		"number_already_connected": "conflict", "webhook_subscribe_failed": "configuration", "oauth_exchange_failed": "meta",
		"discovery_failed": "meta", "registration_failed": "meta", "meta_unavailable": "meta", "internal_error": "internal",
	} {
		assert.Equal(t, category, wf.ErrorCategory(reason), reason)
	}
	require.Equal(t, "onboarding/sess_1", wf.OnboardingID("sess_1"))
}
