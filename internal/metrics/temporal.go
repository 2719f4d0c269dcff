package metrics

import (
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
)

// temporalLabels is the fixed label set of every Temporal SDK metric. Prometheus needs one label
// set per metric name, while the SDK attaches varying tags; tags outside this set are dropped and
// missing ones are empty.
var temporalLabels = []string{
	"namespace", "task_queue", "workflow_type", "activity_type", "operation", "worker_type",
	"poller_type", "nexus_service", "nexus_operation",
}

type temporalVecs struct {
	reg      prometheus.Registerer
	mu       sync.Mutex
	counters map[string]*prometheus.CounterVec
	gauges   map[string]*prometheus.GaugeVec
	timers   map[string]*prometheus.HistogramVec
}

// temporalHandler adapts the SDK's metrics to Prometheus (SPEC §13 "Temporal SDK metrics").
type temporalHandler struct {
	vecs *temporalVecs
	tags map[string]string
}

// NewTemporalHandler returns a client.MetricsHandler that registers SDK metrics on reg.
func NewTemporalHandler(reg prometheus.Registerer) client.MetricsHandler {
	return &temporalHandler{vecs: &temporalVecs{
		reg: reg, counters: map[string]*prometheus.CounterVec{},
		gauges: map[string]*prometheus.GaugeVec{}, timers: map[string]*prometheus.HistogramVec{},
	}}
}

func (h *temporalHandler) WithTags(tags map[string]string) client.MetricsHandler {
	merged := make(map[string]string, len(h.tags)+len(tags))
	for k, v := range h.tags {
		merged[k] = v
	}
	for k, v := range tags {
		merged[k] = v
	}
	return &temporalHandler{vecs: h.vecs, tags: merged}
}

func (h *temporalHandler) labels() prometheus.Labels {
	l := make(prometheus.Labels, len(temporalLabels))
	for _, k := range temporalLabels {
		l[k] = h.tags[k]
	}
	return l
}

func metricName(name string) string {
	return strings.NewReplacer(".", "_", "-", "_").Replace(name)
}

func (h *temporalHandler) Counter(name string) client.MetricsCounter {
	v := h.vecs
	v.mu.Lock()
	defer v.mu.Unlock()
	vec, ok := v.counters[name]
	if !ok {
		vec = prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricName(name), Help: "Temporal SDK counter " + name}, temporalLabels)
		vec = registerOrExisting(v.reg, vec)
		v.counters[name] = vec
	}
	return counter{vec.With(h.labels())}
}

func (h *temporalHandler) Gauge(name string) client.MetricsGauge {
	v := h.vecs
	v.mu.Lock()
	defer v.mu.Unlock()
	vec, ok := v.gauges[name]
	if !ok {
		vec = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: metricName(name), Help: "Temporal SDK gauge " + name}, temporalLabels)
		vec = registerOrExisting(v.reg, vec)
		v.gauges[name] = vec
	}
	return gauge{vec.With(h.labels())}
}

func (h *temporalHandler) Timer(name string) client.MetricsTimer {
	v := h.vecs
	v.mu.Lock()
	defer v.mu.Unlock()
	vec, ok := v.timers[name]
	if !ok {
		vec = prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: metricName(name) + "_seconds", Help: "Temporal SDK timer " + name,
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}, temporalLabels)
		vec = registerOrExisting(v.reg, vec)
		v.timers[name] = vec
	}
	return timer{vec.With(h.labels())}
}

func registerOrExisting[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
	}
	return c
}

type counter struct{ c prometheus.Counter }

func (c counter) Inc(d int64) {
	if d > 0 {
		c.c.Add(float64(d))
	}
}

type gauge struct{ g prometheus.Gauge }

func (g gauge) Update(v float64) { g.g.Set(v) }

type timer struct{ o prometheus.Observer }

func (t timer) Record(d time.Duration) { t.o.Observe(d.Seconds()) }
