package activities

import (
	"context"
	"errors"

	"go.temporal.io/sdk/activity"

	"github.com/dualhook/dualhook/db/dbq"
	"github.com/dualhook/dualhook/internal/connhealth"
	"github.com/dualhook/dualhook/internal/domain"
	"github.com/dualhook/dualhook/metagraph"
)

// RefreshHealthPage refreshes the health snapshot (SPEC §7.6) of up to in.Limit active
// connections after in.AfterID, one after the other. A connection Meta refuses is counted and
// skipped (a 190 marks its token expired); only a database failure fails the page, and the
// retry starts the same page again, which is harmless.
func (a *Activities) RefreshHealthPage(ctx context.Context, in domain.HealthPage) (domain.HealthPageResult, error) {
	conns, err := a.Store.ListActiveConnectionsAfter(ctx, dbq.ListActiveConnectionsAfterParams{ID: in.AfterID, Limit: int32(in.Limit)})
	if err != nil {
		return domain.HealthPageResult{}, err
	}
	r := connhealth.Refresher{Store: a.Store, Ring: a.Ring, Graph: a.Graph, Now: a.now, OnGraphError: a.noteTokenError}
	var out domain.HealthPageResult
	for _, c := range conns {
		activity.RecordHeartbeat(ctx, c.ID)
		out.LastID = c.ID
		_, err := r.Refresh(ctx, c)
		switch {
		case err == nil:
			out.Refreshed++
		case errors.Is(err, connhealth.ErrDisconnected), errors.Is(err, connhealth.ErrTokenExpired):
			out.Failed++
		case ctx.Err() != nil:
			return out, ctx.Err()
		default:
			var graphErr *metagraph.Error
			var netErr *metagraph.NetworkError
			if !errors.As(err, &graphErr) && !errors.As(err, &netErr) {
				return out, err // PostgreSQL or the key ring: retry the page
			}
			out.Failed++
			a.Logger.Warn("health refresh failed", "connection_id", c.ID, "error", err)
		}
	}
	return out, nil
}
