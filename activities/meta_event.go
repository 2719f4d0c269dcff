package activities

import (
	"context"
	"encoding/json"

	"github.com/dualhook/dualhook/db/dbq"
	"github.com/dualhook/dualhook/internal/connhealth"
	"github.com/dualhook/dualhook/internal/domain"
	"github.com/dualhook/dualhook/internal/events"
	"github.com/dualhook/dualhook/internal/metawebhook"
	"github.com/dualhook/dualhook/internal/opt"
)

// The Meta event workflow's activities (SPEC §11).

// ListWabaConnections lists the WABA's active connections, across partners (the install has one
// Meta app, so a WABA-level webhook concerns every partner on it).
func (a *Activities) ListWabaConnections(ctx context.Context, wabaID string) ([]domain.WabaConnection, error) {
	rows, err := a.Store.ListActiveWabaConnections(ctx, wabaID)
	if err != nil {
		return nil, err
	}
	out := make([]domain.WabaConnection, 0, len(rows))
	for _, c := range rows {
		out = append(out, domain.WabaConnection{ConnectionID: c.ID, PartnerID: c.PartnerID, TenantID: c.TenantID, WabaID: c.WabaID})
	}
	return out, nil
}

// SetCoexistenceStatus records ACCOUNT_OFFBOARDED / ACCOUNT_RECONNECTED on the WABA's
// coexistence connections and returns how many changed.
func (a *Activities) SetCoexistenceStatus(ctx context.Context, in domain.CoexistenceInput) (int, error) {
	ids, err := a.Store.SetWabaCoexistenceStatus(ctx, dbq.SetWabaCoexistenceStatusParams{
		CoexistenceStatus: in.Status, WabaID: in.WabaID, PhoneDigits: opt.String(in.PhoneDigits),
	})
	return len(ids), err
}

// Quality events of phone_number_quality_update that say something about the quality rating
// (meta.md §7.3; legacy values still seen). The current ONBOARDING/THROUGHPUT_UPGRADE events are
// about the messaging limit only.
const (
	qualityFlagged   = "FLAGGED"
	qualityUnflagged = "UNFLAGGED"
)

// ApplyQualityUpdate merges a quality webhook into the health snapshot of the number's active
// connection(s) on the WABA and returns how many changed. A snapshot checked after the webhook
// was produced is newer information and stays: Meta's deliveries arrive out of order.
func (a *Activities) ApplyQualityUpdate(ctx context.Context, in domain.QualityInput) (int, error) {
	if in.PhoneDigits == "" {
		return 0, nil
	}
	at := in.At
	if at.IsZero() {
		at = a.now().UTC()
	}
	changed := 0
	err := a.Store.InTx(ctx, func(q *dbq.Queries) error {
		changed = 0
		rows, err := q.ListActiveWabaConnectionsForHealth(ctx, in.WabaID)
		if err != nil {
			return err
		}
		for _, c := range rows {
			if c.DisplayPhoneNumber == nil || metawebhook.Digits(*c.DisplayPhoneNumber) != in.PhoneDigits {
				continue
			}
			snap := connhealth.Snapshot{HealthStatus: "UNKNOWN", QualityRating: "UNKNOWN"}
			if len(c.Health) > 0 && string(c.Health) != "null" {
				if err := json.Unmarshal(c.Health, &snap); err != nil {
					a.Logger.Warn("unreadable health snapshot replaced", "connection_id", c.ID)
				}
			}
			if snap.CheckedAt.After(at) {
				continue // stale
			}
			if in.Limit != "" {
				snap.MessagingTier = in.Limit
			}
			switch in.Event {
			case qualityFlagged:
				snap.QualityRating = "RED" // Meta flags a number when its quality turns low
			case qualityUnflagged:
				if snap.QualityRating == "RED" {
					snap.QualityRating = "UNKNOWN" // no longer low, but Meta does not say what it is
				}
			}
			snap.CheckedAt = at
			if _, err := q.SetConnectionHealth(ctx, dbq.SetConnectionHealthParams{ID: c.ID, Health: snap.JSON()}); err != nil {
				return err
			}
			changed++
		}
		return nil
	})
	return changed, err
}

// EmitWabaEvents stores one waba.<field> event per partner, in one transaction, with the ids
// the workflow made (a retry stores nothing twice).
func (a *Activities) EmitWabaEvents(ctx context.Context, in domain.WabaEventInput) error {
	return a.Store.InTx(ctx, func(q *dbq.Queries) error {
		for _, t := range in.Targets {
			e := events.New{
				ID: t.EventID, PartnerID: t.PartnerID, Type: "waba." + in.Field, WabaID: in.WabaID,
				Data: map[string]any{"wabaId": in.WabaID, "connectionIds": t.ConnectionIDs, "field": in.Field, "value": in.Value},
			}
			// Filters (GET /api/v1/events?tenantId=) work when the event concerns one tenant.
			if len(t.TenantIDs) == 1 {
				e.TenantID = t.TenantIDs[0]
			}
			if len(t.ConnectionIDs) == 1 {
				e.ConnectionID = t.ConnectionIDs[0]
			}
			if err := events.Emit(ctx, q, e); err != nil {
				return err
			}
		}
		return nil
	})
}
