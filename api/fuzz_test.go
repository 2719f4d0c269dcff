package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/require"

	"github.com/dualhook/dualhook/api"
	"github.com/dualhook/dualhook/egress"
	"github.com/dualhook/dualhook/testkit/apitest"
	"github.com/dualhook/dualhook/testkit/testenv"
)

// Fuzz targets for the API's inputs (docs/security.md): request bodies, query parameters and
// path parameters, sent in-process to the real handler on the package's PostgreSQL database and
// the test Temporal server. Invariants: no panic, no 5xx, every answer valid per
// api/openapi.yaml (errors a valid envelope whose code has its SPEC §10 status).
//
// Plain `go test` runs the seed corpus (the bodies the tests send, plus one sample per request
// schema generated from the document, which has no examples); `make fuzz` runs each target for a
// bounded time.

// fuzzEnv is one API process for a fuzz target, with a partner and a few of its resources.
type fuzzEnv struct {
	env       *apitest.Env
	handler   http.Handler
	key       string
	keyID     string // a second key of the partner (rotate/revoke targets; never the calling key)
	sessionID string
}

// noDNS fails every lookup at once: fuzzed URLs never reach a real resolver or network.
var noDNS = &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
	return nil, errors.New("fuzz: no DNS")
}}

func newFuzzEnv(f *testing.F) *fuzzEnv {
	f.Helper()
	cfg := apitest.DefaultConfig()
	// Budgets high enough that the fuzzer explores handlers, not the rate limiter.
	cfg.RateLimitReadPerMinute, cfg.RateLimitWritePerMinute = 1_000_000, 1_000_000
	cfg.RateLimitRevealPerHour, cfg.RateLimitHealthRefreshPerMinute = 1_000_000, 1_000_000
	cfg.TemporalTaskQueue = testenv.TaskQueue(f) // no worker: started workflows just wait
	cfg.DatabaseURL = testenv.DatabaseURL(f)
	e := &apitest.Env{T: f, Config: cfg, Store: testenv.Store(f), Ring: testenv.Keyring(f), Clock: &apitest.Clock{},
		Temporal: testenv.Temporal(f)}
	policy := egress.Policy{Resolver: noDNS}
	srv, err := api.New(api.Deps{Config: cfg, Store: e.Store, Ring: e.Ring, Temporal: e.Temporal,
		Logger: testenv.Logger(), Now: e.Clock.Now, Egress: &policy})
	require.NoError(f, err)
	e.Server = srv
	e.HTTP = httptest.NewServer(srv.Handler())
	f.Cleanup(e.HTTP.Close)
	p := e.NewPartner()
	fe := &fuzzEnv{env: e, handler: srv.Handler(), key: p.Key}

	res := e.Do(apitest.Request{Method: "POST", Path: "/api/v1/api-keys", Key: p.Key, Body: map[string]any{"name": "fuzz victim"}})
	require.Equal(f, 201, res.Status, "%s", res.Body)
	fe.keyID = res.Map(f)["keyId"].(string)
	res = e.Do(apitest.Request{Method: "POST", Path: "/api/v1/onboarding/sessions", Key: p.Key, Body: sessionSeed(true)})
	require.Equal(f, 201, res.Status, "%s", res.Body)
	fe.sessionID = res.Map(f)["sessionId"].(string)
	return fe
}

func sessionSeed(skipPreflight bool) map[string]any {
	return map[string]any{
		"tenantId": "tenant-1", "tenantName": "Tenant 1", "successRedirectUrl": "https://app.acme.test/onboarding/done?tab=whatsapp",
		"failureRedirectUrl": "https://app.acme.test/onboarding/failed", "cancelRedirectUrl": "https://app.acme.test/onboarding/cancelled",
		"webhookOverrideUrl": "https://hooks.acme.test/wa", "webhookVerifyToken": "verify-1",
		"metadata": map[string]any{"plan": "pro"}, "expiresInSeconds": 600, "coexistence": false,
		"skipWebhookPreflight": skipPreflight,
	}
}

// serve runs one request through the handler in-process and checks the invariants.
func (fe *fuzzEnv) serve(t *testing.T, method, target, contentType string, body []byte) {
	t.Helper()
	req, err := http.NewRequest(method, "http://api.test"+target, bytes.NewReader(body))
	if err != nil {
		return // not a request a client could send
	}
	req.Header.Set("Authorization", "Bearer "+fe.key)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	fe.handler.ServeHTTP(rec, req)
	res := &apitest.Response{Status: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
	require.Less(t, res.Status, 500, "%s %s → %d: %s", method, target, res.Status, res.Body)
	require.NotEmpty(t, res.Header.Get("X-Request-Id"))
	apitest.CheckResponse(t, req, res)
	if res.Status >= 400 {
		var env struct {
			Error struct{ Code string } `json:"error"`
		}
		require.NoError(t, json.Unmarshal(res.Body, &env), "%s", res.Body)
		want, ok := errorStatus[env.Error.Code]
		require.True(t, ok, "unknown error code %q", env.Error.Code)
		require.Equal(t, want, res.Status, "%s answered with status %d", env.Error.Code, res.Status)
	}
}

// errorStatus is SPEC §10's code → HTTP status.
var errorStatus = map[string]int{
	"invalid_request": 400, "invalid_redirect_url": 400, "invalid_webhook_url": 400, "unauthorized": 401,
	"forbidden": 403, "not_found": 404, "method_not_allowed": 405, "idempotency_key_in_use": 409,
	"waba_webhook_conflict": 409, "number_already_connected": 409, "connection_disconnected": 409,
	"heartbeat_not_applicable": 409, "meta_token_expired": 409, "session_expired": 410, "payload_too_large": 413,
	"unsupported_media_type": 415, "idempotency_key_collision": 422, "webhook_preflight_failed": 422,
	"rate_limited": 429, "internal_error": 500, "webhook_subscribe_failed": 502, "meta_unavailable": 503,
	"service_unavailable": 503,
}

// bodyOps are the operations with a request body; {id} is filled by target.
var bodyOps = []struct{ method, path string }{
	{"POST", "/api/v1/onboarding/sessions"},
	{"PATCH", "/api/v1/partner"},
	{"POST", "/api/v1/api-keys"},
	{"POST", "/api/v1/api-keys/{key}/rotate"},
	{"POST", "/api/v1/events/redeliver"},
	{"PATCH", "/api/v1/connections/conn_000000000000000000000000"},
	{"POST", "/api/v1/connections/conn_000000000000000000000000/reveal-secrets"},
}

var contentTypes = []string{"application/json", "", "application/json; charset=utf-8", "text/plain", "application/x-www-form-urlencoded"}

func (fe *fuzzEnv) target(path string) string {
	return strings.ReplaceAll(strings.ReplaceAll(path, "{key}", fe.keyID), "{session}", fe.sessionID)
}

// FuzzRequestBodies sends arbitrary bytes as the body of every operation that takes one.
func FuzzRequestBodies(f *testing.F) {
	seeds := map[string][]string{
		"/api/v1/onboarding/sessions": {mustJSON(sessionSeed(true)), mustJSON(sessionSeed(false)), `{"tenantId":""}`},
		"/api/v1/partner": {`{}`, `{"displayName":"Renamed"}`, `{"displayName":42}`, `{"logoUrl":null}`, `{"displayName":`,
			`{"brandColor":"#12ab9f","allowedRedirectUrls":["https://*.acme.test/x"],"eventTypes":["connection.created"]}`,
			`{"eventWebhookUrl":"https://10.0.0.1/hook"}`, `{"eventWebhookUrl":"https://[::ffff:127.0.0.1]/"}`,
			`{"metadata":{"note":"line\nnext \ud83d\ude00 \u0001"}}`},
		"/api/v1/api-keys":              {`{"name":"billing"}`, `{"name":""}`, `["x"]`, `{"name":"a"}{"name":"b"}`, `{"name":"ci","extra":1}`},
		"/api/v1/api-keys/{key}/rotate": {`{"gracePeriodSeconds":0}`, `{"gracePeriodSeconds":604801}`, `{"gracePeriodSeconds":1.5}`, ``},
		"/api/v1/events/redeliver":      {`{"status":"failed","since":"2026-01-01T00:00:00Z"}`, `{"since":"yesterday"}`, `{"status":"delivered","since":"2000-01-01T00:00:00Z","until":"1999-01-01T00:00:00Z"}`},
		"conn_":                         {`{"name":"n","metadata":{"a":1}}`, `{"webhookUrl":"https://hooks.acme.test/x","webhookVerifyToken":"t"}`, `{"secretTypes":["access_token"]}`, `{"secretTypes":[]}`},
	}
	for i, op := range bodyOps {
		for prefix, bodies := range seeds {
			if strings.HasPrefix(op.path, prefix) || (prefix == "conn_" && strings.Contains(op.path, prefix)) {
				for _, b := range bodies {
					f.Add(uint8(i), uint8(0), []byte(b))
				}
			}
		}
		f.Add(uint8(i), uint8(0), []byte(mustJSON(schemaSample(requestSchema(f, op.method, op.path)))))
	}
	f.Add(uint8(1), uint8(3), []byte(`{"displayName":"x"}`))
	f.Add(uint8(1), uint8(0), []byte(`{"displayName":"`+strings.Repeat("a", 70<<10)+`"}`))
	fe := newFuzzEnv(f)
	f.Fuzz(func(t *testing.T, op, ct uint8, body []byte) {
		o := bodyOps[int(op)%len(bodyOps)]
		if o.path == "/api/v1/onboarding/sessions" {
			body = withoutPreflight(body)
		}
		fe.serve(t, o.method, fe.target(o.path), contentTypes[int(ct)%len(contentTypes)], body)
	})
}

// withoutPreflight sets skipWebhookPreflight on an object body: a preflight dials the fuzzed
// URL, and an IP literal needs no DNS, so it could reach a real network. The URL is still
// validated (and resolved against noDNS).
func withoutPreflight(body []byte) []byte {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil || m == nil {
		return body
	}
	m["skipWebhookPreflight"] = json.RawMessage(`true`)
	out, err := json.Marshal(m)
	if err != nil {
		return body
	}
	return out
}

// listOps are the operations with query parameters.
var listOps = []string{
	"/api/v1/api-keys", "/api/v1/events", "/api/v1/onboarding/sessions", "/api/v1/connections", "/api/v1/audit/secret-reveals",
}

// FuzzQueryParameters sends arbitrary query strings to every list operation.
func FuzzQueryParameters(f *testing.F) {
	for i, path := range listOps {
		f.Add(uint8(i), "")
		f.Add(uint8(i), "limit=1")
		f.Add(uint8(i), "limit=0")
		f.Add(uint8(i), "limit=101&cursor=abc")
		f.Add(uint8(i), "limit=-1&limit=2")
		f.Add(uint8(i), "cursor=%00%ff")
		q := url.Values{}
		for _, p := range queryParams(f, path) {
			q.Set(p.Name, schemaString(p.Schema))
		}
		f.Add(uint8(i), q.Encode())
	}
	f.Add(uint8(1), "status=pending&type=connection.created&tenantId=t%2F1&since=2026-01-01T00:00:00Z")
	f.Add(uint8(1), "since=2026-13-01")
	f.Add(uint8(2), "status=exploded&tenantId=")
	f.Add(uint8(3), "status=active&wabaId=1234&tenantId=%E2%9C%93")
	f.Add(uint8(4), "connectionId=conn_x&keyId=key_y")
	fe := newFuzzEnv(f)
	f.Fuzz(func(t *testing.T, op uint8, query string) {
		target := listOps[int(op)%len(listOps)]
		if query != "" {
			target += "?" + query
		}
		fe.serve(t, "GET", target, "", nil)
	})
}

// idOps are the operations with a path parameter; {x} is replaced by the fuzzed (escaped) value.
var idOps = []struct{ method, path string }{
	{"GET", "/api/v1/onboarding/sessions/{x}"},
	{"POST", "/api/v1/onboarding/sessions/{x}/cancel"},
	{"GET", "/api/v1/connections/{x}"},
	{"DELETE", "/api/v1/connections/{x}"},
	{"GET", "/api/v1/connections/{x}/health"},
	{"POST", "/api/v1/connections/{x}/health/refresh"},
	{"POST", "/api/v1/connections/{x}/heartbeat/confirm"},
	{"GET", "/api/v1/tenants/{x}"},
	{"GET", "/api/v1/events/{x}"},
	{"POST", "/api/v1/events/{x}/redeliver"},
	{"POST", "/api/v1/api-keys/{x}/rotate"},
	{"DELETE", "/api/v1/api-keys/{x}"},
}

// FuzzPathParameters sends arbitrary ids (percent-encoded, so any byte reaches the handler).
func FuzzPathParameters(f *testing.F) {
	for i := range idOps {
		for _, id := range []string{"", "x", "conn_000000000000000000000000", "sess_", "evt_abc", "key_abc", "..", "%",
			"a/b", "tenant with spaces ✓", "\x00", strings.Repeat("z", 300), "{session}", "{key}"} {
			f.Add(uint8(i), id)
		}
	}
	fe := newFuzzEnv(f)
	f.Fuzz(func(t *testing.T, op uint8, id string) {
		o := idOps[int(op)%len(idOps)]
		// The live session only for reads: with no worker polling, cancelling a pending
		// session waits 20 s for its Update and answers 500 (reported in docs/security.md).
		if id == "{key}" || (id == "{session}" && o.method == "GET") {
			id = fe.target(id)
		}
		if !utf8.ValidString(id) {
			id = strings.ToValidUTF8(id, "?")
		}
		fe.serve(t, o.method, strings.Replace(o.path, "{x}", url.PathEscape(id), 1), "", nil)
	})
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// requestSchema is an operation's JSON request schema from the document (nil when none).
func requestSchema(f *testing.F, method, path string) *openapi3.Schema {
	doc := apitest.Document(f)
	for p, item := range doc.Paths.Map() {
		if !pathMatches(p, path) {
			continue
		}
		op := item.GetOperation(method)
		if op == nil || op.RequestBody == nil || op.RequestBody.Value == nil {
			return nil
		}
		if mt := op.RequestBody.Value.Content.Get("application/json"); mt != nil && mt.Schema != nil {
			return mt.Schema.Value
		}
	}
	return nil
}

func queryParams(f *testing.F, path string) []*openapi3.Parameter {
	var out []*openapi3.Parameter
	item := apitest.Document(f).Paths.Value(path)
	if item == nil || item.Get == nil {
		return nil
	}
	for _, p := range item.Get.Parameters {
		if p.Value != nil && p.Value.In == "query" {
			out = append(out, p.Value)
		}
	}
	return out
}

// pathMatches compares a document path ("/a/{id}") with a concrete one segment by segment.
func pathMatches(doc, concrete string) bool {
	a, b := strings.Split(doc, "/"), strings.Split(concrete, "/")
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] && !strings.HasPrefix(a[i], "{") && !strings.HasPrefix(b[i], "{") {
			return false
		}
	}
	return true
}

// schemaSample is a value of the schema: the document has no examples, so seeds are generated
// from it (defaults, first enum value, minimum, every property).
func schemaSample(s *openapi3.Schema) any {
	if s == nil {
		return map[string]any{}
	}
	if s.Default != nil {
		return s.Default
	}
	if len(s.Enum) > 0 {
		return s.Enum[0]
	}
	types := []string{}
	if s.Type != nil {
		types = s.Type.Slice()
	}
	sort.Strings(types)
	typ := ""
	for _, t := range types {
		if t != "null" {
			typ = t
			break
		}
	}
	switch typ {
	case "object":
		m := map[string]any{}
		for name, p := range s.Properties {
			if p.Value != nil {
				m[name] = schemaSample(p.Value)
			}
		}
		return m
	case "array":
		if s.Items != nil && s.Items.Value != nil {
			return []any{schemaSample(s.Items.Value)}
		}
		return []any{}
	case "integer", "number":
		if s.Min != nil {
			return *s.Min
		}
		return 1
	case "boolean":
		return false
	default:
		return schemaString(openapi3.NewSchemaRef("", s))
	}
}

func schemaString(ref *openapi3.SchemaRef) string {
	if ref == nil || ref.Value == nil {
		return "x"
	}
	s := ref.Value
	switch {
	case len(s.Enum) > 0:
		if v, ok := s.Enum[0].(string); ok {
			return v
		}
	case s.Format == "date-time":
		return "2026-01-01T00:00:00Z"
	case s.Type != nil && s.Type.Is("integer"):
		return "10"
	}
	return "x"
}
