// Package events stores the lifecycle events of SPEC §8 and schedules their replays.
//
// The mechanism, end to end (docs/events.md has the long version):
//
//  1. A workflow names the event (derived from its run id and what the event is, so a replay
//     or a retried task names it alike) and passes the id to the activity, or local activity,
//     that writes the state change.
//  2. That activity calls Emit with the transaction's queries: the event row commits with the
//     state change or not at all, and a retried activity inserts nothing the second time; an id
//     already stored for a different event is refused (ErrIDConflict), never dropped.
//  3. The workflow delivers the id with workflows.StartDeliveries, whose Waiter says who waits
//     on the workflow (and so how the first attempt runs); the DeliverEvent activity signs and
//     POSTs the stored body and retries on the SPEC §8.3 schedule.
//
// Whether the partner receives the event (URL configured, type subscribed) is decided at
// delivery time, not here: an event the partner could not receive is stored as skipped and can
// be replayed once the partner has configured a URL.
package events

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/dualhook/dualhook/db/dbq"
	"github.com/dualhook/dualhook/internal/eventtypes"
	"github.com/dualhook/dualhook/internal/ids"
	"github.com/dualhook/dualhook/internal/opt"
)

// Statuses of an event (SPEC §8.5).
const (
	StatusPending   = "pending"
	StatusDelivered = "delivered"
	StatusFailed    = "failed"
	StatusSkipped   = "skipped"
)

// New is an event to store. ID, PartnerID, Type and Data are required; the other ids are
// optional ("" stores NULL) and only serve filtering (GET /api/v1/events?tenantId=…) and
// operators.
type New struct {
	// ID comes from the workflow (derived from its run and what the event is), never from the
	// activity: that is what makes Emit idempotent across activity retries.
	ID        string
	PartnerID string
	// Type is one of internal/eventtypes.
	Type         string
	TenantID     string
	SessionID    string
	ConnectionID string
	WabaID       string
	// Data is the event's data object (SPEC §8.2), marshalled once with encoding/json. It must
	// marshal to a JSON object; nil (or a nil map) means {}.
	Data any
	// CreatedAt defaults to now. It is truncated to milliseconds so the body and the API agree.
	CreatedAt time.Time
}

// envelope is SPEC §8.1's body; the field order is the order on the wire.
type envelope struct {
	Event     string          `json:"event"`
	ID        string          `json:"id"`
	CreatedAt string          `json:"createdAt"`
	Data      json.RawMessage `json:"data"`
}

// TimeFormat is how createdAt is written in bodies: RFC 3339, UTC, milliseconds, Z.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

// Render returns the exact body bytes of e, as every attempt will send them.
func Render(e New) ([]byte, error) {
	data := []byte("{}")
	if e.Data != nil {
		var err error
		if data, err = marshal(e.Data); err != nil {
			return nil, fmt.Errorf("events: %s data: %w", e.Type, err)
		}
		if string(data) == "null" { // a nil map or pointer in an interface
			data = []byte("{}")
		}
		if len(data) == 0 || data[0] != '{' {
			return nil, fmt.Errorf("events: %s data must be a JSON object", e.Type)
		}
	}
	return marshal(envelope{Event: e.Type, ID: e.ID, CreatedAt: e.CreatedAt.UTC().Format(TimeFormat), Data: data})
}

// marshal is json.Marshal without HTML escaping: bodies carry URLs, and "&" should stay "&" for
// receivers that log them.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Emit stores e with the caller's transaction, so the event commits with the state change it
// reports (SPEC §8.3). It is idempotent on e.ID: when the row exists (a retried activity whose
// first attempt committed), nothing changes and the first body stays the one sent.
//
//	err := store.InTx(ctx, func(q *dbq.Queries) error {
//		if err := q.MarkSessionCompleted(ctx, …); err != nil {
//			return err
//		}
//		return events.Emit(ctx, q, events.New{ID: in.EventID, PartnerID: p, Type: eventtypes.OnboardingCompleted, …})
//	})
func Emit(ctx context.Context, q *dbq.Queries, e New) error {
	if q == nil {
		return errors.New("events: Emit needs the transaction's queries")
	}
	if err := e.validate(); err != nil {
		return err
	}
	if e.CreatedAt.IsZero() {
		e.CreatedAt = time.Now()
	}
	e.CreatedAt = e.CreatedAt.UTC().Truncate(time.Millisecond)
	body, err := Render(e)
	if err != nil {
		return err
	}
	var emitter string // the emitting workflow delivers the event; the reconciler asks after it
	if activity.IsActivity(ctx) {
		emitter = activity.GetInfo(ctx).WorkflowExecution.ID
	}
	inserted, err := q.InsertEvent(ctx, dbq.InsertEventParams{
		ID: e.ID, PartnerID: e.PartnerID, Type: e.Type, TenantID: opt.String(e.TenantID), SessionID: opt.String(e.SessionID),
		ConnectionID: opt.String(e.ConnectionID), WabaID: opt.String(e.WabaID), Body: body, CreatedAt: e.CreatedAt,
		WorkflowID: opt.String(emitter),
	})
	if err != nil {
		return fmt.Errorf("events: store %s %s: %w", e.Type, e.ID, err)
	}
	if inserted == 1 {
		return nil
	}
	// The id is stored already. That is the retry of this very event — or a workflow that gave
	// two different events one id, which would lose the second silently: refuse it, loudly.
	stored, err := q.GetEventByID(ctx, e.ID)
	if err != nil {
		return fmt.Errorf("events: read stored %s: %w", e.ID, err)
	}
	if stored.Type != e.Type || stored.PartnerID != e.PartnerID || !sameOptional(stored.SessionID, e.SessionID) ||
		!sameOptional(stored.ConnectionID, e.ConnectionID) {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf(
			"events: id %s is stored for another event (%s, partner %s); refusing to store %s under it",
			e.ID, stored.Type, stored.PartnerID, e.Type), ErrIDConflict, nil)
	}
	return nil
}

// ErrIDConflict is the ApplicationError type of an event whose id belongs to another event: a
// bug in how a workflow names its events. It is not retried; an operator sees the failed activity.
const ErrIDConflict = "event_id_conflict"

func sameOptional(stored *string, v string) bool {
	if stored == nil {
		return v == ""
	}
	return *stored == v
}

func (e New) validate() error {
	switch {
	case !ids.HasPrefix(e.ID, ids.Event):
		return fmt.Errorf("events: id %q is not an event id (workflows name their events with eventID)", e.ID)
	case e.PartnerID == "":
		return errors.New("events: PartnerID is required")
	case !eventtypes.Valid(e.Type):
		return fmt.Errorf("events: %q is not an event type", e.Type)
	}
	return nil
}
