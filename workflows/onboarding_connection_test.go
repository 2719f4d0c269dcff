package workflows_test

import (
	"context"

	"github.com/stretchr/testify/mock"

	wf "github.com/dualhook/dualhook/workflows"
)

// After the commit, a connection whose mode is unknown or coexistence is handed to its own
// workflows (mode/<id>, heartbeat/<id>); a Cloud API one needs neither.
func (s *onboardingSuite) TestCommitStartsTheConnectionsWorkflows() {
	for _, tc := range []struct {
		mode   string
		plan   wf.SiblingPlan
		starts bool
	}{
		{wf.ModeUnknown, wf.SiblingPlan{}, true},
		{wf.ModeCoexistence, wf.SiblingPlan{ReonboardConnectionID: "conn_same"}, true},
		{wf.ModeCloudAPI, wf.SiblingPlan{}, false},
	} {
		s.SetupTest()
		s.mocksUntilSiblings(tc.mode)
		s.env.OnActivity(a.CheckSiblings, mock.Anything, mock.Anything).Return(tc.plan, nil)
		s.env.OnActivity(a.SubscribeOverride, mock.Anything, mock.Anything).Return(nil)
		s.env.OnActivity(a.RegisterNumber, mock.Anything, mock.Anything).Return(wf.RegisterResult{}, nil).Maybe()
		s.env.OnActivity(a.TriggerSyncs, mock.Anything, mock.Anything).Return(wf.SyncResult{}, nil).Maybe()
		var commit wf.CommitInput
		s.env.OnActivity(a.CommitConnection, mock.Anything, mock.Anything).Return(
			func(_ context.Context, in wf.CommitInput) (wf.Outcome, error) {
				commit = in
				return wf.Outcome{Status: wf.StatusCompleted}, nil
			})
		var got wf.Outcome
		s.env.RegisterDelayedCallback(func() { s.callback(wf.CallbackInput{CodeSecretID: "sec_code"}, &got, nil) }, 0)
		s.env.ExecuteWorkflow(wf.OnboardingWorkflowName, s.in)
		s.NoError(s.env.GetWorkflowError(), tc.mode)
		s.Equal(wf.StatusCompleted, got.Status, tc.mode)
		if !tc.starts {
			s.env.AssertNotCalled(s.T(), "StartConnectionWorkflows", mock.Anything, mock.Anything)
			continue
		}
		want := commit.ConnectionID
		if tc.plan.ReonboardConnectionID != "" {
			want = tc.plan.ReonboardConnectionID // re-onboarding keeps the connection (and its heartbeat)
		}
		s.env.AssertCalled(s.T(), "StartConnectionWorkflows", mock.Anything, wf.ConnectionStep{ConnectionID: want})
		s.env.AssertNumberOfCalls(s.T(), "StartConnectionWorkflows", 1)
	}
}
