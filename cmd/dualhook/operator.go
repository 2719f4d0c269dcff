package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dualhook/dualhook/db/dbq"
	"github.com/dualhook/dualhook/internal/apierr"
	"github.com/dualhook/dualhook/internal/config"
	"github.com/dualhook/dualhook/internal/partners"
	"github.com/dualhook/dualhook/internal/store"
)

// operator opens what operator commands need: the database and the key ring (no Temporal).
type operator struct {
	cfg     config.Config
	store   *store.Store
	service *partners.Service
}

func openOperator(ctx context.Context) (*operator, error) {
	cfg, err := config.Load()
	if err != nil {
		return nil, err
	}
	if err := cfg.RequireDatabase(); err != nil {
		return nil, err
	}
	ring, err := cfg.Keyring()
	if err != nil {
		return nil, err
	}
	pol, err := cfg.EgressPolicy()
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	return &operator{cfg: cfg, store: st, service: &partners.Service{
		Store: st, Ring: ring, Egress: pol,
	}}, nil
}

func (o *operator) close() { o.store.Close() }

// printJSON writes v indented.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// describeErr turns API errors into one readable line for operators.
func describeErr(err error) error {
	if e, ok := apierr.As(err); ok {
		if e.Details != nil {
			if fields, ok := e.Details["fields"].(map[string]string); ok {
				parts := []string{}
				for f, p := range fields {
					parts = append(parts, f+" "+p)
				}
				return fmt.Errorf("%s: %s", e.Code, strings.Join(parts, "; "))
			}
		}
		return fmt.Errorf("%s: %s", e.Code, e.Message)
	}
	return err
}

type partnerView struct {
	PartnerID           string   `json:"partnerId"`
	DisplayName         string   `json:"displayName"`
	LogoURL             *string  `json:"logoUrl"`
	BrandColor          *string  `json:"brandColor"`
	AllowedRedirectURLs []string `json:"allowedRedirectUrls"`
	EventWebhookURL     *string  `json:"eventWebhookUrl"`
	EventTypes          []string `json:"eventTypes"`
	RateLimits          struct {
		ReadsPerMinute           *int32 `json:"readsPerMinute"`
		WritesPerMinute          *int32 `json:"writesPerMinute"`
		RevealsPerHour           *int32 `json:"revealsPerHour"`
		HealthRefreshesPerMinute *int32 `json:"healthRefreshesPerMinute"`
	} `json:"rateLimitOverrides"`
	CreatedAt time.Time `json:"createdAt"`
}

func viewPartner(p dbq.Partner) partnerView {
	v := partnerView{
		PartnerID: p.ID, DisplayName: p.DisplayName, LogoURL: p.LogoURL, BrandColor: p.BrandColor,
		AllowedRedirectURLs: p.AllowedRedirectURLs, EventWebhookURL: p.EventWebhookURL, EventTypes: p.EventTypes,
		CreatedAt: p.CreatedAt.UTC(),
	}
	v.RateLimits.ReadsPerMinute = p.RateLimitReadPerMinute
	v.RateLimits.WritesPerMinute = p.RateLimitWritePerMinute
	v.RateLimits.RevealsPerHour = p.RateLimitRevealPerHour
	v.RateLimits.HealthRefreshesPerMinute = p.RateLimitHealthRefreshPerMinute
	return v
}

type keyView struct {
	KeyID      string     `json:"keyId"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	CreatedAt  time.Time  `json:"createdAt"`
	ExpiresAt  *time.Time `json:"expiresAt"`
	RevokedAt  *time.Time `json:"revokedAt"`
	LastUsedAt *time.Time `json:"lastUsedAt"`
	Key        string     `json:"key,omitempty"`
}

func viewKey(k dbq.APIKey) keyView {
	return keyView{KeyID: k.ID, Name: k.Name, Prefix: k.Prefix, CreatedAt: k.CreatedAt.UTC(), ExpiresAt: k.ExpiresAt,
		RevokedAt: k.RevokedAt, LastUsedAt: k.LastUsedAt}
}

func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0) }
