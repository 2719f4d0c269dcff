package workflows_test

import (
	"context"
	"time"

	"testing"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/suite"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/dualhook/dualhook/internal/domain"
	wf "github.com/dualhook/dualhook/workflows"
)

// Unit tests of the disconnect workflow's branches; the activities' behaviour has integration
// tests in e2e (disconnect_test.go).
type disconnectSuite struct {
	suite.Suite
	testsuite.WorkflowTestSuite
	env *testsuite.TestWorkflowEnvironment
}

func TestDisconnectWorkflow(t *testing.T) { suite.Run(t, new(disconnectSuite)) }

var activeTarget = domain.DisconnectTarget{ConnectionID: "conn_1", PartnerID: "ptn_1", TenantID: "t1", WabaID: "100", Status: "active", Found: true}

func (s *disconnectSuite) SetupTest() {
	s.env = s.NewTestWorkflowEnvironment()
	s.env.RegisterWorkflowWithOptions(wf.DisconnectWorkflow, workflow.RegisterOptions{Name: domain.DisconnectWorkflowName})
	s.env.RegisterActivity(a)
	delivered := domain.DeliveryResult{Status: domain.DeliveryDelivered}
	s.env.OnActivity(a.DeliverEventFirst, mock.Anything, mock.Anything).Return(delivered, nil).Maybe()
	s.env.OnActivity(a.DeliverEvent, mock.Anything, mock.Anything).Return(delivered, nil).Maybe()
}

// releaseAny accepts any number of claim releases (tests that count them mock it themselves:
// the first matching mock wins).
func (s *disconnectSuite) releaseAny() {
	s.env.OnActivity(a.ReleaseWaba, mock.Anything, mock.Anything).Return(nil).Maybe()
}

func (s *disconnectSuite) run(reason string) domain.DisconnectResult {
	s.env.ExecuteWorkflow(domain.DisconnectWorkflowName, domain.DisconnectInput{ConnectionID: "conn_1", Reason: reason})
	s.True(s.env.IsWorkflowCompleted())
	s.NoError(s.env.GetWorkflowError())
	var out domain.DisconnectResult
	s.NoError(s.env.GetWorkflowResult(&out))
	return out
}

func (s *disconnectSuite) TestAlreadyDisconnectedDoesNothing() {
	done := activeTarget
	done.Status = domain.ConnectionDisconnected
	s.env.OnActivity(a.GetDisconnectTarget, mock.Anything, "conn_1").Return(done, nil).Once()
	s.Equal(domain.DisconnectResult{}, s.run(domain.DisconnectReasonAPI))
	s.env.AssertNotCalled(s.T(), "ClaimWaba", mock.Anything, mock.Anything)
	s.env.AssertNotCalled(s.T(), "CommitDisconnect", mock.Anything, mock.Anything)
}

func (s *disconnectSuite) TestUnknownConnectionDoesNothing() {
	s.env.OnActivity(a.GetDisconnectTarget, mock.Anything, "conn_1").Return(domain.DisconnectTarget{ConnectionID: "conn_1"}, nil).Once()
	s.Equal(domain.DisconnectResult{}, s.run(domain.DisconnectReasonAPI))
	s.env.AssertNotCalled(s.T(), "ClaimWaba", mock.Anything, mock.Anything)
}

// The last sibling: claim, Meta, commit with the event, delivery, heartbeat cancelled, release.
func (s *disconnectSuite) TestLastSiblingUnsubscribesCommitsAndCancelsTheHeartbeat() {
	var order []string
	var committed domain.DisconnectStep
	s.env.OnActivity(a.GetDisconnectTarget, mock.Anything, "conn_1").Return(activeTarget, nil).Once()
	s.env.OnActivity(a.ClaimWaba, mock.Anything, domain.ClaimInput{WabaID: "100", Holder: "default-test-workflow-id"}).Return(
		func(context.Context, domain.ClaimInput) error { order = append(order, "claim"); return nil }).Once()
	s.env.OnActivity(a.UnsubscribeIfLastSibling, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in domain.DisconnectStep) (domain.UnsubscribeResult, error) {
			order = append(order, "meta")
			s.Equal(domain.DisconnectReasonAPI, in.Reason)
			return domain.UnsubscribeResult{Unsubscribed: true}, nil
		}).Once()
	s.env.OnActivity(a.CommitDisconnect, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in domain.DisconnectStep) (domain.DisconnectCommit, error) {
			order = append(order, "commit")
			committed = in
			return domain.DisconnectCommit{Disconnected: true}, nil
		}).Once()
	s.env.OnActivity(a.ReleaseWaba, mock.Anything, mock.Anything).Return(
		func(context.Context, domain.ClaimInput) error { order = append(order, "release"); return nil }).Once()
	s.env.OnRequestCancelExternalWorkflow(mock.Anything, domain.HeartbeatID("conn_1"), "").Return(nil).Once()

	out := s.run(domain.DisconnectReasonAPI)
	s.True(out.Disconnected)
	s.True(out.Unsubscribed)
	s.NotEmpty(out.EventID)
	s.Equal(out.EventID, committed.EventID, "the committed event is the one delivered")
	s.Equal("default-test-workflow-id", committed.Holder)
	s.Equal([]string{"claim", "meta", "commit", "release"}, order)
	s.env.AssertExpectations(s.T())
}

// Meta refusing an API disconnect: the connection stays active and the round is retried later,
// without the claim; once Meta accepts, the disconnect commits once.
func (s *disconnectSuite) TestMetaRefusalRetriesTheRoundLater() {
	s.env.OnActivity(a.GetDisconnectTarget, mock.Anything, "conn_1").Return(activeTarget, nil).Once()
	s.env.OnActivity(a.ClaimWaba, mock.Anything, mock.Anything).Return(nil).Twice()
	s.env.OnActivity(a.ReleaseWaba, mock.Anything, mock.Anything).Return(nil).Twice()
	s.env.OnActivity(a.UnsubscribeIfLastSibling, mock.Anything, mock.Anything).Return(
		domain.UnsubscribeResult{}, temporal.NewNonRetryableApplicationError("Meta refused", "meta_unsubscribe_failed", nil)).Once()
	s.env.OnActivity(a.UnsubscribeIfLastSibling, mock.Anything, mock.Anything).Return(domain.UnsubscribeResult{Unsubscribed: true}, nil).Once()
	s.env.OnActivity(a.CommitDisconnect, mock.Anything, mock.Anything).Return(domain.DisconnectCommit{Disconnected: true}, nil).Once()
	s.env.OnRequestCancelExternalWorkflow(mock.Anything, mock.Anything, mock.Anything).Return(nil).Maybe()

	start := s.env.Now()
	out := s.run(domain.DisconnectReasonAPI)
	s.True(out.Disconnected)
	s.GreaterOrEqual(s.env.Now().Sub(start), 30*time.Second, "the retry waits")
	s.env.AssertExpectations(s.T())
}

// Meta removed the app itself: its answer to the DELETE does not hold the disconnect back.
func (s *disconnectSuite) TestMetaSideRemovalToleratesMetaFailures() {
	s.releaseAny()
	s.env.OnActivity(a.GetDisconnectTarget, mock.Anything, "conn_1").Return(activeTarget, nil).Once()
	s.env.OnActivity(a.ClaimWaba, mock.Anything, mock.Anything).Return(nil).Once()
	s.env.OnActivity(a.UnsubscribeIfLastSibling, mock.Anything, mock.Anything).Return(
		domain.UnsubscribeResult{}, temporal.NewNonRetryableApplicationError("Meta refused", "meta_unsubscribe_failed", nil)).Once()
	var committed domain.DisconnectStep
	s.env.OnActivity(a.CommitDisconnect, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in domain.DisconnectStep) (domain.DisconnectCommit, error) {
			committed = in
			return domain.DisconnectCommit{Disconnected: true}, nil
		}).Once()
	s.env.OnRequestCancelExternalWorkflow(mock.Anything, mock.Anything, mock.Anything).Return(nil).Maybe()

	start := s.env.Now()
	out := s.run(domain.DisconnectReasonPartnerRemoved)
	s.True(out.Disconnected)
	s.False(out.Unsubscribed)
	s.Equal(domain.DisconnectReasonPartnerRemoved, committed.Reason)
	s.Less(s.env.Now().Sub(start), 30*time.Second, "no retry round")
}

// The commit finds the connection already disconnected (the first reason won): no event, no
// delivery, no heartbeat cancel.
func (s *disconnectSuite) TestCommitThatFindsItDisconnectedEmitsNothing() {
	s.releaseAny()
	s.env.OnActivity(a.GetDisconnectTarget, mock.Anything, "conn_1").Return(activeTarget, nil).Once()
	s.env.OnActivity(a.ClaimWaba, mock.Anything, mock.Anything).Return(nil).Once()
	s.env.OnActivity(a.UnsubscribeIfLastSibling, mock.Anything, mock.Anything).Return(domain.UnsubscribeResult{Siblings: 1}, nil).Once()
	s.env.OnActivity(a.CommitDisconnect, mock.Anything, mock.Anything).Return(domain.DisconnectCommit{}, nil).Once()

	out := s.run(domain.DisconnectReasonAPI)
	s.Equal(domain.DisconnectResult{}, out)
	s.env.AssertNotCalled(s.T(), "DeliverEvent", mock.Anything, mock.Anything)
	s.env.AssertNotCalled(s.T(), "DeliverEventFirst", mock.Anything, mock.Anything)
}

// A busy claim or a commit that lost the claim: the whole round runs again later.
func (s *disconnectSuite) TestBusyClaimAndLostClaimRetryTheRound() {
	s.releaseAny()
	s.env.OnActivity(a.GetDisconnectTarget, mock.Anything, "conn_1").Return(activeTarget, nil).Once()
	s.env.OnActivity(a.ClaimWaba, mock.Anything, mock.Anything).Return(
		temporal.NewNonRetryableApplicationError("busy", "waba_claim_held", nil)).Once()
	s.env.OnActivity(a.ClaimWaba, mock.Anything, mock.Anything).Return(nil).Twice()
	s.env.OnActivity(a.UnsubscribeIfLastSibling, mock.Anything, mock.Anything).Return(domain.UnsubscribeResult{Siblings: 2}, nil).Twice()
	s.env.OnActivity(a.CommitDisconnect, mock.Anything, mock.Anything).Return(
		domain.DisconnectCommit{}, temporal.NewNonRetryableApplicationError("lost", "waba_claim_lost", nil)).Once()
	var events []string
	s.env.OnActivity(a.CommitDisconnect, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in domain.DisconnectStep) (domain.DisconnectCommit, error) {
			events = append(events, in.EventID)
			return domain.DisconnectCommit{Disconnected: true}, nil
		}).Once()
	s.env.OnRequestCancelExternalWorkflow(mock.Anything, mock.Anything, mock.Anything).Return(nil).Maybe()

	out := s.run(domain.DisconnectReasonAPI)
	s.True(out.Disconnected)
	s.False(out.Unsubscribed, "siblings remain: Meta is left alone")
	s.Equal([]string{out.EventID}, events)
	s.env.AssertExpectations(s.T())
}
