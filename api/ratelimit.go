package api

import (
	"cmp"
	"encoding/hex"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/dualhook/dualhook/db/dbq"
	"github.com/dualhook/dualhook/internal/apierr"
	"github.com/dualhook/dualhook/internal/config"
)

// Rate-limit scopes of SPEC §9.
const (
	scopeRead          = "read"
	scopeWrite         = "write"
	scopeReveal        = "reveal"
	scopeHealthRefresh = "health_refresh"
	// The onboarding page's scopes: counted per token and per client IP, not per API key.
	scopePageToken = "page_token"
	scopePageIP    = "page_ip"
)

// Default budgets of the onboarding page's endpoints (GET /onboard/{token}, its callback and its
// status poll), per minute. A real user opens the page a few times and the page polls the status
// about once a second while a decision is pending: 60 per token leaves room for that, and 300
// per IP for a few dozen users behind one NAT, while a script guessing tokens or flooding a
// callback with codes is stopped within the minute.
const (
	defaultPagePerTokenPerMinute = 60
	defaultPagePerIPPerMinute    = 300
)

// specialScopes are routes with their own budget, outside the read/write ones.
var specialScopes = map[string]string{
	"POST /api/v1/connections/:id/reveal-secrets": scopeReveal,
	"POST /api/v1/connections/:id/health/refresh": scopeHealthRefresh,
}

func scopeOf(c echo.Context) string {
	if s, ok := specialScopes[c.Request().Method+" "+c.Path()]; ok {
		return s
	}
	switch c.Request().Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return scopeRead
	}
	return scopeWrite
}

// budget is a scope's limit and window for a partner: its override, else cfg's default.
func budget(cfg config.Config, p *dbq.Partner, scope string) (int, time.Duration) {
	pick := func(override *int32, def int) int {
		if override != nil {
			return int(*override)
		}
		return def
	}
	switch scope {
	case scopeRead:
		return pick(p.RateLimitReadPerMinute, cfg.RateLimitReadPerMinute), time.Minute
	case scopeReveal:
		return pick(p.RateLimitRevealPerHour, cfg.RateLimitRevealPerHour), time.Hour
	case scopeHealthRefresh:
		return pick(p.RateLimitHealthRefreshPerMinute, cfg.RateLimitHealthRefreshPerMinute), time.Minute
	}
	return pick(p.RateLimitWritePerMinute, cfg.RateLimitWritePerMinute), time.Minute
}

// rateLimit counts the request in its key's fixed window in PostgreSQL, so every API process
// draws on one budget, and reports the budget on every authenticated response.
func (s *Server) rateLimit(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		key, partner := apiKeyOf(c), partnerOf(c)
		scope := scopeOf(c)
		limit, window := budget(s.deps.Config, partner, scope)
		now := s.deps.Now()
		start := now.Truncate(window)
		reset := start.Add(window)
		count, err := s.deps.Store.IncrementRateLimit(c.Request().Context(), dbq.IncrementRateLimitParams{
			APIKeyID: key.ID, Scope: scope, WindowStart: start,
		})
		if err != nil {
			return err
		}
		over := int(count) > limit
		what := scope + " requests"
		if scope == scopeReveal && !over {
			// The partner's keys share a reveal budget too, so minting keys does not multiply
			// reveals. Its counter lives in the same table under the partner's id (which never
			// looks like a key id); a request refused per key is not counted against it.
			plimit := partnerRevealBudget(s.deps.Config, limit)
			pcount, err := s.deps.Store.IncrementRateLimit(c.Request().Context(), dbq.IncrementRateLimitParams{
				APIKeyID: partner.ID, Scope: scope, WindowStart: start,
			})
			if err != nil {
				return err
			}
			// Report whichever budget is closer to running out.
			if plimit-int(pcount) < limit-int(count) {
				limit, count, over, what = plimit, pcount, int(pcount) > plimit, scope+" requests across all of the partner's API keys"
			}
		}
		remaining := max(limit-int(count), 0)
		h := c.Response().Header()
		h.Set("X-RateLimit-Limit", strconv.Itoa(limit))
		h.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
		h.Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
		if over {
			return rateLimited(limit, what, window, reset.Sub(now))
		}
		return next(c)
	}
}

// rateLimited is the 429 of a spent budget; what names it ("write requests", …).
func rateLimited(limit int, what string, window, untilReset time.Duration) error {
	retry := int(untilReset.Seconds() + 0.999)
	e := apierr.New(apierr.CodeRateLimited, "Rate limit of %d %s per %s exceeded; retry after %d s.",
		limit, what, windowName(window), retry)
	e.Header = http.Header{"Retry-After": {strconv.Itoa(max(retry, 1))}}
	return e
}

// throttlePage counts a request of the onboarding page's endpoints in the same PostgreSQL fixed
// windows as the API's budgets, first per client IP (so a flood of made-up tokens costs one
// counter), then per token (its SHA-256, never the token itself).
func (s *Server) throttlePage(c echo.Context) error {
	cfg := s.deps.Config
	perIP := cmp.Or(max(cfg.RateLimitPagePerIPPerMinute, 0), defaultPagePerIPPerMinute)
	perToken := cmp.Or(max(cfg.RateLimitPagePerTokenPerMinute, 0), defaultPagePerTokenPerMinute)
	now := s.deps.Now()
	start := now.Truncate(time.Minute)
	ctx := c.Request().Context()
	for _, b := range []struct {
		scope, key string
		limit      int
	}{
		{scopePageIP, "ip:" + c.RealIP(), perIP},
		{scopePageToken, "token:" + hex.EncodeToString(tokenHash(c.Param("token"))), perToken},
	} {
		count, err := s.deps.Store.IncrementRateLimit(ctx, dbq.IncrementRateLimitParams{APIKeyID: b.key, Scope: b.scope, WindowStart: start})
		if err != nil {
			return err
		}
		if int(count) > b.limit {
			s.log(c).Warn("onboarding page throttled", "scope", b.scope, "limit", b.limit)
			return rateLimited(b.limit, b.scope+" requests", time.Minute, start.Add(time.Minute).Sub(now))
		}
	}
	return nil
}

// partnerRevealBudget is the hourly reveal budget all of a partner's keys share: the configured
// one, or the partner's per-key budget when that is higher (an operator who raised a partner's
// reveal budget meant it to be usable). Unset (0) configuration shares the per-key budget.
func partnerRevealBudget(cfg config.Config, perKey int) int {
	return max(cfg.RateLimitPartnerRevealPerHour, perKey)
}

func windowName(d time.Duration) string {
	if d == time.Hour {
		return "hour"
	}
	return "minute"
}
