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

// Unit tests of the webhook update's shape (SPEC §7.3): claim → check → Meta → commit, undo at
// Meta when a commit fails, nothing changed when Meta refuses. The activities have integration
// tests in e2e.
type webhookUpdateSuite struct {
	suite.Suite
	testsuite.WorkflowTestSuite
	env      *testsuite.TestWorkflowEnvironment
	in       domain.WebhookUpdateInput
	rejected *domain.WebhookUpdateEnd
	// claimHeld is how many claim attempts find the WABA held by someone else.
	claimHeld, claimTries int
}

func TestWebhookUpdateWorkflow(t *testing.T) { suite.Run(t, new(webhookUpdateSuite)) }

func (s *webhookUpdateSuite) SetupTest() {
	s.env = s.NewTestWorkflowEnvironment()
	s.env.RegisterWorkflowWithOptions(wf.WebhookUpdateWorkflow, workflow.RegisterOptions{Name: domain.WebhookUpdateWorkflowName})
	s.env.RegisterActivity(a)
	s.in = domain.WebhookUpdateInput{WabaID: "111", N: 3, ConnectionID: "conn_1", PartnerID: "ptn_1", TenantID: "t1"}
	s.rejected, s.claimHeld, s.claimTries = nil, 0, 0
	s.env.OnActivity(a.ClaimWaba, mock.Anything, domain.ClaimInput{WabaID: "111", Holder: "default-test-workflow-id"}).Return(
		func(context.Context, domain.ClaimInput) error {
			s.claimTries++
			if s.claimTries <= s.claimHeld {
				return temporal.NewApplicationError("held", "waba_claim_held")
			}
			return nil
		})
	s.env.OnActivity(a.ReleaseWaba, mock.Anything, mock.Anything).Return(nil)
	s.env.OnActivity(a.DeliverEvent, mock.Anything, mock.Anything).Return(domain.DeliveryResult{Status: domain.DeliveryDelivered}, nil).Maybe()
	s.env.OnActivity(a.RejectWebhookUpdate, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in domain.WebhookUpdateEnd) (domain.WebhookUpdateOutcome, error) {
			s.rejected = &in
			return domain.WebhookUpdateOutcome{Reason: in.Reason, Message: in.Message}, nil
		}).Maybe()
}

// run executes the workflow and asks for the result the way the API does (the `result` Update).
func (s *webhookUpdateSuite) run() domain.WebhookUpdateOutcome {
	var got domain.WebhookUpdateOutcome
	s.env.RegisterDelayedCallback(func() {
		s.env.UpdateWorkflow(domain.UpdateWebhookResult, domain.UpdateWebhookResult, &testsuite.TestUpdateCallback{
			OnReject: func(err error) { s.Fail("rejected", err.Error()) }, OnAccept: func() {},
			OnComplete: func(v any, err error) {
				s.NoError(err)
				got, _ = v.(domain.WebhookUpdateOutcome)
			},
		})
	}, 0)
	s.env.ExecuteWorkflow(domain.WebhookUpdateWorkflowName, s.in)
	s.True(s.env.IsWorkflowCompleted())
	s.NoError(s.env.GetWorkflowError())
	var final domain.WebhookUpdateOutcome
	s.NoError(s.env.GetWorkflowResult(&final))
	s.Equal(got, final, "the Update and the workflow agree")
	return got
}

func (s *webhookUpdateSuite) TestAppliedAfterMetaAccepted() {
	s.env.OnActivity(a.PrepareWebhookUpdate, mock.Anything, mock.Anything).Return(nil).Once()
	s.env.OnActivity(a.SetWebhookOverride, mock.Anything, mock.Anything).Return(nil).Once()
	var commit domain.WebhookUpdateStep
	s.env.OnActivity(a.CommitWebhookUpdate, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in domain.WebhookUpdateStep) (domain.WebhookUpdateOutcome, error) {
			commit = in
			return domain.WebhookUpdateOutcome{Applied: true, AffectedConnectionIDs: []string{"conn_1", "conn_2"}}, nil
		}).Once()
	got := s.run()
	s.True(got.Applied)
	s.Equal([]string{"conn_1", "conn_2"}, got.AffectedConnectionIDs)
	s.Equal("default-test-workflow-id", commit.Holder, "the commit checks the claim it holds")
	s.NotEmpty(commit.EventID)
	s.env.AssertCalled(s.T(), "DeliverEvent", mock.Anything, domain.DeliverEventInput{EventID: commit.EventID})
	s.env.AssertNotCalled(s.T(), "DeliverEventFirst", mock.Anything, mock.Anything) // a PATCH waits on this workflow
	s.env.AssertCalled(s.T(), "ReleaseWaba", mock.Anything, mock.Anything)
	s.env.AssertNotCalled(s.T(), "RestoreWebhookOverride", mock.Anything, mock.Anything)
	s.Nil(s.rejected)
}

// Meta refusing the URL (2200) changed nothing at Meta: no restore, no commit.
func (s *webhookUpdateSuite) TestMetaRefusalChangesNothing() {
	s.env.OnActivity(a.PrepareWebhookUpdate, mock.Anything, mock.Anything).Return(nil)
	s.env.OnActivity(a.SetWebhookOverride, mock.Anything, mock.Anything).Return(
		temporal.NewNonRetryableApplicationError("Meta could not verify the webhook URL", domain.ReasonWebhookSubscribeFailed, nil))
	got := s.run()
	s.False(got.Applied)
	s.Equal(domain.ReasonWebhookSubscribeFailed, got.Reason)
	s.Equal("Meta could not verify the webhook URL", got.Message)
	s.env.AssertNotCalled(s.T(), "CommitWebhookUpdate", mock.Anything, mock.Anything)
	s.env.AssertNotCalled(s.T(), "RestoreWebhookOverride", mock.Anything, mock.Anything)
	s.env.AssertCalled(s.T(), "ReleaseWaba", mock.Anything, mock.Anything)
}

// Meta not answering may still have applied the override: the previous one is restored.
func (s *webhookUpdateSuite) TestUnknownMetaOutcomeIsRestored() {
	s.env.OnActivity(a.PrepareWebhookUpdate, mock.Anything, mock.Anything).Return(nil)
	s.env.OnActivity(a.SetWebhookOverride, mock.Anything, mock.Anything).Return(
		temporal.NewNonRetryableApplicationError("Meta is temporarily unavailable", domain.ReasonMetaUnavailable, nil))
	s.env.OnActivity(a.RestoreWebhookOverride, mock.Anything, mock.Anything).Return(nil).Once()
	got := s.run()
	s.Equal(domain.ReasonMetaUnavailable, got.Reason)
	s.env.AssertExpectations(s.T())
}

// A commit that fails after Meta accepted restores the previous override at Meta first.
func (s *webhookUpdateSuite) TestFailedCommitRestoresMeta() {
	s.env.OnActivity(a.PrepareWebhookUpdate, mock.Anything, mock.Anything).Return(nil)
	s.env.OnActivity(a.SetWebhookOverride, mock.Anything, mock.Anything).Return(nil)
	s.env.OnActivity(a.CommitWebhookUpdate, mock.Anything, mock.Anything).Return(domain.WebhookUpdateOutcome{},
		temporal.NewNonRetryableApplicationError("disconnected meanwhile", domain.ReasonConnectionDisconnected, nil))
	s.env.OnActivity(a.RestoreWebhookOverride, mock.Anything, mock.Anything).Return(nil).Once()
	got := s.run()
	s.Equal(domain.ReasonConnectionDisconnected, got.Reason)
	s.env.AssertExpectations(s.T())
}

// A refusal under the claim (another tenant's sibling) never reaches Meta.
func (s *webhookUpdateSuite) TestConflictNeverReachesMeta() {
	s.env.OnActivity(a.PrepareWebhookUpdate, mock.Anything, mock.Anything).Return(
		temporal.NewNonRetryableApplicationError("another tenant", domain.ReasonWabaWebhookConflict, nil))
	got := s.run()
	s.Equal(domain.ReasonWabaWebhookConflict, got.Reason)
	s.env.AssertNotCalled(s.T(), "SetWebhookOverride", mock.Anything, mock.Anything)
	s.env.AssertCalled(s.T(), "ReleaseWaba", mock.Anything, mock.Anything)
}

// Unexpected errors become internal_error; their text is not shown to partners.
func (s *webhookUpdateSuite) TestUnexpectedErrorIsInternal() {
	s.env.OnActivity(a.PrepareWebhookUpdate, mock.Anything, mock.Anything).Return(
		temporal.NewNonRetryableApplicationError("pq: relation does not exist", "PgError", nil))
	got := s.run()
	s.Equal(domain.ReasonInternalError, got.Reason)
	s.NotContains(got.Message, "pq:")
}

// The claim waits while another operation holds the WABA.
func (s *webhookUpdateSuite) TestWaitsForTheClaim() {
	s.claimHeld = 3
	s.env.OnActivity(a.PrepareWebhookUpdate, mock.Anything, mock.Anything).Return(nil)
	s.env.OnActivity(a.SetWebhookOverride, mock.Anything, mock.Anything).Return(nil)
	s.env.OnActivity(a.CommitWebhookUpdate, mock.Anything, mock.Anything).Return(domain.WebhookUpdateOutcome{Applied: true}, nil)
	start := s.env.Now()
	got := s.run()
	s.True(got.Applied)
	s.Equal(4, s.claimTries)
	s.Less(s.env.Now().Sub(start), time.Minute)
}
