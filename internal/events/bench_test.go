package events_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/dualhook/dualhook/internal/eventtypes"
	"github.com/dualhook/dualhook/internal/store"
	"github.com/dualhook/dualhook/signature"
	"github.com/dualhook/dualhook/testkit/eventstest"
	"github.com/dualhook/dualhook/testkit/testenv"
	"github.com/dualhook/dualhook/worker"
)

// BenchmarkDelivery measures the whole mechanism on this machine with the Temporal dev server
// (in memory, eager execution on) and the package's PostgreSQL database, against a local
// receiver that answers 200 at once. It prints its numbers; it is not a timed test.
//
//	go test ./internal/events -run '^$' -bench BenchmarkDelivery -benchtime 1x
//
// Knobs (environment): DUALHOOK_BENCH_WORKER=default|tuned|no-eager|lean (worker options,
// default tuned), DUALHOOK_BENCH_POOL (PostgreSQL pool size, default 16), DUALHOOK_BENCH_BURST (events,
// default 2000), DUALHOOK_BENCH_WORKFLOWS (concurrent workflows of the burst, default 100),
// DUALHOOK_BENCH_RATE and DUALHOOK_BENCH_SECONDS (paced phase, default 100/s for 20 s),
// DUALHOOK_BENCH_BATCH_WORKFLOWS (optional phase: the burst emitted by that many workflows in
// one batch each).
func BenchmarkDelivery(b *testing.B) {
	burst := envInt("DUALHOOK_BENCH_BURST", 2000)
	workflowsN := envInt("DUALHOOK_BENCH_WORKFLOWS", 100)
	rate := envInt("DUALHOOK_BENCH_RATE", 100)
	seconds := envInt("DUALHOOK_BENCH_SECONDS", 20)
	pool := envInt("DUALHOOK_BENCH_POOL", 16)
	mode := os.Getenv("DUALHOOK_BENCH_WORKER")
	if mode == "" {
		mode = "tuned"
	}
	var wo sdkworker.Options
	switch mode {
	case "default":
	case "tuned":
		wo = worker.Options()
	case "no-eager":
		wo = worker.Options()
		wo.DisableEagerActivities = true
	case "lean":
		wo = worker.Options()
		wo.MaxConcurrentWorkflowTaskPollers, wo.MaxConcurrentActivityTaskPollers = 2, 4
	default:
		b.Fatalf("DUALHOOK_BENCH_WORKER=%s: want default, tuned, no-eager or lean", mode)
	}

	ctx := context.Background()
	st, err := store.Open(ctx, testenv.DatabaseURL(b)+"&pool_max_conns="+strconv.Itoa(pool))
	require.NoError(b, err)
	b.Cleanup(st.Close)
	s := eventstest.New(b, eventstest.Options{Store: st, WorkerOptions: &wo})
	s.StartWorker()
	rcv := newBenchReceiver(b)
	partner, _ := s.NewPartner(&rcv.url, nil)

	b.ResetTimer()
	fmt.Printf("\nDualhook event delivery benchmark (%d CPUs, worker options %q, PostgreSQL pool %d)\n", runtimeCPUs(), mode, pool)

	// The ceiling: a bare Go loop of POSTs to the same receiver, 50 at a time.
	ceiling := barePostLoop(b, rcv.url, 20000, 50)
	fmt.Printf("  bare Go POST loop (ceiling)                                     %8.0f POST/s\n", ceiling)

	// The Temporal ceiling now: no-op activities run the same way, in 4 workflows. The machine
	// is shared, so this puts the numbers below in context.
	fmt.Printf("  no-op activities, 4 workflows × 500 at once (Temporal ceiling) %8.0f activities/s\n", noopActivities(b, s, noopWorkflow, 2000, 4))
	// The same, one activity after another in each of the burst's workflows: what one workflow
	// task per state change costs on this server, before any event.
	fmt.Printf("  no-op activities, %d workflows one by one                  %8.0f activities/s\n", workflowsN, noopActivities(b, s, noopWorkflowSequential, burst, workflowsN))

	// Two shapes of emitting workflow, as the real ones are written (docs/events.md):
	//   - background: nobody waits on it (MetaEventWorkflow): each state change is a local
	//     activity and each first attempt runs in the worker (StartDeliveriesInWorker);
	//   - waited on: a user or an API call waits on it (OnboardingWorkflow): each state change is
	//     a local activity too, but each delivery is an activity (StartDeliveries), so the
	//     workflow answers without waiting for the partner's receiver.
	// Bursts come from background workflows (Meta's account and quality updates); workflows
	// someone waits on emit at the pace of people, so the paced phase measures both.
	background := eventstest.EmitInput{LocalEmit: true}
	shapes := []struct {
		name string
		in   eventstest.EmitInput
	}{
		{"background", background},
		{"waited on", eventstest.EmitInput{LocalEmit: true, WaitedOn: true}},
	}

	// (a) Burst: concurrent background workflows, each emitting its events one by one (a state
	// change that stores the event) and starting each delivery at once.
	rcv.reset()
	in := background
	in.PartnerID = partner.ID
	start := time.Now()
	runs := startWorkflows(b, s, in, workflowsN, burst/workflowsN, 0, 0)
	waitRuns(b, runs)
	elapsed := time.Since(start)
	lat, span := rcv.latencies(b, s, runs)
	fmt.Printf("  (a) burst %d events, %d workflows one by one  %6.0f delivered/s   emit→receipt p50 %s  p99 %s  (first emit → last receipt %s, incl. workflow starts %s)\n",
		len(lat), workflowsN, float64(len(lat))/span.Seconds(), pct(lat, 50), pct(lat, 99), span.Round(time.Millisecond), elapsed.Round(time.Millisecond))
	b.ReportMetric(float64(len(lat))/span.Seconds(), "burst_delivered/s")

	// (a') The same events from a few workflows that each emit a batch in one activity and
	// deliver it concurrently (the shape of a workflow with several events at once).
	if batchWorkflows := envInt("DUALHOOK_BENCH_BATCH_WORKFLOWS", 0); batchWorkflows > 0 {
		rcv.reset()
		spec := eventstest.EventSpec{Type: eventtypes.OnboardingStarted, TenantID: "bench", Data: map[string]any{"sessionId": "sess_bench"}}
		in := eventstest.EmitInput{PartnerID: partner.ID, LocalEmit: true}
		for range burst / batchWorkflows {
			in.Events = append(in.Events, spec)
		}
		runs := make([]client.WorkflowRun, batchWorkflows)
		for i := range runs {
			runs[i] = s.Start(in)
		}
		waitRuns(b, runs)
		lat, span := rcv.latencies(b, s, runs)
		fmt.Printf("  (a') burst %d events, %d workflows × 1 batch %6.0f delivered/s   emit→receipt p50 %s  p99 %s\n",
			len(lat), batchWorkflows, float64(len(lat))/span.Seconds(), pct(lat, 50), pct(lat, 99))
	}

	// (b) Paced: rate events/s for seconds, spread over 20 workflows that each emit on a timer.
	for _, shape := range shapes {
		rcv.reset()
		in := shape.in
		in.PartnerID = partner.ID
		pacers := 20
		interval := time.Duration(pacers) * time.Second / time.Duration(rate)
		runs := startWorkflows(b, s, in, pacers, rate*seconds/pacers, interval, interval/time.Duration(pacers))
		waitRuns(b, runs)
		lat, span := rcv.latencies(b, s, runs)
		fmt.Printf("  (b) paced %d/s for %ds (%d events), %-10s %5.0f delivered/s   emit→receipt p50 %s  p99 %s  max %s\n",
			rate, seconds, len(lat), shape.name, float64(len(lat))/span.Seconds(), pct(lat, 50), pct(lat, 99), pct(lat, 100))
		b.ReportMetric(float64(pct(lat, 99).Milliseconds()), "paced_"+strings.ReplaceAll(shape.name, " ", "_")+"_p99_ms")
	}
}

func startWorkflows(b *testing.B, s *eventstest.Stack, in eventstest.EmitInput, n, perWorkflow int, interval, stagger time.Duration) []client.WorkflowRun {
	spec := eventstest.EventSpec{Type: eventtypes.OnboardingStarted, TenantID: "bench", Data: map[string]any{"sessionId": "sess_bench"}}
	in.OneByOne, in.Interval = true, interval
	for range perWorkflow {
		in.Events = append(in.Events, spec)
	}
	runs := make([]client.WorkflowRun, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i) * stagger)
			runs[i] = s.Start(in)
		}()
	}
	wg.Wait()
	return runs
}

func waitRuns(b *testing.B, runs []client.WorkflowRun) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	for _, r := range runs {
		require.NoError(b, r.Get(ctx, nil))
	}
}

// benchReceiver answers 200 at once and notes when each event id arrived.
type benchReceiver struct {
	url  string
	mu   sync.Mutex
	seen map[string]time.Time
}

func newBenchReceiver(b *testing.B) *benchReceiver {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	r := &benchReceiver{url: "http://" + ln.Addr().String() + "/hook", seen: map[string]time.Time{}}
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Close() })
	return r
}

func (r *benchReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	now := time.Now()
	_, _ = io.Copy(io.Discard, req.Body)
	if id := req.Header.Get(signature.HeaderEventID); id != "" {
		r.mu.Lock()
		if _, dup := r.seen[id]; !dup {
			r.seen[id] = now
		}
		r.mu.Unlock()
	}
	w.WriteHeader(http.StatusOK)
}

func (r *benchReceiver) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = map[string]time.Time{}
}

// latencies returns emit→receipt for every event of runs (emit = the event's created_at, set
// in the emitting transaction) and the span from the first emit to the last receipt.
func (r *benchReceiver) latencies(b *testing.B, s *eventstest.Stack, runs []client.WorkflowRun) ([]time.Duration, time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := make([]string, 0, len(r.seen))
	for id := range r.seen {
		ids = append(ids, id)
	}
	rows, err := s.Store.Pool.Query(context.Background(), "SELECT id, created_at FROM events WHERE id = ANY($1)", ids)
	require.NoError(b, err)
	defer rows.Close()
	var out []time.Duration
	var first, last time.Time
	for rows.Next() {
		var id string
		var created time.Time
		require.NoError(b, rows.Scan(&id, &created))
		got := r.seen[id]
		out = append(out, got.Sub(created))
		if first.IsZero() || created.Before(first) {
			first = created
		}
		if got.After(last) {
			last = got
		}
	}
	require.NoError(b, rows.Err())
	slices.Sort(out)
	return out, last.Sub(first)
}

func pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	return sorted[min(max(i, 1), len(sorted))-1].Round(time.Millisecond)
}

func barePostLoop(b *testing.B, url string, n, concurrency int) float64 {
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: concurrency}, Timeout: 10 * time.Second}
	body := []byte(`{"event":"onboarding.started","id":"evt_bench","createdAt":"2026-01-01T00:00:00.000Z","data":{}}`)
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				resp, err := c.Post(url, "application/json", bytes.NewReader(body))
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	return float64(n) / time.Since(start).Seconds()
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func runtimeCPUs() int { return runtime.NumCPU() }

func noopActivity(_ context.Context, i int) (int, error) { return i, nil }

func noopWorkflow(ctx workflow.Context, n int) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
	fs := make([]workflow.Future, 0, n)
	for i := range n {
		fs = append(fs, workflow.ExecuteActivity(ctx, "BenchNoop", i))
	}
	for _, f := range fs {
		if err := f.Get(ctx, nil); err != nil {
			return err
		}
	}
	return nil
}

// noopWorkflowSequential runs its n no-op activities one after another.
func noopWorkflowSequential(ctx workflow.Context, n int) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
	for i := range n {
		if err := workflow.ExecuteActivity(ctx, "BenchNoop", i).Get(ctx, nil); err != nil {
			return err
		}
	}
	return nil
}

// noopActivities runs n no-op activities spread over workflowsN workflows of the given kind
// (noopWorkflow: all at once; noopWorkflowSequential: one by one) and returns activities/s.
func noopActivities(b *testing.B, s *eventstest.Stack, wf func(workflow.Context, int) error, n, workflowsN int) float64 {
	q := s.TaskQueue + "-noop-" + strconv.Itoa(workflowsN)
	w := sdkworker.New(s.Temporal, q, worker.Options())
	w.RegisterWorkflowWithOptions(wf, workflow.RegisterOptions{Name: "BenchNoopWorkflow"})
	w.RegisterActivityWithOptions(noopActivity, activity.RegisterOptions{Name: "BenchNoop"})
	require.NoError(b, w.Start())
	defer w.Stop()
	start := time.Now()
	runs := make([]client.WorkflowRun, workflowsN)
	for i := range runs {
		var err error
		runs[i], err = s.Temporal.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{TaskQueue: q}, "BenchNoopWorkflow", n/workflowsN)
		require.NoError(b, err)
	}
	waitRuns(b, runs)
	return float64(n) / time.Since(start).Seconds()
}
