package events_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dualhook/dualhook/activities"
	"github.com/dualhook/dualhook/egress"
	"github.com/dualhook/dualhook/internal/config"
	"github.com/dualhook/dualhook/internal/domain"
	"github.com/dualhook/dualhook/internal/events"
	"github.com/dualhook/dualhook/internal/keyring"
	"github.com/dualhook/dualhook/internal/store"
	"github.com/dualhook/dualhook/internal/temporalclient"
	"github.com/dualhook/dualhook/testkit/eventstest"
	"github.com/dualhook/dualhook/testkit/testenv"
)

// childWorkerEnv makes the test binary a worker process (see TestMain) on the task queue it
// names, so a test can kill a worker for real (SIGKILL, no graceful stop).
const childWorkerEnv = "DUALHOOK_EVENTS_TEST_CHILD_WORKER"

func runChildWorker() {
	// Never outlive the test: exit when the parent closes our stdin (or dies), or after 3 min.
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	time.AfterFunc(3*time.Minute, func() { os.Exit(0) })
	fail := func(err error) {
		slog.Error("child worker", "error", err)
		os.Exit(2)
	}
	ctx := context.Background()
	ring, err := keyring.Parse(os.Getenv("DUALHOOK_ENCRYPTION_KEYS"), "")
	if err != nil {
		fail(err)
	}
	st, err := store.Open(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		fail(err)
	}
	c, err := temporalclient.Dial(ctx, temporalclient.Options{
		Address: os.Getenv("DUALHOOK_TEST_TEMPORAL_ADDRESS"), Namespace: "default", Ring: ring, Logger: testenv.Logger(),
	})
	if err != nil {
		fail(err)
	}
	acts := &activities.Activities{Store: st, Ring: ring, Logger: testenv.Logger(), Egress: egress.Policy{DevMode: true},
		Config: config.Config{DeliverySchedule: eventstest.CompressedSchedule, DeliveryTimeout: 30 * time.Second}}
	w := eventstest.NewWorker(c, os.Getenv(childWorkerEnv), acts, nil)
	if err := w.Start(); err != nil {
		fail(err)
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
	spec, err := keyring.NewKeySpec("crash")
	require.NoError(t, err)
	ring, err := keyring.Parse(spec, "")
	require.NoError(t, err)
	s := eventstest.New(t, eventstest.Options{Ring: ring})

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

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		childWorkerEnv+"="+s.TaskQueue,
		"DATABASE_URL="+testenv.DatabaseURL(t),
		"DUALHOOK_TEST_TEMPORAL_ADDRESS="+testenv.TemporalAddress(t),
		"DUALHOOK_ENCRYPTION_KEYS="+spec,
	)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})

	run := s.Start(eventstest.EmitInput{PartnerID: partner.ID, LocalEmit: localEmit, Events: []eventstest.EventSpec{completed("t-crash")}})
	select {
	case <-inFlight:
	case <-time.After(time.Minute):
		t.Fatal("the child worker never sent the delivery")
	}
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
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
