// Package api is the HTTP layer: the Echo server, its middleware (request ids, error envelope,
// authentication, rate limits, idempotency, metrics, logs) and the handlers of SPEC §2–§9.
// Handlers validate input, call the store or Temporal, and return *apierr.Error values; the
// error handler renders them (SPEC §1's envelope).
package api

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"go.temporal.io/sdk/client"

	"github.com/dualhook/dualhook/egress"
	"github.com/dualhook/dualhook/internal/config"
	"github.com/dualhook/dualhook/internal/keyring"
	"github.com/dualhook/dualhook/internal/metrics"
	"github.com/dualhook/dualhook/internal/store"
	"github.com/dualhook/dualhook/metagraph"
)

// Request body limits, per route (bodyLimit; the README lists them).
const (
	// MaxBodyBytes is SPEC §1's limit: the partner API, the onboarding callback, everything else.
	MaxBodyBytes = 64 << 10
	// MaxMetaWebhookBodyBytes is for POST /meta/webhooks: Meta batches changes into one delivery,
	// and a delivery it cannot hand over it retries until it gives up.
	MaxMetaWebhookBodyBytes = 1 << 20
	// MaxCodecBodyBytes is for the Temporal codec endpoint: the Web UI sends whole histories'
	// payloads.
	MaxCodecBodyBytes = 4 << 20
)

// Deps are what the handlers need.
type Deps struct {
	Config   config.Config
	Store    *store.Store
	Ring     *keyring.Ring
	Temporal client.Client
	Logger   *slog.Logger
	Metrics  *metrics.Registry
	// Now is the clock (tests move it); defaults to time.Now.
	Now func() time.Time
	// Extra mounts more handlers on the same listener (the Meta sandbox in dev mode).
	Extra map[string]http.Handler
	// Graph is Meta's Graph API for health refreshes; nil builds one from Config.
	Graph *metagraph.Client
	// Egress is the outbound-request policy; nil builds it from Config (Config.EgressPolicy).
	Egress *egress.Policy
}

// Server is the API and onboarding page.
type Server struct {
	echo   *echo.Echo
	deps   Deps
	egress egress.Policy

	// touch records an API key's use ("last used"); tests count the calls.
	touch    func(keyID string)
	lastUsed lastUsedDebounce

	graphOnce sync.Once
	graph     *metagraph.Client
	graphErr  error
}

// New builds the server and its routes.
func New(d Deps) (*Server, error) {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Metrics == nil {
		d.Metrics = metrics.New()
	}
	if d.Egress == nil {
		pol, err := d.Config.EgressPolicy()
		if err != nil {
			return nil, err
		}
		d.Egress = &pol
	}
	s := &Server{deps: d, egress: *d.Egress}
	s.touch = s.touchAPIKey
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.IPExtractor = ipExtractor(d.Config.TrustedProxies)

	e.Use(s.requestID)
	e.Use(s.observe)
	e.Use(s.recoverPanics)
	e.Use(bodyLimit())

	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.Any("/temporal-codec/*", s.codec)
	for prefix, h := range d.Extra {
		e.Any(prefix+"*", echo.WrapHandler(h))
	}

	e.GET("/api/v1/openapi.yaml", s.openAPI)
	// Authenticated routes carry their middleware themselves: a group with middleware would add
	// catch-all routes that turn 405 into 404.
	authed := func(method, path string, h echo.HandlerFunc) {
		e.Add(method, "/api/v1"+path, h, s.authenticate, s.rateLimit, s.checkQuery, s.requireJSON, s.idempotency)
	}
	authed(http.MethodGet, "/partner", s.getPartner)
	authed(http.MethodPatch, "/partner", s.patchPartner)
	authed(http.MethodPost, "/partner/signing-secret/rotate", s.rotateSigningSecret)
	authed(http.MethodGet, "/api-keys", s.listAPIKeys)
	authed(http.MethodPost, "/api-keys", s.createAPIKey)
	authed(http.MethodPost, "/api-keys/:id/rotate", s.rotateAPIKey)
	authed(http.MethodDelete, "/api-keys/:id", s.revokeAPIKey)
	authed(http.MethodGet, "/events", s.listEvents)
	authed(http.MethodPost, "/events/redeliver", s.redeliverEvents)
	authed(http.MethodGet, "/events/:id", s.getEvent)
	authed(http.MethodPost, "/events/:id/redeliver", s.redeliverEvent)
	authed(http.MethodPost, "/onboarding/sessions", s.createSession)
	authed(http.MethodGet, "/onboarding/sessions", s.listSessions)
	authed(http.MethodGet, "/onboarding/sessions/:id", s.getSession)
	authed(http.MethodPost, "/onboarding/sessions/:id/cancel", s.cancelSession)
	authed(http.MethodGet, "/connections", s.listConnections)
	authed(http.MethodGet, "/connections/:id", s.getConnection)
	authed(http.MethodGet, "/tenants/:tenantId", s.getTenant)
	authed(http.MethodPatch, "/connections/:id", s.patchConnection)
	authed(http.MethodPost, "/connections/:id/reveal-secrets", s.revealSecrets)
	authed(http.MethodGet, "/connections/:id/health", s.getConnectionHealth)
	authed(http.MethodPost, "/connections/:id/health/refresh", s.refreshConnectionHealth)
	authed(http.MethodPost, "/connections/:id/heartbeat/confirm", s.confirmHeartbeat)
	authed(http.MethodGet, "/audit/secret-reveals", s.listSecretReveals)
	authed(http.MethodDelete, "/connections/:id", s.disconnectConnection)

	// The onboarding page: the token in the path is the credential (SPEC §5).
	e.GET("/onboard/:token", s.onboardingPage)
	e.POST("/onboard/:token/callback", s.onboardingCallback, s.requireJSON)
	e.GET("/onboard/:token/status", s.onboardingStatus)

	// Meta's app webhooks (SPEC §11): Meta's verification GET, and signed deliveries only.
	e.GET("/meta/webhooks", s.verifyMetaWebhook)
	e.POST("/meta/webhooks", s.receiveMetaWebhook)

	s.echo = e
	return s, nil
}

const ctxBodyLimit = "dualhook.bodyLimit"

// bodyLimit applies each route's body limit (it runs after routing, so c.Path() is the route).
func bodyLimit() echo.MiddlewareFunc {
	limit := func(n int64) echo.MiddlewareFunc {
		return middleware.BodyLimitWithConfig(middleware.BodyLimitConfig{Limit: strconv.FormatInt(n, 10) + "B"})
	}
	meta, codec, others := limit(MaxMetaWebhookBodyBytes), limit(MaxCodecBodyBytes), limit(MaxBodyBytes)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		withMeta, withCodec, withOthers := meta(next), codec(next), others(next)
		return func(c echo.Context) error {
			switch route := c.Path(); {
			case route == "/meta/webhooks" && c.Request().Method == http.MethodPost:
				c.Set(ctxBodyLimit, int64(MaxMetaWebhookBodyBytes))
				return withMeta(c)
			case strings.HasPrefix(route, "/temporal-codec/"):
				c.Set(ctxBodyLimit, int64(MaxCodecBodyBytes))
				return withCodec(c)
			default:
				c.Set(ctxBodyLimit, int64(MaxBodyBytes))
				return withOthers(c)
			}
		}
	}
}

// bodyLimitOf is the body limit applied to the request (for the 413's message).
func bodyLimitOf(c echo.Context) int64 {
	if n, ok := c.Get(ctxBodyLimit).(int64); ok {
		return n
	}
	return MaxBodyBytes
}

// Handler is the http.Handler to serve.
func (s *Server) Handler() http.Handler { return s.echo }

// MetricsHandler serves the Prometheus metrics; app mounts it on the operator-only metrics
// listener (DUALHOOK_METRICS_ADDR).
func (s *Server) MetricsHandler() http.Handler { return s.deps.Metrics.Handler() }

// Routes lists method and path of every registered route (the OpenAPI drift test uses it).
func (s *Server) Routes() []*echo.Route { return s.echo.Routes() }

func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 3*time.Second)
	defer cancel()
	if err := s.deps.Store.Ping(ctx); err != nil {
		s.log(c).Warn("readiness: PostgreSQL unreachable", "error", err)
		return unavailable("PostgreSQL is not reachable.")
	}
	if s.deps.Temporal == nil {
		return unavailable("Temporal is not configured.")
	}
	if _, err := s.deps.Temporal.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		s.log(c).Warn("readiness: Temporal unreachable", "error", err)
		return unavailable("Temporal is not reachable.")
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}
