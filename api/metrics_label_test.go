package api_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dualhook/dualhook/api"
	"github.com/dualhook/dualhook/testkit/apitest"
)

func scrapeMetrics(t *testing.T, s *api.Server) string {
	t.Helper()
	rec := httptest.NewRecorder()
	s.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Equal(t, 200, rec.Code)
	return rec.Body.String()
}

// Go accepts any token as a method: unknown ones share one label, so requests without
// credentials cannot grow the metric series without bound.
func TestMetricsMethodLabelIsBounded(t *testing.T) {
	env := apitest.New(t, false)
	for i := range 20 {
		for _, path := range []string{"/api/v1/partner", "/no-such-route", "/healthz"} {
			req, err := http.NewRequest(fmt.Sprintf("XMETHOD%d", i), env.HTTP.URL+path, nil)
			require.NoError(t, err)
			res, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			res.Body.Close()
		}
	}
	body := scrapeMetrics(t, env.Server)
	assert.False(t, strings.Contains(body, "XMETHOD"), "an unknown method is a label of its own")
	assert.Contains(t, body, `dualhook_http_request_duration_seconds_count{method="OTHER",route="/api/v1/partner",status="405"} 20`)
}

// /metrics is served on the operator-only metrics listener (DUALHOOK_METRICS_ADDR), not on the
// public API listener.
func TestMetricsAreNotOnTheAPIListener(t *testing.T) {
	env := apitest.New(t, false)
	res := env.Do(apitest.Request{Method: "GET", Path: "/metrics", NoCheck: true})
	assert.Equal(t, 404, res.Status)
}
