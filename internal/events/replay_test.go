package events_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/dualhook/dualhook/db/dbq"
	"github.com/dualhook/dualhook/egress"
	"github.com/dualhook/dualhook/internal/domain"
	"github.com/dualhook/dualhook/internal/events"
	"github.com/dualhook/dualhook/internal/partners"
	"github.com/dualhook/dualhook/internal/store"
	"github.com/dualhook/dualhook/testkit/testenv"
)

// Bulk replay bounds (docs/events.md): these tests need PostgreSQL only; workflow starts go to
// a fake Temporal client that records them, can hold them, and can fail chosen events.

// fakeStarter is a Temporal client whose ExecuteWorkflow only records the start.
type fakeStarter struct {
	client.Client
	mu      sync.Mutex
	started []string // event ids, in start order
	hold    chan struct{}
	entered chan struct{}
	fail    map[string]bool
}

func (f *fakeStarter) ExecuteWorkflow(ctx context.Context, _ client.StartWorkflowOptions, _ any, args ...any) (client.WorkflowRun, error) {
	in := args[0].(domain.DeliveryInput)
	if f.entered != nil {
		select {
		case f.entered <- struct{}{}:
		default:
		}
	}
	if f.hold != nil {
		select {
		case <-f.hold:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail[in.EventID] {
		return nil, errors.New("temporal unavailable")
	}
	f.started = append(f.started, in.EventID)
	return nil, nil
}

func (f *fakeStarter) take() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.started
	f.started = nil
	return out
}

type replayFixture struct {
	store   *store.Store
	partner string
	ids     []string // oldest first
	since   time.Time
	until   time.Time
}

// newReplayFixture makes a partner with n delivered events, one millisecond apart.
func newReplayFixture(t *testing.T, n int) replayFixture {
	t.Helper()
	ctx := context.Background()
	st := testenv.Store(t)
	svc := &partners.Service{Store: st, Ring: testenv.Keyring(t), Egress: egress.Policy{DevMode: true}}
	created, err := svc.Create(ctx, partners.Settings{DisplayName: "Replay Co", AllowedRedirectURLs: []string{}}, "test")
	require.NoError(t, err)
	var raw [6]byte
	_, _ = rand.Read(raw[:])
	base := time.Now().Add(-time.Hour).UTC().Truncate(time.Millisecond)
	f := replayFixture{store: st, partner: created.Partner.ID, since: base, until: base.Add(time.Minute)}
	for i := range n {
		id := fmt.Sprintf("evt_%s%04d", hex.EncodeToString(raw[:]), i)
		_, err := st.InsertEvent(ctx, dbq.InsertEventParams{ID: id, PartnerID: f.partner, Type: "onboarding.started",
			Body: []byte(`{}`), CreatedAt: base.Add(time.Duration(i) * time.Millisecond)})
		require.NoError(t, err)
		_, err = st.Pool.Exec(ctx, "UPDATE events SET status = 'delivered' WHERE id = $1", id)
		require.NoError(t, err)
		f.ids = append(f.ids, id)
	}
	return f
}

func (f replayFixture) window(after *events.Cursor) events.Window {
	return events.Window{PartnerID: f.partner, Status: events.StatusDelivered, Since: f.since, Until: f.until, After: after}
}

func lowerPageSize(t *testing.T, n int) {
	old := events.MaxBulkRedeliveries
	events.MaxBulkRedeliveries = n
	t.Cleanup(func() { events.MaxBulkRedeliveries = old })
}

// Replayed delivered events stay delivered: without the cursor every call picked the same oldest
// page again. With it, consecutive calls pick disjoint events and the last one ends.
func TestBulkReplayCursorMovesOn(t *testing.T) {
	lowerPageSize(t, 3)
	f := newReplayFixture(t, 7)
	fake := &fakeStarter{}
	r := &events.Replayer{Store: f.store, Temporal: fake, TaskQueue: "unused"}
	ctx := context.Background()

	var seen []string
	var after *events.Cursor
	for call, want := range []int{3, 3, 1} {
		res, err := r.RedeliverWindow(ctx, f.window(after))
		require.NoError(t, err)
		got := fake.take()
		assert.Len(t, got, want, "call %d", call+1)
		assert.Equal(t, want, res.Scheduled)
		seen = append(seen, got...)
		if call < 2 {
			assert.True(t, res.More)
			require.NotNil(t, res.Next)
			assert.Equal(t, f.ids[3*call+2], res.Next.ID, "the cursor is the last scheduled event")
		} else {
			assert.False(t, res.More)
			assert.Nil(t, res.Next)
		}
		after = res.Next
	}
	assert.ElementsMatch(t, f.ids, seen, "every event exactly once")
	for _, id := range f.ids {
		ev, err := f.store.GetEventByID(ctx, id)
		require.NoError(t, err)
		assert.EqualValues(t, 1, ev.RedeliveryCount, id)
		assert.Equal(t, events.StatusDelivered, ev.Status)
	}
}

// A failed start stops the cursor before that event, so the next call tries it again and no
// event is skipped.
func TestBulkReplayCursorStopsBeforeAFailedStart(t *testing.T) {
	lowerPageSize(t, 4)
	f := newReplayFixture(t, 4)
	fake := &fakeStarter{fail: map[string]bool{f.ids[1]: true}}
	r := &events.Replayer{Store: f.store, Temporal: fake, TaskQueue: "unused"}
	res, err := r.RedeliverWindow(context.Background(), f.window(nil))
	require.NoError(t, err)
	assert.Equal(t, 3, res.Scheduled)
	assert.True(t, res.More)
	require.NotNil(t, res.Next)
	assert.Equal(t, f.ids[0], res.Next.ID)
	fake.take()

	fake.mu.Lock()
	fake.fail = nil
	fake.mu.Unlock()
	res, err = r.RedeliverWindow(context.Background(), f.window(res.Next))
	require.NoError(t, err)
	assert.Equal(t, 3, res.Scheduled)
	assert.False(t, res.More)
	assert.Equal(t, f.ids[1:], sorted(fake.take(), f.ids))
}

// sorted orders ids as in order.
func sorted(ids, order []string) []string {
	in := map[string]bool{}
	for _, id := range ids {
		in[id] = true
	}
	var out []string
	for _, id := range order {
		if in[id] {
			out = append(out, id)
		}
	}
	return out
}

// One bulk replay at a time per partner: a second call while the first is running is refused;
// another partner is not held up, and the lease is free again once the first call answers.
func TestBulkReplayOnePerPartner(t *testing.T) {
	lowerPageSize(t, 2)
	f := newReplayFixture(t, 2)
	g := newReplayFixture(t, 1)
	fake := &fakeStarter{hold: make(chan struct{}), entered: make(chan struct{}, 1)}
	r := &events.Replayer{Store: f.store, Temporal: fake, TaskQueue: "unused", Limits: &events.Limits{DailyCap: 100}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	done := make(chan error, 1)
	go func() {
		_, err := r.RedeliverWindow(ctx, f.window(nil))
		done <- err
	}()
	select {
	case <-fake.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the first replay never started a workflow")
	}
	second, cancelSecond := context.WithTimeout(ctx, 3*time.Second) // a refusal is immediate
	_, err := r.RedeliverWindow(second, f.window(nil))
	cancelSecond()
	require.ErrorIs(t, err, events.ErrReplayInProgress)

	free := &events.Replayer{Store: f.store, Temporal: &fakeStarter{}, TaskQueue: "unused", Limits: &events.Limits{DailyCap: 100}}
	res, err := free.RedeliverWindow(ctx, g.window(nil))
	require.NoError(t, err, "another partner is not held up")
	assert.Equal(t, 1, res.Scheduled)

	close(fake.hold)
	require.NoError(t, <-done)
	assert.Len(t, fake.take(), 2)
	res, err = r.RedeliverWindow(ctx, f.window(nil))
	require.NoError(t, err, "the lease is released when the call answers")
	assert.Equal(t, 2, res.Scheduled)
}

// A lease left by a crashed process stops holding once it expires.
func TestReplayLeaseExpires(t *testing.T) {
	f := newReplayFixture(t, 1)
	ctx := context.Background()
	n, err := f.store.AcquireReplayLease(ctx, dbq.AcquireReplayLeaseParams{PartnerID: f.partner, Holder: "crashed", TtlSeconds: 3600})
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	r := &events.Replayer{Store: f.store, Temporal: &fakeStarter{}, TaskQueue: "unused", Limits: &events.Limits{DailyCap: 100}}
	_, err = r.RedeliverWindow(ctx, f.window(nil))
	require.ErrorIs(t, err, events.ErrReplayInProgress)

	_, err = f.store.Pool.Exec(ctx, "UPDATE replay_leases SET expires_at = now() - interval '1 second' WHERE partner_id = $1", f.partner)
	require.NoError(t, err)
	res, err := r.RedeliverWindow(ctx, f.window(nil))
	require.NoError(t, err)
	assert.Equal(t, 1, res.Scheduled)
}

// The daily cap: a call near it schedules only what is left, then bulk and single replays are
// refused until the next UTC day; starts that fail are given back.
func TestReplayDailyCap(t *testing.T) {
	lowerPageSize(t, 3)
	f := newReplayFixture(t, 8)
	fake := &fakeStarter{fail: map[string]bool{f.ids[0]: true}}
	now := time.Date(2026, 3, 14, 22, 0, 0, 0, time.UTC)
	r := &events.Replayer{Store: f.store, Temporal: fake, TaskQueue: "unused",
		Limits: &events.Limits{DailyCap: 5, Now: func() time.Time { return now }}}
	ctx := context.Background()

	// The first event fails to start: 2 of 3 scheduled, and the failed one does not count.
	res, err := r.RedeliverWindow(ctx, f.window(nil))
	require.NoError(t, err)
	assert.Equal(t, 2, res.Scheduled)
	fake.mu.Lock()
	fake.fail = nil
	fake.mu.Unlock()
	res, err = r.RedeliverWindow(ctx, f.window(res.Next))
	require.NoError(t, err)
	assert.Equal(t, 3, res.Scheduled, "2 + 3 = the cap of 5")
	assert.True(t, res.More)

	_, err = r.RedeliverWindow(ctx, f.window(res.Next))
	var capErr *events.DailyCapError
	require.ErrorAs(t, err, &capErr)
	assert.Equal(t, 5, capErr.Cap)
	assert.Equal(t, time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC), capErr.Reset)
	ev, err := f.store.GetEventByID(ctx, f.ids[7])
	require.NoError(t, err)
	_, err = r.Redeliver(ctx, ev)
	require.ErrorAs(t, err, &capErr, "single replays draw on the same cap")
	assert.Len(t, fake.take(), 5)

	// The next day has a new budget; near the cap a call schedules only what is left.
	now = now.Add(3 * time.Hour)
	_, err = r.Redeliver(ctx, ev)
	require.NoError(t, err)
	r.Limits.DailyCap = 3
	res, err = r.RedeliverWindow(ctx, f.window(nil))
	require.NoError(t, err)
	assert.Equal(t, 2, res.Scheduled)
	assert.True(t, res.More)
	_, err = r.RedeliverWindow(ctx, f.window(res.Next))
	require.ErrorAs(t, err, &capErr)

	// Operators (no Limits) are not bounded.
	op := &events.Replayer{Store: f.store, Temporal: fake, TaskQueue: "unused"}
	res, err = op.RedeliverWindow(ctx, f.window(nil))
	require.NoError(t, err)
	assert.Equal(t, 3, res.Scheduled)
}
