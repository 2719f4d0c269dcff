package events_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dualhook/dualhook/internal/domain"
	"github.com/dualhook/dualhook/internal/events"
	"github.com/dualhook/dualhook/internal/eventtypes"
	"github.com/dualhook/dualhook/signature"
	"github.com/dualhook/dualhook/testkit/eventstest"
)

func completed(tenant string) eventstest.EventSpec {
	return eventstest.EventSpec{Type: eventtypes.OnboardingCompleted, TenantID: tenant, Data: map[string]any{
		"sessionId": "sess_1", "tenantId": tenant, "metadata": map[string]any{"plan": "pro & more"},
		"connectionId": "conn_1", "wabaId": "1001", "phoneNumberId": "2002",
	}}
}

func TestDeliveredOnThirdAttemptWithVerifiableSignatures(t *testing.T) {
	bothDeliveryPaths(t, testDeliveredOnThirdAttemptWithVerifiableSignatures)
}

func testDeliveredOnThirdAttemptWithVerifiableSignatures(t *testing.T, waitedOn bool) {
	s := eventstest.New(t, eventstest.Options{})
	s.StartWorker()
	rcv := eventstest.NewReceiver(t, eventstest.Sequence(500, 500, 200))
	partner, secret := s.NewPartner(&rcv.URL, nil)

	run := s.Start(eventstest.EmitInput{PartnerID: partner.ID, WaitedOn: waitedOn, Events: []eventstest.EventSpec{completed("tenant ✓ 1")}})
	var out eventstest.EmitOutput
	require.NoError(t, run.Get(context.Background(), &out))
	require.Len(t, out.Results, 1)
	evID := out.EventIDs[0]
	assert.Equal(t, domain.DeliveryResult{EventID: evID, Status: domain.DeliveryDelivered, Attempts: 3}, out.Results[0])

	ev := s.Event(evID)
	assert.Equal(t, events.StatusDelivered, ev.Status)
	assert.EqualValues(t, 3, ev.AttemptCount)
	require.NotNil(t, ev.WorkflowID)
	assert.Equal(t, run.GetID(), *ev.WorkflowID, "the event names the workflow that delivered it")
	require.NotNil(t, ev.DeliveredAt)

	attempts := s.Attempts(evID)
	require.Len(t, attempts, 3)
	for i, want := range []struct {
		outcome string
		code    int32
	}{{"retry", 500}, {"retry", 500}, {"delivered", 200}} {
		a := attempts[i]
		assert.EqualValues(t, i+1, a.AttemptNumber)
		assert.Equal(t, want.outcome, a.Outcome)
		require.NotNil(t, a.StatusCode)
		assert.Equal(t, want.code, *a.StatusCode)
		require.NotNil(t, a.LatencyMs)
		assert.Equal(t, rcv.URL, *a.URL)
		assert.Equal(t, run.GetID(), *a.WorkflowID)
		if i > 0 {
			gap := a.StartedAt.Sub(attempts[i-1].StartedAt)
			assert.GreaterOrEqual(t, gap, eventstest.CompressedSchedule[i-1]-5*time.Millisecond, "attempt %d came too early", i+1)
		}
	}
	assert.Equal(t, "HTTP 500", *attempts[0].Error)
	assert.Nil(t, attempts[2].Error)

	// The body: SPEC §8.1's envelope, rendered once, identical on every attempt.
	var body struct {
		Event     string         `json:"event"`
		ID        string         `json:"id"`
		CreatedAt string         `json:"createdAt"`
		Data      map[string]any `json:"data"`
	}
	require.NoError(t, json.Unmarshal(ev.Body, &body))
	assert.Equal(t, eventtypes.OnboardingCompleted, body.Event)
	assert.Equal(t, evID, body.ID)
	assert.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`, body.CreatedAt)
	assert.Equal(t, "tenant ✓ 1", body.Data["tenantId"])
	assert.True(t, strings.HasPrefix(string(ev.Body), `{"event":"onboarding.completed","id":"`+evID+`","createdAt":"`), string(ev.Body))
	assert.Contains(t, string(ev.Body), `"pro & more"`, "no HTML escaping in bodies")

	reqs := rcv.Requests()
	require.Len(t, reqs, 3)
	var cases []nodeCase
	for i, r := range reqs {
		assert.Equal(t, ev.Body, r.Body, "attempt %d body", i+1)
		assert.Equal(t, evID, r.Header.Get(signature.HeaderEventID))
		assert.Equal(t, evID, r.Header.Get(signature.HeaderWebhookID))
		assert.Equal(t, eventtypes.OnboardingCompleted, r.Header.Get(signature.HeaderEvent))
		assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
		assert.NoError(t, signature.Verify(secret, r.Header, r.Body, 0, time.Now()), "attempt %d: Standard Webhooks signature", i+1)
		assert.NoError(t, signature.VerifyLegacy(secret, r.Header, r.Body), "attempt %d: X-Dualhook-Signature", i+1)
		headers := map[string]string{}
		for k := range r.Header {
			headers[k] = r.Header.Get(k)
		}
		cases = append(cases, nodeCase{Name: "attempt " + string(rune('1'+i)), Secret: secret, Headers: headers,
			Body: string(r.Body), Now: time.Now().Unix(), ToleranceSeconds: 300})
	}
	verifyWithNodeRecipe(t, cases)

	assert.InDelta(t, 2, counter(t, s, "retry"), 0)
	assert.InDelta(t, 1, counter(t, s, "delivered"), 0)
}

type nodeCase struct {
	Name             string            `json:"name"`
	Secret           string            `json:"secret"`
	Headers          map[string]string `json:"headers"`
	Body             string            `json:"body"`
	Now              int64             `json:"now"`
	ToleranceSeconds int64             `json:"toleranceSeconds"`
}

// verifyWithNodeRecipe runs the partner doc's Node.js recipe (signature/testdata/verify.mjs,
// kept equal to docs/webhook-signatures.md by the signature package's tests) on real requests.
func verifyWithNodeRecipe(t *testing.T, cases []nodeCase) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Log("node is not on PATH: the Node recipe check is skipped")
		return
	}
	raw, err := json.Marshal(map[string]any{"cases": cases})
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "cases.json")
	require.NoError(t, os.WriteFile(file, raw, 0o600))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, node, filepath.Join("..", "..", "signature", "testdata", "verify.mjs"), file)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), stderr.String())
	var out struct {
		Results []struct {
			Name     string  `json:"name"`
			Standard *string `json:"standard"`
			Legacy   *string `json:"legacy"`
		} `json:"results"`
	}
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &out), stdout.String())
	require.Len(t, out.Results, len(cases))
	for _, r := range out.Results {
		assert.Nil(t, r.Standard, "%s: Node verifyWebhook", r.Name)
		assert.Nil(t, r.Legacy, "%s: Node verifyLegacy", r.Name)
	}
}

func counter(t *testing.T, s *eventstest.Stack, outcome string) float64 {
	t.Helper()
	c, err := s.Metrics.Deliveries.GetMetricWithLabelValues(outcome)
	require.NoError(t, err)
	var m dto.Metric
	require.NoError(t, c.Write(&m))
	return m.GetCounter().GetValue()
}

// closedAddr returns a 127.0.0.1 address nothing listens on (a receiver that is down).
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

func TestFailedAfterTheWholeScheduleThenReplayDelivers(t *testing.T) {
	bothDeliveryPaths(t, testFailedAfterTheWholeScheduleThenReplayDelivers)
}

func testFailedAfterTheWholeScheduleThenReplayDelivers(t *testing.T, waitedOn bool) {
	s := eventstest.New(t, eventstest.Options{})
	s.StartWorker()
	addr := closedAddr(t)
	url := "http://" + addr + "/hooks/dualhook"
	partner, secret := s.NewPartner(&url, nil)

	out := s.Run(eventstest.EmitInput{PartnerID: partner.ID, WaitedOn: waitedOn, Events: []eventstest.EventSpec{completed("t-down")}})
	evID := out.EventIDs[0]
	assert.Equal(t, domain.DeliveryFailed, out.Results[0].Status)
	assert.Equal(t, 7, out.Results[0].Attempts)
	assert.Contains(t, out.Results[0].Error, "attempt 7 of 7")

	ev := s.Event(evID)
	assert.Equal(t, events.StatusFailed, ev.Status)
	assert.EqualValues(t, 7, ev.AttemptCount)
	attempts := s.Attempts(evID)
	require.Len(t, attempts, 7)
	for i, a := range attempts {
		want := "retry"
		if i == 6 {
			want = "failed"
		}
		assert.Equal(t, want, a.Outcome, "attempt %d", i+1)
		assert.Nil(t, a.StatusCode)
		require.NotNil(t, a.Error)
		assert.Contains(t, *a.Error, "connection refused")
		assert.NotContains(t, *a.Error, "/hooks/dualhook", "errors never carry the URL")
		if i > 0 {
			assert.GreaterOrEqual(t, a.StartedAt.Sub(attempts[i-1].StartedAt), eventstest.CompressedSchedule[i-1]-5*time.Millisecond)
		}
	}

	// The receiver comes back; a replay delivers the same event id and body.
	rcv := eventstest.NewReceiverAt(t, addr, eventstest.Status(http.StatusNoContent))
	r := &events.Replayer{Store: s.Store, Temporal: s.Temporal, TaskQueue: s.TaskQueue}
	wfID, err := r.Redeliver(context.Background(), ev)
	require.NoError(t, err)
	assert.Equal(t, domain.RedeliveryID(evID, 1), wfID)
	ev = s.WaitStatus(evID, events.StatusDelivered, 30*time.Second)
	assert.Equal(t, wfID, *ev.WorkflowID)
	assert.EqualValues(t, 8, ev.AttemptCount)
	reqs := rcv.Requests()
	require.Len(t, reqs, 1)
	assert.Equal(t, ev.Body, reqs[0].Body)
	assert.NoError(t, signature.Verify(secret, reqs[0].Header, reqs[0].Body, 0, time.Now()))

	// Operators find the redelivery by its search attributes.
	desc, err := s.Temporal.DescribeWorkflow(context.Background(), wfID, "")
	require.NoError(t, err)
	fields := desc.RawResponse.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields()
	assert.Contains(t, string(fields["EventType"].GetData()), eventtypes.OnboardingCompleted)
	assert.Contains(t, string(fields["PartnerId"].GetData()), partner.ID)
	assert.Contains(t, string(fields["TenantId"].GetData()), "t-down")

	// A second replay gets the next number.
	wfID2, err := r.Redeliver(context.Background(), s.Event(evID))
	require.NoError(t, err)
	assert.Equal(t, domain.RedeliveryID(evID, 2), wfID2)
	eventstest.Eventually(t, 30*time.Second, func() bool { return rcv.Count() == 2 }, "second replay never arrived")
}

func TestRetryAfterIsHonouredWhenLonger(t *testing.T) {
	bothDeliveryPaths(t, testRetryAfterIsHonouredWhenLonger)
}

func testRetryAfterIsHonouredWhenLonger(t *testing.T, waitedOn bool) {
	s := eventstest.New(t, eventstest.Options{})
	s.StartWorker()
	rcv := eventstest.NewReceiver(t, func(n int, _ eventstest.Request, w http.ResponseWriter) {
		switch n {
		case 1:
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(http.StatusServiceUnavailable)
		case 2:
			// An HTTP-date in the past is "now": the schedule's delay applies.
			w.Header().Set("Retry-After", time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat))
			w.WriteHeader(http.StatusTooManyRequests)
		default:
			w.WriteHeader(http.StatusOK)
		}
	})
	partner, _ := s.NewPartner(&rcv.URL, nil)
	out := s.Run(eventstest.EmitInput{PartnerID: partner.ID, WaitedOn: waitedOn, Events: []eventstest.EventSpec{completed("t")}})
	require.Equal(t, domain.DeliveryDelivered, out.Results[0].Status)
	reqs := rcv.Requests()
	require.Len(t, reqs, 3)
	assert.GreaterOrEqual(t, reqs[1].At.Sub(reqs[0].At), 2*time.Second, "Retry-After: 2 was longer than the 100 ms of the schedule")
	assert.Less(t, reqs[2].At.Sub(reqs[1].At), 2*time.Second)
	attempts := s.Attempts(out.EventIDs[0])
	assert.EqualValues(t, 503, *attempts[0].StatusCode)
	assert.EqualValues(t, 429, *attempts[1].StatusCode)
}

func TestGoneStopsRetrying(t *testing.T) { bothDeliveryPaths(t, testGoneStopsRetrying) }

func testGoneStopsRetrying(t *testing.T, waitedOn bool) {
	s := eventstest.New(t, eventstest.Options{})
	s.StartWorker()
	rcv := eventstest.NewReceiver(t, eventstest.Status(http.StatusGone))
	partner, _ := s.NewPartner(&rcv.URL, nil)
	out := s.Run(eventstest.EmitInput{PartnerID: partner.ID, WaitedOn: waitedOn, Events: []eventstest.EventSpec{completed("t")}})
	assert.Equal(t, domain.DeliveryFailed, out.Results[0].Status)
	assert.Equal(t, 1, rcv.Count())
	attempts := s.Attempts(out.EventIDs[0])
	require.Len(t, attempts, 1)
	assert.Equal(t, "failed", attempts[0].Outcome)
	assert.Contains(t, *attempts[0].Error, "410")
	assert.Equal(t, events.StatusFailed, s.Event(out.EventIDs[0]).Status)
}

func TestRedirectsAreFailuresAndNotFollowed(t *testing.T) {
	t.Parallel()
	s := eventstest.New(t, eventstest.Options{Schedule: []time.Duration{50 * time.Millisecond}})
	s.StartWorker()
	target := eventstest.NewReceiver(t, eventstest.Status(http.StatusOK))
	rcv := eventstest.NewReceiver(t, func(_ int, _ eventstest.Request, w http.ResponseWriter) {
		w.Header().Set("Location", target.URL)
		w.WriteHeader(http.StatusTemporaryRedirect)
	})
	partner, _ := s.NewPartner(&rcv.URL, nil)
	out := s.Run(eventstest.EmitInput{PartnerID: partner.ID, Events: []eventstest.EventSpec{completed("t")}})
	assert.Equal(t, domain.DeliveryFailed, out.Results[0].Status)
	assert.Equal(t, 2, rcv.Count())
	assert.Zero(t, target.Count(), "the redirect target must never be called")
	for _, a := range s.Attempts(out.EventIDs[0]) {
		assert.Contains(t, *a.Error, "redirects are not followed")
	}
}

func TestSlowReceiverTimesOut(t *testing.T) { bothDeliveryPaths(t, testSlowReceiverTimesOut) }

func testSlowReceiverTimesOut(t *testing.T, waitedOn bool) {
	// The SPEC's 10 s, compressed to 500 ms: the first answer comes after 1.5 s.
	s := eventstest.New(t, eventstest.Options{Timeout: 500 * time.Millisecond})
	s.StartWorker()
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	rcv := eventstest.NewReceiver(t, func(n int, _ eventstest.Request, w http.ResponseWriter) {
		if n == 1 {
			select {
			case <-release:
			case <-time.After(1500 * time.Millisecond):
			}
		}
		w.WriteHeader(http.StatusOK)
	})
	partner, _ := s.NewPartner(&rcv.URL, nil)
	out := s.Run(eventstest.EmitInput{PartnerID: partner.ID, WaitedOn: waitedOn, Events: []eventstest.EventSpec{completed("t")}})
	assert.Equal(t, domain.DeliveryDelivered, out.Results[0].Status)
	attempts := s.Attempts(out.EventIDs[0])
	require.Len(t, attempts, 2)
	assert.Equal(t, "retry", attempts[0].Outcome)
	assert.Equal(t, "no response within 500ms", *attempts[0].Error)
	assert.Less(t, *attempts[0].LatencyMs, int32(1400), "the attempt gives up at the timeout")
}

func TestHugeResponseBodyKeepsAPreview(t *testing.T) {
	t.Parallel()
	s := eventstest.New(t, eventstest.Options{})
	s.StartWorker()
	// 1023 ASCII bytes then a 2-byte character straddling the 1 KiB limit, then 16 MiB more.
	huge := func(w http.ResponseWriter, code int) {
		w.WriteHeader(code)
		_, _ = w.Write([]byte(strings.Repeat("a", 1023) + "é\x00"))
		chunk := bytes.Repeat([]byte("x"), 64<<10)
		for range 256 {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}
	rcv := eventstest.NewReceiver(t, func(n int, _ eventstest.Request, w http.ResponseWriter) {
		if n == 1 {
			huge(w, http.StatusInternalServerError)
			return
		}
		huge(w, http.StatusOK)
	})
	partner, _ := s.NewPartner(&rcv.URL, nil)
	out := s.Run(eventstest.EmitInput{PartnerID: partner.ID, Events: []eventstest.EventSpec{completed("t")}})
	assert.Equal(t, domain.DeliveryDelivered, out.Results[0].Status)
	for _, a := range s.Attempts(out.EventIDs[0]) {
		require.NotNil(t, a.ResponsePreview)
		assert.Equal(t, strings.Repeat("a", 1023), *a.ResponsePreview, "cut on a character boundary, at most 1 KiB")
	}
}

func TestSkippedWithoutURLOrSubscriptionThenReplayable(t *testing.T) {
	t.Parallel()
	s := eventstest.New(t, eventstest.Options{})
	s.StartWorker()
	rcv := eventstest.NewReceiver(t, eventstest.Status(http.StatusOK))

	noURL, _ := s.NewPartner(nil, nil)
	out := s.Run(eventstest.EmitInput{PartnerID: noURL.ID, Events: []eventstest.EventSpec{completed("t")}})
	assert.Equal(t, domain.DeliverySkipped, out.Results[0].Status)
	ev := s.Event(out.EventIDs[0])
	assert.Equal(t, events.StatusSkipped, ev.Status)
	attempts := s.Attempts(ev.ID)
	require.Len(t, attempts, 1)
	assert.Equal(t, "skipped", attempts[0].Outcome)
	assert.Nil(t, attempts[0].StatusCode)
	assert.Contains(t, *attempts[0].Error, "no eventWebhookUrl")

	// The partner configures a URL later and replays.
	s.SetWebhookURL(noURL.ID, &rcv.URL)
	r := &events.Replayer{Store: s.Store, Temporal: s.Temporal, TaskQueue: s.TaskQueue}
	_, err := r.Redeliver(context.Background(), ev)
	require.NoError(t, err)
	s.WaitStatus(ev.ID, events.StatusDelivered, 30*time.Second)
	assert.Equal(t, 1, rcv.Count())

	// Extension types are sent only when listed (SPEC §8.2).
	webhookUpdated := eventstest.EventSpec{Type: eventtypes.ConnectionWebhookUpdate, TenantID: "t", Data: map[string]any{"wabaId": "1"}}
	defaults, _ := s.NewPartner(&rcv.URL, nil)
	out = s.Run(eventstest.EmitInput{PartnerID: defaults.ID, Events: []eventstest.EventSpec{webhookUpdated, completed("t")}})
	assert.Equal(t, domain.DeliverySkipped, out.Results[0].Status)
	assert.Equal(t, domain.DeliveryDelivered, out.Results[1].Status)
	assert.Contains(t, *s.Attempts(out.EventIDs[0])[0].Error, "eventTypes do not include connection.webhook_updated")

	listing, _ := s.NewPartner(&rcv.URL, []string{eventtypes.ConnectionWebhookUpdate})
	out = s.Run(eventstest.EmitInput{PartnerID: listing.ID, Events: []eventstest.EventSpec{webhookUpdated, completed("t")}})
	assert.Equal(t, domain.DeliveryDelivered, out.Results[0].Status)
	assert.Equal(t, domain.DeliverySkipped, out.Results[1].Status, "a partner listing types gets only those")
}

func TestChangedURLIsUsedFromTheNextAttempt(t *testing.T) {
	t.Parallel()
	s := eventstest.New(t, eventstest.Options{})
	s.StartWorker()
	second := eventstest.NewReceiver(t, eventstest.Status(http.StatusOK))
	var partnerID string
	first := eventstest.NewReceiver(t, func(_ int, _ eventstest.Request, w http.ResponseWriter) {
		s.SetWebhookURL(partnerID, &second.URL) // the partner moves while an attempt is failing
		w.WriteHeader(http.StatusBadGateway)
	})
	partner, _ := s.NewPartner(&first.URL, nil)
	partnerID = partner.ID
	out := s.Run(eventstest.EmitInput{PartnerID: partner.ID, Events: []eventstest.EventSpec{completed("t")}})
	assert.Equal(t, domain.DeliveryDelivered, out.Results[0].Status)
	assert.Equal(t, 1, first.Count())
	assert.Equal(t, 1, second.Count())
	attempts := s.Attempts(out.EventIDs[0])
	require.Len(t, attempts, 2)
	assert.Equal(t, first.URL, *attempts[0].URL)
	assert.Equal(t, second.URL, *attempts[1].URL)
}

func TestEmitRetriedAfterCrashStoresOneEvent(t *testing.T) {
	t.Parallel()
	s := eventstest.New(t, eventstest.Options{})
	s.StartWorker()
	rcv := eventstest.NewReceiver(t, eventstest.Status(http.StatusOK))
	partner, _ := s.NewPartner(&rcv.URL, nil)
	out := s.Run(eventstest.EmitInput{PartnerID: partner.ID, FailAfterCommit: true,
		Events: []eventstest.EventSpec{completed("a"), completed("b")}})
	require.Len(t, out.EventIDs, 2)
	var n int
	require.NoError(t, s.Store.Pool.QueryRow(context.Background(), "SELECT count(*) FROM events WHERE partner_id = $1", partner.ID).Scan(&n))
	assert.Equal(t, 2, n, "the retried activity inserted nothing more")
	assert.Equal(t, 2, rcv.Count())
	for _, r := range out.Results {
		assert.Equal(t, domain.DeliveryDelivered, r.Status)
	}
}

func TestLongLivedWorkflowsDeliverThroughChildren(t *testing.T) {
	t.Parallel()
	s := eventstest.New(t, eventstest.Options{})
	s.StartWorker()
	rcv := eventstest.NewReceiver(t, eventstest.Sequence(500, 200))
	partner, _ := s.NewPartner(&rcv.URL, nil)
	out := s.Run(eventstest.EmitInput{PartnerID: partner.ID, Children: true, Events: []eventstest.EventSpec{
		{Type: eventtypes.HeartbeatDueSoon, TenantID: "t-hb", Data: map[string]any{"connectionId": "conn_1"}},
		{Type: eventtypes.HeartbeatOverdue, TenantID: "t-hb", Data: map[string]any{"connectionId": "conn_1"}},
	}})
	require.Len(t, out.Results, 2)
	for _, r := range out.Results {
		assert.Equal(t, domain.DeliveryHandedOff, r.Status, "the parent does not wait for its children's outcome")
	}
	for _, id := range out.EventIDs {
		run := s.Temporal.GetWorkflow(context.Background(), domain.DeliveryID(id), "")
		var res domain.DeliveryResult
		require.NoError(t, run.Get(context.Background(), &res))
		assert.Equal(t, domain.DeliveryDelivered, res.Status)
		ev := s.Event(id)
		assert.Equal(t, domain.DeliveryID(id), *ev.WorkflowID)
		desc, err := s.Temporal.DescribeWorkflow(context.Background(), domain.DeliveryID(id), "")
		require.NoError(t, err)
		fields := desc.RawResponse.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields()
		assert.Contains(t, string(fields["EventType"].GetData()), ev.Type)
		assert.Contains(t, string(fields["TenantId"].GetData()), "t-hb")
	}
	assert.Equal(t, 3, rcv.Count())
}

// bothDeliveryPaths runs a delivery test for both ways a workflow starts deliveries: first
// attempts in the worker (StartDeliveriesInWorker) and every attempt as an activity
// (StartDeliveries, for workflows someone waits on).
func bothDeliveryPaths(t *testing.T, test func(t *testing.T, waitedOn bool)) {
	t.Parallel()
	t.Run("first attempt in the worker", func(t *testing.T) { t.Parallel(); test(t, false) })
	t.Run("every attempt an activity", func(t *testing.T) { t.Parallel(); test(t, true) })
}
