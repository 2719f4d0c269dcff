package events_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dualhook/dualhook/db/dbq"
	"github.com/dualhook/dualhook/internal/domain"
	"github.com/dualhook/dualhook/internal/events"
	"github.com/dualhook/dualhook/internal/eventtypes"
	"github.com/dualhook/dualhook/internal/ids"
	"github.com/dualhook/dualhook/testkit/eventstest"
	"github.com/dualhook/dualhook/testkit/testenv"
)

// An operator terminates a workflow while its event waits for the next attempt: the event would
// stay pending forever. The reconciler leaves events of running workflows alone, replays the
// stranded one, and the replay delivers it.
func TestStrandedEventIsReplayedAfterItsWorkflowIsTerminated(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// Its own database: the reconciler reads every pending event, and the clock moved two hours
	// ahead below would make the package's other tests' events its business.
	s := eventstest.New(t, eventstest.Options{Schedule: []time.Duration{time.Hour}, Store: testenv.OwnStore(t)})
	s.Activities.Temporal = s.Temporal
	s.Activities.Config.EventRescueAfter = time.Nanosecond
	s.StartWorker()
	var up atomic.Bool
	rcv := eventstest.NewReceiver(t, func(_ int, _ eventstest.Request, w http.ResponseWriter) {
		if up.Load() {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	partner, _ := s.NewPartner(&rcv.URL, nil)

	run := s.Start(eventstest.EmitInput{PartnerID: partner.ID, Events: []eventstest.EventSpec{completed("t-stranded")}})
	var evID string
	eventstest.Eventually(t, 30*time.Second, func() bool {
		err := s.Store.Pool.QueryRow(ctx, "SELECT id FROM events WHERE partner_id = $1 AND attempt_count = 1", partner.ID).Scan(&evID)
		return err == nil
	}, "the first attempt was never recorded")
	ev := s.Event(evID)
	require.NotNil(t, ev.WorkflowID)
	assert.Equal(t, run.GetID(), *ev.WorkflowID, "the event names the workflow delivering it")

	n, err := s.Activities.RescueStrandedEvents(ctx)
	require.NoError(t, err)
	assert.Zero(t, n, "its workflow is running: it waits an hour for the next attempt")

	require.NoError(t, s.Temporal.TerminateWorkflow(ctx, run.GetID(), "", "an operator's decision"))
	n, err = s.Activities.RescueStrandedEvents(ctx)
	require.NoError(t, err)
	assert.Zero(t, n, "checked a moment ago: looked at again only after an hour")

	up.Store(true)
	s.Activities.Now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	n, err = s.Activities.RescueStrandedEvents(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n, "nothing delivers it any more")
	eventstest.Eventually(t, 30*time.Second, func() bool { return s.Event(evID).Status == events.StatusDelivered },
		"the replay never delivered the stranded event")
	ev = s.Event(evID)
	assert.Equal(t, domain.RedeliveryID(evID, 1), *ev.WorkflowID)
	attempts := s.Attempts(evID)
	require.Len(t, attempts, 2)
	assert.Equal(t, "retry", attempts[0].Outcome)
	assert.Equal(t, "delivered", attempts[1].Outcome)

	n, err = s.Activities.RescueStrandedEvents(ctx)
	require.NoError(t, err)
	assert.Zero(t, n, "delivered events are not pending")
}

// An event stored outside any workflow names no workflow: there is nothing to ask Temporal
// about, so the reconciler leaves it alone rather than guess.
func TestEventWithoutWorkflowIsLeftAlone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := eventstest.New(t, eventstest.Options{Store: testenv.OwnStore(t)})
	s.Activities.Temporal = s.Temporal
	s.Activities.Config.EventRescueAfter = time.Nanosecond
	partner, _ := s.NewPartner(nil, nil)
	id := ids.New(ids.Event)
	require.NoError(t, s.Store.InTx(ctx, func(q *dbq.Queries) error {
		return events.Emit(ctx, q, events.New{ID: id, PartnerID: partner.ID, Type: eventtypes.OnboardingStarted, Data: map[string]any{}})
	}))
	require.Nil(t, s.Event(id).WorkflowID)

	s.Activities.Now = func() time.Time { return time.Now().Add(time.Minute) }
	n, err := s.Activities.RescueStrandedEvents(ctx)
	require.NoError(t, err)
	assert.Zero(t, n)
	assert.Equal(t, events.StatusPending, s.Event(id).Status)
}
