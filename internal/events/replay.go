package events

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/dualhook/dualhook/db/dbq"
	"github.com/dualhook/dualhook/internal/domain"
	"github.com/dualhook/dualhook/internal/store"
)

// MaxBulkRedeliveries bounds one bulk replay call: the page size of a bulk replay. Each call
// returns a cursor after its last scheduled event, and the next call with it continues strictly
// after it. A variable only so tests can lower it.
var MaxBulkRedeliveries = 1000

// DefaultReplayLeaseTTL is how long a bulk replay holds its partner's lease at most: a crashed
// API process blocks the partner's bulk replays for no longer.
const DefaultReplayLeaseTTL = 5 * time.Minute

// bulkStartConcurrency is how many workflow starts run at once during a bulk replay.
const bulkStartConcurrency = 16

// ErrNotReplayable is returned for a bulk replay of pending events (they are being delivered).
var ErrNotReplayable = errors.New("events: only delivered, failed or skipped events can be replayed")

// ErrReplayInProgress is returned when another bulk replay of the partner is running.
var ErrReplayInProgress = errors.New("events: another bulk replay of this partner is running")

// DailyCapError is returned when the partner has replayed its daily cap of events.
type DailyCapError struct {
	Cap int
	// Reset is when the next day's budget starts (UTC midnight).
	Reset time.Time
}

func (e *DailyCapError) Error() string {
	return fmt.Sprintf("events: the daily cap of %d replayed events is used up until %s", e.Cap, e.Reset.Format(time.RFC3339))
}

// Limits bound a partner's replays (the API sets them; an operator's CLI replays without):
// one bulk replay at a time per partner, and at most DailyCap replayed events per partner and
// UTC day, single and bulk replays together.
type Limits struct {
	// DailyCap is the partner's replayed events per UTC day; 0 means DefaultReplayDailyCap.
	DailyCap int
	// LeaseTTL bounds how long a bulk replay holds its partner's lease (default
	// DefaultReplayLeaseTTL).
	LeaseTTL time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// DefaultReplayDailyCap is the daily cap when none is configured.
const DefaultReplayDailyCap = 10000

func (l *Limits) dailyCap() int {
	if l.DailyCap <= 0 {
		return DefaultReplayDailyCap
	}
	return l.DailyCap
}

func (l *Limits) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

// Replayer schedules replays (SPEC §8.5) for the API and the operator CLI: each is a workflow
// redelivery/<eventId>/<n> labelled with the EventType, PartnerId and TenantId search
// attributes.
type Replayer struct {
	Store     *store.Store
	Temporal  client.Client
	TaskQueue string
	// Limits, when set, bound the replays per partner; nil replays without bounds (operators).
	Limits *Limits
}

// Redeliver starts a replay of ev and returns its workflow id. With Limits it draws one event on
// the partner's daily budget (*DailyCapError when it is used up).
func (r *Replayer) Redeliver(ctx context.Context, ev dbq.Event) (string, error) {
	if r.Limits == nil {
		return r.redeliver(ctx, ev)
	}
	b, err := r.reserve(ctx, ev.PartnerID, 1)
	if err != nil {
		return "", err
	}
	id, err := r.redeliver(ctx, ev)
	if err != nil {
		b.giveBack(ctx, 1)
	}
	return id, err
}

func (r *Replayer) redeliver(ctx context.Context, ev dbq.Event) (string, error) {
	sched, err := r.Store.ScheduleRedelivery(ctx, ev.ID)
	if err != nil {
		return "", err
	}
	id := domain.RedeliveryID(ev.ID, int64(sched.RedeliveryCount))
	summary := domain.EventSummary{EventID: ev.ID, Type: ev.Type, PartnerID: ev.PartnerID}
	if ev.TenantID != nil {
		summary.TenantID = *ev.TenantID
	}
	_, err = r.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                    id,
		TaskQueue:             r.TaskQueue,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		TypedSearchAttributes: temporal.NewSearchAttributes(summary.SearchAttributes()...),
	}, domain.RedeliveryWorkflowName, domain.DeliveryInput{EventID: ev.ID})
	if err != nil {
		// Put the status back, so the event is not left pending with no workflow behind it. The
		// number n is simply not used.
		restoreCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = r.Store.RestoreEventStatus(restoreCtx, dbq.RestoreEventStatusParams{ID: ev.ID, Status: sched.PreviousStatus})
		return "", fmt.Errorf("events: start %s: %w", id, err)
	}
	return id, nil
}

// Window selects events for a bulk replay.
type Window struct {
	// PartnerID limits the replay to one partner; "" means every partner (operators only).
	PartnerID string
	// Status is failed (the usual case), skipped or delivered.
	Status string
	Since  time.Time
	Until  time.Time
	// After, when set, is the cursor of the previous call: only events strictly after it match.
	After *Cursor
}

// Cursor is the position of a bulk replay in its window: the (created_at, id) of the last
// event a call scheduled.
type Cursor struct {
	CreatedAt time.Time
	ID        string
}

// BulkResult is what one bulk replay call did.
type BulkResult struct {
	Scheduled int
	// More says events of the window are left after Next.
	More bool
	// Next is the cursor to continue with (set when More); nil means start from the window's
	// beginning again.
	Next *Cursor
}

// RedeliverWindow replays up to MaxBulkRedeliveries events of the window after w.After, oldest
// first, and reports how many it scheduled, whether more match and the cursor to continue with.
// With Limits it holds the partner's replay lease (ErrReplayInProgress when another bulk replay
// holds it) and draws on the partner's daily budget (*DailyCapError when it is used up; a call
// near the cap schedules only what is left of it).
func (r *Replayer) RedeliverWindow(ctx context.Context, w Window) (BulkResult, error) {
	switch w.Status {
	case StatusFailed, StatusSkipped, StatusDelivered:
	default:
		return BulkResult{}, ErrNotReplayable
	}
	pageSize := MaxBulkRedeliveries
	if r.Limits != nil {
		if w.PartnerID == "" {
			return BulkResult{}, errors.New("events: a bounded bulk replay needs a partner")
		}
		release, err := r.lease(ctx, w.PartnerID)
		if err != nil {
			return BulkResult{}, err
		}
		defer release()
		b, err := r.reserve(ctx, w.PartnerID, pageSize)
		if err != nil {
			return BulkResult{}, err
		}
		pageSize = b.granted
		var res BulkResult
		defer func() { b.giveBack(ctx, b.granted-res.Scheduled) }()
		res, err = r.redeliverPage(ctx, w, pageSize)
		return res, err
	}
	return r.redeliverPage(ctx, w, pageSize)
}

func (r *Replayer) redeliverPage(ctx context.Context, w Window, pageSize int) (BulkResult, error) {
	params := dbq.ListEventsForRedeliveryParams{Status: w.Status, Since: w.Since, Until: w.Until, RowLimit: int32(pageSize + 1)}
	if w.PartnerID != "" {
		params.PartnerID = &w.PartnerID
	}
	if w.After != nil {
		params.AfterCreatedAt, params.AfterID = &w.After.CreatedAt, w.After.ID
	}
	rows, err := r.Store.ListEventsForRedelivery(ctx, params)
	if err != nil {
		return BulkResult{}, err
	}
	var res BulkResult
	if len(rows) > pageSize {
		rows, res.More = rows[:pageSize], true
	}
	var (
		mu       sync.Mutex
		firstErr error
		started  = make([]bool, len(rows))
		wg       sync.WaitGroup
		sem      = make(chan struct{}, bulkStartConcurrency)
	)
	for i, ev := range rows {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			_, err := r.redeliver(ctx, ev)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			started[i] = true
			res.Scheduled++
		}()
	}
	wg.Wait()
	if res.Scheduled == 0 && firstErr != nil {
		return BulkResult{}, firstErr
	}
	// The cursor moves past the events that started in order. After a failed start it stays
	// before the failed event, which the next call tries again (events after it that did start
	// may be replayed twice then: a rare duplicate, never a skipped event).
	res.Next = w.After
	for i := range rows {
		if !started[i] {
			res.More = true
			break
		}
		res.Next = &Cursor{CreatedAt: rows[i].CreatedAt, ID: rows[i].ID}
	}
	if !res.More {
		res.Next = nil
	}
	return res, nil
}

// lease takes the partner's bulk replay lease and returns its release.
func (r *Replayer) lease(ctx context.Context, partnerID string) (func(), error) {
	ttl := r.Limits.LeaseTTL
	if ttl <= 0 {
		ttl = DefaultReplayLeaseTTL
	}
	var raw [12]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, err
	}
	holder := hex.EncodeToString(raw[:])
	n, err := r.Store.AcquireReplayLease(ctx, dbq.AcquireReplayLeaseParams{
		PartnerID: partnerID, Holder: holder, TtlSeconds: ttl.Seconds(),
	})
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, ErrReplayInProgress
	}
	return func() {
		releaseCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = r.Store.ReleaseReplayLease(releaseCtx, dbq.ReleaseReplayLeaseParams{PartnerID: partnerID, Holder: holder})
	}, nil
}

// budget is a reservation on a partner's daily replay budget.
type budget struct {
	r         *Replayer
	partnerID string
	day       pgtype.Date
	granted   int
}

// reserve draws up to want events on the partner's budget of the day; none left is a
// *DailyCapError.
func (r *Replayer) reserve(ctx context.Context, partnerID string, want int) (*budget, error) {
	now := r.Limits.now().UTC()
	start := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	b := &budget{r: r, partnerID: partnerID, day: pgtype.Date{Time: start, Valid: true}}
	total, err := r.Store.ReserveReplayBudget(ctx, dbq.ReserveReplayBudgetParams{PartnerID: partnerID, Day: b.day, N: int32(want)})
	if err != nil {
		return nil, err
	}
	before := int(total) - want
	daily := r.Limits.dailyCap()
	b.granted = min(want, max(daily-before, 0))
	b.giveBack(ctx, want-b.granted)
	if b.granted == 0 {
		return nil, &DailyCapError{Cap: daily, Reset: start.AddDate(0, 0, 1)}
	}
	return b, nil
}

// giveBack returns n unused events to the budget.
func (b *budget) giveBack(ctx context.Context, n int) {
	if n <= 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = b.r.Store.ReturnReplayBudget(ctx, dbq.ReturnReplayBudgetParams{PartnerID: b.partnerID, Day: b.day, N: int32(n)})
}
