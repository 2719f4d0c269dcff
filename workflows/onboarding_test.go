package workflows_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"github.com/stretchr/testify/suite"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/dualhook/dualhook/activities"
	"github.com/dualhook/dualhook/internal/domain"
	"github.com/dualhook/dualhook/internal/ids"
	wf "github.com/dualhook/dualhook/workflows"
)

// Unit tests of the session workflow's shape: the activities are mocked (their behaviour has
// integration tests in e2e), timers are skipped by the test environment.
type onboardingSuite struct {
	suite.Suite
	testsuite.WorkflowTestSuite
	env *testsuite.TestWorkflowEnvironment
	in  domain.OnboardingInput
}

func TestOnboardingWorkflow(t *testing.T) { suite.Run(t, new(onboardingSuite)) }

var a *activities.Activities // nil: method values name the activities

func (s *onboardingSuite) SetupTest() {
	s.env = s.NewTestWorkflowEnvironment()
	s.env.RegisterWorkflowWithOptions(wf.OnboardingWorkflow, workflow.RegisterOptions{Name: domain.OnboardingWorkflowName})
	s.env.RegisterActivity(a)
	s.in = domain.OnboardingInput{SessionID: "sess_1", PartnerID: "ptn_1", TenantID: "t1", ExpiresAt: s.env.Now().Add(time.Hour)}
	s.env.OnActivity(a.DeliverEvent, mock.Anything, mock.Anything).Return(domain.DeliveryResult{Status: domain.DeliveryDelivered}, nil).Maybe()
	s.env.OnActivity(a.StartConnectionWorkflows, mock.Anything, mock.Anything).Return(nil).Maybe()
}

// recordEnd mocks EndSession and returns where its input lands.
func (s *onboardingSuite) recordEnd() *domain.EndInput {
	var ended domain.EndInput
	s.env.OnActivity(a.EndSession, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in domain.EndInput) (domain.Outcome, error) {
			ended = in
			return domain.Outcome{Status: in.Status, Reason: in.Reason, RedirectURL: "https://app.test/x?status=" + in.Status}, nil
		})
	return &ended
}

// recordStarted mocks MarkSessionStarted (a callback implies the page was opened) and returns
// where the event ids it was given land, in call order.
func (s *onboardingSuite) recordStarted() *[]string {
	var ids []string
	s.env.OnActivity(a.MarkSessionStarted, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in domain.SessionStep) (bool, error) {
			ids = append(ids, in.EventID)
			return len(ids) == 1, nil
		})
	return &ids
}

func (s *onboardingSuite) callback(cb domain.CallbackInput, got *domain.Outcome, rejected *error) {
	s.env.UpdateWorkflow(domain.UpdateCallback, "cb-1", &testsuite.TestUpdateCallback{
		OnReject: func(err error) {
			if rejected != nil {
				*rejected = err
			}
		},
		OnAccept: func() {},
		OnComplete: func(v any, err error) {
			s.NoError(err)
			if out, ok := v.(domain.Outcome); ok {
				*got = out
			}
		},
	}, cb)
}

// The expiry is a durable timer: a session nobody finishes expires after its hour.
func (s *onboardingSuite) TestExpiresWhenNobodyFinishes() {
	ended := s.recordEnd()
	start := s.env.Now()
	s.env.ExecuteWorkflow(domain.OnboardingWorkflowName, s.in)
	s.True(s.env.IsWorkflowCompleted())
	s.NoError(s.env.GetWorkflowError())
	s.Equal(domain.StatusExpired, ended.Status)
	s.Equal(domain.ReasonExpired, ended.Reason)
	s.False(ended.FromCallback)
	s.WithinDuration(start.Add(time.Hour), s.env.Now(), time.Second)
}

// The first page open emits onboarding.started once, however often the page is opened.
func (s *onboardingSuite) TestPageOpenedMarksStartedOnce() {
	s.recordEnd()
	s.env.OnActivity(a.MarkSessionStarted, mock.Anything, mock.Anything).Return(true, nil).Once()
	for _, at := range []time.Duration{time.Minute, 2 * time.Minute, 3 * time.Minute} {
		s.env.RegisterDelayedCallback(func() { s.env.SignalWorkflow(domain.SignalPageOpened, nil) }, at)
	}
	s.env.ExecuteWorkflow(domain.OnboardingWorkflowName, s.in)
	s.True(s.env.IsWorkflowCompleted())
	s.env.AssertExpectations(s.T())
}

func (s *onboardingSuite) TestCancelCallbackDecidesWithoutMeta() {
	s.recordEnd()
	s.recordStarted()
	var got domain.Outcome
	s.env.RegisterDelayedCallback(func() {
		s.callback(domain.CallbackInput{Event: domain.EventCancel, CurrentStep: "PERMISSIONS"}, &got, nil)
	}, time.Minute)
	s.env.ExecuteWorkflow(domain.OnboardingWorkflowName, s.in)
	s.NoError(s.env.GetWorkflowError())
	s.Equal(domain.StatusCancelled, got.Status)
	s.env.AssertNotCalled(s.T(), "ExchangeCode", mock.Anything, mock.Anything)
}

func (s *onboardingSuite) happyPathMocks(mode string) {
	s.mocksUntilSiblings(mode)
	s.env.OnActivity(a.CheckSiblings, mock.Anything, mock.Anything).Return(domain.SiblingPlan{}, nil)
	s.env.OnActivity(a.SubscribeOverride, mock.Anything, mock.Anything).Return(nil)
}

func (s *onboardingSuite) mocksUntilSiblings(mode string) *[]string {
	started := s.recordStarted()
	s.env.OnActivity(a.MarkSessionProcessing, mock.Anything, mock.Anything).Return(nil)
	s.env.OnActivity(a.ExchangeCode, mock.Anything, mock.Anything).Return(domain.ExchangeResult{TokenSecretID: "sec_t"}, nil)
	s.env.OnActivity(a.DiscoverAssets, mock.Anything, mock.Anything).Return(domain.Discovery{WabaID: "1", PhoneNumberID: "2", Mode: mode}, nil)
	s.env.OnActivity(a.ClaimWaba, mock.Anything, mock.Anything).Return(nil)
	s.env.OnActivity(a.ReleaseWaba, mock.Anything, mock.Anything).Return(nil)
	return started
}

func (s *onboardingSuite) TestFinishRunsTheStepsAndCommits() {
	s.recordEnd()
	s.happyPathMocks(domain.ModeCloudAPI)
	// RegisterNumber takes a second of workflow time, so the session is still processing when the
	// second callback (minute+1ms) arrives: the test env fires that timer by wall clock only while
	// an activity runs, and the instant mocks could otherwise commit before it ever fired.
	s.env.OnActivity(a.RegisterNumber, mock.Anything, mock.Anything).After(time.Second).Return(domain.RegisterResult{PinSecretID: "sec_p", Registered: true}, nil).Once()
	var commit domain.CommitInput
	s.env.OnActivity(a.CommitConnection, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in domain.CommitInput) (domain.Outcome, error) {
			commit = in
			return domain.Outcome{Status: domain.StatusCompleted, RedirectURL: "https://app.test/done"}, nil
		}).Once()
	var got domain.Outcome
	s.env.RegisterDelayedCallback(func() {
		s.callback(domain.CallbackInput{CodeSecretID: "sec_code", Event: domain.EventFinish}, &got, nil)
	}, time.Minute)
	// A second callback while processing is rejected by the validator.
	var rejected error
	s.env.RegisterDelayedCallback(func() {
		s.env.UpdateWorkflow(domain.UpdateCallback, "cb-2", &testsuite.TestUpdateCallback{
			OnReject: func(err error) { rejected = err }, OnAccept: func() {}, OnComplete: func(any, error) {},
		}, domain.CallbackInput{CodeSecretID: "sec_other", Event: domain.EventFinish})
	}, time.Minute+time.Millisecond)
	s.env.ExecuteWorkflow(domain.OnboardingWorkflowName, s.in)
	s.NoError(s.env.GetWorkflowError())
	s.Equal(domain.Outcome{Status: domain.StatusCompleted, RedirectURL: "https://app.test/done"}, got)
	s.Equal("sec_p", commit.Register.PinSecretID)
	s.Equal("default-test-workflow-id", commit.Holder, "the claim's holder is the workflow (its id)")
	s.NotEmpty(commit.EventID)
	s.NotEmpty(commit.ConnectionID)
	s.ErrorContains(rejected, "already processing a callback")
	s.env.AssertNotCalled(s.T(), "UndoOverride", mock.Anything, mock.Anything)
	s.env.AssertNotCalled(s.T(), "TriggerSyncs", mock.Anything, mock.Anything)
}

// Once a code is accepted the session no longer expires, however long Meta takes.
func (s *onboardingSuite) TestProcessingSessionDoesNotExpire() {
	s.happyPathMocks(domain.ModeUnknown)
	s.env.OnActivity(a.CommitConnection, mock.Anything, mock.Anything).After(3*time.Hour).Return(domain.Outcome{Status: domain.StatusCompleted}, nil)
	var got domain.Outcome
	s.env.RegisterDelayedCallback(func() {
		s.callback(domain.CallbackInput{CodeSecretID: "sec_code"}, &got, nil)
	}, 59*time.Minute)
	s.env.ExecuteWorkflow(domain.OnboardingWorkflowName, s.in)
	s.Equal(domain.StatusCompleted, got.Status)
	s.env.AssertNotCalled(s.T(), "RegisterNumber", mock.Anything, mock.Anything)
	s.env.AssertNotCalled(s.T(), "TriggerSyncs", mock.Anything, mock.Anything)
}

// A failure after the override was set undoes it at Meta, then records the step's reason.
func (s *onboardingSuite) TestFailureAfterTheOverrideIsUndone() {
	s.happyPathMocks(domain.ModeCloudAPI)
	s.env.OnActivity(a.RegisterNumber, mock.Anything, mock.Anything).Return(domain.RegisterResult{},
		temporal.NewNonRetryableApplicationError("register refused", domain.ReasonRegistrationFailed, nil))
	s.env.OnActivity(a.UndoOverride, mock.Anything, mock.Anything).Return(nil).Once()
	ended := s.recordEnd()
	var got domain.Outcome
	s.env.RegisterDelayedCallback(func() { s.callback(domain.CallbackInput{CodeSecretID: "sec_code"}, &got, nil) }, time.Minute)
	s.env.ExecuteWorkflow(domain.OnboardingWorkflowName, s.in)
	s.Equal(domain.StatusFailed, got.Status)
	s.Equal(domain.ReasonRegistrationFailed, ended.Reason)
	s.Equal("register refused", ended.Message)
	s.True(ended.FromCallback)
	s.env.AssertExpectations(s.T())
	s.env.AssertNotCalled(s.T(), "CommitConnection", mock.Anything, mock.Anything)
}

// The coexistence syncs are best effort: a sync Meta refused neither undoes the override nor
// fails the session. The connection keeps the timestamp of the sync that started (the activity's
// error carries it) and null for the one that failed.
func (s *onboardingSuite) TestFailedSyncStillCompletes() {
	s.happyPathMocks(domain.ModeCoexistence)
	contacts := s.env.Now().UTC()
	s.env.OnActivity(a.TriggerSyncs, mock.Anything, mock.Anything).Return(domain.SyncResult{},
		temporal.NewApplicationErrorWithOptions("Meta refused the history sync", domain.ReasonRegistrationFailed,
			temporal.ApplicationErrorOptions{NonRetryable: true, Details: []any{domain.SyncResult{ContactSyncTriggeredAt: &contacts}}})).Once()
	commit := s.recordCommit()
	var got domain.Outcome
	s.env.RegisterDelayedCallback(func() { s.callback(domain.CallbackInput{CodeSecretID: "sec_code"}, &got, nil) }, time.Minute)
	s.env.ExecuteWorkflow(domain.OnboardingWorkflowName, s.in)
	s.NoError(s.env.GetWorkflowError())
	s.Equal(domain.StatusCompleted, got.Status)
	s.Require().NotNil(commit.Syncs.ContactSyncTriggeredAt)
	s.WithinDuration(contacts, *commit.Syncs.ContactSyncTriggeredAt, 0)
	s.Nil(commit.Syncs.HistorySyncTriggeredAt)
	s.env.AssertNotCalled(s.T(), "UndoOverride", mock.Anything, mock.Anything)
	s.env.AssertNotCalled(s.T(), "EndSession", mock.Anything, mock.Anything)
	s.env.AssertCalled(s.T(), "StartConnectionWorkflows", mock.Anything, mock.Anything)
}

// Syncs still failing when their retries ran out (Meta unavailable) leave both timestamps null;
// the session completes all the same.
func (s *onboardingSuite) TestSyncsOutOfRetriesStillComplete() {
	s.happyPathMocks(domain.ModeCoexistence)
	attempts := 0
	s.env.OnActivity(a.TriggerSyncs, mock.Anything, mock.Anything).Return(
		func(context.Context, domain.MetaStepInput) (domain.SyncResult, error) {
			attempts++
			return domain.SyncResult{}, temporal.NewApplicationError("Meta is temporarily unavailable", domain.ReasonMetaUnavailable)
		})
	commit := s.recordCommit()
	var got domain.Outcome
	s.env.RegisterDelayedCallback(func() { s.callback(domain.CallbackInput{CodeSecretID: "sec_code"}, &got, nil) }, time.Minute)
	s.env.ExecuteWorkflow(domain.OnboardingWorkflowName, s.in)
	s.NoError(s.env.GetWorkflowError())
	s.Equal(domain.StatusCompleted, got.Status)
	s.Greater(attempts, 1, "a transient failure is retried first")
	s.Equal(domain.SyncResult{}, commit.Syncs)
	s.env.AssertNotCalled(s.T(), "UndoOverride", mock.Anything, mock.Anything)
}

// recordCommit mocks a successful CommitConnection and returns where its input lands.
func (s *onboardingSuite) recordCommit() *domain.CommitInput {
	var commit domain.CommitInput
	s.env.OnActivity(a.CommitConnection, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in domain.CommitInput) (domain.Outcome, error) {
			commit = in
			return domain.Outcome{Status: domain.StatusCompleted, RedirectURL: "https://app.test/done"}, nil
		}).Once()
	return &commit
}

// A failure before Meta was changed needs no undo.
func (s *onboardingSuite) TestConflictNeedsNoUndo() {
	s.mocksUntilSiblings(domain.ModeCloudAPI)
	s.env.OnActivity(a.CheckSiblings, mock.Anything, mock.Anything).Return(domain.SiblingPlan{},
		temporal.NewNonRetryableApplicationError("conflict", domain.ReasonWabaWebhookConflict, nil, map[string]any{"mismatch": "url"}))
	ended := s.recordEnd()
	var got domain.Outcome
	s.env.RegisterDelayedCallback(func() { s.callback(domain.CallbackInput{CodeSecretID: "sec_code"}, &got, nil) }, time.Minute)
	s.env.ExecuteWorkflow(domain.OnboardingWorkflowName, s.in)
	s.Equal(domain.ReasonWabaWebhookConflict, ended.Reason)
	s.Equal(map[string]any{"mismatch": "url"}, ended.Details)
	s.env.AssertNotCalled(s.T(), "SubscribeOverride", mock.Anything, mock.Anything)
	s.env.AssertNotCalled(s.T(), "UndoOverride", mock.Anything, mock.Anything)
	s.env.AssertCalled(s.T(), "ReleaseWaba", mock.Anything, mock.Anything)
}

// The page-opened signal and the callback land in one workflow task (the user finished within
// one task's time, or the worker was away while both arrived), and the workflow sees the
// callback first: onboarding.started is still stored, before the callback's steps, and the two
// events have different ids — the ids name the events, so they do not depend on which input the
// workflow handled first. (The test environment runs each input on its own; sending the callback
// first gives the order a real task can have.)
func (s *onboardingSuite) TestPageOpenAndCallbackInOneTask() {
	started := s.mocksUntilSiblings(domain.ModeCloudAPI)
	s.env.OnActivity(a.CheckSiblings, mock.Anything, mock.Anything).Return(domain.SiblingPlan{}, nil)
	s.env.OnActivity(a.SubscribeOverride, mock.Anything, mock.Anything).Return(nil)
	s.env.OnActivity(a.RegisterNumber, mock.Anything, mock.Anything).Return(domain.RegisterResult{}, nil)
	var commit domain.CommitInput
	s.env.OnActivity(a.CommitConnection, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in domain.CommitInput) (domain.Outcome, error) {
			commit = in
			return domain.Outcome{Status: domain.StatusCompleted}, nil
		})
	var order []string
	s.env.SetOnLocalActivityStartedListener(func(info *activity.Info, _ context.Context, _ []any) {
		order = append(order, info.ActivityType.Name)
	})
	var got domain.Outcome
	s.env.RegisterDelayedCallback(func() {
		s.callback(domain.CallbackInput{CodeSecretID: "sec_code"}, &got, nil)
		s.env.SignalWorkflow(domain.SignalPageOpened, nil)
	}, time.Minute)
	s.env.ExecuteWorkflow(domain.OnboardingWorkflowName, s.in)
	s.NoError(s.env.GetWorkflowError())
	s.Equal(domain.StatusCompleted, got.Status)
	s.Require().Len(*started, 1, "onboarding.started is stored once")
	s.Equal([]string{"MarkSessionStarted", "MarkSessionProcessing"}, order[:2], "started before the callback's steps")
	s.Equal(ids.Derived(ids.Event, "default-test-run-id", "event", "started"), (*started)[0])
	s.Equal(ids.Derived(ids.Event, "default-test-run-id", "event", "outcome"), commit.EventID)
}

// A callback whose page-opened signal never arrived (the API could not send it) still starts
// the session first: the page was necessarily opened to post it.
func (s *onboardingSuite) TestCallbackWithoutPageOpenStartsTheSession() {
	s.recordEnd()
	started := s.recordStarted()
	var got domain.Outcome
	s.env.RegisterDelayedCallback(func() {
		s.callback(domain.CallbackInput{Event: domain.EventCancel}, &got, nil)
	}, time.Minute)
	s.env.ExecuteWorkflow(domain.OnboardingWorkflowName, s.in)
	s.NoError(s.env.GetWorkflowError())
	s.Equal(domain.StatusCancelled, got.Status)
	s.Len(*started, 1)
}

// A failure that is ours or Meta's availability does not end the session: the callback is
// answered "try again", the session reopens, and a fresh Embedded Signup (a new callback)
// completes it — one onboarding.started, one outcome, no onboarding.failed.
func (s *onboardingSuite) TestFailureTheUserMayRepeatReopensTheSession() {
	started := s.recordStarted()
	s.env.OnActivity(a.MarkSessionProcessing, mock.Anything, mock.Anything).Return(nil)
	s.env.OnActivity(a.ExchangeCode, mock.Anything, domain.SessionStep{SessionID: "sess_1"}).Return(domain.ExchangeResult{}, temporal.NewNonRetryableApplicationError(
		"The code exchange reached Meta but got no answer", domain.ReasonMetaUnavailable, nil)).Once()
	s.env.OnActivity(a.ExchangeCode, mock.Anything, mock.Anything).Return(domain.ExchangeResult{TokenSecretID: "sec_t"}, nil).Once()
	s.env.OnActivity(a.DiscoverAssets, mock.Anything, mock.Anything).Return(domain.Discovery{WabaID: "1", PhoneNumberID: "2", Mode: domain.ModeCloudAPI}, nil)
	s.env.OnActivity(a.ClaimWaba, mock.Anything, mock.Anything).Return(nil)
	s.env.OnActivity(a.ReleaseWaba, mock.Anything, mock.Anything).Return(nil)
	s.env.OnActivity(a.CheckSiblings, mock.Anything, mock.Anything).Return(domain.SiblingPlan{}, nil)
	s.env.OnActivity(a.SubscribeOverride, mock.Anything, mock.Anything).Return(nil)
	s.env.OnActivity(a.RegisterNumber, mock.Anything, mock.Anything).Return(domain.RegisterResult{}, nil)
	var reopened []domain.ReopenInput
	s.env.OnActivity(a.ReopenSession, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in domain.ReopenInput) (bool, error) {
			reopened = append(reopened, in)
			return true, nil
		})
	s.env.OnActivity(a.CommitConnection, mock.Anything, mock.Anything).Return(domain.Outcome{Status: domain.StatusCompleted}, nil)
	var first, second domain.Outcome
	s.env.RegisterDelayedCallback(func() { s.callback(domain.CallbackInput{CodeSecretID: "sec_code"}, &first, nil) }, time.Minute)
	s.env.RegisterDelayedCallback(func() {
		s.env.UpdateWorkflow(domain.UpdateCallback, "cb-2", &testsuite.TestUpdateCallback{
			OnReject: func(err error) { s.Fail("the second attempt was refused", err.Error()) }, OnAccept: func() {},
			OnComplete: func(v any, err error) {
				s.NoError(err)
				second, _ = v.(domain.Outcome)
			},
		}, domain.CallbackInput{CodeSecretID: "sec_code_2"})
	}, 5*time.Minute)
	s.env.ExecuteWorkflow(domain.OnboardingWorkflowName, s.in)
	s.NoError(s.env.GetWorkflowError())
	s.Equal(domain.Outcome{Status: domain.StatusStarted, Reason: domain.ReasonMetaUnavailable,
		Message: "The code exchange reached Meta but got no answer", Retry: true}, first)
	s.Equal(domain.StatusCompleted, second.Status)
	s.Equal([]domain.ReopenInput{{SessionID: "sess_1", Reason: domain.ReasonMetaUnavailable,
		Message: "The code exchange reached Meta but got no answer"}}, reopened)
	s.Len(*started, 1)
	s.env.AssertNotCalled(s.T(), "EndSession", mock.Anything, mock.Anything)
}

// Failures the user would meet again (Meta refused, a conflict, a user error) end the session,
// and so does a repeatable one once the link has expired or the attempts are used up.
func (s *onboardingSuite) TestFailuresThatEndTheSession() {
	for _, tc := range []struct {
		name    string
		reason  string
		retries int           // attempts that already failed and reopened
		at      time.Duration // when the callback arrives (the link lasts an hour)
	}{
		{"Meta refused the code", domain.ReasonOAuthExchangeFailed, 0, time.Minute},
		{"attempts used up", domain.ReasonInternalError, domain.MaxSessionRetries, time.Minute},
		{"the link expired while the attempt ran", domain.ReasonInternalError, 0, 59 * time.Minute},
	} {
		s.Run(tc.name, func() {
			s.SetupTest()
			ended := s.recordEnd()
			s.recordStarted()
			s.env.OnActivity(a.MarkSessionProcessing, mock.Anything, mock.Anything).Return(nil)
			s.env.OnActivity(a.ExchangeCode, mock.Anything, mock.Anything).After(2*time.Minute).Return(domain.ExchangeResult{},
				temporal.NewNonRetryableApplicationError("refused", tc.reason, nil))
			s.env.OnActivity(a.ReopenSession, mock.Anything, mock.Anything).Return(true, nil)
			var outcomes []domain.Outcome
			for i := 0; i <= tc.retries; i++ {
				s.env.RegisterDelayedCallback(func() {
					s.env.UpdateWorkflow(domain.UpdateCallback, fmt.Sprintf("cb-%d", i), &testsuite.TestUpdateCallback{
						OnReject: func(error) {}, OnAccept: func() {},
						OnComplete: func(v any, _ error) {
							out, _ := v.(domain.Outcome)
							outcomes = append(outcomes, out)
						},
					}, domain.CallbackInput{CodeSecretID: fmt.Sprintf("sec_code_%d", i)})
				}, tc.at+time.Duration(i)*5*time.Minute)
			}
			s.env.ExecuteWorkflow(domain.OnboardingWorkflowName, s.in)
			s.NoError(s.env.GetWorkflowError())
			s.Require().Len(outcomes, tc.retries+1)
			last := outcomes[len(outcomes)-1]
			s.Equal(domain.StatusFailed, last.Status)
			s.False(last.Retry)
			s.Equal(tc.reason, ended.Reason)
			s.env.AssertNumberOfCalls(s.T(), "ReopenSession", tc.retries)
		})
	}
}

// A decision is only ever the one PostgreSQL committed. When it refuses the session's end for
// longer than the local activity's ten minutes, the workflow does not make an outcome up (the
// session row would stay pending while the workflow closed): it keeps retrying, open and visible
// as a failing activity, and answers the outcome EndSession finally commits.
func (s *onboardingSuite) TestEndIsRetriedUntilItIsCommitted() {
	s.recordStarted()
	const failures = 150 // well past the local activity's ten minutes of attempts
	calls := 0
	committed := domain.Outcome{Status: domain.StatusCancelled, Reason: domain.ReasonCancelled, RedirectURL: "https://app.test/cancelled?committed=1"}
	s.env.OnActivity(a.EndSession, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in domain.EndInput) (domain.Outcome, error) {
			calls++
			if calls <= failures {
				return domain.Outcome{}, errors.New("ERROR: invalid byte sequence (SQLSTATE 22021)")
			}
			return committed, nil
		})
	var got domain.Outcome
	var decidedAt time.Time
	start := s.env.Now()
	s.env.RegisterDelayedCallback(func() {
		s.env.UpdateWorkflow(domain.UpdateCallback, "cb-1", &testsuite.TestUpdateCallback{
			OnReject: func(err error) { s.Fail("rejected", err.Error()) }, OnAccept: func() {},
			OnComplete: func(v any, err error) {
				s.NoError(err)
				got, _ = v.(domain.Outcome)
				decidedAt = s.env.Now()
			},
		}, domain.CallbackInput{Event: domain.EventCancel})
	}, time.Minute)
	s.env.ExecuteWorkflow(domain.OnboardingWorkflowName, s.in)
	s.True(s.env.IsWorkflowCompleted())
	s.NoError(s.env.GetWorkflowError())
	s.Equal(committed, got, "the answer is the committed outcome")
	s.Equal(failures+1, calls, "retried until it was committed")
	s.Greater(decidedAt.Sub(start), 30*time.Minute, "the workflow stayed open while PostgreSQL refused")
}

func TestErrorCategoriesFollowTheSpec(t *testing.T) {
	for reason, category := range map[string]string{
		"expired": "timeout", "cancelled": "user", "user_error": "user", "waba_webhook_conflict": "conflict",
		"number_already_connected": "conflict", "webhook_subscribe_failed": "configuration", "oauth_exchange_failed": "meta",
		"discovery_failed": "meta", "registration_failed": "meta", "meta_unavailable": "meta", "internal_error": "internal",
	} {
		assert.Equal(t, category, domain.ErrorCategory(reason), reason)
	}
	require.Equal(t, "onboarding/sess_1", domain.OnboardingID("sess_1"))
}
