package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dualhook/dualhook/api"
	"github.com/dualhook/dualhook/internal/events"
	"github.com/dualhook/dualhook/internal/eventtypes"
	"github.com/dualhook/dualhook/internal/keyring"
	"github.com/dualhook/dualhook/testkit/eventstest"
	"github.com/dualhook/dualhook/testkit/testenv"
)

// TestMain drops the package's test database and stops its Temporal server afterwards.
func TestMain(m *testing.M) { testenv.Main(m) }

func runCLI(t *testing.T, args ...string) []byte {
	t.Helper()
	var out bytes.Buffer
	cmd := rootCommand()
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	require.NoError(t, cmd.Execute(), "dualhook %v: %s", args, out.String())
	return out.Bytes()
}

// cliEventsStack runs the event mechanism with a worker, and points the CLI (this process's
// environment) at its database, key ring and Temporal task queue.
func cliEventsStack(t *testing.T) *eventstest.Stack {
	t.Helper()
	spec, err := keyring.NewKeySpec("cli")
	require.NoError(t, err)
	ring, err := keyring.Parse(spec, "")
	require.NoError(t, err)
	s := eventstest.New(t, eventstest.Options{Ring: ring})
	s.StartWorker()
	t.Setenv("DATABASE_URL", testenv.DatabaseURL(t))
	t.Setenv("DUALHOOK_ENCRYPTION_KEYS", spec)
	t.Setenv("TEMPORAL_ADDRESS", testenv.TemporalAddress(t))
	t.Setenv("TEMPORAL_NAMESPACE", "default")
	t.Setenv("TEMPORAL_TASK_QUEUE", s.TaskQueue)
	return s
}

func TestEventsListShowReplay(t *testing.T) {
	s := cliEventsStack(t)

	rcv := eventstest.NewReceiver(t, eventstest.Status(http.StatusServiceUnavailable))
	partner, _ := s.NewPartner(&rcv.URL, nil)
	out := s.Run(eventstest.EmitInput{PartnerID: partner.ID, Events: []eventstest.EventSpec{
		{Type: eventtypes.OnboardingStarted, TenantID: "a"}, {Type: eventtypes.OnboardingFailed, TenantID: "b"},
	}})

	var listed []struct {
		EventID string `json:"eventId"`
		Status  string `json:"status"`
	}
	listJSON := runCLI(t, "events", "list", "--partner", partner.ID, "--failed", "--since", "1h", "--json")
	require.NoError(t, json.Unmarshal(listJSON, &listed))
	require.Len(t, listed, 2)
	assert.Equal(t, events.StatusFailed, listed[0].Status)
	var listedRaw []json.RawMessage
	require.NoError(t, json.Unmarshal(listJSON, &listedRaw))
	for _, e := range listedRaw {
		assertAPIShape[api.EventResponse](t, e, "partnerId")
	}
	assert.Contains(t, string(runCLI(t, "events", "list", "--partner", partner.ID)), out.EventIDs[0])

	var shown struct {
		EventID  string `json:"eventId"`
		Attempts []struct {
			Outcome string `json:"outcome"`
		} `json:"attempts"`
	}
	showJSON := runCLI(t, "events", "show", out.EventIDs[0], "--json")
	require.NoError(t, json.Unmarshal(showJSON, &shown))
	assert.Len(t, shown.Attempts, 7)
	assertAPIShape[api.EventWithAttempts](t, showJSON, "partnerId")
	var attempts struct{ Attempts []json.RawMessage }
	require.NoError(t, json.Unmarshal(showJSON, &attempts))
	assertAPIShape[api.AttemptResponse](t, attempts.Attempts[0])
	assert.Contains(t, string(runCLI(t, "events", "show", out.EventIDs[0])), "HTTP 503")

	// The receiver recovers; the operator replays the last day's failures.
	fixed := eventstest.NewReceiver(t, eventstest.Status(http.StatusOK))
	s.SetWebhookURL(partner.ID, &fixed.URL)
	assert.Contains(t, string(runCLI(t, "events", "replay", "--failed", "--since", "24h", "--partner", partner.ID)), "2 failed event(s)")
	for _, id := range out.EventIDs {
		s.WaitStatus(id, events.StatusDelivered, 30*time.Second)
	}
	assert.Contains(t, string(runCLI(t, "events", "replay", out.EventIDs[1])), "redelivery/"+out.EventIDs[1]+"/2")
	eventstest.Eventually(t, 30*time.Second, func() bool { return fixed.Count() == 3 }, "the single replay never arrived")

	// --json prints what POST /api/v1/events/redeliver answers; nothing failed is left.
	var bulk api.BulkRedeliverResponse
	bulkJSON := runCLI(t, "events", "replay", "--failed", "--since", "24h", "--partner", partner.ID, "--json")
	require.NoError(t, json.Unmarshal(bulkJSON, &bulk))
	assert.Equal(t, api.BulkRedeliverResponse{Count: 0, HasMore: false}, bulk)
	assertAPIShape[api.BulkRedeliverResponse](t, bulkJSON)
}

// A bulk replay of delivered events ends: replayed delivered events stay delivered, so the CLI
// follows the cursor instead of asking for the same window (it used to loop forever past a
// page). The page size is lowered to keep the test small; the deadline makes a loop fail.
func TestEventsReplayDeliveredTerminates(t *testing.T) {
	old := events.MaxBulkRedeliveries
	events.MaxBulkRedeliveries = 2
	t.Cleanup(func() { events.MaxBulkRedeliveries = old })
	s := cliEventsStack(t)

	rcv := eventstest.NewReceiver(t, eventstest.Status(http.StatusOK))
	partner, _ := s.NewPartner(&rcv.URL, nil)
	specs := make([]eventstest.EventSpec, 5)
	for i := range specs {
		specs[i] = eventstest.EventSpec{Type: eventtypes.OnboardingStarted, TenantID: "t"}
	}
	out := s.Run(eventstest.EmitInput{PartnerID: partner.ID, Events: specs})

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var buf bytes.Buffer
	cmd := rootCommand()
	cmd.SetArgs([]string{"events", "replay", "--status", "delivered", "--since", "1h", "--partner", partner.ID, "--json"})
	cmd.SetOut(&buf)
	cmd.SetErr(&buf)
	require.NoError(t, cmd.ExecuteContext(ctx), buf.String())
	var bulk api.BulkRedeliverResponse
	require.NoError(t, json.Unmarshal(buf.Bytes(), &bulk))
	assert.Equal(t, api.BulkRedeliverResponse{Count: 5}, bulk)
	for _, id := range out.EventIDs {
		assert.EqualValues(t, 1, s.Event(id).RedeliveryCount, "%s is replayed exactly once", id)
	}
	eventstest.Eventually(t, 30*time.Second, func() bool { return rcv.Count() == 10 }, "the replays never arrived")
}
