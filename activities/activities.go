// Package activities holds every piece of I/O the workflows need (PostgreSQL, Meta's Graph API,
// partners' webhook receivers). Activities are methods on Activities, which carries their
// dependencies; the worker registers them by method name.
package activities

import (
	"context"
	"go.temporal.io/sdk/client"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/dualhook/dualhook/egress"
	"github.com/dualhook/dualhook/internal/config"
	"github.com/dualhook/dualhook/internal/keyring"
	"github.com/dualhook/dualhook/internal/metrics"
	"github.com/dualhook/dualhook/internal/store"
	"github.com/dualhook/dualhook/metagraph"
)

// Activities carries what activities need.
type Activities struct {
	Store   *store.Store
	Ring    *keyring.Ring
	Config  config.Config
	Logger  *slog.Logger
	Metrics *metrics.Registry
	Now     func() time.Time

	// Temporal starts workflows from activities (the session reconciler).
	Temporal client.Client
	// Graph is Meta's Graph API (or the sandbox's): onboarding and connection steps.
	Graph *metagraph.Client

	// Egress is the policy every event delivery goes through (SPEC §12).
	Egress egress.Policy
	// DeliveryClient sends event deliveries; nil means one built from Egress and
	// Config.DeliveryTimeout on first use.
	DeliveryClient *http.Client
	clientOnce     sync.Once
}

func (a *Activities) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// noteTokenError marks the connection's token expired when Meta answered 190 to a call made with
// it (SPEC §7.1), and returns err unchanged. Every Graph call made with a connection's token
// passes its error through here.
func (a *Activities) noteTokenError(ctx context.Context, connectionID string, err error) error {
	if err != nil && metagraph.IsTokenInvalid(err) {
		if markErr := a.Store.MarkConnectionTokenExpired(ctx, connectionID); markErr != nil {
			a.Logger.Error("could not mark the token expired", "connection_id", connectionID, "error", markErr)
		}
	}
	return err
}
