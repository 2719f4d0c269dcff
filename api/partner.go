package api

import (
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/dualhook/dualhook/db/dbq"
	"github.com/dualhook/dualhook/internal/config"
	"github.com/dualhook/dualhook/internal/partners"
)

// PartnerResponse is SPEC §3's partner object, GET /api/v1/partner (the CLI prints it too).
type PartnerResponse struct {
	PartnerID                      string     `json:"partnerId"`
	DisplayName                    string     `json:"displayName"`
	LogoURL                        *string    `json:"logoUrl"`
	BrandColor                     *string    `json:"brandColor"`
	AllowedRedirectURLs            []string   `json:"allowedRedirectUrls"`
	EventWebhookURL                *string    `json:"eventWebhookUrl"`
	EventTypes                     []string   `json:"eventTypes"`
	RateLimits                     RateLimits `json:"rateLimits"`
	SigningSecretRotatedAt         *string    `json:"signingSecretRotatedAt"`
	PreviousSigningSecretExpiresAt *string    `json:"previousSigningSecretExpiresAt"`
	CreatedAt                      string     `json:"createdAt"`
	UpdatedAt                      string     `json:"updatedAt"`
}

// RateLimits are the budgets in force for each of the partner's keys: its overrides, else the
// install's defaults.
type RateLimits struct {
	ReadsPerMinute         int `json:"readsPerMinute"`
	WritesPerMinute        int `json:"writesPerMinute"`
	RevealsPerHour         int `json:"revealsPerHour"`
	HealthRefreshPerMinute int `json:"healthRefreshesPerMinute"`
}

func (s *Server) renderPartner(p dbq.Partner) PartnerResponse {
	return RenderPartner(p, s.deps.Config, s.deps.Now())
}

// RenderPartner is the partner object of a row: cfg gives the default rate limits, now decides
// whether the previous signing secret still works.
func RenderPartner(p dbq.Partner, cfg config.Config, now time.Time) PartnerResponse {
	read, _ := budget(cfg, &p, scopeRead)
	write, _ := budget(cfg, &p, scopeWrite)
	reveal, _ := budget(cfg, &p, scopeReveal)
	health, _ := budget(cfg, &p, scopeHealthRefresh)
	var prevExpires *string
	if p.PreviousSigningSecretExpiresAt != nil && now.Before(*p.PreviousSigningSecretExpiresAt) {
		prevExpires = optTimestamp(p.PreviousSigningSecretExpiresAt)
	}
	return PartnerResponse{
		PartnerID: p.ID, DisplayName: p.DisplayName, LogoURL: p.LogoURL, BrandColor: p.BrandColor,
		AllowedRedirectURLs: p.AllowedRedirectURLs, EventWebhookURL: p.EventWebhookURL, EventTypes: p.EventTypes,
		RateLimits:                     RateLimits{read, write, reveal, health},
		SigningSecretRotatedAt:         optTimestamp(p.SigningSecretRotatedAt),
		PreviousSigningSecretExpiresAt: prevExpires,
		CreatedAt:                      timestamp(p.CreatedAt), UpdatedAt: timestamp(p.UpdatedAt),
	}
}

func (s *Server) partnerService() *partners.Service {
	return &partners.Service{Store: s.deps.Store, Ring: s.deps.Ring, Egress: s.egress, Now: s.deps.Now, MaxKeys: s.deps.Config.MaxAPIKeysPerPartner}
}

func (s *Server) getPartner(c echo.Context) error {
	return c.JSON(http.StatusOK, s.renderPartner(*partnerOf(c)))
}

type patchPartnerRequest struct {
	DisplayName         Optional[string]   `json:"displayName"`
	LogoURL             Optional[string]   `json:"logoUrl"`
	BrandColor          Optional[string]   `json:"brandColor"`
	AllowedRedirectURLs Optional[[]string] `json:"allowedRedirectUrls"`
	EventWebhookURL     Optional[string]   `json:"eventWebhookUrl"`
	EventTypes          Optional[[]string] `json:"eventTypes"`
}

// patchPartner applies the fields present; null clears the nullable ones (SPEC §3).
func (s *Server) patchPartner(c echo.Context) error {
	var req patchPartnerRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	bad := problems{}
	settings := partners.SettingsOf(*partnerOf(c))
	if req.DisplayName.Set {
		if req.DisplayName.Null {
			bad.add("displayName", "must not be null")
		}
		settings.DisplayName = req.DisplayName.Value
	}
	setNullable(&settings.LogoURL, req.LogoURL)
	setNullable(&settings.EventWebhookURL, req.EventWebhookURL)
	if req.BrandColor.Set {
		if req.BrandColor.Null {
			settings.BrandColor = nil
		} else {
			lower := strings.ToLower(req.BrandColor.Value)
			settings.BrandColor = &lower
		}
	}
	if req.AllowedRedirectURLs.Set {
		if req.AllowedRedirectURLs.Null {
			bad.add("allowedRedirectUrls", "must be an array (use [] for none)")
		}
		settings.AllowedRedirectURLs = nonNil(req.AllowedRedirectURLs.Value)
	}
	if req.EventTypes.Set {
		if req.EventTypes.Null {
			bad.add("eventTypes", "must be an array (use [] for none)")
		}
		settings.EventTypes = nonNil(req.EventTypes.Value)
	}
	if err := bad.err(); err != nil {
		return err
	}
	p, err := s.partnerService().Update(c.Request().Context(), partnerOf(c).ID, settings)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.renderPartner(p))
}

func setNullable(dst **string, o Optional[string]) {
	if !o.Set {
		return
	}
	if o.Null {
		*dst = nil
		return
	}
	v := o.Value
	*dst = &v
}

func nonNil(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

type signingSecretResponse struct {
	SigningSecret                  string  `json:"signingSecret"`
	PreviousSigningSecretExpiresAt *string `json:"previousSigningSecretExpiresAt"`
}

func (s *Server) rotateSigningSecret(c echo.Context) error {
	p, secret, err := s.partnerService().RotateSigningSecret(c.Request().Context(), partnerOf(c).ID)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, signingSecretResponse{SigningSecret: secret, PreviousSigningSecretExpiresAt: optTimestamp(p.PreviousSigningSecretExpiresAt)})
}
