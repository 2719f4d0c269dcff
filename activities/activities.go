// Package activities holds every piece of I/O the workflows need (PostgreSQL, Meta's Graph API,
// partners' webhook receivers). Activities are methods on Activities, which carries their
// dependencies; the worker registers them by method name.
package activities

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"

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

// heartbeatInterval is how often a running activity tells Temporal it is alive; the workflows'
// HeartbeatTimeout for such activities is a few times this.
const heartbeatInterval = time.Second

// heartbeatUntilDone heartbeats while the activity runs and returns the function that stops it:
//
//	defer heartbeatUntilDone(ctx)()
//
// Activities that wait on Meta (or on Temporal) use it, so that when their worker dies Temporal
// notices within the workflow's HeartbeatTimeout (seconds) and retries the step on another
// worker, instead of waiting out the whole StartToCloseTimeout. Outside an activity (unit tests
// calling the method directly) it does nothing.
func heartbeatUntilDone(ctx context.Context) func() {
	if !activity.IsActivity(ctx) || activity.GetInfo(ctx).HeartbeatTimeout <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(heartbeatInterval)
		defer t.Stop()
		for {
			activity.RecordHeartbeat(ctx)
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done) }
}
