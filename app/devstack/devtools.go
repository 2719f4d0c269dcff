package devstack

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/dualhook/dualhook/signature"
)

// devTools are the stand-ins a person needs to click through an onboarding locally, served under
// /_dev/ by `dualhook dev` only:
//   - /_dev/            a launcher: one click creates a session for the demo partner and opens it;
//   - /_dev/webhook     the tenant's webhook endpoint (answers Meta's hub.challenge);
//   - /_dev/events      the partner's event receiver (verifies signatures, lists what arrived);
//   - /_dev/return      the partner's app the user is redirected back to.
type devTools struct {
	origin, apiKey, signingSecret string
	mu                            sync.Mutex
	events                        []receivedEvent
}

type receivedEvent struct {
	At       time.Time
	Type     string
	ID       string
	Verified bool
	Body     string
}

func (d *devTools) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch strings.TrimPrefix(r.URL.Path, "/_dev") {
	case "/", "":
		d.launcher(w, r)
	case "/webhook":
		if r.Method == http.MethodGet {
			_, _ = io.WriteString(w, r.URL.Query().Get("hub.challenge"))
			return
		}
		w.WriteHeader(http.StatusOK)
	case "/events":
		d.eventsPage(w, r)
	case "/return":
		render(w, returnPage, r.URL.Query())
	default:
		http.NotFound(w, r)
	}
}

func (d *devTools) launcher(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		render(w, launcherPage, nil)
		return
	}
	coex := r.FormValue("coexistence") == "on"
	tenant := fmt.Sprintf("demo-tenant-%d", time.Now().Unix()%100000)
	body, _ := json.Marshal(map[string]any{
		"tenantId": tenant, "tenantName": "Demo Tenant " + tenant[len(tenant)-5:],
		"successRedirectUrl": d.origin + "/_dev/return", "failureRedirectUrl": d.origin + "/_dev/return",
		"cancelRedirectUrl": d.origin + "/_dev/return", "webhookOverrideUrl": d.origin + "/_dev/webhook",
		"webhookVerifyToken": "demo-verify-token", "coexistence": coex, "metadata": map[string]string{"source": "dev launcher"},
	})
	req, _ := http.NewRequestWithContext(r.Context(), http.MethodPost, d.origin+"/api/v1/onboarding/sessions", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+d.apiKey)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		http.Error(w, "creating the session failed: "+err.Error(), http.StatusBadGateway)
		return
	}
	defer res.Body.Close()
	var out struct {
		OnboardingURL string `json:"onboardingUrl"`
	}
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusCreated || json.Unmarshal(raw, &out) != nil {
		http.Error(w, "creating the session failed: "+string(raw), http.StatusBadGateway)
		return
	}
	http.Redirect(w, r, out.OnboardingURL, http.StatusSeeOther)
}

func (d *devTools) eventsPage(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		raw, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		var env struct{ Event, ID string }
		_ = json.Unmarshal(raw, &env)
		verified := signature.Verify(d.signingSecret, r.Header, raw, signature.DefaultTolerance, time.Now()) == nil
		d.mu.Lock()
		d.events = append([]receivedEvent{{At: time.Now(), Type: env.Event, ID: env.ID, Verified: verified, Body: string(raw)}}, d.events...)
		if len(d.events) > 100 {
			d.events = d.events[:100]
		}
		d.mu.Unlock()
		w.WriteHeader(http.StatusOK)
		return
	}
	d.mu.Lock()
	events := append([]receivedEvent(nil), d.events...)
	d.mu.Unlock()
	render(w, eventsPage, events)
}

func render(w http.ResponseWriter, t *template.Template, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = t.Execute(w, data)
}

const devCSS = `<style>body{font:15px/1.5 system-ui,sans-serif;max-width:760px;margin:40px auto;padding:0 16px;color:#1c1e21}
h1{font-size:22px}button{font:inherit;padding:10px 18px;border-radius:8px;border:0;background:#0b6e4f;color:#fff;cursor:pointer}
pre{background:#f4f5f7;padding:10px;border-radius:6px;overflow:auto;font-size:12px}.ok{color:#0b6e4f}.bad{color:#b3261e}
a{color:#0b6e4f}</style>`

var launcherPage = template.Must(template.New("launcher").Parse(`<!doctype html><meta charset="utf-8"><title>Dualhook dev</title>` + devCSS + `
<h1>Dualhook dev stack</h1>
<p>Start an onboarding as a SaaS tenant would: this creates a session for the demo partner through the API and opens its onboarding page, which runs Embedded Signup against the Meta sandbox.</p>
<form method="post"><label><input type="checkbox" name="coexistence"> WhatsApp Business app number (Coexistence)</label><p><button>Create an onboarding link and open it</button></p></form>
<p><a href="/_dev/events">Events the demo partner received</a> · <a href="/api/v1/openapi.yaml">OpenAPI</a></p>`))

var returnPage = template.Must(template.New("return").Parse(`<!doctype html><meta charset="utf-8"><title>Back in the SaaS app</title>` + devCSS + `
<h1>Back in the SaaS app</h1><p>Dualhook redirected the user here with the outcome:</p>
<pre>sessionId: {{.Get "sessionId"}}
status:    {{.Get "status"}}{{with .Get "reason"}}
reason:    {{.}}{{end}}</pre>
<p><a href="/_dev/events">See the events</a> · <a href="/_dev/">Start another</a></p>`))

var eventsPage = template.Must(template.New("events").Parse(`<!doctype html><meta charset="utf-8"><title>Events received</title>` + devCSS + `
<h1>Events the demo partner received</h1><p>Newest first; signatures checked with the demo partner's signing secret.</p>
{{range .}}<h3>{{.Type}} <small>{{.ID}}</small> {{if .Verified}}<span class="ok">signature ok</span>{{else}}<span class="bad">signature invalid</span>{{end}}</h3><pre>{{.Body}}</pre>
{{else}}<p>Nothing yet. <a href="/_dev/">Start an onboarding</a>.</p>{{end}}`))
