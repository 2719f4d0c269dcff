package api

import (
	"context"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/dualhook/dualhook/internal/apierr"
	"github.com/dualhook/dualhook/internal/apikey"
	"github.com/dualhook/dualhook/internal/store"
)

// authenticate resolves `Authorization: Bearer dh_live_…` to its key and partner. Every failure
// (missing, malformed, unknown, expired, revoked) answers the same 401, so the answer is no
// oracle. Keys are looked up by the SHA-256 of the presented secret: an index lookup on a hash
// leaks nothing useful through timing.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		scheme, secret, ok := strings.Cut(c.Request().Header.Get(echo.HeaderAuthorization), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || !apikey.WellFormed(strings.TrimSpace(secret)) {
			return apierr.Unauthorized()
		}
		ctx := c.Request().Context()
		row, err := s.deps.Store.GetAPIKeyByHash(ctx, apikey.Hash(strings.TrimSpace(secret)))
		if store.IsNotFound(err) {
			return apierr.Unauthorized()
		}
		if err != nil {
			return err
		}
		now := s.deps.Now()
		if row.APIKey.RevokedAt != nil || (row.APIKey.ExpiresAt != nil && !now.Before(*row.APIKey.ExpiresAt)) {
			return apierr.Unauthorized()
		}
		key, partner := row.APIKey, row.Partner
		c.Set(ctxAPIKey, &key)
		c.Set(ctxPartner, &partner)
		// Advisory bookkeeping must not slow or fail the request.
		go func(id string) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = s.deps.Store.TouchAPIKey(ctx, id)
		}(key.ID)
		return next(c)
	}
}
