package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dualhook/dualhook/db/dbq"
	"github.com/dualhook/dualhook/internal/domain"
	"github.com/dualhook/dualhook/internal/ids"
	"github.com/dualhook/dualhook/internal/sessionworkflow"
	"github.com/dualhook/dualhook/sandbox"
	"github.com/dualhook/dualhook/testkit/apitest"
	"github.com/dualhook/dualhook/testkit/stacktest"
)

// Benchmarks of onboarding on this machine (real PostgreSQL, Temporal dev server, sandbox over
// HTTP). They print numbers; nothing asserts a speed. Reproduce with `make bench-onboarding`.

// latencies collects samples from concurrent goroutines and reports p50/p99 and throughput.
type latencies struct {
	mu      sync.Mutex
	samples []time.Duration
	start   time.Time
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.samples = append(l.samples, d)
	l.mu.Unlock()
}

func (l *latencies) report(b *testing.B, unit string) {
	b.StopTimer()
	elapsed := time.Since(l.start)
	slices.Sort(l.samples)
	pct := func(p float64) float64 {
		if len(l.samples) == 0 {
			return 0
		}
		return float64(l.samples[int(p*float64(len(l.samples)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(len(l.samples))/elapsed.Seconds(), unit+"/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(0, "ns/op") // wall time per op is meaningless with concurrency
}

func runConcurrently(b *testing.B, workers int, op func(i int) time.Duration) *latencies {
	l := &latencies{start: time.Now()}
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				l.add(op(i))
			}
		}()
	}
	b.ResetTimer()
	l.start = time.Now()
	for i := range b.N {
		next <- i
	}
	close(next)
	wg.Wait()
	return l
}

func BenchmarkSessionCreate(b *testing.B) {
	st := stacktest.New(b, stacktest.Options{NoWorker: true})
	preflightReceiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = fmt.Fprint(w, r.URL.Query().Get("hub.challenge"))
	}))
	b.Cleanup(preflightReceiver.Close)
	create := func(b *testing.B, extra map[string]any) func(int) time.Duration {
		return func(i int) time.Duration {
			body := map[string]any{
				"tenantId": fmt.Sprintf("bench-%d", i), "tenantName": "Bench", "successRedirectUrl": st.Redirect + "/done",
				"failureRedirectUrl": st.Redirect + "/failed", "cancelRedirectUrl": st.Redirect + "/cancelled",
				"webhookOverrideUrl": preflightReceiver.URL + "/wa", "webhookVerifyToken": "vt",
			}
			for k, v := range extra {
				body[k] = v
			}
			t0 := time.Now()
			res := st.API.Do(apitest.Request{Method: "POST", Path: "/api/v1/onboarding/sessions", Key: st.Partner.Key, Body: body, NoCheck: true})
			d := time.Since(t0)
			if res.Status != 201 {
				b.Errorf("create answered %d: %s", res.Status, res.Body)
			}
			return d
		}
	}
	b.Run("api/preflight-skipped/c=8", func(b *testing.B) {
		runConcurrently(b, 8, create(b, map[string]any{"skipWebhookPreflight": true})).report(b, "sessions")
	})
	b.Run("api/local-preflight/c=8", func(b *testing.B) {
		runConcurrently(b, 8, create(b, nil)).report(b, "sessions")
	})
	// The floor: what the API's own work costs on top of one INSERT and one StartWorkflow.
	b.Run("bare-insert+start/c=8", func(b *testing.B) {
		ctx := context.Background()
		runConcurrently(b, 8, func(i int) time.Duration {
			id := ids.New(ids.Session)
			sum := sha256.Sum256([]byte(id))
			t0 := time.Now()
			row, err := st.API.Store.CreateSession(ctx, dbq.CreateSessionParams{
				ID: id, PartnerID: st.Partner.Row.ID, TenantID: "bare", TenantName: "Bare", TokenHash: sum[:],
				SuccessRedirectURL: st.Redirect, FailureRedirectURL: st.Redirect, CancelRedirectURL: st.Redirect,
				WebhookOverrideURL: "https://x.test", WebhookVerifyTokenCiphertext: "x", Metadata: json.RawMessage(`{}`),
				ExpiresAt: time.Now().Add(time.Hour), WorkflowID: domain.OnboardingID(id),
			})
			if err == nil {
				err = sessionworkflow.Starter{Temporal: st.API.Temporal, TaskQueue: st.API.Config.TemporalTaskQueue}.Start(ctx, row)
			}
			d := time.Since(t0)
			if err != nil {
				b.Error(err)
			}
			return d
		}).report(b, "sessions")
	})
}

// From the page's callback POST to the answer with the redirect URL: code exchange, discovery,
// claim, override subscription (with Meta's verification GET), registration and the commit.
func BenchmarkCallbackToRedirect(b *testing.B) {
	st := stacktest.New(b, stacktest.Options{})
	for _, workers := range []int{1, 20} {
		b.Run(fmt.Sprintf("c=%d", workers), func(b *testing.B) {
			// Each worker makes its session and signup, then only the callback is timed (codes
			// live 30 s, so they cannot all be prepared up front).
			runConcurrently(b, workers, func(i int) time.Duration {
				_, token := st.CreateSession(st.Partner, fmt.Sprintf("cb-%d-%d", workers, i), nil)
				body, _ := st.Signup(sandbox.ESSessionRequest{Scenario: "finish"})
				t0 := time.Now()
				res := st.Callback(token, body)
				d := time.Since(t0)
				if res.Status != 200 {
					b.Errorf("callback answered %d: %s", res.Status, res.Body)
				}
				return d
			}).report(b, "onboardings")
			// (onboardings/s includes the untimed session creation and signup of each iteration)
		})
	}
	require.NotNil(b, st)
}
