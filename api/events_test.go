package api_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dualhook/dualhook/db/dbq"
	"github.com/dualhook/dualhook/internal/config"
	"github.com/dualhook/dualhook/internal/events"
	"github.com/dualhook/dualhook/internal/eventtypes"
	"github.com/dualhook/dualhook/internal/partners"
	"github.com/dualhook/dualhook/testkit/apitest"
	"github.com/dualhook/dualhook/testkit/eventstest"
)

type eventJSON struct {
	EventID      string  `json:"eventId"`
	Type         string  `json:"type"`
	Status       string  `json:"status"`
	TenantID     *string `json:"tenantId"`
	AttemptCount int     `json:"attemptCount"`
	WorkflowID   *string `json:"workflowId"`
	Payload      struct {
		Event string `json:"event"`
		ID    string `json:"id"`
	} `json:"payload"`
	Attempts []struct {
		AttemptNumber int     `json:"attemptNumber"`
		Outcome       string  `json:"outcome"`
		StatusCode    *int    `json:"statusCode"`
		WorkflowID    *string `json:"workflowId"`
	} `json:"attempts"`
}

type eventPage struct {
	Data       []eventJSON `json:"data"`
	NextCursor *string     `json:"nextCursor"`
}

// eventsEnv is an API process and a worker sharing the test Temporal server and task queue.
func eventsEnv(t *testing.T) (*apitest.Env, *eventstest.Stack) {
	s := eventstest.New(t, eventstest.Options{})
	s.StartWorker()
	env := apitest.New(t, true, func(c *config.Config) { c.DevMode = true; c.TemporalTaskQueue = s.TaskQueue })
	return env, s
}

func withEventURL(u string) func(*partners.Settings) {
	return func(s *partners.Settings) { s.EventWebhookURL = &u }
}

func listEvents(t *testing.T, env *apitest.Env, key, query string) eventPage {
	t.Helper()
	res := env.Do(apitest.Request{Method: "GET", Path: "/api/v1/events" + query, Key: key})
	require.Equal(t, http.StatusOK, res.Status, string(res.Body))
	var p eventPage
	res.JSON(t, &p)
	return p
}

func TestEventLogListsFiltersAndShows(t *testing.T) {
	t.Parallel()
	env, s := eventsEnv(t)
	rcv := eventstest.NewReceiver(t, eventstest.Sequence(500, 200))
	p := env.NewPartner(withEventURL(rcv.URL))
	other := env.NewPartner(withEventURL(rcv.URL))
	failed := eventstest.EventSpec{Type: eventtypes.OnboardingFailed, TenantID: "tenant/a", Data: map[string]any{"reason": "cancelled"}}
	started := eventstest.EventSpec{Type: eventtypes.OnboardingStarted, TenantID: "tenant/a"}
	startedB := eventstest.EventSpec{Type: eventtypes.OnboardingStarted, TenantID: "tenant b"}
	out := s.Run(eventstest.EmitInput{PartnerID: p.Row.ID, OneByOne: true, Events: []eventstest.EventSpec{started, failed, startedB}})
	otherOut := s.Run(eventstest.EmitInput{PartnerID: other.Row.ID, Events: []eventstest.EventSpec{started}})

	all := listEvents(t, env, p.Key, "")
	require.Len(t, all.Data, 3)
	assert.Nil(t, all.NextCursor)
	assert.Equal(t, out.EventIDs[2], all.Data[0].EventID, "newest first")
	for _, e := range all.Data {
		assert.Equal(t, events.StatusDelivered, e.Status)
		assert.Equal(t, e.EventID, e.Payload.ID)
		assert.Equal(t, e.Type, e.Payload.Event)
	}
	assert.Len(t, listEvents(t, env, p.Key, "?tenantId="+url.QueryEscape("tenant/a")).Data, 2)
	assert.Len(t, listEvents(t, env, p.Key, "?type=onboarding.failed").Data, 1)
	assert.Len(t, listEvents(t, env, p.Key, "?status=delivered&tenantId="+url.QueryEscape("tenant b")).Data, 1)
	assert.Empty(t, listEvents(t, env, p.Key, "?status=failed").Data)
	assert.Empty(t, listEvents(t, env, p.Key, "?since="+url.QueryEscape(time.Now().Add(time.Hour).UTC().Format(time.RFC3339))).Data)

	first := listEvents(t, env, p.Key, "?limit=2")
	require.Len(t, first.Data, 2)
	require.NotNil(t, first.NextCursor)
	second := listEvents(t, env, p.Key, "?limit=2&cursor="+*first.NextCursor)
	require.Len(t, second.Data, 1)
	assert.Equal(t, out.EventIDs[0], second.Data[0].EventID)

	for _, q := range []string{"?status=lost", "?since=yesterday", "?limit=0"} {
		res := env.Do(apitest.Request{Method: "GET", Path: "/api/v1/events" + q, Key: p.Key})
		assert.Equal(t, http.StatusBadRequest, res.Status, q)
		assert.Equal(t, "invalid_request", res.ErrorCode(), q)
	}

	res := env.Do(apitest.Request{Method: "GET", Path: "/api/v1/events/" + out.EventIDs[0], Key: p.Key})
	require.Equal(t, http.StatusOK, res.Status)
	var ev eventJSON
	res.JSON(t, &ev)
	assert.Equal(t, "tenant/a", *ev.TenantID)
	require.NotNil(t, ev.WorkflowID)
	assert.Contains(t, *ev.WorkflowID, "events-test/", "the workflow that delivered it")
	assert.Equal(t, 2, ev.AttemptCount)
	require.Len(t, ev.Attempts, 2)
	assert.Equal(t, "retry", ev.Attempts[0].Outcome)
	assert.Equal(t, 500, *ev.Attempts[0].StatusCode)
	assert.Equal(t, "delivered", ev.Attempts[1].Outcome)

	// Another partner's event is as absent as a made-up one.
	for _, id := range []string{otherOut.EventIDs[0], "evt_doesnotexist", "conn_123", "%20"} {
		res := env.Do(apitest.Request{Method: "GET", Path: "/api/v1/events/" + id, Key: p.Key})
		assert.Equal(t, http.StatusNotFound, res.Status, id)
		assert.Equal(t, "not_found", res.ErrorCode(), id)
		res = env.Do(apitest.Request{Method: "POST", Path: "/api/v1/events/" + id + "/redeliver", Key: p.Key})
		assert.Equal(t, http.StatusNotFound, res.Status, id)
	}
}

func TestRedeliverOneAndInBulk(t *testing.T) {
	t.Parallel()
	env, s := eventsEnv(t)
	ln := eventstest.NewReceiver(t, eventstest.Status(200))
	addr := ln.Addr()
	ln.Close() // the receiver is down for the whole schedule
	p := env.NewPartner(withEventURL("http://" + addr + "/hooks/dualhook"))
	specs := []eventstest.EventSpec{{Type: eventtypes.OnboardingStarted, TenantID: "a"}, {Type: eventtypes.OnboardingStarted, TenantID: "b"},
		{Type: eventtypes.OnboardingStarted, TenantID: "c"}}
	since := time.Now().Add(-time.Minute).UTC()
	out := s.Run(eventstest.EmitInput{PartnerID: p.Row.ID, Events: specs})
	assert.Len(t, listEvents(t, env, p.Key, "?status=failed").Data, 3)

	rcv := eventstest.NewReceiverAt(t, addr, eventstest.Status(http.StatusOK))
	res := env.Do(apitest.Request{Method: "POST", Path: "/api/v1/events/" + out.EventIDs[0] + "/redeliver", Key: p.Key})
	require.Equal(t, http.StatusAccepted, res.Status, string(res.Body))
	assert.Equal(t, "redelivery/"+out.EventIDs[0]+"/1", res.Map(t)["workflowId"])
	s.WaitStatus(out.EventIDs[0], events.StatusDelivered, 30*time.Second)

	for _, bad := range []any{
		map[string]any{},
		map[string]any{"since": since, "status": "pending"},
		map[string]any{"since": since, "until": since.Add(-time.Hour)},
		map[string]any{"since": "yesterday"},
	} {
		res := env.Do(apitest.Request{Method: "POST", Path: "/api/v1/events/redeliver", Key: p.Key, Body: bad})
		assert.Equal(t, http.StatusBadRequest, res.Status, "%v: %s", bad, res.Body)
	}

	// The bulk replay of the partner's failed events: the two that are left.
	res = env.Do(apitest.Request{Method: "POST", Path: "/api/v1/events/redeliver", Key: p.Key,
		Body: map[string]any{"status": "failed", "since": since}})
	require.Equal(t, http.StatusAccepted, res.Status, string(res.Body))
	assert.Equal(t, map[string]any{"count": float64(2), "hasMore": false}, res.Map(t))
	for _, id := range out.EventIDs[1:] {
		s.WaitStatus(id, events.StatusDelivered, 30*time.Second)
	}
	assert.Equal(t, 3, rcv.Count())
	res = env.Do(apitest.Request{Method: "POST", Path: "/api/v1/events/redeliver", Key: p.Key,
		Body: map[string]any{"since": since}})
	require.Equal(t, http.StatusAccepted, res.Status)
	assert.Equal(t, float64(0), res.Map(t)["count"])
}

// Bulk replay pages with a cursor (docs/events.md): replayed delivered events stay delivered, so
// before the cursor every call picked the same oldest page again. Not parallel: it lowers the
// page size, which parallel tests only read after it is restored.
func TestBulkReplayFollowsTheCursorAndIsBounded(t *testing.T) {
	old := events.MaxBulkRedeliveries
	events.MaxBulkRedeliveries = 2
	t.Cleanup(func() { events.MaxBulkRedeliveries = old })
	s := eventstest.New(t, eventstest.Options{})
	s.StartWorker()
	env := apitest.New(t, true, func(c *config.Config) {
		c.DevMode = true
		c.TemporalTaskQueue = s.TaskQueue
		c.ReplayDailyCap = 7
	})
	rcv := eventstest.NewReceiver(t, eventstest.Status(http.StatusOK))
	p := env.NewPartner(withEventURL(rcv.URL))
	since := time.Now().Add(-time.Minute).UTC()
	specs := make([]eventstest.EventSpec, 5)
	for i := range specs {
		specs[i] = eventstest.EventSpec{Type: eventtypes.OnboardingStarted, TenantID: "t"}
	}
	out := s.Run(eventstest.EmitInput{PartnerID: p.Row.ID, OneByOne: true, Events: specs})
	replay := func(body map[string]any) *apitest.Response {
		return env.Do(apitest.Request{Method: "POST", Path: "/api/v1/events/redeliver", Key: p.Key, Body: body})
	}

	// A partner's concurrent second bulk replay is refused while the first holds the lease.
	ctx := context.Background()
	n, err := env.Store.AcquireReplayLease(ctx, dbq.AcquireReplayLeaseParams{PartnerID: p.Row.ID, Holder: "other-call", TtlSeconds: 60})
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	res := replay(map[string]any{"status": "delivered", "since": since})
	require.Equal(t, http.StatusConflict, res.Status, string(res.Body))
	assert.Equal(t, "replay_in_progress", res.ErrorCode())
	require.NoError(t, env.Store.ReleaseReplayLease(ctx, dbq.ReleaseReplayLeaseParams{PartnerID: p.Row.ID, Holder: "other-call"}))

	res = replay(map[string]any{"status": "delivered", "since": since, "cursor": "bm90IGEgY3Vyc29y"})
	assert.Equal(t, http.StatusBadRequest, res.Status, string(res.Body))

	// Three calls following nextCursor replay every event exactly once.
	var cursor any
	for call, want := range []int{2, 2, 1} {
		body := map[string]any{"status": "delivered", "since": since}
		if cursor != nil {
			body["cursor"] = cursor
		}
		res := replay(body)
		require.Equal(t, http.StatusAccepted, res.Status, string(res.Body))
		m := res.Map(t)
		assert.Equal(t, float64(want), m["count"], "call %d", call+1)
		assert.Equal(t, call < 2, m["hasMore"], "call %d", call+1)
		cursor = m["nextCursor"]
		if call < 2 {
			require.NotNil(t, cursor, "call %d", call+1)
		} else {
			assert.NotContains(t, m, "nextCursor", "no cursor once nothing is left")
		}
	}
	for _, id := range out.EventIDs {
		assert.EqualValues(t, 1, s.Event(id).RedeliveryCount, "%s is replayed exactly once", id)
	}

	// The daily cap of 7: 5 are used; a call schedules the 2 left, then replays answer 429.
	res = replay(map[string]any{"status": "delivered", "since": since})
	require.Equal(t, http.StatusAccepted, res.Status, string(res.Body))
	assert.Equal(t, float64(2), res.Map(t)["count"])
	res = replay(map[string]any{"status": "delivered", "since": since, "cursor": res.Map(t)["nextCursor"]})
	require.Equal(t, http.StatusTooManyRequests, res.Status, string(res.Body))
	assert.Equal(t, "rate_limited", res.ErrorCode())
	assert.Contains(t, res.Map(t)["error"].(map[string]any)["message"], "daily limit of 7 replayed events")
	assert.NotEmpty(t, res.Header.Get("Retry-After"))
	res = env.Do(apitest.Request{Method: "POST", Path: "/api/v1/events/" + out.EventIDs[0] + "/redeliver", Key: p.Key})
	assert.Equal(t, http.StatusTooManyRequests, res.Status, "single replays draw on the same cap")

	// Another partner has its own budget.
	other := env.NewPartner(withEventURL(rcv.URL))
	otherOut := s.Run(eventstest.EmitInput{PartnerID: other.Row.ID, Events: specs[:1]})
	res = env.Do(apitest.Request{Method: "POST", Path: "/api/v1/events/" + otherOut.EventIDs[0] + "/redeliver", Key: other.Key})
	assert.Equal(t, http.StatusAccepted, res.Status, string(res.Body))
}
