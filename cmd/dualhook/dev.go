package main

import (
	"github.com/spf13/cobra"

	"github.com/dualhook/dualhook/app/devstack"
)

func devCommand() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run everything locally: PostgreSQL, Temporal + Web UI, API, worker and the Meta sandbox",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return devstack.Run(cmd.Context(), devstack.Options{Dir: dir, Out: cmd.OutOrStdout()})
		},
	}
	cmd.Flags().StringVar(&dir, "dir", ".dev", "folder for the dev stack's state (git-ignored)")
	return cmd
}
