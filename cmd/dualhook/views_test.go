package main

import (
	"encoding/json"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dualhook/dualhook/api"
	"github.com/dualhook/dualhook/db/dbq"
	"github.com/dualhook/dualhook/internal/opt"
)

// assertAPIShape checks that obj, an object the CLI printed, has exactly the fields of the
// API's response type T, plus extra (the operator's partnerId, or a field T omits when empty).
func assertAPIShape[T any](t *testing.T, obj json.RawMessage, extra ...string) {
	t.Helper()
	var zero T
	raw, err := json.Marshal(zero)
	require.NoError(t, err)
	assert.ElementsMatch(t, append(fieldNames(t, raw), extra...), fieldNames(t, obj), "the fields of %T", zero)
}

func fieldNames(t *testing.T, obj []byte) []string {
	t.Helper()
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(obj, &m), string(obj))
	return slices.Collect(maps.Keys(m))
}

// withoutPartnerID is an operator view's JSON less its partnerId, which it also returns.
func withoutPartnerID(t *testing.T, v any) (map[string]any, any) {
	t.Helper()
	raw, err := json.Marshal(v)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(raw, &m))
	id := m["partnerId"]
	delete(m, "partnerId")
	return m, id
}

func asJSONMap(t *testing.T, v any) map[string]any {
	t.Helper()
	raw, err := json.Marshal(v)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(raw, &m))
	return m
}

// The operator views are the API's objects plus the partner id, field for field.
func TestOperatorViewsAreTheAPIObjectsPlusThePartner(t *testing.T) {
	at := time.Date(2026, 5, 1, 12, 30, 0, 123000, time.FixedZone("x", 3600))
	ev := dbq.Event{ID: "evt_1", PartnerID: "ptn_1", Type: "onboarding.started", Status: "failed", TenantID: opt.Ptr("t1"),
		AttemptCount: 2, WorkflowID: opt.Ptr("wf"), CreatedAt: at, LastAttemptAt: &at, Body: []byte(`{"id":"evt_1"}`)}
	attempts := []dbq.DeliveryAttempt{{ID: "att_1", AttemptNumber: 1, Outcome: "http_error", StartedAt: at, StatusCode: opt.Ptr(int32(503))}}

	got, partner := withoutPartnerID(t, eventView{PartnerID: ev.PartnerID, EventResponse: api.RenderEvent(ev)})
	assert.Equal(t, "ptn_1", partner)
	assert.Equal(t, asJSONMap(t, api.RenderEvent(ev)), got)

	got, partner = withoutPartnerID(t, eventDetailView{PartnerID: ev.PartnerID, EventWithAttempts: api.RenderEventWithAttempts(ev, attempts)})
	assert.Equal(t, "ptn_1", partner)
	assert.Equal(t, asJSONMap(t, api.RenderEventWithAttempts(ev, attempts)), got)

	s := dbq.OnboardingSession{ID: "sess_1", PartnerID: "ptn_1", TenantID: "t1", TenantName: "T", Status: "failed",
		FailureReason: opt.Ptr("meta_error"), ExpiresAt: at, CreatedAt: at, WorkflowID: "wf"}
	got, partner = withoutPartnerID(t, viewSession(s))
	assert.Equal(t, "ptn_1", partner)
	assert.Equal(t, asJSONMap(t, api.RenderSession(s)), got)
}

func TestStampShowsAPITimestampsInALayout(t *testing.T) {
	assert.Equal(t, "2026-05-01 11:30:00", stamp("2026-05-01T11:30:00.000123Z", time.DateTime))
	assert.Equal(t, "2026-05-01T11:30:00Z", stamp("2026-05-01T11:30:00.000123Z", time.RFC3339))
	assert.Equal(t, "-", optStamp(nil, time.DateTime))
	assert.Equal(t, "not a time", stamp("not a time", time.DateTime))
}
