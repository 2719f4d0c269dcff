// Package metrics holds the Prometheus collectors of SPEC §13: HTTP latency by route and status,
// deliveries by outcome, sessions by outcome, and the Temporal SDK's own metrics.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Registry is one process's collectors. Each process has its own, so tests can run several.
type Registry struct {
	reg          *prometheus.Registry
	HTTPDuration *prometheus.HistogramVec
	Deliveries   *prometheus.CounterVec
	Sessions     *prometheus.CounterVec
}

// New registers the collectors.
func New() *Registry {
	r := &Registry{
		reg: prometheus.NewRegistry(),
		HTTPDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "dualhook_http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern, method and status.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 25},
		}, []string{"route", "method", "status"}),
		Deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dualhook_event_delivery_attempts_total",
			Help: "Event delivery attempts by outcome (delivered, retry, failed, skipped).",
		}, []string{"outcome"}),
		Sessions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dualhook_onboarding_sessions_total",
			Help: "Onboarding sessions that reached a terminal state, by status.",
		}, []string{"status"}),
	}
	r.reg.MustRegister(r.HTTPDuration, r.Deliveries, r.Sessions,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

// Registerer lets other packages (the Temporal SDK adapter) add collectors.
func (r *Registry) Registerer() prometheus.Registerer { return r.reg }

// Handler serves the registry in the Prometheus text format.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{})
}
