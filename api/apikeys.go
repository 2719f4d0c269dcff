package api

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/dualhook/dualhook/db/dbq"
	"github.com/dualhook/dualhook/internal/apierr"
	"github.com/dualhook/dualhook/internal/ids"
	"github.com/dualhook/dualhook/internal/partners"
)

// APIKeyResponse is SPEC §2's API key object (the CLI prints it too).
type APIKeyResponse struct {
	KeyID      string  `json:"keyId"`
	Name       string  `json:"name"`
	Prefix     string  `json:"prefix"`
	Status     string  `json:"status"`
	CreatedAt  string  `json:"createdAt"`
	ExpiresAt  *string `json:"expiresAt"`
	RevokedAt  *string `json:"revokedAt"`
	LastUsedAt *string `json:"lastUsedAt"`
	ReplacedBy *string `json:"replacedBy"`
	// Key is the secret, present only in the response that created it.
	Key string `json:"key,omitempty"`
}

func (s *Server) renderKey(k dbq.APIKey) APIKeyResponse { return RenderAPIKey(k, s.deps.Now()) }

// RenderAPIKey is the key object of a row (never its secret); now decides whether it expired.
func RenderAPIKey(k dbq.APIKey, now time.Time) APIKeyResponse {
	status := "active"
	switch {
	case k.RevokedAt != nil:
		status = "revoked"
	case k.ExpiresAt != nil && !now.Before(*k.ExpiresAt):
		status = "expired"
	}
	return APIKeyResponse{
		KeyID: k.ID, Name: k.Name, Prefix: k.Prefix, Status: status, CreatedAt: timestamp(k.CreatedAt),
		ExpiresAt: optTimestamp(k.ExpiresAt), RevokedAt: optTimestamp(k.RevokedAt), LastUsedAt: optTimestamp(k.LastUsedAt),
		ReplacedBy: k.ReplacedBy,
	}
}

func (s *Server) listAPIKeys(c echo.Context) error {
	p, err := parsePage(c)
	if err != nil {
		return err
	}
	rows, err := s.deps.Store.ListAPIKeys(c.Request().Context(), dbq.ListAPIKeysParams{
		PartnerID: partnerOf(c).ID, BeforeCreatedAt: p.before, BeforeID: p.lastID, RowLimit: int32(p.limit + 1),
	})
	if err != nil {
		return err
	}
	return respondPage(c, p, rows, func(k dbq.APIKey) (time.Time, string) { return k.CreatedAt, k.ID }, s.renderKey)
}

type createKeyRequest struct {
	Name string `json:"name"`
}

func (s *Server) createAPIKey(c echo.Context) error {
	var req createKeyRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	bad := problems{}
	bad.checkText("name", req.Name, 1, 100)
	if err := bad.err(); err != nil {
		return err
	}
	if err := refuseRotatedOutKey(c); err != nil {
		return err
	}
	key, row, err := s.partnerService().CreateKey(c.Request().Context(), partnerOf(c).ID, req.Name)
	if err != nil {
		return err
	}
	out := s.renderKey(row)
	out.Key = key.Plaintext
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusCreated, out)
}

type rotateKeyRequest struct {
	GracePeriodSeconds *int64 `json:"gracePeriodSeconds"`
}

// RotateKeyResponse is POST /api/v1/api-keys/{id}/rotate's answer: the new key (with its
// secret) and the rotated one.
type RotateKeyResponse struct {
	APIKeyResponse
	RotatedKey APIKeyResponse `json:"rotatedKey"`
}

func (s *Server) rotateAPIKey(c echo.Context) error {
	id := c.Param("id")
	if !ids.HasPrefix(id, ids.APIKey) {
		return apierr.NotFound("API key")
	}
	var req rotateKeyRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	grace := partners.DefaultKeyGrace
	if req.GracePeriodSeconds != nil {
		// Bounded before it is multiplied: 9223372037 s would overflow to a negative duration.
		secs := *req.GracePeriodSeconds
		if secs < 0 || secs > int64(partners.MaxKeyGrace/time.Second) {
			return apierr.InvalidFields(map[string]string{"gracePeriodSeconds": "must be an integer from 0 to 604800"})
		}
		grace = time.Duration(secs) * time.Second
	}
	if err := refuseRotatedOutKey(c); err != nil {
		return err
	}
	key, fresh, old, err := s.partnerService().RotateKey(c.Request().Context(), partnerOf(c).ID, id, grace)
	if err != nil {
		return err
	}
	out := RotateKeyResponse{APIKeyResponse: s.renderKey(fresh), RotatedKey: s.renderKey(old)}
	out.Key = key.Plaintext
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusCreated, out)
}

// refuseRotatedOutKey is the 403 for a key that is being rotated out (or otherwise set to
// expire): it keeps working for its grace window, but it may not mint keys that outlive it.
func refuseRotatedOutKey(c echo.Context) error {
	if k := apiKeyOf(c); k.ReplacedBy != nil || k.ExpiresAt != nil {
		return apierr.New(apierr.CodeForbidden,
			"This API key is being rotated out and cannot create or rotate API keys; use the key that replaced it.")
	}
	return nil
}

func (s *Server) revokeAPIKey(c echo.Context) error {
	id := c.Param("id")
	if !ids.HasPrefix(id, ids.APIKey) {
		return apierr.NotFound("API key")
	}
	if id == apiKeyOf(c).ID {
		return apierr.New(apierr.CodeForbidden, "An API key cannot revoke itself; use another key, or rotate this one.")
	}
	row, err := s.partnerService().RevokeKey(c.Request().Context(), partnerOf(c).ID, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.renderKey(row))
}
