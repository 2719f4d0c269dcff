package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/dualhook/dualhook/api"
	"github.com/dualhook/dualhook/db/dbq"
	"github.com/dualhook/dualhook/internal/opt"
	"github.com/dualhook/dualhook/internal/partners"
	"github.com/dualhook/dualhook/internal/store"
)

func partnersCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "partners", Short: "Create and manage partners (the SaaS companies using this install)"}
	cmd.AddCommand(partnersCreate(), partnersList(), partnersShow(), partnersUpdate())
	return cmd
}

// settingsFlags are the settings flags shared by create and update.
type settingsFlags struct {
	name, logoURL, brandColor, eventWebhookURL string
	redirects, eventTypes                      []string
}

func (f *settingsFlags) bind(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.name, "name", "", "display name shown on the onboarding page (1–80 characters)")
	cmd.Flags().StringVar(&f.logoURL, "logo-url", "", "https URL of the logo shown on the onboarding page")
	cmd.Flags().StringVar(&f.brandColor, "brand-color", "", "brand colour #rrggbb")
	cmd.Flags().StringVar(&f.eventWebhookURL, "event-webhook-url", "", "URL that receives signed event webhooks")
	cmd.Flags().StringArrayVar(&f.redirects, "allowed-redirect-url", nil, "allowed redirect URL prefix (repeatable)")
	cmd.Flags().StringArrayVar(&f.eventTypes, "event-type", nil, "event type to send (repeatable; default the eight hosted types)")
}

// apply copies the flags that were given onto s ("" clears an optional URL on update).
func (f *settingsFlags) apply(cmd *cobra.Command, s *partners.Settings) {
	changed := cmd.Flags().Changed
	optional := func(flag, v string, dst **string) {
		if changed(flag) {
			*dst = opt.String(v)
		}
	}
	if changed("name") {
		s.DisplayName = f.name
	}
	optional("logo-url", f.logoURL, &s.LogoURL)
	optional("event-webhook-url", f.eventWebhookURL, &s.EventWebhookURL)
	if changed("brand-color") {
		s.BrandColor = opt.String(strings.ToLower(f.brandColor))
	}
	if changed("allowed-redirect-url") {
		s.AllowedRedirectURLs = f.redirects
	}
	if changed("event-type") {
		s.EventTypes = f.eventTypes
	}
}

func partnersCreate() *cobra.Command {
	var f settingsFlags
	var keyName string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "create --name NAME [flags]",
		Short: "Create a partner; prints its id, first API key and signing secret (shown once)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.name == "" {
				return fmt.Errorf("--name is required")
			}
			op, err := openOperator(cmd.Context())
			if err != nil {
				return err
			}
			defer op.close()
			s := partners.Settings{AllowedRedirectURLs: []string{}}
			f.apply(cmd, &s)
			created, err := op.service.Create(cmd.Context(), s, keyName)
			if err != nil {
				return describeErr(err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return printJSON(out, map[string]any{
					"partner": op.viewPartner(created.Partner), "apiKey": created.KeyPlaintext, "keyId": created.Key.ID,
					"signingSecret": created.SigningSecret,
				})
			}
			fmt.Fprintf(out, "partner:        %s (%s)\napi key:        %s\nsigning secret: %s\n", created.Partner.ID,
				created.Partner.DisplayName, created.KeyPlaintext, created.SigningSecret)
			fmt.Fprintln(out, "The API key and signing secret are shown only now; store them safely.")
			return nil
		},
	}
	f.bind(cmd)
	cmd.Flags().StringVar(&keyName, "key-name", "default", "name of the first API key")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func partnersList() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List partners",
		RunE: func(cmd *cobra.Command, _ []string) error {
			op, err := openOperator(cmd.Context())
			if err != nil {
				return err
			}
			defer op.close()
			rows, err := op.store.ListPartners(cmd.Context())
			if err != nil {
				return err
			}
			views := make([]api.PartnerResponse, 0, len(rows))
			for _, p := range rows {
				views = append(views, op.viewPartner(p))
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), views)
			}
			tw := newTable(cmd.OutOrStdout())
			fmt.Fprintln(tw, "PARTNER\tNAME\tEVENT WEBHOOK\tCREATED")
			for _, v := range views {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", v.PartnerID, v.DisplayName, opt.Or(v.EventWebhookURL, "-"), stamp(v.CreatedAt, "2006-01-02 15:04"))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func partnersShow() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "show PARTNER_ID",
		Short: "Show one partner (always JSON)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			op, err := openOperator(cmd.Context())
			if err != nil {
				return err
			}
			defer op.close()
			p, err := op.store.GetPartner(cmd.Context(), args[0])
			if store.IsNotFound(err) {
				return fmt.Errorf("no partner %s", args[0])
			}
			if err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), op.viewPartner(p))
		},
	}
	cmd.Flags().Bool("json", true, "print JSON (the only format)")
	return cmd
}

func partnersUpdate() *cobra.Command {
	var f settingsFlags
	var readPM, writePM, revealPH, healthPM int32
	cmd := &cobra.Command{
		Use:   "update PARTNER_ID [flags]",
		Short: "Change a partner's settings or rate limits (0 resets a limit to the install default)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			op, err := openOperator(cmd.Context())
			if err != nil {
				return err
			}
			defer op.close()
			ctx := cmd.Context()
			p, err := op.store.GetPartner(ctx, args[0])
			if store.IsNotFound(err) {
				return fmt.Errorf("no partner %s", args[0])
			}
			if err != nil {
				return err
			}
			s := partners.SettingsOf(p)
			f.apply(cmd, &s)
			if p, err = op.service.Update(ctx, p.ID, s); err != nil {
				return describeErr(err)
			}
			limit := func(flag string, v int32, cur *int32) (*int32, error) {
				if !cmd.Flags().Changed(flag) {
					return cur, nil
				}
				if v < 0 {
					return nil, fmt.Errorf("--%s must be 0 (default) or positive", flag)
				}
				if v == 0 {
					return nil, nil
				}
				return &v, nil
			}
			params := dbq.UpdatePartnerRateLimitsParams{ID: p.ID}
			if params.RateLimitReadPerMinute, err = limit("rate-limit-reads-per-minute", readPM, p.RateLimitReadPerMinute); err != nil {
				return err
			}
			if params.RateLimitWritePerMinute, err = limit("rate-limit-writes-per-minute", writePM, p.RateLimitWritePerMinute); err != nil {
				return err
			}
			if params.RateLimitRevealPerHour, err = limit("rate-limit-reveals-per-hour", revealPH, p.RateLimitRevealPerHour); err != nil {
				return err
			}
			if params.RateLimitHealthRefreshPerMinute, err = limit("rate-limit-health-refreshes-per-minute", healthPM, p.RateLimitHealthRefreshPerMinute); err != nil {
				return err
			}
			if p, err = op.store.UpdatePartnerRateLimits(ctx, params); err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), op.viewPartner(p))
		},
	}
	f.bind(cmd)
	cmd.Flags().Int32Var(&readPM, "rate-limit-reads-per-minute", 0, "reads (GET) per minute per key")
	cmd.Flags().Int32Var(&writePM, "rate-limit-writes-per-minute", 0, "writes (POST/PATCH/DELETE) per minute per key")
	cmd.Flags().Int32Var(&revealPH, "rate-limit-reveals-per-hour", 0, "secret reveals per hour per key")
	cmd.Flags().Int32Var(&healthPM, "rate-limit-health-refreshes-per-minute", 0, "health refreshes per minute per key")
	cmd.Flags().Bool("json", true, "print JSON (the only format)")
	return cmd
}
