package activities

import (
	"context"
	"time"

	"github.com/dualhook/dualhook/db/dbq"
	"github.com/dualhook/dualhook/internal/domain"
	"github.com/dualhook/dualhook/internal/events"
	"github.com/dualhook/dualhook/internal/eventtypes"
	"github.com/dualhook/dualhook/internal/store"
)

// The coexistence heartbeat's activities (SPEC §7.6). Each writes the connection's heartbeat
// fields and its event in one transaction; the workflow holds only the timers.

func heartbeatState(c dbq.Connection, period, dueSoonBefore time.Duration) domain.HeartbeatState {
	st := domain.HeartbeatState{
		ConnectionID: c.ID, Applies: c.Status == "active" && c.HeartbeatApplies && c.HeartbeatLastConfirmedAt != nil,
		Status: c.HeartbeatStatus, Period: period, DueSoonBefore: dueSoonBefore,
	}
	if c.HeartbeatLastConfirmedAt != nil {
		st.LastConfirmedAt = c.HeartbeatLastConfirmedAt.UTC()
	}
	if c.HeartbeatNextDueAt != nil {
		st.NextDueAt = c.HeartbeatNextDueAt.UTC()
	}
	return st
}

func (a *Activities) periodsFor(period, dueSoonBefore time.Duration) (time.Duration, time.Duration) {
	cp, cd := a.heartbeatPeriods()
	if period <= 0 {
		period = cp
	}
	if dueSoonBefore <= 0 || dueSoonBefore >= period {
		dueSoonBefore = min(cd, period/2)
	}
	return period, dueSoonBefore
}

// LoadHeartbeat reads the connection's heartbeat. The deadline is the last confirmation plus the
// period in force: when a writer assumed another period (onboarding commits SPEC's 13 days; the
// worker may be configured otherwise), the stored heartbeatNextDueAt is aligned here.
func (a *Activities) LoadHeartbeat(ctx context.Context, in domain.HeartbeatLoadInput) (domain.HeartbeatState, error) {
	period, dueSoonBefore := a.periodsFor(in.Period, in.DueSoonBefore)
	conn, err := a.Store.GetConnection(ctx, in.ConnectionID)
	if store.IsNotFound(err) {
		return domain.HeartbeatState{ConnectionID: in.ConnectionID}, nil
	}
	if err != nil {
		return domain.HeartbeatState{}, err
	}
	st := heartbeatState(conn, period, dueSoonBefore)
	if !st.Applies {
		return st, nil
	}
	due := st.LastConfirmedAt.Add(period)
	aligned, err := a.Store.AlignHeartbeatDue(ctx, dbq.AlignHeartbeatDueParams{ID: conn.ID, HeartbeatLastConfirmedAt: &st.LastConfirmedAt, HeartbeatNextDueAt: &due})
	switch {
	case err == nil:
		st = heartbeatState(aligned, period, dueSoonBefore)
	case !store.IsNotFound(err): // not found: already aligned
		return domain.HeartbeatState{}, err
	}
	return st, nil
}

// TransitionHeartbeat moves the status to DUE_SOON or OVERDUE with its event, unless somebody
// confirmed since the workflow set its timer (the last confirmation changed) — then it only
// reports the current state.
func (a *Activities) TransitionHeartbeat(ctx context.Context, in domain.HeartbeatTransitionInput) (domain.HeartbeatTransition, error) {
	period, dueSoonBefore := a.heartbeatPeriods()
	var out domain.HeartbeatTransition
	err := a.Store.InTx(ctx, func(q *dbq.Queries) error {
		var err error
		if out.Emitted, err = eventStored(ctx, q, in.EventID); err != nil { // an earlier attempt committed
			return err
		}
		if !out.Emitted {
			last := in.LastConfirmedAt
			conn, err := q.SetHeartbeatStatus(ctx, dbq.SetHeartbeatStatusParams{ID: in.ConnectionID, HeartbeatLastConfirmedAt: &last, HeartbeatStatus: in.Status})
			switch {
			case err == nil:
				out.Emitted = true
				typ := eventtypes.HeartbeatDueSoon
				if in.Status == domain.HeartbeatOverdue {
					typ = eventtypes.HeartbeatOverdue
				}
				if err := events.Emit(ctx, q, heartbeatEvent(in.EventID, typ, conn)); err != nil {
					return err
				}
			case !store.IsNotFound(err):
				return err
			}
		}
		conn, err := q.GetConnection(ctx, in.ConnectionID)
		if store.IsNotFound(err) {
			out.State = domain.HeartbeatState{ConnectionID: in.ConnectionID}
			return nil
		}
		out.State = heartbeatState(conn, period, dueSoonBefore)
		return err
	})
	return out, err
}

// ConfirmHeartbeat commits a confirmation: OK, last = now, next = now + period, with
// connection.heartbeat.confirmed. A retried attempt whose first one committed answers the
// committed state without confirming twice.
func (a *Activities) ConfirmHeartbeat(ctx context.Context, in domain.HeartbeatConfirmInput) (domain.HeartbeatState, error) {
	period, dueSoonBefore := a.periodsFor(in.Period, 0)
	var out domain.HeartbeatState
	err := a.Store.InTx(ctx, func(q *dbq.Queries) error {
		if _, err := q.GetEventByID(ctx, in.EventID); err == nil {
			conn, err := q.GetConnection(ctx, in.ConnectionID)
			out = heartbeatState(conn, period, dueSoonBefore)
			return err
		} else if !store.IsNotFound(err) {
			return err
		}
		// Microseconds: what PostgreSQL keeps, so the workflow's later comparisons match.
		now := a.now().UTC().Truncate(time.Microsecond)
		next := now.Add(period)
		conn, err := q.ConfirmHeartbeat(ctx, dbq.ConfirmHeartbeatParams{ID: in.ConnectionID, HeartbeatLastConfirmedAt: &now, HeartbeatNextDueAt: &next})
		if store.IsNotFound(err) {
			return permanent(domain.ReasonHeartbeatNotApplicable, "The heartbeat applies to active coexistence connections only.")
		}
		if err != nil {
			return err
		}
		out = heartbeatState(conn, period, dueSoonBefore)
		return events.Emit(ctx, q, heartbeatEvent(in.EventID, eventtypes.HeartbeatConfirmed, conn))
	})
	return out, err
}

func heartbeatEvent(id, typ string, c dbq.Connection) events.New {
	return events.New{
		ID: id, PartnerID: c.PartnerID, Type: typ, TenantID: c.TenantID, ConnectionID: c.ID, WabaID: c.WabaID,
		Data: map[string]any{
			"connectionId": c.ID, "tenantId": c.TenantID, "heartbeatStatus": c.HeartbeatStatus,
			"heartbeatLastConfirmedAt": utcTime(c.HeartbeatLastConfirmedAt), "heartbeatNextDueAt": utcTime(c.HeartbeatNextDueAt),
		},
	}
}

// utcTime renders an optional time as SPEC §1's RFC 3339 UTC (null when absent).
func utcTime(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := t.UTC().Format(time.RFC3339Nano)
	return &s
}
