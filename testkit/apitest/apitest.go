// Package apitest runs the real API over real HTTP against the package's test database (and,
// when asked, the test Temporal server), and checks every response it sees against the OpenAPI
// document: a handler that drifts from the document fails whichever test exercised it.
package apitest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/dualhook/dualhook/api"
	"github.com/dualhook/dualhook/db/dbq"
	"github.com/dualhook/dualhook/egress"
	"github.com/dualhook/dualhook/internal/config"
	"github.com/dualhook/dualhook/internal/keyring"
	"github.com/dualhook/dualhook/internal/partners"
	"github.com/dualhook/dualhook/internal/store"
	"github.com/dualhook/dualhook/testkit/testenv"
)

// Clock is a settable clock shared by the API and the test.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// Now returns the clock's time (real time plus any advance).
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.t.IsZero() {
		return time.Now()
	}
	return c.t
}

// Advance moves the clock forward (freezing it at real time first).
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.t.IsZero() {
		c.t = time.Now()
	}
	c.t = c.t.Add(d)
}

// Env is one API process under test.
type Env struct {
	T        testing.TB
	Config   config.Config
	Store    *store.Store
	Ring     *keyring.Ring
	Temporal client.Client
	Clock    *Clock
	Server   *api.Server
	HTTP     *httptest.Server
}

// Option changes the configuration before the server is built.
type Option func(*config.Config)

// DefaultConfig is the configuration tests start from: dev mode off (the production rules),
// the SPEC's default budgets.
func DefaultConfig() config.Config {
	return config.Config{
		PublicURL: "https://onboard.example.test", TemporalNamespace: "default", TemporalTaskQueue: "unused",
		OperatorToken:          "operator-token-for-tests-0123456789",
		RateLimitReadPerMinute: 100, RateLimitWritePerMinute: 30, RateLimitRevealPerHour: 60,
		RateLimitHealthRefreshPerMinute: 10, RateLimitPartnerRevealPerHour: 120, MaxAPIKeysPerPartner: 20,
		ShutdownTimeout:     5 * time.Second,
		RetentionEventsDays: 30, RetentionIdempotencyDays: 1, RetentionAuditDays: 365,
		MetaAppID: "1234567890123456", MetaConfigID: "987654321012345", MetaGraphVersion: "v23.0",
		MetaSDKURL: "https://connect.facebook.net/en_US/sdk.js", MetaGraphURL: "https://graph.facebook.com",
	}
}

// New starts an API process on the package's test database. withTemporal also connects it to
// the test Temporal server.
func New(t testing.TB, withTemporal bool, opts ...Option) *Env {
	t.Helper()
	return NewOn(t, testenv.DatabaseURL(t), testenv.Store(t), withTemporal, opts...)
}

// NewOn is New on another database (testenv.OwnDatabase), for a test that compares whole
// tables and must not see the package's other tests.
func NewOn(t testing.TB, databaseURL string, st *store.Store, withTemporal bool, opts ...Option) *Env {
	t.Helper()
	cfg := DefaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	cfg.DatabaseURL = databaseURL
	e := &Env{T: t, Config: cfg, Store: st, Ring: testenv.Keyring(t), Clock: &Clock{}}
	if withTemporal {
		e.Temporal = testenv.Temporal(t)
	}
	srv, err := api.New(api.Deps{
		Config: cfg, Store: e.Store, Ring: e.Ring, Temporal: e.Temporal, Logger: testenv.Logger(), Now: e.Clock.Now,
	})
	require.NoError(t, err)
	e.Server = srv
	e.HTTP = httptest.NewServer(srv.Handler())
	t.Cleanup(e.HTTP.Close)
	return e
}

// Partner is a partner made for a test, with its one-time secrets.
type Partner struct {
	Row           dbq.Partner
	Key           string
	KeyID         string
	SigningSecret string
}

// NewPartner creates a partner directly in the database (as the operator CLI would).
func (e *Env) NewPartner(settings ...func(*partners.Settings)) Partner {
	e.T.Helper()
	s := partners.Settings{DisplayName: "Acme SaaS", AllowedRedirectURLs: []string{"https://app.acme.test/onboarding"}}
	for _, f := range settings {
		f(&s)
	}
	created, err := e.PartnerService().Create(context.Background(), s, "test")
	require.NoError(e.T, err)
	return Partner{Row: created.Partner, Key: created.KeyPlaintext, KeyID: created.Key.ID, SigningSecret: created.SigningSecret}
}

// Response is a recorded HTTP response.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v.
func (r *Response) JSON(t testing.TB, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(r.Body, v), "body: %s", r.Body)
}

// Map decodes the body as an object.
func (r *Response) Map(t testing.TB) map[string]any {
	var m map[string]any
	r.JSON(t, &m)
	return m
}

// ErrorCode is error.code of an error envelope ("" otherwise).
func (r *Response) ErrorCode() string {
	var env struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(r.Body, &env)
	return env.Error.Code
}

// Request is one call; Body may be a string/[]byte (sent as is) or any value (sent as JSON).
type Request struct {
	Method  string
	Path    string
	Key     string
	Body    any
	Header  map[string]string
	NoCheck bool // skip the OpenAPI check (for deliberately odd requests that never reach a route)
}

// Do sends the request and checks the response against the OpenAPI document.
func (e *Env) Do(r Request) *Response {
	e.T.Helper()
	var body io.Reader
	contentType := ""
	switch b := r.Body.(type) {
	case nil:
	case string:
		body, contentType = strings.NewReader(b), "application/json"
	case []byte:
		body, contentType = bytes.NewReader(b), "application/json"
	default:
		raw, err := json.Marshal(b)
		require.NoError(e.T, err)
		body, contentType = bytes.NewReader(raw), "application/json"
	}
	req, err := http.NewRequest(r.Method, e.HTTP.URL+r.Path, body)
	require.NoError(e.T, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if r.Key != "" {
		req.Header.Set("Authorization", "Bearer "+r.Key)
	}
	for k, v := range r.Header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(e.T, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(e.T, err)
	out := &Response{Status: res.StatusCode, Header: res.Header, Body: raw}
	require.NotEmpty(e.T, res.Header.Get("X-Request-Id"), "every response carries X-Request-Id")
	if !r.NoCheck {
		CheckResponse(e.T, req, out)
	}
	return out
}

var (
	docOnce sync.Once
	doc     *openapi3.T
	router  routers.Router
	docErr  error
)

func loadDoc() {
	loader := openapi3.NewLoader()
	doc, docErr = loader.LoadFromData(api.OpenAPIDocument)
	if docErr != nil {
		return
	}
	if docErr = doc.Validate(context.Background()); docErr != nil {
		return
	}
	router, docErr = gorillamux.NewRouter(doc)
}

// Document returns the parsed, validated OpenAPI document.
func Document(t testing.TB) *openapi3.T {
	t.Helper()
	docOnce.Do(loadDoc)
	require.NoError(t, docErr, "the OpenAPI document must load and validate")
	return doc
}

// CheckResponse validates a response against the document. A response for a route the document
// does not describe fails, unless it is an error envelope for an unmatched route.
func CheckResponse(t testing.TB, req *http.Request, res *Response) {
	t.Helper()
	Document(t)
	route, params, err := router.FindRoute(req)
	if err != nil {
		require.GreaterOrEqual(t, res.Status, 400, "%s %s answered %d but is not in the OpenAPI document", req.Method, req.URL.Path, res.Status)
		checkErrorEnvelope(t, res)
		return
	}
	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
		},
		Status: res.Status, Header: res.Header, Body: io.NopCloser(bytes.NewReader(res.Body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	require.NoError(t, openapi3filter.ValidateResponse(context.Background(), input),
		"%s %s → %d does not match the OpenAPI document; body: %s", req.Method, req.URL.Path, res.Status, res.Body)
}

func checkErrorEnvelope(t testing.TB, res *Response) {
	t.Helper()
	schema := doc.Components.Schemas["Error"].Value
	var v any
	require.NoError(t, json.Unmarshal(res.Body, &v), "error body must be JSON: %s", res.Body)
	require.NoError(t, schema.VisitJSON(v, openapi3.EnableJSONSchema2020()), "error body must match the Error schema: %s", res.Body)
}

// PartnerService is the partner service on the test's store and clock.
func (e *Env) PartnerService() *partners.Service {
	return &partners.Service{Store: e.Store, Ring: e.Ring, Egress: egress.Policy{DevMode: e.Config.DevMode}, Now: e.Clock.Now}
}
