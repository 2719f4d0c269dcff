package e2e

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/dualhook/dualhook/sandbox"
	"github.com/dualhook/dualhook/testkit/apitest"
	"github.com/dualhook/dualhook/testkit/eventstest"
	"github.com/dualhook/dualhook/testkit/stacktest"
)

// The partner-isolation suite (docs/security.md). Partner A owns one of every resource; partner
// B's key is pointed at each of them through every operation of api/openapi.yaml that takes an
// id (a path parameter, or a query/body field that names a resource). B must get a 404 that is
// byte-for-byte the 404 of an id that never existed (or, for filters, an empty answer), and
// nothing may change: A's rows, the row counts of every table, the workflows started on the
// stack's task queue, the Graph calls the Meta sandbox received and the tenant's webhook hits.
// Afterwards the very same requests with A's key succeed, so each case provably aimed at a real
// resource with a request the API accepts.
//
// The case table is checked against the document: an operation added to api/openapi.yaml
// without an isolation case (or an explicit reason it names no resource) fails this test.

// isoFixture is partner A's resources and the ids of B's probes.
type isoFixture struct {
	st           *stacktest.Stack
	a, b         apitest.Partner
	tenant       string
	connectionID string
	wabaID       string
	phoneID      string
	sessionID    string // A's completed session (the connection's)
	pendingID    string // A's pending session, for cancel
	eventID      string
	victimKeyID  string // A's second key, for rotate and revoke
}

// isoCase is one operation aimed at A's resource.
type isoCase struct {
	// path with A's ids filled in; fake is the same with ids that never existed ("" = no 404 expected).
	path func(f *isoFixture) string
	fake func(f *isoFixture) string
	body func(f *isoFixture) any
	// wantB is B's status (404 for ids; 200/202 for filters and bulk calls, whose answers are
	// then checked to name nothing of A's); control is A's status for the same request.
	wantB, control int
	// check inspects B's answer beyond the status (filters: empty lists).
	check func(t *testing.T, f *isoFixture, m map[string]any)
	// createsForB: B's request legitimately makes B's own rows (only A's rows are compared).
	createsForB bool
}

func emptyData(t *testing.T, _ *isoFixture, m map[string]any) {
	assert.Empty(t, m["data"], "B's filter on A's resource must find nothing")
}

// isoCases maps "METHOD /path" of api/openapi.yaml to its case. The order of controls is the
// order of isoOrder (destructive ones last).
var isoCases = map[string]isoCase{
	"GET /api/v1/onboarding/sessions/{id}": {
		path:  func(f *isoFixture) string { return "/api/v1/onboarding/sessions/" + f.sessionID },
		fake:  func(*isoFixture) string { return "/api/v1/onboarding/sessions/sess_000000000000000000000000" },
		wantB: 404, control: 200,
	},
	"GET /api/v1/connections/{id}": {
		path:  func(f *isoFixture) string { return "/api/v1/connections/" + f.connectionID },
		fake:  func(*isoFixture) string { return "/api/v1/connections/conn_000000000000000000000000" },
		wantB: 404, control: 200,
	},
	"GET /api/v1/connections/{id}/health": {
		path:  func(f *isoFixture) string { return "/api/v1/connections/" + f.connectionID + "/health" },
		fake:  func(*isoFixture) string { return "/api/v1/connections/conn_000000000000000000000000/health" },
		wantB: 404, control: 200,
	},
	"GET /api/v1/events/{id}": {
		path:  func(f *isoFixture) string { return "/api/v1/events/" + f.eventID },
		fake:  func(*isoFixture) string { return "/api/v1/events/evt_000000000000000000000000" },
		wantB: 404, control: 200,
	},
	"GET /api/v1/tenants/{tenantId}": {
		path: func(f *isoFixture) string { return "/api/v1/tenants/" + url.PathEscape(f.tenant) },
		// A tenant is (partner, tenantId): for B, A's tenant is a tenant never seen.
		wantB: 200, control: 200,
		check: func(t *testing.T, _ *isoFixture, m map[string]any) {
			assert.Empty(t, m["connections"])
			assert.Empty(t, m["sessions"])
		},
	},
	"GET /api/v1/connections": {
		path: func(f *isoFixture) string {
			return "/api/v1/connections?tenantId=" + url.QueryEscape(f.tenant) + "&wabaId=" + f.wabaID
		},
		wantB: 200, control: 200, check: emptyData,
	},
	"GET /api/v1/onboarding/sessions": {
		path:  func(f *isoFixture) string { return "/api/v1/onboarding/sessions?tenantId=" + url.QueryEscape(f.tenant) },
		wantB: 200, control: 200, check: emptyData,
	},
	"GET /api/v1/events": {
		path:  func(f *isoFixture) string { return "/api/v1/events?tenantId=" + url.QueryEscape(f.tenant) },
		wantB: 200, control: 200, check: emptyData,
	},
	"GET /api/v1/audit/secret-reveals": {
		path: func(f *isoFixture) string {
			return "/api/v1/audit/secret-reveals?connectionId=" + f.connectionID + "&keyId=" + f.a.KeyID
		},
		wantB: 200, control: 200, check: emptyData,
	},
	"GET /api/v1/api-keys": {
		path:  func(*isoFixture) string { return "/api/v1/api-keys?limit=100" },
		wantB: 200, control: 200,
	},
	"POST /api/v1/connections/{id}/reveal-secrets": {
		path: func(f *isoFixture) string { return "/api/v1/connections/" + f.connectionID + "/reveal-secrets" },
		fake: func(*isoFixture) string { return "/api/v1/connections/conn_000000000000000000000000/reveal-secrets" },
		body: func(*isoFixture) any {
			return map[string]any{"secretTypes": []string{"access_token", "registration_pin"}}
		},
		wantB: 404, control: 200,
	},
	"POST /api/v1/connections/{id}/health/refresh": {
		path:  func(f *isoFixture) string { return "/api/v1/connections/" + f.connectionID + "/health/refresh" },
		fake:  func(*isoFixture) string { return "/api/v1/connections/conn_000000000000000000000000/health/refresh" },
		wantB: 404, control: 200,
	},
	"POST /api/v1/connections/{id}/heartbeat/confirm": {
		path:  func(f *isoFixture) string { return "/api/v1/connections/" + f.connectionID + "/heartbeat/confirm" },
		fake:  func(*isoFixture) string { return "/api/v1/connections/conn_000000000000000000000000/heartbeat/confirm" },
		wantB: 404, control: 200,
	},
	"PATCH /api/v1/connections/{id}": {
		path: func(f *isoFixture) string { return "/api/v1/connections/" + f.connectionID },
		fake: func(*isoFixture) string { return "/api/v1/connections/conn_000000000000000000000000" },
		body: func(*isoFixture) any {
			return map[string]any{"name": "renamed by B", "metadata": map[string]any{"owner": "B"}}
		},
		wantB: 404, control: 200,
	},
	"POST /api/v1/events/{id}/redeliver": {
		path:  func(f *isoFixture) string { return "/api/v1/events/" + f.eventID + "/redeliver" },
		fake:  func(*isoFixture) string { return "/api/v1/events/evt_000000000000000000000000/redeliver" },
		wantB: 404, control: 202,
	},
	"POST /api/v1/events/redeliver": {
		// No id, but a bulk call over "the events": B's must cover only B's (none).
		path: func(*isoFixture) string { return "/api/v1/events/redeliver" },
		body: func(*isoFixture) any {
			return map[string]any{"status": "delivered", "since": "2000-01-01T00:00:00Z"}
		},
		wantB: 202, control: 202,
		check: func(t *testing.T, _ *isoFixture, m map[string]any) { assert.EqualValues(t, 0, m["count"]) },
	},
	"POST /api/v1/onboarding/sessions/{id}/cancel": {
		path:  func(f *isoFixture) string { return "/api/v1/onboarding/sessions/" + f.pendingID + "/cancel" },
		fake:  func(*isoFixture) string { return "/api/v1/onboarding/sessions/sess_000000000000000000000000/cancel" },
		wantB: 404, control: 200,
	},
	"POST /api/v1/onboarding/sessions": {
		// The body names a tenant: B's session for the same tenantId is B's tenant, not A's.
		path: func(*isoFixture) string { return "/api/v1/onboarding/sessions" },
		body: func(f *isoFixture) any {
			r := f.st.Redirect
			return map[string]any{
				"tenantId": f.tenant, "tenantName": "B's namesake", "successRedirectUrl": r + "/done",
				"failureRedirectUrl": r + "/failed", "cancelRedirectUrl": r + "/cancelled",
				"webhookOverrideUrl": f.st.Hook.URL("b-namesake"), "webhookVerifyToken": "verify-b",
			}
		},
		wantB: 201, control: 201, createsForB: true,
	},
	"POST /api/v1/api-keys/{id}/rotate": {
		path:  func(f *isoFixture) string { return "/api/v1/api-keys/" + f.victimKeyID + "/rotate" },
		fake:  func(*isoFixture) string { return "/api/v1/api-keys/key_000000000000000000000000/rotate" },
		body:  func(*isoFixture) any { return map[string]any{"gracePeriodSeconds": 0} },
		wantB: 404, control: 201,
	},
	"DELETE /api/v1/api-keys/{id}": {
		path:  func(f *isoFixture) string { return "/api/v1/api-keys/" + f.victimKeyID },
		fake:  func(*isoFixture) string { return "/api/v1/api-keys/key_000000000000000000000000" },
		wantB: 404, control: 200,
	},
	"DELETE /api/v1/connections/{id}": {
		path:  func(f *isoFixture) string { return "/api/v1/connections/" + f.connectionID },
		fake:  func(*isoFixture) string { return "/api/v1/connections/conn_000000000000000000000000" },
		wantB: 404, control: 200,
	},
}

// isoOrder is the order controls run in: reads, then writes, destructive last.
var isoOrder = []string{
	"GET /api/v1/onboarding/sessions/{id}", "GET /api/v1/connections/{id}", "GET /api/v1/connections/{id}/health",
	"GET /api/v1/events/{id}", "GET /api/v1/tenants/{tenantId}", "GET /api/v1/connections",
	"GET /api/v1/onboarding/sessions", "GET /api/v1/events", "GET /api/v1/audit/secret-reveals", "GET /api/v1/api-keys",
	"POST /api/v1/connections/{id}/reveal-secrets", "POST /api/v1/connections/{id}/health/refresh",
	"POST /api/v1/connections/{id}/heartbeat/confirm", "PATCH /api/v1/connections/{id}",
	"POST /api/v1/events/{id}/redeliver", "POST /api/v1/events/redeliver", "POST /api/v1/onboarding/sessions/{id}/cancel",
	"POST /api/v1/onboarding/sessions", "POST /api/v1/api-keys/{id}/rotate", "DELETE /api/v1/api-keys/{id}",
	"DELETE /api/v1/connections/{id}",
}

// isoNoResource are the operations that name no resource, each with the reason: they act on the
// calling key's own partner only.
var isoNoResource = map[string]string{
	"GET /healthz":                               "unauthenticated liveness",
	"GET /readyz":                                "unauthenticated readiness",
	"GET /api/v1/openapi.yaml":                   "static document",
	"GET /api/v1/partner":                        "the calling key's partner",
	"PATCH /api/v1/partner":                      "the calling key's partner",
	"POST /api/v1/partner/signing-secret/rotate": "the calling key's partner",
	"POST /api/v1/api-keys":                      "creates a key of the calling key's partner",
}

// idParam tells whether a parameter or body field names a resource.
var idParam = regexp.MustCompile(`(?i)^(id|.+Id)$`)

// Every operation of the document is classified, and every one that takes an id has a case.
func TestIsolationCoversEveryOperation(t *testing.T) {
	doc := apitest.Document(t)
	seen := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			key := method + " " + path
			seen[key] = true
			_, hasCase := isoCases[key]
			_, exempt := isoNoResource[key]
			require.True(t, hasCase != exempt, "%s: add an isolation case to isoCases (or, when it names no resource, a reason to isoNoResource)", key)
			takesID := false
			params := append(append([]*openapiParamRef{}, paramsOf(item.Parameters)...), paramsOf(op.Parameters)...)
			for _, p := range params {
				if (p.in == "path" || p.in == "query") && idParam.MatchString(p.name) {
					takesID = true
				}
			}
			if op.RequestBody != nil && op.RequestBody.Value != nil {
				if mt := op.RequestBody.Value.Content.Get("application/json"); mt != nil && mt.Schema != nil && mt.Schema.Value != nil {
					for name := range mt.Schema.Value.Properties {
						if idParam.MatchString(name) {
							takesID = true
						}
					}
				}
			}
			if takesID {
				assert.True(t, hasCase, "%s takes an id: it needs an isolation case", key)
			}
		}
	}
	for key := range isoCases {
		assert.True(t, seen[key], "isolation case %s is not an operation of api/openapi.yaml", key)
	}
	for key := range isoNoResource {
		assert.True(t, seen[key], "isoNoResource %s is not an operation of api/openapi.yaml", key)
	}
	assert.ElementsMatch(t, keysOf(isoCases), isoOrder, "isoOrder lists every case once")
}

func TestIsolationAcrossPartners(t *testing.T) {
	// Its own database: the snapshots count whole tables, which the package's other tests (and
	// their deliveries still retrying) would move.
	st := stacktest.New(t, stacktest.Options{OwnDatabase: true})
	f := &isoFixture{st: st, a: st.Partner, tenant: "iso tenant/ä?&#"}
	ctx := context.Background()

	// A: a coexistence connection (heartbeat applies), a revealed secret (an audit row), its
	// events, a pending session and a second key.
	c := onboardConnection(t, st, f.a, f.tenant, stacktest.SessionRequest{"coexistence": true},
		sandbox.ESSessionRequest{Scenario: "finish_coex"})
	f.connectionID, f.sessionID, f.wabaID, f.phoneID = c.ConnectionID, c.SessionID, c.ES.WABAID, c.ES.PhoneNumberID
	res := st.API.Do(apitest.Request{Method: "POST", Path: "/api/v1/connections/" + f.connectionID + "/reveal-secrets",
		Key: f.a.Key, Body: map[string]any{"secretTypes": []string{"access_token"}}})
	require.Equal(t, 200, res.Status, "%s", res.Body)
	f.pendingID, _ = st.CreateSession(f.a, f.tenant, nil)
	res = st.API.Do(apitest.Request{Method: "POST", Path: "/api/v1/api-keys", Key: f.a.Key, Body: map[string]any{"name": "victim"}})
	require.Equal(t, 201, res.Status, "%s", res.Body)
	f.victimKeyID = res.Map(t)["keyId"].(string)
	require.NoError(t, st.API.Store.Pool.QueryRow(ctx,
		"SELECT id FROM events WHERE partner_id = $1 ORDER BY created_at LIMIT 1", f.a.Row.ID).Scan(&f.eventID))
	f.b = st.NewPartner()

	// Wait until the stack is quiet (deliveries settled, workflows started), then probe.
	before := quietSnapshot(t, f)
	for _, key := range isoOrder {
		cs := isoCases[key]
		method := strings.SplitN(key, " ", 2)[0]
		t.Run("B/"+key, func(t *testing.T) {
			res := isoDo(f, method, cs.path(f), f.b.Key, cs)
			require.Equal(t, cs.wantB, res.Status, "%s", res.Body)
			assertNamesNothingOfA(t, f, res.Body)
			if cs.check != nil {
				cs.check(t, f, res.Map(t))
			}
			if cs.fake != nil {
				// Indistinguishable from absence: the same answer as an id that never existed.
				ghost := isoDo(f, method, cs.fake(f), f.b.Key, cs)
				assert.Equal(t, ghost.Status, res.Status)
				assert.Equal(t, withoutRequestID(t, ghost), withoutRequestID(t, res))
			}
			after := takeSnapshot(t, f)
			if cs.createsForB {
				assert.Equal(t, before.aRows, after.aRows, "B's %s changed A's rows", key)
				before = after
				return
			}
			assertSameSnapshot(t, before, after, key)
			before = after
		})
	}
	// One more look once anything asynchronous a probe might have started had time to show.
	time.Sleep(500 * time.Millisecond)
	assertSameSnapshot(t, before, takeSnapshot(t, f), "after all probes")

	// Controls: the same requests with A's key reach the resources.
	for _, key := range isoOrder {
		cs := isoCases[key]
		method := strings.SplitN(key, " ", 2)[0]
		res := isoDo(f, method, cs.path(f), f.a.Key, cs)
		require.Equal(t, cs.control, res.Status, "control %s with A's key: %s", key, res.Body)
		if key == "GET /api/v1/tenants/{tenantId}" || key == "GET /api/v1/connections" {
			assert.Contains(t, string(res.Body), f.connectionID, "control %s must find A's connection", key)
		}
	}
}

func isoDo(f *isoFixture, method, path, key string, cs isoCase) *apitest.Response {
	var body any
	if cs.body != nil {
		body = cs.body(f)
	}
	return f.st.API.Do(apitest.Request{Method: method, Path: path, Key: key, Body: body})
}

func withoutRequestID(t *testing.T, r *apitest.Response) map[string]any {
	m := r.Map(t)
	if e, ok := m["error"].(map[string]any); ok {
		delete(e, "requestId")
	}
	return m
}

// assertNamesNothingOfA fails when an answer to B carries one of A's identifiers.
func assertNamesNothingOfA(t *testing.T, f *isoFixture, body []byte) {
	t.Helper()
	for _, id := range []string{f.a.Row.ID, f.a.KeyID, f.victimKeyID, f.connectionID, f.sessionID, f.pendingID,
		f.eventID, f.wabaID, f.phoneID, "Tenant " + f.tenant} {
		assert.NotContains(t, string(body), id, "B's answer names A's %q", id)
	}
}

// isoSnapshot is what must not change when B probes A.
type isoSnapshot struct {
	counts     map[string]int64  // rows per table (every partner)
	aRows      map[string]string // digest of A's rows per partner-scoped table
	workflows  int               // executions, open or closed, on the stack's task queue
	graphCalls []string          // the Meta sandbox's call log
	hookHits   int               // the tenant's webhook endpoint (preflights)
}

var isoTables = []string{"partners", "api_keys", "onboarding_sessions", "secrets", "connections", "waba_claims",
	"events", "delivery_attempts", "idempotency_records", "secret_reveal_audit", "meta_webhook_deliveries",
	"waba_counters", "webhook_updates"}

// isoPartnerTables are digested for A's rows; the columns a read legitimately touches on A's own
// key (last_used_at) do not move because A's key is not used during the probes.
var isoPartnerTables = []string{"api_keys", "onboarding_sessions", "secrets", "connections", "events",
	"idempotency_records", "secret_reveal_audit", "webhook_updates"}

func takeSnapshot(t *testing.T, f *isoFixture) isoSnapshot {
	t.Helper()
	ctx := context.Background()
	pool := f.st.API.Store.Pool
	s := isoSnapshot{counts: map[string]int64{}, aRows: map[string]string{}}
	for _, table := range isoTables {
		var n int64
		require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n))
		s.counts[table] = n
	}
	for _, table := range isoPartnerTables {
		var digest string
		require.NoError(t, pool.QueryRow(ctx, fmt.Sprintf(
			"SELECT coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM %s t WHERE partner_id = $1", table),
			f.a.Row.ID).Scan(&digest))
		s.aRows[table] = digest
	}
	var digest string
	require.NoError(t, pool.QueryRow(ctx, "SELECT md5(t::text) FROM partners t WHERE id = $1", f.a.Row.ID).Scan(&digest))
	s.aRows["partners"] = digest
	require.NoError(t, pool.QueryRow(ctx,
		"SELECT coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM delivery_attempts t WHERE event_id IN (SELECT id FROM events WHERE partner_id = $1)",
		f.a.Row.ID).Scan(&digest))
	s.aRows["delivery_attempts"] = digest
	require.NoError(t, pool.QueryRow(ctx, "SELECT coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM waba_claims t").Scan(&digest))
	s.aRows["waba_claims"] = digest
	s.workflows = countWorkflows(t, f.st)
	s.graphCalls = f.st.GraphCalls()
	s.hookHits = f.st.Hook.Hits(f.st.Hook.URL(f.tenant)) + f.st.Hook.Hits(f.st.Hook.URL("b-namesake"))
	return s
}

func countWorkflows(t *testing.T, st *stacktest.Stack) int {
	t.Helper()
	n := 0
	var token []byte
	for {
		res, err := st.API.Temporal.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: "default", Query: fmt.Sprintf("TaskQueue = '%s'", st.API.Config.TemporalTaskQueue), NextPageToken: token,
		})
		require.NoError(t, err)
		n += len(res.Executions)
		if token = res.NextPageToken; len(token) == 0 {
			return n
		}
	}
}

func assertSameSnapshot(t *testing.T, before, after isoSnapshot, what string) {
	t.Helper()
	assert.Equal(t, before.counts, after.counts, "%s changed row counts", what)
	assert.Equal(t, before.aRows, after.aRows, "%s changed A's rows", what)
	assert.Equal(t, before.workflows, after.workflows, "%s started workflows", what)
	assert.Equal(t, before.graphCalls, after.graphCalls, "%s called Meta", what)
	assert.Equal(t, before.hookHits, after.hookHits, "%s called the tenant's webhook", what)
}

// quietSnapshot waits until two snapshots a moment apart agree: the onboarding's deliveries and
// workflows have settled, so any later change is the probes'.
func quietSnapshot(t *testing.T, f *isoFixture) isoSnapshot {
	t.Helper()
	var s isoSnapshot
	eventstest.Eventually(t, 30*time.Second, func() bool {
		a := takeSnapshot(t, f)
		time.Sleep(300 * time.Millisecond)
		s = takeSnapshot(t, f)
		var pending int
		require.NoError(t, f.st.API.Store.Pool.QueryRow(context.Background(),
			"SELECT count(*) FROM events WHERE status = 'pending'").Scan(&pending))
		return pending == 0 && fmt.Sprint(a) == fmt.Sprint(s)
	}, "the stack never went quiet")
	return s
}

type openapiParamRef struct{ in, name string }

func paramsOf(ps openapi3.Parameters) []*openapiParamRef {
	var out []*openapiParamRef
	for _, p := range ps {
		if p != nil && p.Value != nil {
			out = append(out, &openapiParamRef{in: p.Value.In, name: p.Value.Name})
		}
	}
	return out
}

func keysOf[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
