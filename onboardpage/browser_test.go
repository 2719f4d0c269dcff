package onboardpage

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dualhook/dualhook/sandbox"
	"github.com/dualhook/dualhook/testkit/browser"
)

// hideScrollbars keeps scrollbars out of the page's layout and screenshots.
var hideScrollbars = chromedp.Flag("hide-scrollbars", true)

// posted is one request body the page sent to the callback endpoint.
type posted struct {
	Body map[string]any
	At   time.Time
}

// backend stands in for Dualhook's handlers of /onboard/{token}: it serves
// the page, records what the page posts to the callback, and answers like
// the real handlers (200 with a redirectUrl, or 202 then the status poll).
type backend struct {
	mu          sync.Mutex
	page        Page
	answer      string // "decide" (200), "processing" (202, then polls), "gone" (410), "error" (500), "retry" (try again once, then decide)
	pendingPoll int    // status polls answered 202 before the decision
	posts       []posted
	decision    map[string]any
	statusCalls int
	done        chan string // the redirect target was requested
	base        string
}

func (b *backend) reset(p Page, answer string, pendingPolls int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.page, b.answer, b.pendingPoll = p, answer, pendingPolls
	b.posts, b.decision, b.statusCalls = nil, nil, 0
	b.done = make(chan string, 4)
}

func (b *backend) snapshot() ([]posted, int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]posted(nil), b.posts...), b.statusCalls
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	SecurityHeaders(w.Header(), "", nil)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (b *backend) outcome(body map[string]any) map[string]any {
	status := "cancelled"
	switch {
	case body["code"] != nil:
		status = "completed"
	case body["errorMessage"] != nil || body["event"] == "ERROR":
		status = "failed"
	}
	return map[string]any{"status": status, "redirectUrl": b.base + "/done?sessionId=sess_test&status=" + status}
}

func (b *backend) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /onboard/tok", func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		p := b.page
		b.mu.Unlock()
		if err := Render(w, p); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("POST /onboard/tok/callback", func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		if r.Header.Get("Content-Type") != "application/json" || json.NewDecoder(r.Body).Decode(&body) != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]any{"code": "invalid_request"}})
			return
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		b.posts = append(b.posts, posted{Body: body, At: time.Now()})
		switch b.answer {
		case "error":
			writeJSON(w, http.StatusInternalServerError, map[string]any{"error": map[string]any{"code": "internal_error"}})
		case "gone":
			writeJSON(w, http.StatusGone, map[string]any{"error": map[string]any{"code": "session_expired", "message": "The onboarding session has expired."}})
		case "processing":
			b.decision = b.outcome(body)
			writeJSON(w, http.StatusAccepted, map[string]any{"status": "processing"})
		case "retry":
			b.answer = "decide"
			writeJSON(w, http.StatusOK, map[string]any{"status": "started",
				"retry": map[string]any{"reason": "meta_unavailable", "message": "Meta did not answer in time."}})
		default:
			b.decision = b.outcome(body)
			writeJSON(w, http.StatusOK, b.decision)
		}
	})
	mux.HandleFunc("GET /onboard/tok/status", func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.statusCalls++
		switch {
		case b.decision == nil:
			writeJSON(w, http.StatusOK, map[string]any{"status": "started"})
		case b.pendingPoll > 0:
			b.pendingPoll--
			writeJSON(w, http.StatusAccepted, map[string]any{"status": "processing"})
		default:
			writeJSON(w, http.StatusOK, b.decision)
		}
	})
	mux.HandleFunc("GET /done", func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		done := b.done
		b.mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<!doctype html><title>Back at the partner</title><p id="done">done</p>`))
		select {
		case done <- r.URL.RequestURI():
		default:
		}
	})
	mux.HandleFunc("GET /logo.svg", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/svg+xml")
		_, _ = w.Write([]byte(testLogoSVG))
	})
}

// testLogoSVG is a fictional partner's mark.
const testLogoSVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64">` +
	`<rect width="64" height="64" rx="16" fill="#5b4cdb"/>` +
	`<path d="M20 44V20h8v17h16v7z" fill="#fff"/>` +
	`<circle cx="43" cy="25" r="6" fill="#ffd166"/></svg>`

type browserEnv struct {
	srv *httptest.Server
	sb  *sandbox.Sandbox
	be  *backend
}

// newBrowserEnv serves the real Meta sandbox and the fake Dualhook handlers
// on one test server, as `dualhook dev` does.
func newBrowserEnv(t *testing.T) *browserEnv {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	srv.Start()
	cfg := sandbox.DefaultConfig()
	cfg.PublicURL = srv.URL
	sb, err := sandbox.New(cfg)
	require.NoError(t, err)
	be := &backend{base: srv.URL}
	mux := http.NewServeMux()
	mux.Handle("/_sandbox/", sb.Handler())
	be.routes(mux)
	srv.Config.Handler = mux
	t.Cleanup(func() {
		srv.Close()
		_ = sb.Close()
	})
	return &browserEnv{srv: srv, sb: sb, be: be}
}

func (e *browserEnv) page() Page {
	cfg := e.sb.Config()
	return Page{
		TenantName:     "Casa Verde Bakery",
		PartnerName:    "Lumen Desk",
		LogoURL:        e.srv.URL + "/logo.svg",
		BrandColor:     "#5b4cdb",
		Status:         "started",
		Mode:           ModeSandbox,
		SDKURL:         e.srv.URL + sandbox.Prefix + "sdk.js",
		MessageOrigins: []string{e.srv.URL},
		AppID:          cfg.AppID,
		ConfigID:       cfg.CloudAPIConfigID,
		GraphVersion:   "v21.0",
		CallbackURL:    "/onboard/tok/callback",
		StatusURL:      "/onboard/tok/status",
	}
}

// probeScript records CSP violations and uncaught errors of every document
// of the tab (added through the DevTools protocol, so the page's CSP does
// not apply to it).
const probeScript = `window.__csp = []; window.__errors = [];
document.addEventListener('securitypolicyviolation', function (e) { window.__csp.push(e.violatedDirective + ' ' + e.blockedURI); });
window.addEventListener('error', function (e) { window.__errors.push(String(e.message)); });`

// openPage opens the onboarding page in a new tab and waits for wantState.
func (e *browserEnv) openPage(t *testing.T, bctx context.Context, wantState string) (tab, step context.Context) {
	t.Helper()
	tab, cancel := chromedp.NewContext(bctx)
	t.Cleanup(cancel)
	step = browser.WithTimeout(t, tab, 60*time.Second)
	_, err := chromedp.Call(step, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: probeScript})
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(step, chromedp.Navigate(e.srv.URL+"/onboard/tok")))
	waitState(t, step, wantState)
	return tab, step
}

func waitState(t *testing.T, step context.Context, state string) {
	t.Helper()
	_, err := chromedp.Run(step, chromedp.Poll[bool](`document.body.getAttribute('data-state') === `+jsString(state),
		chromedp.WithPollingInterval(25*time.Millisecond), chromedp.WithPollingTimeout(20*time.Second)))
	if err != nil {
		got, _ := chromedp.Run(step, chromedp.Evaluate[string](`document.body.getAttribute('data-state')`))
		t.Fatalf("page never reached state %q (now %q): %v", state, got, err)
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// launch clicks (or presses Enter on) the connect button and returns the
// Embedded Signup popup, ready.
func launch(t *testing.T, tab, step context.Context, keyboard bool) (popup context.Context, popupURL *url.URL) {
	t.Helper()
	trigger := []chromedp.Action[chromedp.Void]{chromedp.Click(chromedp.ID("dh-connect"))}
	if keyboard {
		trigger = []chromedp.Action[chromedp.Void]{chromedp.Focus(chromedp.ID("dh-connect")), chromedp.KeyEvent("\r")}
	}
	popup = browser.WithTimeout(t, browser.Popup(t, tab, step, sandbox.Prefix+"dialog/es", trigger...), 30*time.Second)
	require.NoError(t, chromedp.Do(popup, chromedp.WaitVisible(chromedp.CSS(`body[data-ready="true"]`))))
	loc, err := chromedp.Run(popup, chromedp.Location())
	require.NoError(t, err)
	popupURL, err = url.Parse(loc)
	require.NoError(t, err)
	return popup, popupURL
}

// waitRedirect waits until the page navigated to the redirect URL the
// backend answered, and returns that request URI.
func (e *browserEnv) waitRedirect(t *testing.T, step context.Context) string {
	t.Helper()
	e.be.mu.Lock()
	done := e.be.done
	e.be.mu.Unlock()
	var uri string
	select {
	case uri = <-done:
	case <-step.Done():
		posts, _ := e.be.snapshot()
		t.Fatalf("the page never navigated to the redirect URL (posts: %+v)", posts)
	}
	// The tab's URL follows once the navigation commits.
	for {
		loc, err := chromedp.Run(step, chromedp.Location())
		if err == nil && strings.HasPrefix(loc, e.srv.URL+"/done") {
			break
		}
		select {
		case <-step.Done():
			t.Fatalf("the tab is not on the redirect URL: %q", loc)
		case <-time.After(20 * time.Millisecond):
		}
	}
	return uri
}

func (e *browserEnv) onePost(t *testing.T) posted {
	t.Helper()
	posts, _ := e.be.snapshot()
	require.Len(t, posts, 1, "exactly one callback per code")
	return posts[0]
}

func TestBrowserOnboarding(t *testing.T) {
	e := newBrowserEnv(t)
	bctx := browser.Start(t, hideScrollbars)
	cfg := e.sb.Config()

	t.Run("finish (Cloud API): code, FINISH and ids posted, then redirect", func(t *testing.T) {
		e.be.reset(e.page(), "decide", 0)
		tab, step := e.openPage(t, bctx, "ready")
		popup, popupURL := launch(t, tab, step, false)

		// What FB.init and FB.login received, as the SDK forwarded them to the dialog.
		q := popupURL.Query()
		assert.Equal(t, cfg.AppID, q.Get("app_id"))
		assert.Equal(t, "v21.0", q.Get("version"))
		assert.Equal(t, cfg.CloudAPIConfigID, q.Get("config_id"))
		assert.Equal(t, "code", q.Get("response_type"))
		assert.Equal(t, "true", q.Get("override_default_response_type"))
		assert.JSONEq(t, `{"setup":{},"sessionInfoVersion":"3"}`, q.Get("extras"))
		assert.Equal(t, e.srv.URL, q.Get("origin"))

		// The popup also posts SDK chatter and, here, the event twice.
		require.NoError(t, chromedp.Do(popup,
			chromedp.SetValue(chromedp.ID("es-order"), "event_twice"),
			chromedp.Click(chromedp.ID("es-finish-cloud")),
		))
		uri := e.waitRedirect(t, step)
		assert.Equal(t, "/done?sessionId=sess_test&status=completed", uri)

		p := e.onePost(t)
		assert.True(t, strings.HasPrefix(p.Body["code"].(string), "AQ"), p.Body)
		assert.Equal(t, "FINISH", p.Body["event"])
		for _, k := range []string{"wabaId", "phoneNumberId", "businessId"} {
			assert.Regexp(t, `^[0-9]{15,16}$`, p.Body[k], k)
		}
		assert.NotContains(t, p.Body, "errorMessage")
		assert.NotContains(t, p.Body, "currentStep")
	})

	t.Run("coexistence variant", func(t *testing.T) {
		pg := e.page()
		pg.Coexistence = true // same config id: the dialog picks the variant from extras.featureType
		e.be.reset(pg, "decide", 0)
		tab, step := e.openPage(t, bctx, "ready")
		title, err := chromedp.Run(step, chromedp.TextContent(chromedp.ID("dh-title")))
		require.NoError(t, err)
		assert.Equal(t, "Connect your WhatsApp Business app", title)

		popup, popupURL := launch(t, tab, step, false)
		assert.JSONEq(t, `{"setup":{},"sessionInfoVersion":"3","featureType":"whatsapp_business_app_onboarding"}`, popupURL.Query().Get("extras"))
		dialogTitle, err := chromedp.Run(popup, chromedp.TextContent(chromedp.ID("es-title")))
		require.NoError(t, err)
		assert.Equal(t, "Connect your WhatsApp Business app", dialogTitle, "the dialog runs the Coexistence flow")
		require.NoError(t, chromedp.Do(popup, chromedp.Click(chromedp.ID("es-finish-coex"))))
		e.waitRedirect(t, step)

		p := e.onePost(t)
		assert.True(t, strings.HasPrefix(p.Body["code"].(string), "AQ"))
		assert.Equal(t, "FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING", p.Body["event"])
		assert.Regexp(t, `^[0-9]{15,16}$`, p.Body["wabaId"])
		assert.NotContains(t, p.Body, "phoneNumberId", "Meta sends only waba_id for Coexistence")
	})

	t.Run("cancel at a step posts CANCEL and currentStep, no code", func(t *testing.T) {
		e.be.reset(e.page(), "decide", 0)
		tab, step := e.openPage(t, bctx, "ready")
		popup, _ := launch(t, tab, step, false)
		require.NoError(t, chromedp.Do(popup,
			chromedp.SetValue(chromedp.ID("es-cancel-step"), "PHONE_NUMBER_SETUP"),
			chromedp.Click(chromedp.ID("es-cancel")),
		))
		assert.Equal(t, "/done?sessionId=sess_test&status=cancelled", e.waitRedirect(t, step))
		p := e.onePost(t)
		assert.Equal(t, map[string]any{"event": "CANCEL", "currentStep": "PHONE_NUMBER_SETUP"}, p.Body)
	})

	t.Run("cancel with the code callback first still carries the event", func(t *testing.T) {
		e.be.reset(e.page(), "decide", 0)
		tab, step := e.openPage(t, bctx, "ready")
		popup, _ := launch(t, tab, step, false)
		require.NoError(t, chromedp.Do(popup,
			chromedp.SetValue(chromedp.ID("es-order"), "code_first"),
			chromedp.SetValue(chromedp.ID("es-cancel-step"), "WABA_PHONE_PROFILE_PICKER"),
			chromedp.Click(chromedp.ID("es-cancel")),
		))
		e.waitRedirect(t, step)
		p := e.onePost(t)
		assert.Equal(t, map[string]any{"event": "CANCEL", "currentStep": "WABA_PHONE_PROFILE_PICKER"}, p.Body)
	})

	t.Run("error reported in the popup posts errorMessage", func(t *testing.T) {
		e.be.reset(e.page(), "decide", 0)
		tab, step := e.openPage(t, bctx, "ready")
		popup, _ := launch(t, tab, step, false)
		msg := "Your verified name violates WhatsApp guidelines. Please edit your verified name and try again."
		require.NoError(t, chromedp.Do(popup,
			chromedp.SetValue(chromedp.ID("es-error-message"), msg),
			chromedp.Click(chromedp.ID("es-error")),
		))
		assert.Equal(t, "/done?sessionId=sess_test&status=failed", e.waitRedirect(t, step))
		p := e.onePost(t)
		assert.Equal(t, "CANCEL", p.Body["event"], "Meta reports in-flow errors as CANCEL")
		assert.Equal(t, msg, p.Body["errorMessage"])
		assert.NotContains(t, p.Body, "code")
	})

	t.Run("legacy ERROR event", func(t *testing.T) {
		e.be.reset(e.page(), "decide", 0)
		tab, step := e.openPage(t, bctx, "ready")
		popup, _ := launch(t, tab, step, false)
		require.NoError(t, chromedp.Do(popup,
			chromedp.Click(chromedp.ID("es-error-legacy")),
			chromedp.SetValue(chromedp.ID("es-error-message"), "Too many verification attempts."),
			chromedp.Click(chromedp.ID("es-error")),
		))
		e.waitRedirect(t, step)
		p := e.onePost(t)
		assert.Equal(t, map[string]any{"event": "ERROR", "errorMessage": "Too many verification attempts."}, p.Body)
	})

	t.Run("message event after the code is still posted with it", func(t *testing.T) {
		e.be.reset(e.page(), "decide", 0)
		tab, step := e.openPage(t, bctx, "ready")
		popup, _ := launch(t, tab, step, false)
		start := time.Now()
		require.NoError(t, chromedp.Do(popup,
			chromedp.SetValue(chromedp.ID("es-order"), "code_first"),
			chromedp.Click(chromedp.ID("es-finish-cloud")),
		))
		e.waitRedirect(t, step)
		p := e.onePost(t)
		assert.True(t, strings.HasPrefix(p.Body["code"].(string), "AQ"))
		assert.Equal(t, "FINISH", p.Body["event"])
		assert.Regexp(t, `^[0-9]{15,16}$`, p.Body["phoneNumberId"])
		// The event ends the wait: no need to sit out the 3 s.
		assert.Less(t, p.At.Sub(start), 2500*time.Millisecond)
	})

	t.Run("no message event: the code is posted alone after the 3 s wait", func(t *testing.T) {
		e.be.reset(e.page(), "decide", 0)
		tab, step := e.openPage(t, bctx, "ready")
		popup, _ := launch(t, tab, step, false)
		require.NoError(t, chromedp.Do(popup, chromedp.SetValue(chromedp.ID("es-order"), "no_event")))
		start := time.Now()
		require.NoError(t, chromedp.Do(popup, chromedp.Click(chromedp.ID("es-finish-cloud"))))
		waitState(t, step, "processing")
		e.waitRedirect(t, step)
		p := e.onePost(t)
		assert.True(t, strings.HasPrefix(p.Body["code"].(string), "AQ"))
		assert.Len(t, p.Body, 1, "code only: %v", p.Body)
		waited := p.At.Sub(start)
		assert.GreaterOrEqual(t, waited, 3*time.Second, "the page waits for the event")
		assert.Less(t, waited, 8*time.Second)
	})

	t.Run("202 then status polls until decided", func(t *testing.T) {
		e.be.reset(e.page(), "processing", 2)
		tab, step := e.openPage(t, bctx, "ready")
		popup, _ := launch(t, tab, step, false)
		require.NoError(t, chromedp.Do(popup, chromedp.Click(chromedp.ID("es-finish-cloud"))))
		assert.Equal(t, "/done?sessionId=sess_test&status=completed", e.waitRedirect(t, step))
		e.onePost(t)
		_, polls := e.be.snapshot()
		assert.Equal(t, 3, polls, "two 202 answers, then the decision")
	})

	t.Run("page opened while processing polls at once", func(t *testing.T) {
		pg := e.page()
		pg.Status = "processing"
		e.be.reset(pg, "processing", 1)
		e.be.mu.Lock()
		e.be.decision = e.be.outcome(map[string]any{"code": "AQx"})
		e.be.mu.Unlock()
		_, step := e.openPage(t, bctx, "processing")
		e.waitRedirect(t, step)
		posts, polls := e.be.snapshot()
		assert.Empty(t, posts)
		assert.Equal(t, 2, polls)
	})

	t.Run("popup closed without an outcome: nothing posted, try again", func(t *testing.T) {
		e.be.reset(e.page(), "decide", 0)
		tab, step := e.openPage(t, bctx, "ready")
		popup, _ := launch(t, tab, step, false)
		// Closing the window is what a person does with the browser's ×.
		_, _ = chromedp.Run(popup, chromedp.Evaluate[any](`window.close()`))
		waitState(t, step, "ready")
		hidden, err := chromedp.Run(step, chromedp.Evaluate[bool](`document.getElementById('dh-retry-note').hidden`))
		require.NoError(t, err)
		assert.False(t, hidden, "the retry note explains what happened")
		label, err := chromedp.Run(step, chromedp.TextContent(chromedp.ID("dh-connect-label")))
		require.NoError(t, err)
		assert.Equal(t, "Try again", label)
		live, err := chromedp.Run(step, chromedp.TextContent(chromedp.ID("dh-live")))
		require.NoError(t, err)
		assert.Contains(t, live, "closed before you finished")
		posts, _ := e.be.snapshot()
		assert.Empty(t, posts)

		// Try again from the keyboard: Enter on the focused button opens the popup.
		popup, _ = launch(t, tab, step, true)
		require.NoError(t, chromedp.Do(popup, chromedp.Click(chromedp.ID("es-finish-cloud"))))
		e.waitRedirect(t, step)
		assert.Equal(t, "FINISH", e.onePost(t).Body["event"])
	})

	t.Run("410 from the callback shows the expired state", func(t *testing.T) {
		e.be.reset(e.page(), "gone", 0)
		tab, step := e.openPage(t, bctx, "ready")
		popup, _ := launch(t, tab, step, false)
		require.NoError(t, chromedp.Do(popup, chromedp.Click(chromedp.ID("es-finish-cloud"))))
		waitState(t, step, "expired")
		e.onePost(t)
		live, err := chromedp.Run(step, chromedp.TextContent(chromedp.ID("dh-live")))
		require.NoError(t, err)
		assert.Contains(t, live, "This link is no longer valid")
	})

	t.Run("a failure that is not the user's: the page says so and offers Try again", func(t *testing.T) {
		e.be.reset(e.page(), "retry", 0)
		tab, step := e.openPage(t, bctx, "ready")
		popup, _ := launch(t, tab, step, false)
		require.NoError(t, chromedp.Do(popup, chromedp.Click(chromedp.ID("es-finish-cloud"))))
		waitState(t, step, "ready")
		res, err := chromedp.Run(step, chromedp.Evaluate[map[string]any](`({
			label: document.getElementById('dh-connect-label').textContent,
			failed: !document.getElementById('dh-failed-note').hidden,
			closed: !document.getElementById('dh-retry-note').hidden,
			live: document.getElementById('dh-live').textContent
		})`))
		require.NoError(t, err)
		assert.Equal(t, "Try again", res["label"])
		assert.Equal(t, true, res["failed"])
		assert.Equal(t, false, res["closed"], "not the 'window closed' note")
		assert.Contains(t, res["live"], "It was not your doing", "screen readers hear it")

		// The finished popup closes itself a moment after posting; launch again once it has.
		require.Eventually(t, func() bool {
			targets, err := chromedp.Targets(tab)
			if err != nil {
				return false
			}
			for _, ti := range targets {
				if strings.Contains(ti.URL, sandbox.Prefix+"dialog/es") {
					return false
				}
			}
			return true
		}, 10*time.Second, 50*time.Millisecond, "the first popup never closed")
		popup, _ = launch(t, tab, step, false)
		require.NoError(t, chromedp.Do(popup, chromedp.Click(chromedp.ID("es-finish-cloud"))))
		e.waitRedirect(t, step)
		posts, _ := e.be.snapshot()
		require.Len(t, posts, 2, "one callback per attempt, each with its own code")
		assert.NotEqual(t, posts[0].Body["code"], posts[1].Body["code"])
	})

	t.Run("a reloaded page after such a failure says so at once", func(t *testing.T) {
		pg := e.page()
		pg.Retry = true
		e.be.reset(pg, "decide", 0)
		_, step := e.openPage(t, bctx, "ready")
		res, err := chromedp.Run(step, chromedp.Evaluate[map[string]any](`({
			label: document.getElementById('dh-connect-label').textContent,
			failed: !document.getElementById('dh-failed-note').hidden
		})`))
		require.NoError(t, err)
		assert.Equal(t, map[string]any{"label": "Try again", "failed": true}, res)
	})

	t.Run("server error: retry checks the status, then offers a new launch", func(t *testing.T) {
		e.be.reset(e.page(), "error", 0)
		tab, step := e.openPage(t, bctx, "ready")
		popup, _ := launch(t, tab, step, false)
		require.NoError(t, chromedp.Do(popup, chromedp.Click(chromedp.ID("es-finish-cloud"))))
		waitState(t, step, "error")
		require.NoError(t, chromedp.Do(step, chromedp.Click(chromedp.ID("dh-error-retry"))))
		waitState(t, step, "ready") // the status says the session is still "started"
		res, err := chromedp.Run(step, chromedp.Evaluate[map[string]any](`({
			label: document.getElementById('dh-connect-label').textContent,
			note: document.getElementById('dh-retry-note').hidden,
			focused: document.activeElement && document.activeElement.id
		})`))
		require.NoError(t, err)
		assert.Equal(t, map[string]any{"label": "Connect WhatsApp", "note": true, "focused": "dh-connect"}, res)
		posts, polls := e.be.snapshot()
		assert.Len(t, posts, 1, "the code is not posted again")
		assert.Equal(t, 1, polls)
	})

	t.Run("SDK that fails to load", func(t *testing.T) {
		pg := e.page()
		pg.SDKURL = e.srv.URL + sandbox.Prefix + "no-such-sdk.js"
		e.be.reset(pg, "decide", 0)
		_, step := e.openPage(t, bctx, "unavailable")
		disabled, err := chromedp.Run(step, chromedp.Evaluate[bool](`document.getElementById('dh-connect').disabled`))
		require.NoError(t, err)
		assert.True(t, disabled)
	})

	t.Run("events from an untrusted origin are ignored", func(t *testing.T) {
		pg := e.page()
		pg.MessageOrigins = []string{"https://www.facebook.com"} // not the sandbox's origin
		e.be.reset(pg, "decide", 0)
		tab, step := e.openPage(t, bctx, "ready")
		popup, _ := launch(t, tab, step, false)
		require.NoError(t, chromedp.Do(popup, chromedp.Click(chromedp.ID("es-finish-cloud"))))
		e.waitRedirect(t, step)
		p := e.onePost(t)
		assert.Len(t, p.Body, 1, "only the code, which comes through the SDK: %v", p.Body)
	})

	// Meta's popup posts from www.facebook.com as a rule, but web., staticxx., business. and m.
	// are seen too: live mode trusts https facebook.com and every subdomain, nothing else. A
	// browser cannot be made to post from those origins, so the page gets synthetic
	// MessageEvents carrying them (the sandbox's own event comes from its origin, untrusted here).
	// Each origin's event names a WABA of its own, so the posted wabaId says which was taken.
	signupFrom := func(t *testing.T, origins ...string) map[string]any {
		t.Helper()
		pg := e.page()
		pg.MessageOrigins = LiveMessageOrigins()
		e.be.reset(pg, "decide", 0)
		tab, step := e.openPage(t, bctx, "ready")
		popup, _ := launch(t, tab, step, false)
		for _, origin := range origins {
			event := map[string]any{"type": "WA_EMBEDDED_SIGNUP", "event": "FINISH", "version": 3,
				"data": map[string]any{"waba_id": "waba from " + origin, "phone_number_id": "700000000000002"}}
			js, err := json.Marshal(map[string]any{"origin": origin, "data": event})
			require.NoError(t, err)
			_, err = chromedp.Run(step, chromedp.Evaluate[bool](`window.dispatchEvent(new MessageEvent('message', `+string(js)+`))`))
			require.NoError(t, err)
		}
		require.NoError(t, chromedp.Do(popup, chromedp.Click(chromedp.ID("es-finish-cloud"))))
		e.waitRedirect(t, step)
		return e.onePost(t).Body
	}
	t.Run("message origins: https facebook.com and its subdomains are trusted", func(t *testing.T) {
		for _, origin := range []string{
			"https://www.facebook.com", "https://web.facebook.com", "https://staticxx.facebook.com",
			"https://business.facebook.com", "https://m.facebook.com", "https://facebook.com", "https://a.b.facebook.com",
		} {
			t.Run(origin, func(t *testing.T) {
				body := signupFrom(t, origin)
				assert.Equal(t, "FINISH", body["event"], "%v", body)
				assert.Equal(t, "waba from "+origin, body["wabaId"], "%v", body)
			})
		}
	})
	t.Run("message origins: nothing else is", func(t *testing.T) {
		body := signupFrom(t, "http://www.facebook.com", "http://facebook.com", "https://facebook.com.evil.test",
			"https://evilfacebook.com", "https://www.facebook.com:8443", "https://facebook.co", "https://xfacebook.com",
			"https://www.facebook.com.", "null", "")
		assert.Len(t, body, 1, "only the code, which comes through the SDK: %v", body)
	})

	t.Run("hostile names render inert and the page breaks no CSP rule", func(t *testing.T) {
		pg := e.page()
		pg.TenantName = `</script><script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">`
		pg.PartnerName = `"><script>window.__pwned=3</script>`
		e.be.reset(pg, "decide", 0)
		_, step := e.openPage(t, bctx, "ready")
		res, err := chromedp.Run(step, chromedp.Evaluate[map[string]any](`({
			pwned: window.__pwned === undefined ? null : window.__pwned,
			tenant: document.querySelector('.tenant b').textContent,
			title: document.title,
			csp: window.__csp, errors: window.__errors,
			scripts: document.scripts.length, imgs: document.images.length,
			logo: document.querySelector('.logo').complete && document.querySelector('.logo').naturalWidth > 0
		})`))
		require.NoError(t, err)
		assert.Nil(t, res["pwned"])
		assert.Equal(t, pg.TenantName, res["tenant"])
		assert.Equal(t, "Connect WhatsApp · "+pg.PartnerName, res["title"])
		assert.Empty(t, res["csp"], "CSP violations")
		assert.Empty(t, res["errors"], "script errors")
		assert.EqualValues(t, 3, res["scripts"], "config, page script, SDK")
		assert.EqualValues(t, 2, res["imgs"], "the two logo images, nothing injected")
		assert.Equal(t, true, res["logo"], "the logo loads under img-src")
	})
}

// TestBrowserScreenshots captures the ready state on desktop and mobile.
// With UPDATE_SCREENSHOTS=1 it writes docs/images/onboarding-page*.png.
func TestBrowserScreenshots(t *testing.T) {
	e := newBrowserEnv(t)
	bctx := browser.Start(t, hideScrollbars)
	e.be.reset(e.page(), "decide", 0)
	dir := t.TempDir()
	if os.Getenv("UPDATE_SCREENSHOTS") == "1" {
		dir = filepath.Join("..", "docs", "images")
	}
	shots := []struct {
		name          string
		width, height int64
		mobile        bool
		retry         bool // after a failed attempt that was not the user's
	}{
		{"onboarding-page.png", 1280, 800, false, false},
		{"onboarding-page-mobile.png", 390, 844, true, false},
		{"onboarding-page-try-again.png", 390, 844, true, true},
		{"onboarding-page-320.png", 320, 640, true, false}, // the narrowest layout; checked, not kept
	}
	for _, s := range shots {
		t.Run(s.name, func(t *testing.T) {
			pg := e.page()
			pg.Retry = s.retry
			e.be.reset(pg, "decide", 0)
			tab, cancel := chromedp.NewContext(bctx)
			t.Cleanup(cancel)
			step := browser.WithTimeout(t, tab, 60*time.Second)
			opts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(1)}
			if s.mobile {
				opts = []chromedp.EmulateViewportOption{chromedp.EmulateScale(2), chromedp.EmulateMobile}
			}
			require.NoError(t, chromedp.Do(step,
				chromedp.EmulateViewport(s.width, s.height, opts...),
				chromedp.Navigate(e.srv.URL+"/onboard/tok"),
			))
			waitState(t, step, "ready")
			_, err := chromedp.Run(step, chromedp.Poll[bool](`document.fonts.status === 'loaded' && Array.from(document.images).every(function (i) { return i.complete && i.naturalWidth > 0; })`,
				chromedp.WithPollingInterval(25*time.Millisecond)))
			require.NoError(t, err)
			width, err := chromedp.Run(step, chromedp.Evaluate[float64](`document.documentElement.scrollWidth`))
			require.NoError(t, err)
			assert.LessOrEqual(t, width, float64(s.width), "no horizontal scrolling")
			png, err := chromedp.Run(step, chromedp.CaptureScreenshot())
			require.NoError(t, err)
			out := dir
			if s.width == 320 {
				out = t.TempDir()
			}
			require.NoError(t, os.WriteFile(filepath.Join(out, s.name), png, 0o644))
		})
	}
}
