package connhealth

import (
	"context"
	"errors"
	"time"

	"github.com/dualhook/dualhook/db/dbq"
	"github.com/dualhook/dualhook/internal/keyring"
	"github.com/dualhook/dualhook/internal/secretstore"
	"github.com/dualhook/dualhook/metagraph"
)

// Why a refresh did not ask Meta, or Meta refused the token.
var (
	ErrDisconnected = errors.New("connhealth: the connection is disconnected")
	ErrTokenExpired = errors.New("connhealth: Meta no longer accepts the connection's access token")
)

// Refresher reads a connection's number from Meta and stores its snapshot. The API's
// `health/refresh` and the health-refresh schedule's activity share it.
type Refresher struct {
	Store dbq.Querier
	Ring  *keyring.Ring
	Graph *metagraph.Client
	Now   func() time.Time
	// OnGraphError sees every Graph error made with the connection's token before Refresh
	// classifies it; it marks the token expired on a 190 (activities.noteTokenError, or the
	// API's equivalent).
	OnGraphError func(ctx context.Context, connectionID string, err error) error
}

// Refresh asks Meta now and stores the snapshot; it returns the updated connection.
func (r Refresher) Refresh(ctx context.Context, conn dbq.Connection) (dbq.Connection, error) {
	switch {
	case conn.Status != "active":
		return conn, ErrDisconnected
	case conn.TokenStatus == "expired" || conn.AccessTokenSecretID == nil:
		return conn, ErrTokenExpired // Meta would only answer 190 again
	}
	token, err := secretstore.Read(ctx, r.Store, r.Ring, *conn.AccessTokenSecretID)
	if errors.Is(err, secretstore.ErrErased) {
		return conn, ErrDisconnected
	}
	if err != nil {
		return conn, err
	}
	phone, err := r.Graph.PhoneNumber(ctx, token, conn.PhoneNumberID)
	if err != nil {
		if r.OnGraphError != nil {
			err = r.OnGraphError(ctx, conn.ID, err)
		}
		if metagraph.IsTokenInvalid(err) {
			return conn, errors.Join(ErrTokenExpired, err)
		}
		return conn, err
	}
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	return r.Store.SetConnectionHealth(ctx, dbq.SetConnectionHealthParams{ID: conn.ID, Health: FromPhone(phone, now()).JSON()})
}
