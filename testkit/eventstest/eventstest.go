// Package eventstest runs the event mechanism for real in tests and benchmarks: a Temporal worker
// with the production activities and workflows, a small workflow that emits and delivers events
// the way the session and connection workflows do, and a local webhook receiver that records
// what it gets. Everything talks to the package's test PostgreSQL database and the test Temporal
// server (testkit/testenv), and only ever to 127.0.0.1.
package eventstest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/dualhook/dualhook/activities"
	"github.com/dualhook/dualhook/db/dbq"
	"github.com/dualhook/dualhook/egress"
	"github.com/dualhook/dualhook/internal/config"
	"github.com/dualhook/dualhook/internal/domain"
	"github.com/dualhook/dualhook/internal/events"
	"github.com/dualhook/dualhook/internal/keyring"
	"github.com/dualhook/dualhook/internal/metrics"
	"github.com/dualhook/dualhook/internal/partners"
	"github.com/dualhook/dualhook/internal/store"
	"github.com/dualhook/dualhook/internal/temporalclient"
	"github.com/dualhook/dualhook/testkit/testenv"
	"github.com/dualhook/dualhook/worker"
	"github.com/dualhook/dualhook/workflows"
)

// Names of the test workflow and activity.
const (
	EmitWorkflowName = "EventsTestEmitWorkflow"
	EmitActivityName = "EmitTestEvents"
)

// Options change the stack before it starts.
type Options struct {
	// Schedule and Timeout of deliveries; defaults 100ms,200ms,300ms,400ms,500ms,600ms and 2s.
	Schedule []time.Duration
	Timeout  time.Duration
	// Egress defaults to dev mode (http to 127.0.0.1 allowed), which the local receivers need.
	Egress *egress.Policy
	// Ring defaults to testenv.Keyring. A test that runs a worker in another process passes its
	// own, whose spec it can hand over.
	Ring *keyring.Ring
	// WorkerOptions default to worker.Options().
	WorkerOptions *sdkworker.Options
	// Store defaults to testenv.Store (the benchmark passes one with a bigger pool).
	Store *store.Store
}

// CompressedSchedule has the SPEC's shape (6 waits, 7 attempts) in 2.1 s.
var CompressedSchedule = []time.Duration{
	100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond,
	400 * time.Millisecond, 500 * time.Millisecond, 600 * time.Millisecond,
}

// Stack is one test's worker and its dependencies.
type Stack struct {
	T          testing.TB
	Store      *store.Store
	Ring       *keyring.Ring
	Temporal   client.Client
	TaskQueue  string
	Config     config.Config
	Activities *activities.Activities
	Metrics    *metrics.Registry
	opts       Options
}

// New prepares a stack on a fresh task queue; StartWorker runs its worker.
func New(t testing.TB, o Options) *Stack {
	t.Helper()
	if o.Schedule == nil {
		o.Schedule = CompressedSchedule
	}
	if o.Timeout == 0 {
		o.Timeout = 2 * time.Second
	}
	if o.Egress == nil {
		o.Egress = &egress.Policy{DevMode: true}
	}
	s := &Stack{T: t, Store: o.Store, TaskQueue: testenv.TaskQueue(t), Metrics: metrics.New(), opts: o}
	if s.Store == nil {
		s.Store = testenv.Store(t)
	}
	if o.Ring != nil {
		s.Ring = o.Ring
		s.Temporal = Dial(t, o.Ring)
	} else {
		s.Ring = testenv.Keyring(t)
		s.Temporal = testenv.Temporal(t)
	}
	s.Config = config.Config{
		DevMode: o.Egress.DevMode, DatabaseURL: testenv.DatabaseURL(t), TemporalTaskQueue: s.TaskQueue,
		DeliverySchedule: o.Schedule, DeliveryTimeout: o.Timeout,
	}
	s.Activities = &activities.Activities{
		Store: s.Store, Ring: s.Ring, Config: s.Config, Logger: testenv.Logger(), Metrics: s.Metrics, Egress: *o.Egress,
	}
	return s
}

// Dial connects a client to the test Temporal server with ring's data converter.
func Dial(t testing.TB, ring *keyring.Ring) client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := temporalclient.Dial(ctx, temporalclient.Options{
		Address: testenv.TemporalAddress(t), Namespace: "default", Ring: ring, Logger: testenv.Logger(),
	})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

// StartWorker runs a worker with every production workflow and activity plus the test workflow;
// it stops when the test ends.
func (s *Stack) StartWorker() sdkworker.Worker {
	s.T.Helper()
	w := NewWorker(s.Temporal, s.TaskQueue, s.Activities, s.opts.WorkerOptions)
	require.NoError(s.T, w.Start())
	s.T.Cleanup(w.Stop)
	return w
}

// NewWorker builds (without starting) a worker like StartWorker's.
func NewWorker(c client.Client, taskQueue string, acts *activities.Activities, opts *sdkworker.Options) sdkworker.Worker {
	o := worker.Options()
	if opts != nil {
		o = *opts
	}
	w := sdkworker.New(c, taskQueue, o)
	worker.Register(w, acts)
	w.RegisterWorkflowWithOptions(EmitWorkflow, workflow.RegisterOptions{Name: EmitWorkflowName})
	w.RegisterActivityWithOptions((&Emitter{Store: acts.Store}).EmitTestEvents, activity.RegisterOptions{Name: EmitActivityName})
	return w
}

// NewPartner creates a partner receiving at url (nil: none) the given types (nil: the default
// eight), and returns it with its signing secret.
func (s *Stack) NewPartner(url *string, types []string) (dbq.Partner, string) {
	s.T.Helper()
	svc := &partners.Service{Store: s.Store, Ring: s.Ring, Egress: egress.Policy{DevMode: true}}
	created, err := svc.Create(context.Background(), partners.Settings{DisplayName: "Receiver Co", AllowedRedirectURLs: []string{}, EventWebhookURL: url, EventTypes: types}, "test")
	require.NoError(s.T, err)
	return created.Partner, created.SigningSecret
}

// SetWebhookURL changes a partner's URL directly in the database, without the API's validation
// (as if DNS had changed since the URL was accepted).
func (s *Stack) SetWebhookURL(partnerID string, url *string) {
	s.T.Helper()
	_, err := s.Store.Pool.Exec(context.Background(), "UPDATE partners SET event_webhook_url = $2 WHERE id = $1", partnerID, url)
	require.NoError(s.T, err)
}

// Start runs the test workflow.
func (s *Stack) Start(in EmitInput) client.WorkflowRun {
	s.T.Helper()
	run, err := s.Temporal.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{
		ID: "events-test/" + testenv.TaskQueue(s.T), TaskQueue: s.TaskQueue,
	}, EmitWorkflowName, in)
	require.NoError(s.T, err)
	return run
}

// Run runs the test workflow to its end.
func (s *Stack) Run(in EmitInput) EmitOutput {
	s.T.Helper()
	var out EmitOutput
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	require.NoError(s.T, s.Start(in).Get(ctx, &out))
	return out
}

// Event reads an event.
func (s *Stack) Event(id string) dbq.Event {
	s.T.Helper()
	ev, err := s.Store.GetEventByID(context.Background(), id)
	require.NoError(s.T, err)
	return ev
}

// Attempts reads an event's attempts, oldest first.
func (s *Stack) Attempts(id string) []dbq.DeliveryAttempt {
	s.T.Helper()
	rows, err := s.Store.ListDeliveryAttempts(context.Background(), id)
	require.NoError(s.T, err)
	return rows
}

// WaitStatus polls until the event has status (or fails the test after timeout).
func (s *Stack) WaitStatus(id, status string, timeout time.Duration) dbq.Event {
	s.T.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ev, err := s.Store.GetEventByID(context.Background(), id)
		if err == nil && ev.Status == status {
			return ev
		}
		if time.Now().After(deadline) {
			s.T.Fatalf("event %s never reached %s (last status %q, error %v)", id, status, ev.Status, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Eventually polls cond every 20 ms until it holds, or fails the test after timeout.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf(msg, args...)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// EventSpec is one event the test workflow emits.
type EventSpec struct {
	Type     string
	TenantID string
	Data     map[string]any
}

// EmitInput drives the test workflow.
type EmitInput struct {
	PartnerID string
	Events    []EventSpec
	// Children delivers through child workflows (the long-lived workflows' way).
	Children bool
	// OneByOne emits each event with its own activity and starts its delivery at once, waiting
	// Interval between events; otherwise one activity emits all.
	OneByOne bool
	Interval time.Duration
	// LocalEmit emits with a local activity, as the workflows' PostgreSQL-only steps do.
	LocalEmit bool
	// WaitedOn delivers as a workflow someone waits on does (StartDeliveries: every attempt a
	// regular activity); otherwise first attempts run in the worker (NobodyWaits).
	WaitedOn bool
	// FailAfterCommit makes the first attempt of the emitting activity fail after its commit,
	// as a crash between commit and completion would.
	FailAfterCommit bool
}

// EmitOutput is what the test workflow returns.
type EmitOutput struct {
	EventIDs []string
	Results  []domain.DeliveryResult
}

// EmitWorkflow emits events the way the real workflows do: ids from workflows.EventID, stored by an
// activity together with a state change, then delivered by this workflow (or its children).
func EmitWorkflow(ctx workflow.Context, in EmitInput) (EmitOutput, error) {
	var out EmitOutput
	for i := range in.Events {
		out.EventIDs = append(out.EventIDs, workflows.EventID(ctx, strconv.Itoa(i)))
	}
	waiter := workflows.NobodyWaits
	switch {
	case in.Children:
		waiter = workflows.NobodyWaitsLongLived
	case in.WaitedOn:
		waiter = workflows.SomeoneWaits
	}
	deliveries := workflows.StartDeliveries(ctx, waiter)
	if !in.OneByOne {
		if err := emit(ctx, in, EmitActivityInput{PartnerID: in.PartnerID, EventIDs: out.EventIDs, Events: in.Events, FailAfterCommit: in.FailAfterCommit}); err != nil {
			return out, err
		}
		deliveries.Start(ctx, out.EventIDs...)
		out.Results = deliveries.Wait(ctx)
		return out, nil
	}
	start := workflow.Now(ctx)
	for i, spec := range in.Events {
		// Paced on the workflow's start, so the offered rate does not drift by the emit time.
		if wait := start.Add(time.Duration(i) * in.Interval).Sub(workflow.Now(ctx)); i > 0 && wait > 0 {
			if err := workflow.Sleep(ctx, wait); err != nil {
				return out, err
			}
		}
		if err := emit(ctx, in, EmitActivityInput{PartnerID: in.PartnerID, EventIDs: out.EventIDs[i : i+1], Events: []EventSpec{spec}}); err != nil {
			return out, err
		}
		deliveries.Start(ctx, out.EventIDs[i])
	}
	out.Results = deliveries.Wait(ctx)
	return out, nil
}

func emit(ctx workflow.Context, in EmitInput, ein EmitActivityInput) error {
	retry := &temporal.RetryPolicy{InitialInterval: 100 * time.Millisecond, MaximumInterval: time.Second}
	if in.LocalEmit {
		lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: 10 * time.Second, RetryPolicy: retry})
		return workflow.ExecuteLocalActivity(lctx, EmitActivityName, ein).Get(ctx, nil)
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second, RetryPolicy: retry})
	return workflow.ExecuteActivity(actx, EmitActivityName, ein).Get(ctx, nil)
}

// EmitActivityInput is the test activity's input.
type EmitActivityInput struct {
	PartnerID       string
	EventIDs        []string
	Events          []EventSpec
	FailAfterCommit bool
}

// Emitter holds the test activity.
type Emitter struct {
	Store *store.Store
}

// EmitTestEvents stores events in one transaction with a stand-in for the state change, as the
// real activities do. The stand-in only reads (locks nothing): real activities change their own
// session or connection row, and a shared row here would serialise every emitting workflow of a
// benchmark behind one row lock.
func (e *Emitter) EmitTestEvents(ctx context.Context, in EmitActivityInput) error {
	err := pgx.BeginFunc(ctx, e.Store.Pool, func(tx pgx.Tx) error {
		var id string
		if err := tx.QueryRow(ctx, "SELECT id FROM partners WHERE id = $1", in.PartnerID).Scan(&id); err != nil {
			return err
		}
		q := dbq.New(tx)
		for i, spec := range in.Events {
			err := events.Emit(ctx, q, events.New{
				ID: in.EventIDs[i], PartnerID: in.PartnerID, Type: spec.Type, TenantID: spec.TenantID, Data: spec.Data,
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if in.FailAfterCommit && activity.GetInfo(ctx).Attempt == 1 {
		return errors.New("simulated crash after the commit")
	}
	return nil
}

// Request is one request a Receiver got.
type Request struct {
	At     time.Time
	Header http.Header
	Body   []byte
}

// Handler answers the n-th request (1-based).
type Handler func(n int, req Request, w http.ResponseWriter)

// Status answers every request with code.
func Status(code int) Handler {
	return func(_ int, _ Request, w http.ResponseWriter) { w.WriteHeader(code) }
}

// Sequence answers the n-th request with codes[n-1], and the last code afterwards.
func Sequence(codes ...int) Handler {
	return func(n int, _ Request, w http.ResponseWriter) { w.WriteHeader(codes[min(n, len(codes))-1]) }
}

// Receiver is a webhook receiver on 127.0.0.1 that records every request.
type Receiver struct {
	URL    string
	server *http.Server
	ln     net.Listener
	mu     sync.Mutex
	reqs   []Request
	handle Handler
}

// NewReceiver listens on a fresh 127.0.0.1 port.
func NewReceiver(t testing.TB, h Handler) *Receiver {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	return serveOn(t, ln, h)
}

// NewReceiverAt listens on addr (to bring a receiver "back up" on a port that was down).
func NewReceiverAt(t testing.TB, addr string, h Handler) *Receiver {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	return serveOn(t, ln, h)
}

func serveOn(t testing.TB, ln net.Listener, h Handler) *Receiver {
	r := &Receiver{URL: fmt.Sprintf("http://%s/hooks/dualhook", ln.Addr()), ln: ln, handle: h}
	r.server = &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = r.server.Serve(ln) }()
	t.Cleanup(r.Close)
	return r
}

// Close stops the receiver (a closed receiver refuses connections).
func (r *Receiver) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = r.server.Shutdown(ctx)
	_ = r.server.Close()
}

// Addr is the listener's host:port.
func (r *Receiver) Addr() string { return r.ln.Addr().String() }

// ServeHTTP records the request and lets the handler answer.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, hr *http.Request) {
	body, _ := io.ReadAll(hr.Body)
	req := Request{At: time.Now(), Header: hr.Header.Clone(), Body: body}
	r.mu.Lock()
	r.reqs = append(r.reqs, req)
	n := len(r.reqs)
	h := r.handle
	r.mu.Unlock()
	h(n, req, w)
}

// Requests returns what the receiver got so far.
func (r *Receiver) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Request(nil), r.reqs...)
}

// Count is the number of requests so far.
func (r *Receiver) Count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.reqs)
}

// Ptr returns &v (for optional settings).
func Ptr[T any](v T) *T { return &v }
