package api

import (
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/dualhook/dualhook/internal/ids"
)

const requestIDHeader = "X-Request-Id"

var validRequestID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// requestID echoes a valid incoming X-Request-Id, else makes one (SPEC §1).
func (s *Server) requestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get(requestIDHeader)
		if !validRequestID.MatchString(id) {
			id = "req_" + ids.RandomString(20)
		}
		c.Set(ctxRequestID, id)
		c.Response().Header().Set(requestIDHeader, id)
		return next(c)
	}
}

func requestIDOf(c echo.Context) string {
	id, _ := c.Get(ctxRequestID).(string)
	return id
}

// observe logs one JSON line per request and records its latency. It logs the route pattern,
// never the raw path or query: onboarding tokens travel in paths.
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		status := c.Response().Status
		elapsed := time.Since(start)
		method := methodLabel(c.Request().Method)
		s.deps.Metrics.HTTPDuration.WithLabelValues(route, method, strconv.Itoa(status)).Observe(elapsed.Seconds())
		if route != "/healthz" {
			s.log(c).Info("request", "method", method, "route", route, "status", status,
				"duration_ms", elapsed.Milliseconds(), "client_ip", c.RealIP())
		}
		return nil
	}
}

// methodLabel is the method as a metric label: Go accepts any token as a method, so anything but
// the standard methods is OTHER; otherwise requests without credentials could grow the metric
// series (and the logs' vocabulary) without bound.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}

// ipExtractor believes X-Forwarded-For only from configured proxies; otherwise a client could
// write any address into the secret-reveal audit.
func ipExtractor(trusted string) echo.IPExtractor {
	var opts []echo.TrustOption
	opts = append(opts, echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false))
	for _, cidr := range strings.Split(trusted, ",") {
		cidr = strings.TrimSpace(cidr)
		if cidr == "" {
			continue
		}
		if p, err := netip.ParsePrefix(cidr); err == nil {
			_, n, _ := net.ParseCIDR(p.String())
			opts = append(opts, echo.TrustIPRange(n))
		}
	}
	if len(opts) == 3 {
		return echo.ExtractIPDirect()
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}
