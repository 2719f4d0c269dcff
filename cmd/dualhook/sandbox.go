package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/dualhook/dualhook/app"
	"github.com/dualhook/dualhook/sandbox"
)

// sandboxCommand serves the Meta simulator alone (SPEC §14), for anyone testing an Embedded
// Signup integration without a Meta app.
func sandboxCommand() *cobra.Command {
	var addr, publicURL, webhookURL, snapshot string
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "Run the Meta sandbox (Graph API, Embedded Signup popup, app webhooks) alone",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return err
			}
			cfg := sandbox.DefaultConfig()
			cfg.PublicURL = publicURL
			if cfg.PublicURL == "" {
				cfg.PublicURL = "http://" + ln.Addr().String()
			}
			cfg.AppWebhookURL = webhookURL
			cfg.SnapshotPath = snapshot
			cfg.Logger = app.NewLogger("info")
			sb, err := sandbox.New(cfg)
			if err != nil {
				return err
			}
			defer sb.Close()
			fmt.Fprintf(cmd.OutOrStdout(), "Meta sandbox on %s%s\n  Graph API:  %s/v21.0/\n  SDK:        %s%ssdk.js\n  Demo page:  %s%sdemo\n  App id %s, app secret %s, Cloud API config_id %s, Coexistence config_id %s\n",
				cfg.PublicURL, sandbox.Prefix, sb.GraphBaseURL(), cfg.PublicURL, sandbox.Prefix, cfg.PublicURL, sandbox.Prefix,
				cfg.AppID, cfg.AppSecret, cfg.CloudAPIConfigID, cfg.CoexistenceConfigID)
			srv := &http.Server{Handler: sb.Handler(), ReadHeaderTimeout: 10 * time.Second}
			errc := make(chan error, 1)
			go func() { errc <- srv.Serve(ln) }()
			select {
			case err := <-errc:
				return err
			case <-cmd.Context().Done():
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8090", "listen address")
	cmd.Flags().StringVar(&publicURL, "public-url", "", "origin clients reach it at (default http://<addr>)")
	cmd.Flags().StringVar(&webhookURL, "app-webhook-url", "", "where emitted Meta app webhooks are POSTed")
	cmd.Flags().StringVar(&snapshot, "snapshot", "", "JSON file that keeps the simulated state across restarts")
	return cmd
}
