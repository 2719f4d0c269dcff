package e2e

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dualhook/dualhook/sandbox"
	"github.com/dualhook/dualhook/testkit/browser"
	"github.com/dualhook/dualhook/testkit/stacktest"
)

// A person's whole onboarding in a real browser: the partner's app → the co-branded page → the
// sandbox's Embedded Signup popup → back to the partner's app with the outcome in the URL.
func TestBrowserOnboardingLandsOnTheRedirect(t *testing.T) {
	app := newPartnerApp(t)
	st := stacktest.New(t, stacktest.Options{Redirect: app.server.URL + "/onboarding"})
	bctx := browser.Start(t)

	for _, tc := range []struct {
		name   string
		popup  []chromedp.Action[chromedp.Void]
		path   string
		status string
	}{
		{"finish", []chromedp.Action[chromedp.Void]{chromedp.Click(chromedp.ID("es-finish-cloud"))}, "/onboarding/done", "completed"},
		{"message event after the code", []chromedp.Action[chromedp.Void]{
			chromedp.SetValue(chromedp.ID("es-order"), "code_first"), chromedp.Click(chromedp.ID("es-finish-cloud"))},
			"/onboarding/done", "completed"},
		{"cancel", []chromedp.Action[chromedp.Void]{
			chromedp.SetValue(chromedp.ID("es-cancel-step"), "PHONE_NUMBER_SETUP"), chromedp.Click(chromedp.ID("es-cancel"))},
			"/onboarding/cancelled", "cancelled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tenant := "browser-" + strings.ReplaceAll(tc.name, " ", "-")
			sessionID, token := st.CreateSession(st.Partner, tenant, nil)
			tab, cancel := chromedp.NewContext(bctx)
			defer cancel()
			step, stop := context.WithTimeout(tab, 90*time.Second)
			defer stop()

			require.NoError(t, chromedp.Do(step, chromedp.Navigate(st.API.HTTP.URL+"/onboard/"+token),
				chromedp.WaitVisible(chromedp.ID("dh-connect"))))
			text, err := chromedp.Run(step, chromedp.Text(chromedp.CSS(`body`)))
			require.NoError(t, err)
			assert.Contains(t, text, "Tenant "+tenant, "the page names the tenant")

			popup := browser.Popup(t, tab, step, sandbox.Prefix+"dialog/es", chromedp.Click(chromedp.ID("dh-connect")))
			require.NoError(t, chromedp.Do(popup, chromedp.WaitVisible(chromedp.CSS(`body[data-ready="true"]`))))
			require.NoError(t, chromedp.Do(popup, tc.popup...))

			landed := app.wait(t, step, tc.path, sessionID)
			assert.Equal(t, sessionID, landed.Get("sessionId"))
			assert.Equal(t, tc.status, landed.Get("status"))
			assert.Equal(t, tc.status, st.Session(sessionID).Status)
		})
	}
}

// partnerApp is the SaaS's own web app: the redirect target.
type partnerApp struct {
	server *httptest.Server
	mu     sync.Mutex
	hits   []*url.URL
}

func newPartnerApp(t *testing.T) *partnerApp {
	a := &partnerApp{}
	a.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.hits = append(a.hits, r.URL)
		a.mu.Unlock()
		_, _ = w.Write([]byte("<!doctype html><title>Acme</title><h1>Welcome back to Acme</h1>"))
	}))
	t.Cleanup(a.server.Close)
	return a
}

// wait returns the query of the request to path for the session, failing when none comes in time.
func (a *partnerApp) wait(t *testing.T, ctx context.Context, path, sessionID string) url.Values {
	t.Helper()
	for {
		a.mu.Lock()
		for _, u := range a.hits {
			if u.Path == path && u.Query().Get("sessionId") == sessionID {
				a.mu.Unlock()
				return u.Query()
			}
		}
		a.mu.Unlock()
		select {
		case <-ctx.Done():
			t.Fatalf("the browser never reached %s", path)
		case <-time.After(25 * time.Millisecond):
		}
	}
}
