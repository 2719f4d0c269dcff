// Package app wires the service's parts from configuration, the same way for `dualhook serve`,
// `dualhook worker` and `dualhook dev`.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/dualhook/dualhook/activities"
	"github.com/dualhook/dualhook/api"
	"github.com/dualhook/dualhook/egress"
	"github.com/dualhook/dualhook/internal/config"
	"github.com/dualhook/dualhook/internal/keyring"
	"github.com/dualhook/dualhook/internal/metrics"
	"github.com/dualhook/dualhook/internal/store"
	"github.com/dualhook/dualhook/internal/temporalclient"
	"github.com/dualhook/dualhook/metagraph"
	"github.com/dualhook/dualhook/worker"
)

// App is one process's connections.
type App struct {
	Config   config.Config
	Logger   *slog.Logger
	Ring     *keyring.Ring
	Store    *store.Store
	Temporal client.Client
	Metrics  *metrics.Registry
	Graph    *metagraph.Client
	// Egress is the outbound-request policy the API and the activities share.
	Egress egress.Policy
}

// NewLogger makes the JSON logger of SPEC §13.
func NewLogger(level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}

// Open connects to PostgreSQL and Temporal.
func Open(ctx context.Context, cfg config.Config, logger *slog.Logger) (*App, error) {
	if err := cfg.RequireDatabase(); err != nil {
		return nil, err
	}
	ring, err := cfg.Keyring()
	if err != nil {
		return nil, err
	}
	if err := cfg.ValidateMeta(); err != nil {
		return nil, err
	}
	if err := cfg.ValidateDelivery(); err != nil {
		return nil, err
	}
	pol, err := cfg.EgressPolicy()
	if err != nil {
		return nil, err
	}
	graph, err := metagraph.New(metagraph.Config{
		BaseURL: cfg.GraphBaseURL(), Version: cfg.MetaGraphVersion, AppID: cfg.MetaAppID, AppSecret: cfg.MetaAppSecret,
	})
	if err != nil {
		return nil, fmt.Errorf("config: Meta Graph API: %w", err)
	}
	st, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	reg := metrics.New()
	tc, err := temporalclient.Dial(ctx, temporalclient.Options{
		Address: cfg.TemporalAddress, Namespace: cfg.TemporalNamespace, Ring: ring, Logger: logger,
		Metrics: metrics.NewTemporalHandler(reg.Registerer()),
	})
	if err != nil {
		st.Close()
		return nil, err
	}
	return &App{Config: cfg, Logger: logger, Ring: ring, Store: st, Temporal: tc, Metrics: reg, Graph: graph, Egress: pol}, nil
}

// Close releases the connections.
func (a *App) Close() {
	a.Temporal.Close()
	a.Store.Close()
}

// APIServer builds the HTTP server; extra handlers (the sandbox in dev) share its listener.
func (a *App) APIServer(extra map[string]http.Handler) (*api.Server, error) {
	return api.New(api.Deps{
		Config: a.Config, Store: a.Store, Ring: a.Ring, Temporal: a.Temporal, Logger: a.Logger,
		Metrics: a.Metrics, Extra: extra, Graph: a.Graph, Egress: &a.Egress,
	})
}

// Serve runs handler on the configured address until ctx ends, then shuts down gracefully:
// in-flight requests get ShutdownTimeout to finish.
func (a *App) Serve(ctx context.Context, handler http.Handler, ln net.Listener) error {
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		// The OAuth callback may wait up to 20 s for the workflow (SPEC §5).
		WriteTimeout: 60 * time.Second,
		IdleTimeout:  2 * time.Minute,
		ErrorLog:     slog.NewLogLogger(a.Logger.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), a.Config.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("api: shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Listen opens the API's listener.
func (a *App) Listen() (net.Listener, error) {
	ln, err := net.Listen("tcp", a.Config.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("api: listen on %s: %w", a.Config.ListenAddr, err)
	}
	return ln, nil
}

// MetricsOff is the DUALHOOK_METRICS_ADDR value that disables the metrics listener.
const MetricsOff = "off"

// ListenMetrics opens the operator-only metrics listener (DUALHOOK_METRICS_ADDR); nil when it is
// off. /metrics is not on the API listener: it is for Prometheus, not for the internet.
func (a *App) ListenMetrics() (net.Listener, error) {
	if a.Config.MetricsAddr == MetricsOff {
		return nil, nil
	}
	ln, err := net.Listen("tcp", a.Config.MetricsAddr)
	if err != nil {
		return nil, fmt.Errorf("metrics: listen on %s (DUALHOOK_METRICS_ADDR; \"off\" disables it): %w", a.Config.MetricsAddr, err)
	}
	return ln, nil
}

// MetricsHandler serves GET /metrics and nothing else.
func (a *App) MetricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", a.Metrics.Handler())
	return mux
}

// Activities builds the activity dependencies.
func (a *App) Activities() *activities.Activities {
	return &activities.Activities{Store: a.Store, Ring: a.Ring, Config: a.Config, Logger: a.Logger, Metrics: a.Metrics,
		Egress: a.Egress, Graph: a.Graph, Temporal: a.Temporal}
}

// RunWorker registers search attributes and schedules, then runs the worker until ctx ends.
func (a *App) RunWorker(ctx context.Context) error {
	if err := temporalclient.RegisterSearchAttributes(ctx, a.Temporal, a.Config.TemporalNamespace); err != nil {
		return err
	}
	if err := worker.EnsureSchedules(ctx, a.Temporal, a.Config); err != nil {
		return err
	}
	w := worker.New(a.Temporal, a.Config.TemporalTaskQueue, a.Activities())
	if err := w.Start(); err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	a.Logger.Info("worker started", "task_queue", a.Config.TemporalTaskQueue, "namespace", a.Config.TemporalNamespace)
	<-ctx.Done()
	w.Stop()
	return nil
}

// RedactURL drops the password from a connection string for printing.
func RedactURL(u string) string {
	if at := strings.LastIndex(u, "@"); at > 0 {
		if scheme := strings.Index(u, "://"); scheme >= 0 && scheme < at {
			userinfo := u[scheme+3 : at]
			if user, _, ok := strings.Cut(userinfo, ":"); ok {
				return u[:scheme+3] + user + ":***" + u[at:]
			}
		}
	}
	return u
}
