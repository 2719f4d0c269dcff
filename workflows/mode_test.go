package workflows_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/suite"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/dualhook/dualhook/internal/domain"
	wf "github.com/dualhook/dualhook/workflows"
)

// Unit tests of mode resolution (SPEC §6 step 5). The sandbox always states is_on_biz_app, so
// "Meta does not say yet" is exercised here, with mocked activities and skipped timers.
type modeSuite struct {
	suite.Suite
	testsuite.WorkflowTestSuite
	env    *testsuite.TestWorkflowEnvironment
	in     domain.ModeInput
	checks []time.Time
}

func TestModeWorkflow(t *testing.T) { suite.Run(t, new(modeSuite)) }

func (s *modeSuite) SetupTest() {
	s.env = s.NewTestWorkflowEnvironment()
	s.env.RegisterWorkflowWithOptions(wf.ModeWorkflow, workflow.RegisterOptions{Name: domain.ModeWorkflowName})
	s.env.RegisterActivity(a)
	s.in = domain.ModeInput{ConnectionID: "conn_1", PartnerID: "ptn_1", TenantID: "t1"}
	s.checks = nil
	s.env.OnActivity(a.DeliverEventFirst, mock.Anything, mock.Anything).Return(domain.DeliveryResult{Status: domain.DeliveryDelivered}, nil).Maybe()
}

// answers makes CheckConnectionMode say "unknown" n times, then mode.
func (s *modeSuite) answers(unknown int, mode string) {
	s.env.OnActivity(a.CheckConnectionMode, mock.Anything, mock.Anything).Return(
		func(context.Context, domain.ConnectionStep) (domain.ModeCheck, error) {
			s.checks = append(s.checks, s.env.Now())
			if len(s.checks) <= unknown {
				return domain.ModeCheck{Pending: true, Mode: domain.ModeUnknown}, nil
			}
			return domain.ModeCheck{Pending: true, Mode: mode}, nil
		})
}

// Meta says nothing three times, then "not on the business app": the questions back off on
// durable timers (1, 2, 4 minutes), the mode resolves once with its event, and the number is
// registered.
func (s *modeSuite) TestResolvesToCloudAPIAfterBackoffAndRegisters() {
	s.answers(3, domain.ModeCloudAPI)
	var resolved domain.ModeResolveInput
	s.env.OnActivity(a.ResolveConnectionMode, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in domain.ModeResolveInput) (bool, error) { resolved = in; return true, nil }).Once()
	s.env.OnActivity(a.RegisterConnectionNumber, mock.Anything, domain.ConnectionStep{ConnectionID: "conn_1"}).Return(nil).Once()
	s.env.ExecuteWorkflow(domain.ModeWorkflowName, s.in)
	s.NoError(s.env.GetWorkflowError())
	s.Require().Len(s.checks, 4)
	for i, want := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute} {
		s.Equal(want, s.checks[i+1].Sub(s.checks[i]).Round(time.Second), "wait %d", i)
	}
	s.Equal(domain.ModeCloudAPI, resolved.Mode)
	s.NotEmpty(resolved.EventID)
	s.env.AssertCalled(s.T(), "DeliverEventFirst", mock.Anything, domain.DeliverEventInput{EventID: resolved.EventID})
	s.env.AssertNotCalled(s.T(), "TriggerConnectionSyncs", mock.Anything, mock.Anything)
	s.env.AssertNotCalled(s.T(), "StartConnectionWorkflows", mock.Anything, mock.Anything)
}

// Coexistence: the syncs are triggered and the heartbeat workflow started.
func (s *modeSuite) TestResolvesToCoexistenceTriggersSyncsAndStartsTheHeartbeat() {
	s.answers(0, domain.ModeCoexistence)
	s.env.OnActivity(a.ResolveConnectionMode, mock.Anything, mock.Anything).Return(true, nil).Once()
	s.env.OnActivity(a.TriggerConnectionSyncs, mock.Anything, mock.Anything).Return(nil).Once()
	s.env.OnActivity(a.StartConnectionWorkflows, mock.Anything, domain.ConnectionStep{ConnectionID: "conn_1"}).Return(nil).Once()
	s.env.ExecuteWorkflow(domain.ModeWorkflowName, s.in)
	s.NoError(s.env.GetWorkflowError())
	s.env.AssertNotCalled(s.T(), "RegisterConnectionNumber", mock.Anything, mock.Anything)
	s.env.AssertExpectations(s.T())
}

// Syncs Meta refuses (outside its 24 h window) do not keep the heartbeat from starting.
func (s *modeSuite) TestHeartbeatStartsEvenIfTheSyncsFail() {
	s.answers(0, domain.ModeCoexistence)
	s.env.OnActivity(a.ResolveConnectionMode, mock.Anything, mock.Anything).Return(true, nil)
	s.env.OnActivity(a.TriggerConnectionSyncs, mock.Anything, mock.Anything).Return(
		temporal.NewNonRetryableApplicationError("window expired", domain.ReasonRegistrationFailed, nil))
	s.env.OnActivity(a.StartConnectionWorkflows, mock.Anything, mock.Anything).Return(nil).Once()
	s.env.ExecuteWorkflow(domain.ModeWorkflowName, s.in)
	s.NoError(s.env.GetWorkflowError())
	s.env.AssertExpectations(s.T())
}

// The backoff doubles up to its cap, and a long wait continues-as-new with the delay carried.
func (s *modeSuite) TestBackoffIsCappedAndContinuesAsNew() {
	s.answers(1_000, domain.ModeCloudAPI)
	s.in.MaxDelay = 10 * time.Minute
	s.env.ExecuteWorkflow(domain.ModeWorkflowName, s.in)
	var can *workflow.ContinueAsNewError
	s.Require().ErrorAs(s.env.GetWorkflowError(), &can)
	s.Len(s.checks, 50)
	s.Equal(10*time.Minute, s.checks[49].Sub(s.checks[48]).Round(time.Second))
	s.env.AssertNotCalled(s.T(), "ResolveConnectionMode", mock.Anything, mock.Anything)
}

// A connection that is gone (disconnected) or whose mode became known otherwise ends the
// workflow without a resolution; so does a token Meta refuses.
func (s *modeSuite) TestNothingToResolveEndsQuietly() {
	s.env.OnActivity(a.CheckConnectionMode, mock.Anything, mock.Anything).Return(domain.ModeCheck{Pending: false}, nil)
	s.env.ExecuteWorkflow(domain.ModeWorkflowName, s.in)
	s.NoError(s.env.GetWorkflowError())
	s.env.AssertNotCalled(s.T(), "ResolveConnectionMode", mock.Anything, mock.Anything)
}

func (s *modeSuite) TestRevokedTokenEndsQuietly() {
	s.env.OnActivity(a.CheckConnectionMode, mock.Anything, mock.Anything).Return(domain.ModeCheck{},
		temporal.NewNonRetryableApplicationError("190", domain.ReasonMetaTokenExpired, nil))
	s.env.ExecuteWorkflow(domain.ModeWorkflowName, s.in)
	s.NoError(s.env.GetWorkflowError())
	s.env.AssertNotCalled(s.T(), "ResolveConnectionMode", mock.Anything, mock.Anything)
}

// Meta failing to answer (retries ran out) is not a resolution: ask again later.
func (s *modeSuite) TestMetaErrorsAreAskedAgain() {
	n := 0
	s.env.OnActivity(a.CheckConnectionMode, mock.Anything, mock.Anything).Return(
		func(context.Context, domain.ConnectionStep) (domain.ModeCheck, error) {
			n++
			if n == 1 {
				return domain.ModeCheck{}, temporal.NewNonRetryableApplicationError("5xx", domain.ReasonMetaUnavailable, nil)
			}
			return domain.ModeCheck{Pending: true, Mode: domain.ModeCloudAPI}, nil
		})
	s.env.OnActivity(a.ResolveConnectionMode, mock.Anything, mock.Anything).Return(true, nil)
	s.env.OnActivity(a.RegisterConnectionNumber, mock.Anything, mock.Anything).Return(nil)
	s.env.ExecuteWorkflow(domain.ModeWorkflowName, s.in)
	s.NoError(s.env.GetWorkflowError())
	s.Equal(2, n)
}

// Resolved otherwise meanwhile (the commit found the mode no longer unknown): no event, no step.
func (s *modeSuite) TestAlreadyResolvedDoesNothingMore() {
	s.answers(0, domain.ModeCloudAPI)
	s.env.OnActivity(a.ResolveConnectionMode, mock.Anything, mock.Anything).Return(false, nil)
	s.env.ExecuteWorkflow(domain.ModeWorkflowName, s.in)
	s.NoError(s.env.GetWorkflowError())
	s.env.AssertNotCalled(s.T(), "RegisterConnectionNumber", mock.Anything, mock.Anything)
	s.env.AssertNotCalled(s.T(), "DeliverEventFirst", mock.Anything, mock.Anything)
}

// A registration Meta refuses fails the workflow (operators see it), after the event went out.
func (s *modeSuite) TestRegistrationFailureIsVisibleAfterTheEvent() {
	s.answers(0, domain.ModeCloudAPI)
	s.env.OnActivity(a.ResolveConnectionMode, mock.Anything, mock.Anything).Return(true, nil)
	s.env.OnActivity(a.RegisterConnectionNumber, mock.Anything, mock.Anything).Return(
		temporal.NewNonRetryableApplicationError("registered elsewhere", domain.ReasonRegistrationFailed, nil))
	s.env.ExecuteWorkflow(domain.ModeWorkflowName, s.in)
	s.Error(s.env.GetWorkflowError())
	s.env.AssertCalled(s.T(), "DeliverEventFirst", mock.Anything, mock.Anything)
}
