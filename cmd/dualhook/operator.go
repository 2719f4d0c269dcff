package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dualhook/dualhook/api"
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

// The operator commands print the API's own objects, rendered by the API's own functions
// (api.RenderPartner, api.RenderAPIKey, api.RenderEvent, api.RenderSession), so --json output
// has exactly the shape partners get from the API. Operator commands look across partners, so
// events and sessions carry their partnerId besides.

// eventView is an event of GET /api/v1/events and its partner.
type eventView struct {
	PartnerID string `json:"partnerId"`
	api.EventResponse
}

// eventDetailView is GET /api/v1/events/{id} and the event's partner.
type eventDetailView struct {
	PartnerID string `json:"partnerId"`
	api.EventWithAttempts
}

// sessionView is GET /api/v1/onboarding/sessions/{id} and the session's partner.
type sessionView struct {
	PartnerID string `json:"partnerId"`
	api.SessionResponse
}

func viewSession(s dbq.OnboardingSession) sessionView {
	return sessionView{PartnerID: s.PartnerID, SessionResponse: api.RenderSession(s)}
}

// viewPartner renders a partner with the rate-limit defaults of this process's configuration,
// the same variables the API reads.
func (o *operator) viewPartner(p dbq.Partner) api.PartnerResponse {
	return api.RenderPartner(p, o.cfg, time.Now())
}

func viewKey(k dbq.APIKey) api.APIKeyResponse { return api.RenderAPIKey(k, time.Now()) }

// stamp shows an API timestamp (RFC 3339, UTC) in layout.
func stamp(ts, layout string) string {
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return ts
	}
	return t.Format(layout)
}

// optStamp is stamp, or "-" for none.
func optStamp(ts *string, layout string) string {
	if ts == nil {
		return "-"
	}
	return stamp(*ts, layout)
}

func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0) }
