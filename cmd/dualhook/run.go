package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/dualhook/dualhook/app"
	"github.com/dualhook/dualhook/internal/config"
	"github.com/dualhook/dualhook/internal/store"
)

func serveCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run the REST API, the onboarding page and the Temporal codec endpoint",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load()
			if err != nil {
				return err
			}
			if err := cfg.ValidateServe(); err != nil {
				return err
			}
			return runApp(cmd.Context(), cfg, true, false)
		},
	}
}

func workerCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "worker",
		Short: "Run the Temporal worker (workflows and activities)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load()
			if err != nil {
				return err
			}
			return runApp(cmd.Context(), cfg, false, true)
		},
	}
}

// runApp runs the API and/or the worker until the context ends.
func runApp(parent context.Context, cfg config.Config, api, worker bool) error {
	ctx := parent
	logger := app.NewLogger(cfg.LogLevel)
	a, err := app.Open(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer a.Close()
	g, ctx := errgroup.WithContext(ctx)
	if api {
		srv, err := a.APIServer(nil)
		if err != nil {
			return err
		}
		ln, err := a.Listen()
		if err != nil {
			return err
		}
		mln, err := a.ListenMetrics()
		if err != nil {
			ln.Close()
			return err
		}
		logger.Info("api listening", "addr", ln.Addr().String(), "public_url", cfg.PublicOrigin())
		g.Go(func() error { return a.Serve(ctx, srv.Handler(), ln) })
		if mln != nil {
			logger.Info("metrics listening", "addr", mln.Addr().String())
			g.Go(func() error { return a.Serve(ctx, a.MetricsHandler(), mln) })
		}
	}
	if worker {
		g.Go(func() error { return a.RunWorker(ctx) })
	}
	if err := g.Wait(); err != nil && parent.Err() == nil {
		return err
	}
	// Stopped by a signal: what was in flight failed with "canceled", which is a clean stop.
	return nil
}

func migrateCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Apply pending database migrations",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load()
			if err != nil {
				return err
			}
			if err := cfg.RequireDatabase(); err != nil {
				return err
			}
			applied, err := store.Migrate(cmd.Context(), cfg.DatabaseURL)
			if err != nil {
				return err
			}
			if len(applied) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "database is up to date")
			}
			for _, m := range applied {
				fmt.Fprintln(cmd.OutOrStdout(), "applied", m)
			}
			return nil
		},
	}
}

// healthcheckCommand probes /healthz of the local server (container images have no curl).
func healthcheckCommand() *cobra.Command {
	return &cobra.Command{
		Use:    "healthcheck",
		Short:  "Exit 0 when the API on DUALHOOK_LISTEN_ADDR answers /healthz",
		Hidden: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load()
			if err != nil {
				return err
			}
			_, port, err := net.SplitHostPort(cfg.ListenAddr)
			if err != nil {
				return err
			}
			c := &http.Client{Timeout: 3 * time.Second}
			res, err := c.Get("http://127.0.0.1:" + port + "/healthz")
			if err != nil {
				return err
			}
			defer res.Body.Close()
			if res.StatusCode != http.StatusOK {
				return fmt.Errorf("healthz answered %d", res.StatusCode)
			}
			return nil
		},
	}
}
