package events

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/dualhook/dualhook/db/dbq"
	"github.com/dualhook/dualhook/internal/domain"
	"github.com/dualhook/dualhook/internal/store"
)

// MaxBulkRedeliveries bounds one bulk replay. Scheduled events go back to pending, so calling
// again with the same window picks up where the previous call stopped.
const MaxBulkRedeliveries = 1000

// bulkStartConcurrency is how many workflow starts run at once during a bulk replay.
const bulkStartConcurrency = 16

// ErrNotReplayable is returned for a bulk replay of pending events (they are being delivered).
var ErrNotReplayable = errors.New("events: only delivered, failed or skipped events can be replayed")

// Replayer schedules replays (SPEC §8.5) for the API and the operator CLI: each is a workflow
// redelivery/<eventId>/<n> labelled with the EventType, PartnerId and TenantId search
// attributes.
type Replayer struct {
	Store     *store.Store
	Temporal  client.Client
	TaskQueue string
}

// Redeliver starts a replay of ev and returns its workflow id.
func (r *Replayer) Redeliver(ctx context.Context, ev dbq.Event) (string, error) {
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
}

// RedeliverWindow replays up to MaxBulkRedeliveries events of the window, oldest first, and
// reports how many it scheduled and whether more match.
func (r *Replayer) RedeliverWindow(ctx context.Context, w Window) (scheduled int, more bool, err error) {
	switch w.Status {
	case StatusFailed, StatusSkipped, StatusDelivered:
	default:
		return 0, false, ErrNotReplayable
	}
	params := dbq.ListEventsForRedeliveryParams{Status: w.Status, Since: w.Since, Until: w.Until, RowLimit: MaxBulkRedeliveries + 1}
	if w.PartnerID != "" {
		params.PartnerID = &w.PartnerID
	}
	rows, err := r.Store.ListEventsForRedelivery(ctx, params)
	if err != nil {
		return 0, false, err
	}
	if len(rows) > MaxBulkRedeliveries {
		rows, more = rows[:MaxBulkRedeliveries], true
	}
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
		sem      = make(chan struct{}, bulkStartConcurrency)
	)
	for _, ev := range rows {
		wg.Add(1)
		sem <- struct{}{}
		go func(ev dbq.Event) {
			defer wg.Done()
			defer func() { <-sem }()
			_, err := r.Redeliver(ctx, ev)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			scheduled++
		}(ev)
	}
	wg.Wait()
	if scheduled == 0 && firstErr != nil {
		return 0, false, firstErr
	}
	// Partial success: what did not start keeps its status and is picked up by the next call.
	return scheduled, more || firstErr != nil, nil
}
