// Command dualhook is the one binary of the service (SPEC §13): serve, worker, dev, sandbox,
// migrate, and the operator commands.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := rootCommand().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "dualhook:", err)
		os.Exit(1)
	}
}

func rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "dualhook",
		Short:         "Self-hosted WhatsApp Business onboarding platform",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(serveCommand(), workerCommand(), devCommand(), migrateCommand(), partnersCommand(),
		keysCommand(), keyringCommand(), toolsCommand(), sandboxCommand(), healthcheckCommand(), sessionsCommand())
	root.AddCommand(eventsCommand())
	return root
}
