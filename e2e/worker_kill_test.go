package e2e

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/dualhook/dualhook/activities"
	"github.com/dualhook/dualhook/egress"
	"github.com/dualhook/dualhook/internal/config"
	"github.com/dualhook/dualhook/internal/domain"
	"github.com/dualhook/dualhook/metagraph"
	"github.com/dualhook/dualhook/sandbox"
	"github.com/dualhook/dualhook/testkit/apitest"
	"github.com/dualhook/dualhook/testkit/stacktest"
	"github.com/dualhook/dualhook/testkit/testenv"
	"github.com/dualhook/dualhook/worker"
)

// childWorkerEnv makes the test binary a worker process on the task queue it names (TestMain),
// so a test can kill a worker for real: SIGKILL, no graceful stop.
const childWorkerEnv = "DUALHOOK_E2E_CHILD_WORKER"

func runChildWorker(queue string) {
	ring, st, c := testenv.ChildParts(context.Background())
	cfg := config.Config{
		DevMode: true, MetaSandboxURL: os.Getenv("DUALHOOK_META_SANDBOX_URL"), MetaGraphVersion: "v23.0",
		MetaAppID: os.Getenv("DUALHOOK_META_APP_ID"), MetaAppSecret: os.Getenv("DUALHOOK_META_APP_SECRET"),
		TemporalTaskQueue: queue, DeliverySchedule: []time.Duration{100 * time.Millisecond}, DeliveryTimeout: 2 * time.Second,
	}
	graph, err := metagraph.New(metagraph.Config{BaseURL: cfg.GraphBaseURL(), Version: cfg.MetaGraphVersion, AppID: cfg.MetaAppID, AppSecret: cfg.MetaAppSecret})
	if err != nil {
		testenv.ChildFail(err)
	}
	acts := &activities.Activities{Store: st, Ring: ring, Config: cfg, Logger: testenv.Logger(), Graph: graph, Egress: egress.Policy{DevMode: true}}
	if err := worker.New(c, queue, acts).Start(); err != nil {
		testenv.ChildFail(err)
	}
	select {}
}

// startChildWorker runs a worker process for the stack's task queue; kill it with the returned
// function (SIGKILL).
func startChildWorker(t *testing.T, st *stacktest.Stack) (kill func()) {
	t.Helper()
	cfg := st.API.Config
	return testenv.StartChild(t,
		childWorkerEnv+"="+cfg.TemporalTaskQueue,
		"DUALHOOK_META_SANDBOX_URL="+cfg.MetaSandboxURL,
		"DUALHOOK_META_APP_ID="+cfg.MetaAppID,
		"DUALHOOK_META_APP_SECRET="+cfg.MetaAppSecret,
	)
}

// killWorkerAtMeta onboards with a worker process that is SIGKILLed while its call to the Graph
// endpoint hangs at the sandbox (the fault's phase says whether Meta already did the work), then
// starts a worker in this process, as an operator's restart would. It returns the session, its
// page token and the callback's answer.
func killWorkerAtMeta(t *testing.T, endpoint, phase string) (*stacktest.Stack, string, string, *apitest.Response) {
	st := stacktest.New(t, stacktest.Options{NoWorker: true})
	kill := startChildWorker(t, st)
	ctx := context.Background()
	fault, err := st.Meta.SetFault(ctx, sandbox.Fault{Endpoint: endpoint, Kind: sandbox.FaultDelay, DelayMs: 14_000, Phase: phase, Count: 1})
	require.NoError(t, err)
	sessionID, token := st.CreateSession(st.Partner, "killed-at-meta", nil)
	body, _ := st.Signup(sandbox.ESSessionRequest{Scenario: "finish"})
	answered := make(chan *apitest.Response, 1)
	go func() { answered <- st.Callback(token, body) }()

	require.Eventually(t, func() bool {
		list, err := st.Meta.Faults(ctx)
		if err != nil {
			return false
		}
		for _, f := range list.Rules {
			if f.ID == fault.ID {
				return f.Fired > 0
			}
		}
		return true // used up and removed
	}, 30*time.Second, 20*time.Millisecond, "the worker process never called %s", endpoint)
	kill() // while the call hangs at Meta
	st.StartWorker()
	select {
	case res := <-answered:
		return st, sessionID, token, res
	case <-time.After(45 * time.Second):
		t.Fatal("the callback never answered")
		return nil, "", "", nil
	}
}

// retriedAfter reports how the first attempt of the session workflow's activity ended, as
// recorded with the attempt that followed it.
func retriedAfter(t *testing.T, st *stacktest.Stack, sessionID, activityType string) enumspb.TimeoutType {
	t.Helper()
	ctx := context.Background()
	iter := st.API.Temporal.GetWorkflowHistory(ctx, domain.OnboardingID(sessionID), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	scheduled := map[int64]bool{}
	for iter.HasNext() {
		ev, err := iter.Next()
		require.NoError(t, err)
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil && a.GetActivityType().GetName() == activityType {
			scheduled[ev.GetEventId()] = true
		}
		if a := ev.GetActivityTaskStartedEventAttributes(); a != nil && scheduled[a.GetScheduledEventId()] && a.GetAttempt() > 1 {
			return a.GetLastFailure().GetTimeoutFailureInfo().GetTimeoutType()
		}
	}
	t.Fatalf("%s was not retried", activityType)
	return enumspb.TIMEOUT_TYPE_UNSPECIFIED
}

// A worker killed while a Meta call is in flight is noticed by the step's heartbeat timeout
// (seconds), not its start-to-close timeout (15–30 s): the step is retried on the new worker and
// the onboarding completes. Without heartbeats the retry waited out the 30 s start-to-close.
func TestWorkerKilledDuringAMetaCallIsNoticedByItsHeartbeat(t *testing.T) {
	t.Parallel()
	st, sessionID, _, res := killWorkerAtMeta(t, "debug_token", "before")
	switch res.Status {
	case 200:
		assert.Equal(t, "completed", decide(t, res).Status)
	case 202: // the 20 s answer bound ran out on a loaded machine: the outcome still comes
		st.WaitSession(sessionID, "completed")
	default:
		t.Fatalf("callback answered %d: %s", res.Status, res.Body)
	}
	assert.Equal(t, enumspb.TIMEOUT_TYPE_HEARTBEAT, retriedAfter(t, st, sessionID, "DiscoverAssets"))
}

// A worker killed while its code exchange is at Meta, after Meta spent the code: the retry gets
// 36009. That failure is ours, so the user is offered Try again within the same session, and a
// fresh signup completes it.
func TestWorkerKilledDuringTheCodeExchangeOffersTryAgain(t *testing.T) {
	t.Parallel()
	st, sessionID, token, res := killWorkerAtMeta(t, "oauth/access_token", "after")
	require.Equal(t, 200, res.Status, "%s", res.Body)
	answer := res.Map(t)
	assert.Equal(t, "started", answer["status"], "%v", answer)
	retry, _ := answer["retry"].(map[string]any)
	require.NotNil(t, retry, "%v", answer)
	assert.Equal(t, "internal_error", retry["reason"])
	assert.Contains(t, retry["message"], "Dualhook was interrupted")
	assert.Equal(t, enumspb.TIMEOUT_TYPE_HEARTBEAT, retriedAfter(t, st, sessionID, "ExchangeCode"))

	body, _ := st.Signup(sandbox.ESSessionRequest{Scenario: "finish"})
	assert.Equal(t, "completed", decide(t, st.Callback(token, body)).Status)
}
