package workflows_test

import (
	"context"

	"github.com/stretchr/testify/mock"

	"github.com/dualhook/dualhook/internal/domain"
)

// After the commit, a connection whose mode is unknown or coexistence is handed to its own
// workflows (mode/<id>, heartbeat/<id>); a Cloud API one needs neither.
func (s *onboardingSuite) TestCommitStartsTheConnectionsWorkflows() {
	for _, tc := range []struct {
		mode   string
		plan   domain.SiblingPlan
		starts bool
	}{
		{domain.ModeUnknown, domain.SiblingPlan{}, true},
		{domain.ModeCoexistence, domain.SiblingPlan{ReonboardConnectionID: "conn_same"}, true},
		{domain.ModeCloudAPI, domain.SiblingPlan{}, false},
	} {
		s.SetupTest()
		s.mocksUntilSiblings(tc.mode)
		s.env.OnActivity(a.CheckSiblings, mock.Anything, mock.Anything).Return(tc.plan, nil)
		s.env.OnActivity(a.SubscribeOverride, mock.Anything, mock.Anything).Return(nil)
		s.env.OnActivity(a.RegisterNumber, mock.Anything, mock.Anything).Return(domain.RegisterResult{}, nil).Maybe()
		s.env.OnActivity(a.TriggerSyncs, mock.Anything, mock.Anything).Return(domain.SyncResult{}, nil).Maybe()
		var commit domain.CommitInput
		s.env.OnActivity(a.CommitConnection, mock.Anything, mock.Anything).Return(
			func(_ context.Context, in domain.CommitInput) (domain.Outcome, error) {
				commit = in
				return domain.Outcome{Status: domain.StatusCompleted}, nil
			})
		var got domain.Outcome
		s.env.RegisterDelayedCallback(func() { s.callback(domain.CallbackInput{CodeSecretID: "sec_code"}, &got, nil) }, 0)
		s.env.ExecuteWorkflow(domain.OnboardingWorkflowName, s.in)
		s.NoError(s.env.GetWorkflowError(), tc.mode)
		s.Equal(domain.StatusCompleted, got.Status, tc.mode)
		if !tc.starts {
			s.env.AssertNotCalled(s.T(), "StartConnectionWorkflows", mock.Anything, mock.Anything)
			continue
		}
		want := commit.ConnectionID
		if tc.plan.ReonboardConnectionID != "" {
			want = tc.plan.ReonboardConnectionID // re-onboarding keeps the connection (and its heartbeat)
		}
		s.env.AssertCalled(s.T(), "StartConnectionWorkflows", mock.Anything, domain.ConnectionStep{ConnectionID: want})
		s.env.AssertNumberOfCalls(s.T(), "StartConnectionWorkflows", 1)
	}
}
