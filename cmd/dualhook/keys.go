package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/dualhook/dualhook/api"
	"github.com/dualhook/dualhook/db/dbq"
	"github.com/dualhook/dualhook/internal/partners"
)

func keysCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Create, list, rotate and revoke a partner's API keys"}
	var partnerID string
	cmd.PersistentFlags().StringVar(&partnerID, "partner", "", "partner id (required)")
	_ = cmd.MarkPersistentFlagRequired("partner")
	var asJSON bool
	cmd.PersistentFlags().BoolVar(&asJSON, "json", false, "print JSON")

	var name string
	create := &cobra.Command{
		Use:   "create --partner ID --name NAME",
		Short: "Create an API key (shown once)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			op, err := openOperator(cmd.Context())
			if err != nil {
				return err
			}
			defer op.close()
			key, row, err := op.service.CreateKey(cmd.Context(), partnerID, name)
			if err != nil {
				return describeErr(err)
			}
			v := viewKey(row)
			v.Key = key.Plaintext
			return printKey(cmd, asJSON, v)
		},
	}
	create.Flags().StringVar(&name, "name", "default", "key name")

	list := &cobra.Command{
		Use:   "list --partner ID",
		Short: "List API keys (never their secrets)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			op, err := openOperator(cmd.Context())
			if err != nil {
				return err
			}
			defer op.close()
			rows, err := op.store.ListAPIKeys(cmd.Context(), dbq.ListAPIKeysParams{PartnerID: partnerID, RowLimit: 1000})
			if err != nil {
				return err
			}
			views := make([]api.APIKeyResponse, 0, len(rows))
			for _, r := range rows {
				views = append(views, viewKey(r))
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), views)
			}
			tw := newTable(cmd.OutOrStdout())
			fmt.Fprintln(tw, "KEY\tNAME\tPREFIX\tCREATED\tEXPIRES\tREVOKED")
			for _, v := range views {
				fmt.Fprintf(tw, "%s\t%s\t%s…\t%s\t%s\t%s\n", v.KeyID, v.Name, v.Prefix, stamp(v.CreatedAt, time.DateTime), optStamp(v.ExpiresAt, time.DateTime), optStamp(v.RevokedAt, time.DateTime))
			}
			return tw.Flush()
		},
	}

	var grace time.Duration
	rotate := &cobra.Command{
		Use:   "rotate --partner ID KEY_ID",
		Short: "Issue a replacement key; the old one keeps working for the grace period",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if grace < 0 || grace > partners.MaxKeyGrace {
				return fmt.Errorf("--grace must be between 0 and %s", partners.MaxKeyGrace)
			}
			op, err := openOperator(cmd.Context())
			if err != nil {
				return err
			}
			defer op.close()
			key, fresh, old, err := op.service.RotateKey(cmd.Context(), partnerID, args[0], grace)
			if err != nil {
				return describeErr(err)
			}
			v := viewKey(fresh)
			v.Key = key.Plaintext
			if asJSON {
				return printJSON(cmd.OutOrStdout(), api.RotateKeyResponse{APIKeyResponse: v, RotatedKey: viewKey(old)})
			}
			return printKey(cmd, false, v)
		},
	}
	rotate.Flags().DurationVar(&grace, "grace", partners.DefaultKeyGrace, "how long the old key keeps working")

	revoke := &cobra.Command{
		Use:   "revoke --partner ID KEY_ID",
		Short: "Revoke a key at once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			op, err := openOperator(cmd.Context())
			if err != nil {
				return err
			}
			defer op.close()
			row, err := op.service.RevokeKey(cmd.Context(), partnerID, args[0])
			if err != nil {
				return describeErr(err)
			}
			return printKey(cmd, asJSON, viewKey(row))
		},
	}
	cmd.AddCommand(create, list, rotate, revoke)
	return cmd
}

func printKey(cmd *cobra.Command, asJSON bool, v api.APIKeyResponse) error {
	if asJSON {
		return printJSON(cmd.OutOrStdout(), v)
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "key id:  %s\nname:    %s\nprefix:  %s…\n", v.KeyID, v.Name, v.Prefix)
	if v.ExpiresAt != nil {
		fmt.Fprintf(out, "expires: %s\n", stamp(*v.ExpiresAt, time.RFC3339))
	}
	if v.RevokedAt != nil {
		fmt.Fprintf(out, "revoked: %s\n", stamp(*v.RevokedAt, time.RFC3339))
	}
	if v.Key != "" {
		fmt.Fprintf(out, "api key: %s\n(shown only now; store it safely)\n", v.Key)
	}
	return nil
}
