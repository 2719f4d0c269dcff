package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/dualhook/dualhook/internal/ids"
	"github.com/dualhook/dualhook/internal/keyring"
)

func keyringCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "keyring", Short: "Encryption key ring helpers"}
	var id string
	newCmd := &cobra.Command{
		Use:   "new",
		Short: "Print a fresh key ring entry (id:base64key) for DUALHOOK_ENCRYPTION_KEYS",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if id == "" {
				id = "k" + ids.RandomString(6)
			}
			spec, err := keyring.NewKeySpec(id)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), spec)
			return nil
		},
	}
	newCmd.Flags().StringVar(&id, "id", "", "key id (default: random)")
	cmd.AddCommand(newCmd)
	return cmd
}
