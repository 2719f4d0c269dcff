package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/dualhook/dualhook/app"
	"github.com/dualhook/dualhook/db/dbq"
	"github.com/dualhook/dualhook/internal/config"
	"github.com/dualhook/dualhook/internal/domain"
	"github.com/dualhook/dualhook/internal/sessionworkflow"
	"github.com/dualhook/dualhook/internal/store"
)

// sessionsCommand lets operators look at and cancel onboarding sessions (SPEC §13).
func sessionsCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "sessions", Short: "Show or cancel onboarding sessions"}
	show := &cobra.Command{
		Use:   "show SESSION_ID",
		Short: "Show a session (JSON)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			op, err := openOperator(cmd.Context())
			if err != nil {
				return err
			}
			defer op.close()
			s, err := op.store.GetSession(cmd.Context(), args[0])
			if store.IsNotFound(err) {
				return fmt.Errorf("no session %s", args[0])
			}
			if err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), viewSession(s))
		},
	}
	show.Flags().Bool("json", true, "print JSON (the only format)")
	cancel := &cobra.Command{
		Use:   "cancel SESSION_ID",
		Short: "Cancel a pending or started session through its workflow (the link dies at once)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := config.Load()
			if err != nil {
				return err
			}
			a, err := app.Open(cmd.Context(), cfg, app.NewLogger("warn"))
			if err != nil {
				return err
			}
			defer a.Close()
			s, err := a.Store.GetSession(cmd.Context(), args[0])
			if store.IsNotFound(err) {
				return fmt.Errorf("no session %s", args[0])
			}
			if err != nil {
				return err
			}
			if s.Status == domain.StatusPending || s.Status == domain.StatusStarted {
				if err := cancelSessionWorkflow(cmd.Context(), a.Temporal, s, cfg.TemporalTaskQueue); err != nil {
					return err
				}
				if s, err = a.Store.GetSession(cmd.Context(), args[0]); err != nil {
					return err
				}
			}
			return printJSON(cmd.OutOrStdout(), viewSession(s))
		},
	}
	cancel.Flags().Bool("json", true, "print JSON (the only format)")
	cmd.AddCommand(show, cancel)
	return cmd
}

func cancelSessionWorkflow(ctx context.Context, c client.Client, s dbq.OnboardingSession, taskQueue string) error {
	ctx, stop := context.WithTimeout(ctx, 30*time.Second)
	defer stop()
	h, err := sessionworkflow.Starter{Temporal: c, TaskQueue: taskQueue}.Update(ctx, s,
		client.UpdateWorkflowOptions{UpdateName: domain.UpdateCancel, WaitForStage: client.WorkflowUpdateStageCompleted})
	if err != nil {
		return err
	}
	return h.Get(ctx, nil)
}
