// Package stacktest runs the whole product for integration tests, with real parts only: the API
// over HTTP, a worker on the test Temporal server, the package's PostgreSQL database, the Meta
// sandbox over HTTP, the tenant's webhook endpoint (answers Meta's hub.challenge) and the
// partner's event receiver.
package stacktest

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/proxy"
	sdkworker "go.temporal.io/sdk/worker"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/dualhook/dualhook/activities"
	"github.com/dualhook/dualhook/db/dbq"
	"github.com/dualhook/dualhook/egress"
	"github.com/dualhook/dualhook/internal/config"
	"github.com/dualhook/dualhook/internal/domain"
	"github.com/dualhook/dualhook/internal/ids"
	"github.com/dualhook/dualhook/internal/partners"
	"github.com/dualhook/dualhook/internal/payloadcodec"
	"github.com/dualhook/dualhook/internal/secretstore"
	"github.com/dualhook/dualhook/internal/sessionworkflow"
	"github.com/dualhook/dualhook/metagraph"
	"github.com/dualhook/dualhook/sandbox"
	"github.com/dualhook/dualhook/testkit/apitest"
	"github.com/dualhook/dualhook/testkit/eventstest"
	"github.com/dualhook/dualhook/testkit/testenv"
	"github.com/dualhook/dualhook/worker"
)

// Stack is one running product.
type Stack struct {
	T        testing.TB
	API      *apitest.Env
	Sandbox  *sandbox.Sandbox
	Meta     *sandbox.Client
	MetaURL  string
	Worker   sdkworker.Worker
	Acts     *activities.Activities
	Events   *eventstest.Receiver
	Hook     *HookEndpoint
	Partner  apitest.Partner
	Redirect string
}

// Options change the stack.
type Options struct {
	// Config changes the API's and worker's configuration.
	Config func(*config.Config)
	// NoWorker leaves the worker stopped (tests of what happens without one).
	NoWorker bool
	// Redirect is the partner's allowed redirect prefix (default https://app.acme.test/onboarding).
	Redirect string
	// OwnDatabase runs the stack on a database of the test's own, for a test that compares whole
	// tables while the package's other tests run.
	OwnDatabase bool
}

// New starts the stack.
func New(t testing.TB, o Options) *Stack {
	t.Helper()
	s := &Stack{T: t, Redirect: "https://app.acme.test/onboarding"}
	if o.Redirect != "" {
		s.Redirect = o.Redirect
	}
	sbServer := httptest.NewUnstartedServer(nil)
	sbServer.Start()
	t.Cleanup(sbServer.Close)
	sc := sandbox.DefaultConfig()
	sc.PublicURL = sbServer.URL
	sb, err := sandbox.New(sc)
	require.NoError(t, err)
	t.Cleanup(func() { _ = sb.Close() })
	sbServer.Config.Handler = sb.Handler()
	s.Sandbox, s.MetaURL, s.Meta = sb, sbServer.URL, sandbox.NewClient(sbServer.URL, nil)

	queue := testenv.TaskQueue(t)
	configure := func(c *config.Config) {
		c.DevMode = true // tenants' endpoints live on 127.0.0.1 in tests
		c.MetaSandboxURL = sbServer.URL
		c.MetaAppID, c.MetaAppSecret, c.MetaConfigID = sc.AppID, sc.AppSecret, sc.CloudAPIConfigID
		c.MetaGraphVersion = "v23.0"
		c.TemporalTaskQueue = queue
		c.DeliverySchedule = []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}
		c.DeliveryTimeout = 2 * time.Second
		c.RateLimitWritePerMinute, c.RateLimitReadPerMinute = 10000, 10000
		if o.Config != nil {
			o.Config(c)
		}
	}
	if o.OwnDatabase {
		u, st := testenv.OwnDatabase(t)
		s.API = apitest.NewOn(t, u, st, true, configure)
	} else {
		s.API = apitest.New(t, true, configure)
	}
	cfg := s.API.Config

	graph, err := metagraph.New(metagraph.Config{BaseURL: cfg.GraphBaseURL(), Version: cfg.MetaGraphVersion, AppID: cfg.MetaAppID, AppSecret: cfg.MetaAppSecret})
	require.NoError(t, err)
	s.Acts = &activities.Activities{
		Store: s.API.Store, Ring: s.API.Ring, Config: cfg, Logger: testenv.Logger(), Graph: graph,
		Egress: egress.Policy{DevMode: true},
	}
	if !o.NoWorker {
		s.StartWorker()
	}
	s.Events = eventstest.NewReceiver(t, eventstest.Status(200))
	s.Hook = NewHookEndpoint(t)
	s.Partner = s.NewPartner()
	return s
}

// StartWorker starts (another) worker on the stack's task queue.
func (s *Stack) StartWorker() sdkworker.Worker {
	w := worker.New(s.API.Temporal, s.API.Config.TemporalTaskQueue, s.Acts)
	require.NoError(s.T, w.Start())
	s.T.Cleanup(w.Stop)
	s.Worker = w
	return w
}

// NewPartner makes a partner whose events go to the stack's receiver.
func (s *Stack) NewPartner() apitest.Partner {
	return s.API.NewPartner(func(p *partners.Settings) {
		p.AllowedRedirectURLs = []string{s.Redirect}
		url := s.Events.URL
		p.EventWebhookURL = &url
	})
}

// SessionRequest is a create body; zero fields take working defaults.
type SessionRequest map[string]any

// CreateSession creates a session through the API and returns its id and page token.
func (s *Stack) CreateSession(p apitest.Partner, tenantID string, extra SessionRequest) (string, string) {
	s.T.Helper()
	body := SessionRequest{
		"tenantId": tenantID, "tenantName": "Tenant " + tenantID,
		"successRedirectUrl": s.Redirect + "/done?tab=whatsapp", "failureRedirectUrl": s.Redirect + "/failed",
		"cancelRedirectUrl": s.Redirect + "/cancelled", "webhookOverrideUrl": s.Hook.URL(tenantID),
		"webhookVerifyToken": "verify-" + tenantID, "metadata": map[string]any{"plan": "pro", "tenant": tenantID},
	}
	for k, v := range extra {
		body[k] = v
	}
	res := s.API.Do(apitest.Request{Method: "POST", Path: "/api/v1/onboarding/sessions", Key: p.Key, Body: body})
	require.Equal(s.T, 201, res.Status, "%s", res.Body)
	var out struct{ SessionID, OnboardingURL string }
	res.JSON(s.T, &out)
	token := out.OnboardingURL[len(out.OnboardingURL)-44:]
	return out.SessionID, token
}

// Callback posts the page's callback and returns the answer.
func (s *Stack) Callback(token string, body map[string]any) *apitest.Response {
	s.T.Helper()
	return s.API.Do(apitest.Request{Method: "POST", Path: "/onboard/" + token + "/callback", Body: body, NoCheck: true})
}

// Signup runs a headless Embedded Signup at the sandbox and returns the callback body a browser
// would post.
func (s *Stack) Signup(req sandbox.ESSessionRequest) (map[string]any, sandbox.ESSession) {
	s.T.Helper()
	es, err := s.Meta.CreateESSession(context.Background(), req)
	require.NoError(s.T, err)
	body := map[string]any{}
	if es.Code != "" {
		body["code"] = es.Code
	}
	var m struct {
		Event string            `json:"event"`
		Data  map[string]string `json:"data"`
	}
	require.NoError(s.T, json.Unmarshal([]byte(es.MessageEventJSON), &m))
	if m.Event != "" {
		body["event"] = m.Event
	}
	for from, to := range map[string]string{"waba_id": "wabaId", "phone_number_id": "phoneNumberId", "business_id": "businessId",
		"current_step": "currentStep", "error_message": "errorMessage"} {
		if v := m.Data[from]; v != "" {
			body[to] = v
		}
	}
	return body, es
}

// Session reads a session row.
func (s *Stack) Session(id string) dbq.OnboardingSession {
	s.T.Helper()
	row, err := s.API.Store.GetSession(context.Background(), id)
	require.NoError(s.T, err)
	return row
}

// WaitSession polls until the session reaches status.
func (s *Stack) WaitSession(id, status string) dbq.OnboardingSession {
	s.T.Helper()
	var row dbq.OnboardingSession
	eventstest.Eventually(s.T, 30*time.Second, func() bool {
		row = s.Session(id)
		return row.Status == status
	}, "session %s never reached %s", id, status)
	return row
}

// EventsOfSession are the events stored for a session, oldest first.
func (s *Stack) EventsOfSession(sessionID string) []dbq.Event {
	s.T.Helper()
	rows, err := s.API.Store.Pool.Query(context.Background(),
		"SELECT id, type, status, body FROM events WHERE session_id = $1 ORDER BY created_at, id", sessionID)
	require.NoError(s.T, err)
	defer rows.Close()
	var out []dbq.Event
	for rows.Next() {
		var e dbq.Event
		require.NoError(s.T, rows.Scan(&e.ID, &e.Type, &e.Status, &e.Body))
		out = append(out, e)
	}
	return out
}

// HookEndpoint is the tenants' webhook endpoint: it answers Meta's (and the preflight's)
// hub.challenge for /hooks/<tenant>, unless told to misbehave.
type HookEndpoint struct {
	server *httptest.Server
	mu     sync.Mutex
	broken map[string]bool
	hits   map[string]int
}

// NewHookEndpoint starts it.
func NewHookEndpoint(t testing.TB) *HookEndpoint {
	h := &HookEndpoint{broken: map[string]bool{}, hits: map[string]int{}}
	h.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.hits[r.URL.Path]++
		broken := h.broken[r.URL.Path]
		h.mu.Unlock()
		if broken {
			http.Error(w, "nope", http.StatusForbidden)
			return
		}
		_, _ = fmt.Fprint(w, r.URL.Query().Get("hub.challenge"))
	}))
	t.Cleanup(h.server.Close)
	return h
}

// URL is a tenant's webhook URL.
func (h *HookEndpoint) URL(tenant string) string { return h.server.URL + "/hooks/" + tenant }

// Break makes a URL answer 403 (Meta's verification then fails with 2200).
func (h *HookEndpoint) Break(url string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.broken[url[len(h.server.URL):]] = true
}

// Hits counts requests to a URL.
func (h *HookEndpoint) Hits(url string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.hits[url[len(h.server.URL):]]
}

// GraphCalls lists "METHOD endpoint" of every Graph call the sandbox received, in order.
func (s *Stack) GraphCalls() []string {
	s.T.Helper()
	calls, err := s.Meta.Calls(context.Background(), sandbox.CallFilter{})
	require.NoError(s.T, err)
	out := make([]string, 0, len(calls))
	for _, c := range calls {
		out = append(out, c.Method+" "+c.Endpoint)
	}
	return out
}

// WaitEvents polls until the session has n events, all finished delivering.
func (s *Stack) WaitEvents(sessionID string, n int) []dbq.Event {
	s.T.Helper()
	var evs []dbq.Event
	eventstest.Eventually(s.T, 30*time.Second, func() bool {
		evs = s.EventsOfSession(sessionID)
		if len(evs) < n {
			return false
		}
		for _, e := range evs {
			if e.Status == "pending" {
				return false
			}
		}
		return true
	}, "session %s never had %d delivered events", sessionID, n)
	return evs
}

// Subscriptions are the apps subscribed to a WABA at Meta (the sandbox), with their overrides.
func (s *Stack) Subscriptions(wabaID string) []sandbox.SubscribedAppView {
	s.T.Helper()
	state, err := s.Meta.State(context.Background())
	require.NoError(s.T, err)
	for _, w := range state.WABAs {
		if w.ID == wabaID {
			return w.SubscribedApps
		}
	}
	return nil
}

// ConnectionOf reads, through the API, the connection a completed session made.
func (s *Stack) ConnectionOf(sessionID string) map[string]any {
	s.T.Helper()
	row := s.Session(sessionID)
	require.NotNil(s.T, row.ConnectionID, "session %s has no connection (status %s)", sessionID, row.Status)
	res := s.API.Do(apitest.Request{Method: "GET", Path: "/api/v1/connections/" + *row.ConnectionID, Key: s.Partner.Key})
	require.Equal(s.T, 200, res.Status, "%s", res.Body)
	return res.Map(s.T)
}

// InsertSession creates a session row directly — bypassing the API's 300 s minimum expiry, so a
// test can watch the real durable timer fire — and, when start is set, starts its workflow the
// way the API does. It returns the session id and page token.
func (s *Stack) InsertSession(p apitest.Partner, tenantID string, expiresIn time.Duration, start bool) (string, string) {
	s.T.Helper()
	ctx := context.Background()
	id, token := ids.New(ids.Session), ids.RandomString(44)
	sum := sha256.Sum256([]byte(token))
	row, err := s.API.Store.CreateSession(ctx, dbq.CreateSessionParams{
		ID: id, PartnerID: p.Row.ID, TenantID: tenantID, TenantName: "Tenant " + tenantID, TokenHash: sum[:],
		SuccessRedirectURL: s.Redirect + "/done", FailureRedirectURL: s.Redirect + "/failed", CancelRedirectURL: s.Redirect + "/cancelled",
		WebhookOverrideURL: s.Hook.URL(tenantID), WebhookVerifyTokenCiphertext: s.API.Ring.EncryptString("verify-"+tenantID, secretstore.VerifyTokenAD),
		Metadata: json.RawMessage(`{}`), ExpiresAt: time.Now().Add(expiresIn).UTC(), WorkflowID: domain.OnboardingID(id),
	})
	require.NoError(s.T, err)
	if start {
		require.NoError(s.T, sessionworkflow.Starter{Temporal: s.API.Temporal, TaskQueue: s.API.Config.TemporalTaskQueue}.Start(ctx, row))
		require.NoError(s.T, s.API.Store.MarkSessionWorkflowStarted(ctx, id))
	}
	return id, token
}

// DecodedHistory returns a session workflow's history with its payloads decrypted, as JSON that
// `temporal workflow show --output json` would print: what replay tests load. It holds no
// secret (payloads carry references only), so such histories can be committed.
func (s *Stack) DecodedHistory(workflowID string) []byte {
	s.T.Helper()
	ctx := context.Background()
	iter := s.API.Temporal.GetWorkflowHistory(ctx, workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	history := &historypb.History{}
	for iter.HasNext() {
		ev, err := iter.Next()
		require.NoError(s.T, err)
		history.Events = append(history.Events, ev)
	}
	codec := payloadcodec.Codec{Ring: s.API.Ring}
	err := proxy.VisitPayloads(ctx, history, proxy.VisitPayloadsOptions{
		Visitor: func(_ *proxy.VisitPayloadsContext, p []*commonpb.Payload) ([]*commonpb.Payload, error) {
			return codec.Decode(p)
		},
	})
	require.NoError(s.T, err)
	out, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(history)
	require.NoError(s.T, err)
	return out
}

// WaitWorkflowClosed polls until a workflow has completed (its deliveries included).
func (s *Stack) WaitWorkflowClosed(workflowID string) {
	s.T.Helper()
	eventstest.Eventually(s.T, 60*time.Second, func() bool {
		d, err := s.API.Temporal.DescribeWorkflow(context.Background(), workflowID, "")
		return err == nil && d.RawResponse.GetWorkflowExecutionInfo().GetCloseTime() != nil
	}, "workflow %s never closed", workflowID)
}
