package api

import (
	"context"
	"strings"
	"sync"
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
		if s.lastUsed.due(key.ID, now) {
			s.touch(key.ID)
		}
		return next(c)
	}
}

// lastUsedInterval is how often one process writes a key's "last used" time at most.
const lastUsedInterval = time.Minute

// lastUsedDebounce remembers when this process last wrote each key's "last used" time, so a
// burst of authenticated requests costs one write a minute per key, not a goroutine and an
// UPDATE each. Only authenticated keys enter it; it forgets entries older than the interval
// once it holds many.
type lastUsedDebounce struct {
	mu   sync.Mutex
	last map[string]time.Time
}

func (d *lastUsedDebounce) due(keyID string, now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if t, ok := d.last[keyID]; ok && now.Sub(t) < lastUsedInterval {
		return false
	}
	if d.last == nil {
		d.last = map[string]time.Time{}
	}
	if len(d.last) >= 10000 {
		for id, t := range d.last {
			if now.Sub(t) >= lastUsedInterval {
				delete(d.last, id)
			}
		}
	}
	d.last[keyID] = now
	return true
}

// touchAPIKey writes the key's "last used" time in the background: advisory bookkeeping must
// not slow or fail the request.
func (s *Server) touchAPIKey(id string) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.deps.Store.TouchAPIKey(ctx, id)
	}()
}
