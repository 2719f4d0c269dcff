package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/dualhook/dualhook/app/devstack"
	"github.com/dualhook/dualhook/internal/tools"
)

// toolsCommand serves the Makefile and the test harness; hidden from users' help.
func toolsCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "tools", Short: "Build helpers for the Makefile and tests", Hidden: true}
	cmd.AddCommand(&cobra.Command{
		Use:   "temporal-cli",
		Short: "Print the pinned Temporal CLI's path, building it once if missing",
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := tools.EnsureTemporalCLI(cmd.Context(), os.Stderr)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), path)
			return nil
		},
	})
	var addrFile, logFile string
	server := &cobra.Command{
		Use:   "temporal-test-server --address-file F",
		Short: "Run a headless, in-memory Temporal dev server on a free port until interrupted",
		RunE: func(cmd *cobra.Command, _ []string) error {
			port, err := devstack.FreePort()
			if err != nil {
				return err
			}
			quiet := func(string, ...any) {}
			srv, err := devstack.StartTemporal(cmd.Context(), devstack.TemporalOptions{Port: port, LogFile: logFile, LogLevel: "error"}, quiet)
			if err != nil {
				return err
			}
			defer srv.Stop()
			tmp := addrFile + ".tmp"
			if err := os.WriteFile(tmp, []byte(srv.Address), 0o600); err != nil {
				return err
			}
			if err := os.Rename(tmp, addrFile); err != nil {
				return err
			}
			<-cmd.Context().Done()
			return nil
		},
	}
	server.Flags().StringVar(&addrFile, "address-file", "", "file that receives host:port once the server answers")
	server.Flags().StringVar(&logFile, "log-file", filepath.Join(os.TempDir(), "dualhook-temporal-test.log"), "server log")
	_ = server.MarkFlagRequired("address-file")
	cmd.AddCommand(server)
	return cmd
}
