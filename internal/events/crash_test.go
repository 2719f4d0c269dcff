package events_test

import (
	"context"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dualhook/dualhook/activities"
	"github.com/dualhook/dualhook/egress"
	"github.com/dualhook/dualhook/internal/config"
	"github.com/dualhook/dualhook/internal/domain"
	"github.com/dualhook/dualhook/internal/events"
	"github.com/dualhook/dualhook/testkit/eventstest"
	"github.com/dualhook/dualhook/testkit/testenv"
)

// childWorkerEnv makes the test binary a worker process (see TestMain) on the task queue it
// names, so a test can kill a worker for real (SIGKILL, no graceful stop).
const childWorkerEnv = "DUALHOOK_EVENTS_TEST_CHILD_WORKER"

func runChildWorker() {
	ring, st, c := testenv.ChildParts(context.Background())
	acts := &activities.Activities{Store: st, Ring: ring, Logger: testenv.Logger(), Egress: egress.Policy{DevMode: true},
		Config: config.Config{DeliverySchedule: eventstest.CompressedSchedule, DeliveryTimeout: 30 * time.Second}}
	w := eventstest.NewWorker(c, os.Getenv(childWorkerEnv), acts, nil)
	if err := w.Start(); err != nil {
		testenv.ChildFail(err)
	}
	select {}
}

// A worker killed while a receiver holds its request: the event is neither lost nor delivered
// more than once more, and the killed attempt does not use up the schedule. With a local emit
// the kill also lands before the workflow task that stored the event completed (the first
// attempt runs in that same task), so the new worker stores the event again: the id derived
// from the run keeps it one row.
func TestWorkerKilledDuringDelivery(t *testing.T) {
	t.Parallel()
	t.Run("emitted by an activity", func(t *testing.T) { t.Parallel(); testWorkerKilledDuringDelivery(t, false) })
	t.Run("emitted by a local activity", func(t *testing.T) { t.Parallel(); testWorkerKilledDuringDelivery(t, true) })
}

func testWorkerKilledDuringDelivery(t *testing.T, localEmit bool) {
	s := eventstest.New(t, eventstest.Options{Ring: testenv.Keyring(t)})

	inFlight := make(chan struct{})
	release := make(chan struct{})
	rcv := eventstest.NewReceiver(t, func(n int, _ eventstest.Request, w http.ResponseWriter) {
		if n == 1 {
			close(inFlight)
			select {
			case <-release:
			case <-time.After(time.Minute):
			}
		}
		w.WriteHeader(http.StatusOK)
	})
	partner, _ := s.NewPartner(&rcv.URL, nil)

	kill := testenv.StartChild(t, childWorkerEnv+"="+s.TaskQueue)

	run := s.Start(eventstest.EmitInput{PartnerID: partner.ID, LocalEmit: localEmit, Events: []eventstest.EventSpec{completed("t-crash")}})
	select {
	case <-inFlight:
	case <-time.After(time.Minute):
		t.Fatal("the child worker never sent the delivery")
	}
	kill()
	close(release)

	// A new worker takes over once Temporal notices the lost attempt (heartbeat timeout).
	s.StartWorker()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var out eventstest.EmitOutput
	require.NoError(t, run.Get(ctx, &out))
	require.Len(t, out.EventIDs, 1)
	assert.Equal(t, domain.DeliveryDelivered, out.Results[0].Status)

	ev := s.Event(out.EventIDs[0])
	assert.Equal(t, events.StatusDelivered, ev.Status)
	attempts := s.Attempts(ev.ID)
	require.Len(t, attempts, 1, "the killed attempt recorded nothing; the retry is attempt 1 of the schedule")
	assert.Equal(t, "delivered", attempts[0].Outcome)
	reqs := rcv.Requests()
	assert.Len(t, reqs, 2, "delivered once more at most")
	for _, r := range reqs {
		assert.Equal(t, ev.Body, r.Body)
	}
	var n int
	require.NoError(t, s.Store.Pool.QueryRow(context.Background(), "SELECT count(*) FROM events WHERE partner_id = $1", partner.ID).Scan(&n))
	assert.Equal(t, 1, n, "one event, the same id after the workflow's replay on the new worker")
}
