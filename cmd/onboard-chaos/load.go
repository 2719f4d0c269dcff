package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/dualhook/dualhook/sandbox"
)

// The page's timings (onboardpage/assets/page.js): after a 202 it polls /status at once, then
// every second, slowing by 1.5× after five polls up to 5 s, for 3 minutes.
const (
	pollFirst  = time.Second
	pollMax    = 5 * time.Second
	pollBudget = 3 * time.Minute
	// maxSignups bounds how often the simulated user launches Embedded Signup again when the
	// server says it never got a code (the page's "try again").
	maxSignups = 3
	// retryBudget bounds how long the browser retries a page load that failed with a 5xx or a
	// dropped connection.
	retryBudget = 60 * time.Second
	// createRetryBudget bounds the partner backend's retries of a session create. It outlasts the
	// API's one-minute idempotency lock (api/idempotency.go): a create lost with a killed API
	// holds its key, and the retry answers 409 idempotency_key_in_use until the lock ends.
	createRetryBudget = 90 * time.Second
)

// onboarding is one simulated tenant, what its clients saw, and (filled in later) what the
// product recorded and delivered.
type onboarding struct {
	Index     int    `json:"index"`
	TenantID  string `json:"tenantId"`
	SessionID string `json:"sessionId,omitempty"`
	token     string
	// CreateMs is the partner's wait from the first create request to the 201, retries included.
	CreateMs float64 `json:"createMs,omitempty"`

	// ClientError is what stopped the client short of a decided answer, if anything.
	ClientError string `json:"clientError,omitempty"`
	Signups     int    `json:"signups"`
	// FirstCallbackStatus is the HTTP status of the first callback (0: no answer, connection
	// failed or timed out).
	FirstCallbackStatus int       `json:"firstCallbackStatus"`
	Polled              bool      `json:"polled"`
	CallbackSentAt      time.Time `json:"callbackSentAt,omitzero"`
	AnsweredAt          time.Time `json:"answeredAt,omitzero"`
	// Answer is the decided status the page got (completed, failed, cancelled, expired), or
	// gone:<status> for a 410.
	Answer    string  `json:"answer,omitempty"`
	LatencyMs float64 `json:"callbackToAnswerMs,omitempty"`

	// From the API after the run.
	Status         string `json:"status"`
	FailureReason  string `json:"failureReason,omitempty"`
	ErrorCategory  string `json:"errorCategory,omitempty"`
	FailureMessage string `json:"failureMessage,omitempty"`

	// Events: the row's delivery status ("" = no row) and whether a signed delivery arrived.
	StartedRow       string   `json:"startedRow"`
	StartedReceived  bool     `json:"startedReceived"`
	TerminalType     string   `json:"terminalType,omitempty"`
	TerminalRow      string   `json:"terminalRow"`
	TerminalReceived bool     `json:"terminalReceived"`
	Lost             []string `json:"lost,omitempty"`

	// KillGroup is "in-flight" (callback sent before the kill, answered after it) or "outage"
	// (callback sent while the process was down); SinceRestartMs is then answer − restart.
	KillGroup      string  `json:"killGroup,omitempty"`
	SinceRestartMs float64 `json:"sinceRestartMs,omitempty"`
}

func terminalStatus(s string) bool {
	switch s {
	case "completed", "failed", "cancelled", "expired":
		return true
	}
	return false
}

// loader drives the onboardings of one run.
type loader struct {
	c         *client
	meta      *sandbox.Client
	receiver  string
	runTag    string
	sandboxMu sync.Mutex
	sandboxEr int
}

// backoff waits before the attempt-th retry; false when ctx ended.
func backoff(ctx context.Context, attempt int) bool {
	d := min(250*time.Millisecond<<min(attempt, 4), 2*time.Second)
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

func gaveUp(what string, after time.Duration, status int, err error) error {
	if err != nil {
		return fmt.Errorf("%s: gave up after %s: %w", what, after, err)
	}
	return fmt.Errorf("%s: gave up after %s (last answer HTTP %d)", what, after, status)
}

func retryable(status int, err error) bool {
	return err != nil || status >= 500 || status == http.StatusTooManyRequests
}

func (l *loader) run(ctx context.Context, ob *onboarding) {
	if err := l.create(ctx, ob); err != nil {
		ob.ClientError = err.Error()
		return
	}
	if err := l.openPage(ctx, ob); err != nil {
		ob.ClientError = err.Error()
		return
	}
	if err := l.signupAndCallback(ctx, ob); err != nil {
		ob.ClientError = err.Error()
	}
	if !ob.AnsweredAt.IsZero() && !ob.CallbackSentAt.IsZero() {
		ob.LatencyMs = ms(ob.AnsweredAt.Sub(ob.CallbackSentAt))
	}
}

// create is the partner's backend: POST /api/v1/onboarding/sessions, retried with the same
// Idempotency-Key on a 5xx, a 429 or a dropped connection.
func (l *loader) create(ctx context.Context, ob *onboarding) error {
	ret := l.receiver + "/return?tenant=" + url.QueryEscape(ob.TenantID)
	body := map[string]any{
		"tenantId": ob.TenantID, "tenantName": "Chaos tenant " + ob.TenantID,
		"successRedirectUrl": ret, "failureRedirectUrl": ret, "cancelRedirectUrl": ret,
		"webhookOverrideUrl": l.receiver + "/hooks/" + ob.TenantID, "webhookVerifyToken": "vt-" + ob.TenantID,
		"metadata": map[string]any{"chaos": l.runTag, "index": ob.Index},
	}
	hdr := map[string]string{"Idempotency-Key": l.runTag + "-" + ob.TenantID}
	first := time.Now()
	deadline := first.Add(createRetryBudget)
	for attempt := 0; ; attempt++ {
		status, res, err := l.c.do(ctx, "POST /api/v1/onboarding/sessions", http.MethodPost, "/api/v1/onboarding/sessions", body, hdr)
		if status == http.StatusCreated {
			var out struct {
				SessionID     string `json:"sessionId"`
				OnboardingURL string `json:"onboardingUrl"`
			}
			if err := json.Unmarshal(res, &out); err != nil {
				return fmt.Errorf("create: %w", err)
			}
			_, token, ok := strings.Cut(out.OnboardingURL, "/onboard/")
			if !ok || token == "" {
				return fmt.Errorf("create: onboardingUrl %q has no token", out.OnboardingURL)
			}
			ob.SessionID, ob.token = out.SessionID, token
			ob.CreateMs = ms(time.Since(first))
			return nil
		}
		// 409 idempotency_key_in_use: the first request (lost with a killed API) still holds it.
		if !retryable(status, err) && status != http.StatusConflict {
			return fmt.Errorf("create answered %d: %.200s", status, res)
		}
		if time.Now().After(deadline) || !backoff(ctx, attempt) {
			return gaveUp("create", createRetryBudget, status, err)
		}
	}
}

// openPage is the browser loading the onboarding page (the first load moves the session to
// started and emits onboarding.started).
func (l *loader) openPage(ctx context.Context, ob *onboarding) error {
	deadline := time.Now().Add(retryBudget)
	for attempt := 0; ; attempt++ {
		status, _, err := l.c.do(ctx, "GET /onboard/{token}", http.MethodGet, "/onboard/"+ob.token, nil, map[string]string{"Accept": "text/html"})
		if status == http.StatusOK {
			return nil
		}
		if !retryable(status, err) {
			return fmt.Errorf("page answered %d", status)
		}
		if time.Now().After(deadline) || !backoff(ctx, attempt) {
			return gaveUp("page", retryBudget, status, err)
		}
	}
}

// signup runs the sandbox's headless Embedded Signup and returns the callback body the page
// would post (onboardpage/assets/page.js submit).
func (l *loader) signup(ctx context.Context) (map[string]any, error) {
	var es sandbox.ESSession
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		es, err = l.meta.CreateESSession(ctx, sandbox.ESSessionRequest{Scenario: sandbox.ScenarioFinish})
		if err == nil {
			break
		}
		l.sandboxMu.Lock()
		l.sandboxEr++
		l.sandboxMu.Unlock()
		if !backoff(ctx, attempt) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("sandbox signup: %w", err)
	}
	payload := map[string]any{"code": es.Code}
	ev := es.MessageEvent
	if strings.HasPrefix(ev.Event, "FINISH") {
		payload["event"] = ev.Event
	}
	for k, v := range map[string]string{"wabaId": ev.Data.WABAID, "phoneNumberId": ev.Data.PhoneNumberID, "businessId": ev.Data.BusinessID} {
		if v != "" {
			payload[k] = v
		}
	}
	return payload, nil
}

type answerKind int

const (
	answerDecided  answerKind = iota // 200 with a terminal status
	answerWait                       // 202 / processing, or transient (5xx, 429, no answer): poll
	answerRelaunch                   // 200 pending/started: the server has no code, launch again
	answerGone                       // 404 / 410
	answerBroken                     // any other answer
)

func classify(status int, body []byte, err error) (answerKind, string) {
	if retryable(status, err) {
		return answerWait, ""
	}
	var b struct {
		Status string `json:"status"`
		Error  struct {
			Details struct {
				Status string `json:"status"`
			} `json:"details"`
		} `json:"error"`
	}
	_ = json.Unmarshal(body, &b)
	switch {
	case status == http.StatusOK && terminalStatus(b.Status):
		return answerDecided, b.Status
	case status == http.StatusAccepted || (status == http.StatusOK && b.Status == "processing"):
		return answerWait, ""
	case status == http.StatusOK && (b.Status == "pending" || b.Status == "started"):
		return answerRelaunch, b.Status
	case status == http.StatusGone || status == http.StatusNotFound:
		return answerGone, "gone:" + b.Error.Details.Status
	}
	return answerBroken, fmt.Sprintf("HTTP %d: %.200s", status, body)
}

// signupAndCallback runs Embedded Signup, posts the callback and follows its answer the way the
// page does, launching again (bounded) when the server never got the code.
func (l *loader) signupAndCallback(ctx context.Context, ob *onboarding) error {
	for ob.Signups < maxSignups {
		ob.Signups++
		payload, err := l.signup(ctx)
		if err != nil {
			return err
		}
		sent := time.Now()
		if ob.CallbackSentAt.IsZero() {
			ob.CallbackSentAt = sent
		}
		status, body, err := l.c.do(ctx, "POST /onboard/{token}/callback", http.MethodPost, "/onboard/"+ob.token+"/callback", payload, nil)
		if ob.Signups == 1 {
			ob.FirstCallbackStatus = status
		}
		kind, what := classify(status, body, err)
		if kind == answerWait {
			ob.Polled = true
			kind, what = l.poll(ctx, ob)
		}
		switch kind {
		case answerDecided, answerGone:
			ob.AnsweredAt, ob.Answer = time.Now(), what
			return nil
		case answerRelaunch:
			continue
		case answerWait:
			return fmt.Errorf("no decided answer within %s of polling (the page shows \"still working\")", pollBudget)
		default:
			return fmt.Errorf("callback: %s", what)
		}
	}
	return fmt.Errorf("the server never kept a code after %d signups", maxSignups)
}

// poll follows GET /onboard/{token}/status like the page's poller.
func (l *loader) poll(ctx context.Context, ob *onboarding) (answerKind, string) {
	start := time.Now()
	delay := pollFirst
	for n := 0; ; n++ {
		status, body, err := l.c.do(ctx, "GET /onboard/{token}/status", http.MethodGet, "/onboard/"+ob.token+"/status", nil, nil)
		kind, what := classify(status, body, err)
		if kind != answerWait {
			return kind, what
		}
		if time.Since(start) > pollBudget || ctx.Err() != nil {
			return answerWait, ""
		}
		if n >= 5 {
			delay = min(time.Duration(float64(delay)*1.5), pollMax)
		}
		select {
		case <-ctx.Done():
			return answerWait, ""
		case <-time.After(delay):
		}
	}
}

// chaos is what happened to the killed process.
type chaos struct {
	Target    string    `json:"target"`
	KillAt    time.Time `json:"killAt,omitzero"`
	RestartAt time.Time `json:"restartAt,omitzero"`
	ReadyAt   time.Time `json:"readyAt,omitzero"`
	Err       string    `json:"error,omitempty"`
}

// runChaos SIGKILLs the target killAfter after start and restarts it restartAfter later.
func runChaos(ctx context.Context, st *stack, o options, start time.Time) chaos {
	ch := chaos{Target: o.Kill}
	if o.Kill == "none" {
		return ch
	}
	select {
	case <-ctx.Done():
		ch.Err = "cancelled"
		return ch
	case <-time.After(time.Until(start.Add(o.KillAfter))):
	}
	p := st.proc(o.Kill)
	if p == nil || p.exited() {
		ch.Err = o.Kill + " was not running at the kill"
		return ch
	}
	ch.KillAt = time.Now()
	p.kill()
	progressf("SIGKILL %s (pid %d) at +%.1fs", o.Kill, p.cmd.Process.Pid, ch.KillAt.Sub(start).Seconds())
	select {
	case <-ctx.Done():
		ch.Err = "cancelled"
		return ch
	case <-time.After(time.Until(ch.KillAt.Add(o.RestartAfter))):
	}
	ch.RestartAt = time.Now()
	var err error
	if o.Kill == "worker" {
		ch.ReadyAt, err = st.startWorker(ctx)
	} else {
		ch.ReadyAt, err = st.startAPI(ctx)
	}
	if err != nil {
		ch.Err = err.Error()
		return ch
	}
	progressf("restarted %s at +%.1fs (ready after %.2fs)", o.Kill, ch.RestartAt.Sub(start).Seconds(), ch.ReadyAt.Sub(ch.RestartAt).Seconds())
	return ch
}

// runLoad runs the onboardings, C at a time, with the chaos alongside.
func runLoad(ctx context.Context, st *stack, l *loader, o options, obs []*onboarding) (time.Time, time.Time, chaos) {
	start := time.Now()
	chaosDone := make(chan chaos, 1)
	go func() { chaosDone <- runChaos(ctx, st, o, start) }()

	next := make(chan *onboarding)
	var wg sync.WaitGroup
	var doneCount sync.Mutex
	finished := 0
	for range o.C {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ob := range next {
				l.run(ctx, ob)
				doneCount.Lock()
				finished++
				if finished%max(1, len(obs)/10) == 0 {
					progressf("%d/%d onboardings answered", finished, len(obs))
				}
				doneCount.Unlock()
			}
		}()
	}
	for _, ob := range obs {
		if ctx.Err() != nil {
			ob.ClientError = "cancelled"
			continue
		}
		next <- ob
	}
	close(next)
	wg.Wait()
	end := time.Now()
	// The settle phase needs the restarted process: wait for the chaos to finish.
	ch := <-chaosDone
	if errors.Is(ctx.Err(), context.Canceled) && ch.Err == "" {
		ch.Err = "cancelled"
	}
	return start, end, ch
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
