package workflows_test

import (
	"context"
	"errors"
	"sync"
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

// Unit tests of the coexistence heartbeat: the activities are a small in-memory stand-in for
// the connection row (their SQL has integration tests in e2e), and the test environment skips
// the 10- and 13-day timers.
type heartbeatSuite struct {
	suite.Suite
	testsuite.WorkflowTestSuite
	env *testsuite.TestWorkflowEnvironment
	db  *fakeHeartbeat
	in  domain.HeartbeatInput
}

func TestHeartbeatWorkflow(t *testing.T) { suite.Run(t, new(heartbeatSuite)) }

// fakeHeartbeat is the connection's heartbeat columns and the events stored.
type fakeHeartbeat struct {
	mu        sync.Mutex
	env       *testsuite.TestWorkflowEnvironment
	state     domain.HeartbeatState
	events    []heartbeatEvent
	delivered []string
}

type heartbeatEvent struct {
	id, typ string
	at      time.Time
	state   domain.HeartbeatState
}

func (f *fakeHeartbeat) load(_ context.Context, in domain.HeartbeatLoadInput) (domain.HeartbeatState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.state
	if in.Period > 0 {
		st.Period = in.Period
	}
	if in.DueSoonBefore > 0 {
		st.DueSoonBefore = in.DueSoonBefore
	}
	st.NextDueAt = st.LastConfirmedAt.Add(st.Period)
	f.state = st
	return st, nil
}

func (f *fakeHeartbeat) transition(_ context.Context, in domain.HeartbeatTransitionInput) (domain.HeartbeatTransition, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.state.Applies || !f.state.LastConfirmedAt.Equal(in.LastConfirmedAt) || f.state.Status == in.Status {
		return domain.HeartbeatTransition{State: f.state}, nil
	}
	f.state.Status = in.Status
	typ := "connection.heartbeat.due_soon"
	if in.Status == domain.HeartbeatOverdue {
		typ = "connection.heartbeat.overdue"
	}
	f.events = append(f.events, heartbeatEvent{id: in.EventID, typ: typ, at: f.env.Now(), state: f.state})
	return domain.HeartbeatTransition{State: f.state, Emitted: true}, nil
}

func (f *fakeHeartbeat) confirm(_ context.Context, in domain.HeartbeatConfirmInput) (domain.HeartbeatState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.state.Applies {
		return domain.HeartbeatState{}, temporal.NewNonRetryableApplicationError("no", domain.ReasonHeartbeatNotApplicable, nil)
	}
	now := f.env.Now()
	f.state.Status, f.state.LastConfirmedAt, f.state.NextDueAt = domain.HeartbeatOK, now, now.Add(in.Period)
	f.events = append(f.events, heartbeatEvent{id: in.EventID, typ: "connection.heartbeat.confirmed", at: now, state: f.state})
	return f.state, nil
}

func (f *fakeHeartbeat) types() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []string{}
	for _, e := range f.events {
		out = append(out, e.typ)
	}
	return out
}

func (s *heartbeatSuite) SetupTest() {
	s.env = s.NewTestWorkflowEnvironment()
	s.env.RegisterWorkflowWithOptions(wf.HeartbeatWorkflow, workflow.RegisterOptions{Name: domain.HeartbeatWorkflowName})
	s.env.RegisterWorkflowWithOptions(wf.DeliveryWorkflow, workflow.RegisterOptions{Name: domain.DeliveryWorkflowName})
	s.env.RegisterActivity(a)
	start := s.env.Now()
	s.db = &fakeHeartbeat{env: s.env, state: domain.HeartbeatState{
		ConnectionID: "conn_1", Applies: true, Status: domain.HeartbeatOK, LastConfirmedAt: start,
		Period: domain.DefaultHeartbeatPeriod, DueSoonBefore: domain.DefaultHeartbeatDueSoonBefore,
	}}
	s.in = domain.HeartbeatInput{ConnectionID: "conn_1", PartnerID: "ptn_1", TenantID: "t1"}
	s.env.OnActivity(a.LoadHeartbeat, mock.Anything, mock.Anything).Return(s.db.load)
	s.env.OnActivity(a.TransitionHeartbeat, mock.Anything, mock.Anything).Return(s.db.transition)
	s.env.OnActivity(a.ConfirmHeartbeat, mock.Anything, mock.Anything).Return(s.db.confirm)
	// Each event is delivered by its own child workflow delivery/<eventId>.
	s.env.OnWorkflow(domain.DeliveryWorkflowName, mock.Anything, mock.Anything).Return(
		func(_ workflow.Context, in domain.DeliveryInput) (domain.DeliveryResult, error) {
			s.db.mu.Lock()
			s.db.delivered = append(s.db.delivered, in.EventID)
			s.db.mu.Unlock()
			return domain.DeliveryResult{EventID: in.EventID, Status: domain.DeliveryDelivered}, nil
		})
}

func (s *heartbeatSuite) confirmAt(d time.Duration, got *domain.HeartbeatState, gotErr *error) {
	s.env.RegisterDelayedCallback(func() {
		s.env.UpdateWorkflow(domain.UpdateHeartbeatConfirm, "confirm-1", &testsuite.TestUpdateCallback{
			OnReject: func(err error) { *gotErr = err },
			OnAccept: func() {},
			OnComplete: func(v any, err error) {
				if err != nil {
					*gotErr = err
				}
				if st, ok := v.(domain.HeartbeatState); ok {
					*got = st
				}
			},
		})
	}, d)
}

func isCanceled(err error) bool {
	var canceled *temporal.CanceledError
	return errors.As(err, &canceled)
}

// Nobody confirms: DUE_SOON after 10 days, OVERDUE after 13, each with its event delivered by
// a child workflow; then only a confirmation (or the disconnect's cancel) changes anything.
func (s *heartbeatSuite) TestTransitionsOnDurableTimers() {
	start := s.env.Now()
	s.env.RegisterDelayedCallback(s.env.CancelWorkflow, 30*24*time.Hour)
	s.env.ExecuteWorkflow(domain.HeartbeatWorkflowName, s.in)
	s.True(s.env.IsWorkflowCompleted())
	s.True(isCanceled(s.env.GetWorkflowError()), "the disconnect's cancel ends it: %v", s.env.GetWorkflowError())
	s.Equal([]string{"connection.heartbeat.due_soon", "connection.heartbeat.overdue"}, s.db.types())
	s.WithinDuration(start.Add(10*24*time.Hour), s.db.events[0].at, time.Second)
	s.WithinDuration(start.Add(13*24*time.Hour), s.db.events[1].at, time.Second)
	s.Equal(domain.HeartbeatOverdue, s.db.state.Status)
	s.ElementsMatch([]string{s.db.events[0].id, s.db.events[1].id}, s.db.delivered)
}

// A confirmation while DUE_SOON commits OK, answers the committed state, and the run
// continues-as-new so the next cycle starts with a fresh history.
func (s *heartbeatSuite) TestConfirmationRestartsTheClock() {
	start := s.env.Now()
	var got domain.HeartbeatState
	var gotErr error
	s.confirmAt(11*24*time.Hour, &got, &gotErr)
	s.env.ExecuteWorkflow(domain.HeartbeatWorkflowName, s.in)
	s.NoError(gotErr)
	s.Equal(domain.HeartbeatOK, got.Status)
	s.WithinDuration(start.Add(11*24*time.Hour), got.LastConfirmedAt, time.Second)
	s.Equal(got.LastConfirmedAt.Add(13*24*time.Hour), got.NextDueAt)
	s.Equal([]string{"connection.heartbeat.due_soon", "connection.heartbeat.confirmed"}, s.db.types())
	var can *workflow.ContinueAsNewError
	s.ErrorAs(s.env.GetWorkflowError(), &can)
	s.Len(s.db.delivered, 2)
}

// The next run counts from the confirmation: with the compressed periods a test (or the worker's
// configuration) may set.
func (s *heartbeatSuite) TestPeriodsComeFromTheInput() {
	start := s.env.Now()
	s.in.Period, s.in.DueSoonBefore = 10*time.Minute, 4*time.Minute
	s.env.RegisterDelayedCallback(s.env.CancelWorkflow, time.Hour)
	s.env.ExecuteWorkflow(domain.HeartbeatWorkflowName, s.in)
	s.Equal([]string{"connection.heartbeat.due_soon", "connection.heartbeat.overdue"}, s.db.types())
	s.WithinDuration(start.Add(6*time.Minute), s.db.events[0].at, time.Second)
	s.WithinDuration(start.Add(10*time.Minute), s.db.events[1].at, time.Second)
}

// A heartbeat whose deadline passed while nothing ran (workers down for weeks) goes straight to
// OVERDUE, without a stale DUE_SOON.
func (s *heartbeatSuite) TestMissedDeadlineGoesStraightToOverdue() {
	s.db.state.LastConfirmedAt = s.env.Now().Add(-20 * 24 * time.Hour)
	s.env.RegisterDelayedCallback(s.env.CancelWorkflow, time.Hour)
	s.env.ExecuteWorkflow(domain.HeartbeatWorkflowName, s.in)
	s.Equal([]string{"connection.heartbeat.overdue"}, s.db.types())
}

// Cancelling (the disconnect workflow's RequestCancelExternalWorkflow) ends it at once and
// cleanly, with nothing emitted.
func (s *heartbeatSuite) TestCancelEndsItCleanly() {
	s.env.RegisterDelayedCallback(s.env.CancelWorkflow, 2*24*time.Hour)
	s.env.ExecuteWorkflow(domain.HeartbeatWorkflowName, s.in)
	s.True(s.env.IsWorkflowCompleted())
	s.True(isCanceled(s.env.GetWorkflowError()))
	s.Empty(s.db.types())
}

// A connection the heartbeat does not apply to (disconnected, not coexistence) ends the
// workflow, and a confirmation is refused.
func (s *heartbeatSuite) TestNotApplicableEndsAndRefusesConfirmations() {
	s.db.state.Applies = false
	var got domain.HeartbeatState
	var gotErr error
	s.confirmAt(0, &got, &gotErr)
	s.env.ExecuteWorkflow(domain.HeartbeatWorkflowName, s.in)
	s.NoError(s.env.GetWorkflowError())
	s.Error(gotErr)
	s.Empty(s.db.types())
}

// The reset signal (re-onboarding restarted the clock) reloads the state in a new run.
func (s *heartbeatSuite) TestResetContinuesAsNew() {
	s.env.RegisterDelayedCallback(func() { s.env.SignalWorkflow(domain.SignalHeartbeatReset, nil) }, 24*time.Hour)
	s.env.ExecuteWorkflow(domain.HeartbeatWorkflowName, s.in)
	var can *workflow.ContinueAsNewError
	s.ErrorAs(s.env.GetWorkflowError(), &can)
	s.Empty(s.db.types())
}

// A transition whose timer fired after a confirmation committed does not apply: the state the
// workflow keeps is the confirmation's.
func (s *heartbeatSuite) TestStaleTransitionDoesNotOverrideAConfirmation() {
	st := domain.HeartbeatState{LastConfirmedAt: s.env.Now()}
	// The row moved on (a confirmation in another run); this run's timer still fires.
	s.env.RegisterDelayedCallback(func() {
		s.db.mu.Lock()
		s.db.state.LastConfirmedAt = st.LastConfirmedAt.Add(9 * 24 * time.Hour)
		s.db.mu.Unlock()
	}, 9*24*time.Hour)
	s.env.RegisterDelayedCallback(s.env.CancelWorkflow, 11*24*time.Hour)
	s.env.ExecuteWorkflow(domain.HeartbeatWorkflowName, s.in)
	s.Empty(s.db.types(), "the DUE_SOON of an old confirmation is not emitted")
}
