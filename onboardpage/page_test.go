package onboardpage

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// has and hasNot keep a failure's message short: bodies are 30 KB.
func has(t *testing.T, body, want string, msg ...any) {
	t.Helper()
	if !strings.Contains(body, want) {
		t.Errorf("page lacks %q %v", want, msg)
	}
}

func hasNot(t *testing.T, body, unwanted string, msg ...any) {
	t.Helper()
	if strings.Contains(body, unwanted) {
		t.Errorf("page contains %q %v", unwanted, msg)
	}
}

func livePage() Page {
	return Page{
		TenantName:   "Casa Verde Bakery",
		PartnerName:  "Lumen Desk",
		LogoURL:      "https://cdn.lumendesk.example/brand/logo.png",
		BrandColor:   "#5b4cdb",
		Status:       "started",
		Mode:         ModeLive,
		SDKURL:       LiveSDKURL,
		AppID:        "1234567890123456",
		ConfigID:     "100000000000001",
		GraphVersion: "v21.0",
		CallbackURL:  "/onboard/tok_abc/callback",
		StatusURL:    "/onboard/tok_abc/status",
	}
}

func sandboxPage() Page {
	p := livePage()
	p.Mode = ModeSandbox
	p.SDKURL = "http://127.0.0.1:8080/_sandbox/meta/sdk.js"
	p.MessageOrigins = []string{"http://127.0.0.1:8080"}
	return p
}

func render(t *testing.T, p Page) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	require.NoError(t, Render(rec, p))
	return rec
}

// csp parses a Content-Security-Policy into directive → sources.
func csp(t *testing.T, h http.Header) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, d := range strings.Split(h.Get("Content-Security-Policy"), ";") {
		f := strings.Fields(d)
		require.NotEmpty(t, f, "empty directive in %q", h.Get("Content-Security-Policy"))
		_, dup := out[f[0]]
		require.False(t, dup, "directive %s twice", f[0])
		out[f[0]] = f[1:]
	}
	return out
}

var nonceAttr = regexp.MustCompile(`nonce="([^"]+)"`)

// pageNonce checks every inline <script> and <style> carries the one nonce
// of the response and returns it.
func pageNonce(t *testing.T, body string) string {
	t.Helper()
	m := nonceAttr.FindAllStringSubmatch(body, -1)
	require.NotEmpty(t, m)
	for _, x := range m[1:] {
		require.Equal(t, m[0][1], x[1], "one nonce per response")
	}
	for _, tag := range regexp.MustCompile(`<(script|style)\b[^>]*>`).FindAllString(body, -1) {
		if strings.Contains(tag, `type="application/json"`) {
			continue // data, never executed
		}
		assert.Contains(t, tag, `nonce="`+m[0][1]+`"`, tag)
	}
	return m[0][1]
}

func assertCommonHeaders(t *testing.T, h http.Header) {
	t.Helper()
	assert.Equal(t, "DENY", h.Get("X-Frame-Options"))
	assert.Equal(t, "no-referrer", h.Get("Referrer-Policy"))
	assert.Equal(t, "no-store", h.Get("Cache-Control"))
	assert.Equal(t, "nosniff", h.Get("X-Content-Type-Options"))
	assert.Equal(t, "same-origin-allow-popups", h.Get("Cross-Origin-Opener-Policy"), "Meta's popup needs window.opener")
	policy := h.Get("Content-Security-Policy")
	for _, bad := range []string{"unsafe-inline", "unsafe-eval", "*", "http:", "https:"} {
		for _, src := range strings.Fields(policy) {
			assert.NotEqual(t, bad, strings.Trim(src, "'"), "CSP allows %s: %s", bad, policy)
		}
	}
	d := csp(t, h)
	assert.Equal(t, []string{"'none'"}, d["default-src"])
	assert.Equal(t, []string{"'none'"}, d["base-uri"])
	assert.Equal(t, []string{"'none'"}, d["form-action"])
	assert.Equal(t, []string{"'none'"}, d["frame-ancestors"])
}

func TestRenderLiveHeaders(t *testing.T) {
	rec := render(t, livePage())
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "text/html; charset=utf-8", rec.Header().Get("Content-Type"))
	assertCommonHeaders(t, rec.Header())
	body := rec.Body.String()
	nonce := pageNonce(t, body)

	d := csp(t, rec.Header())
	assert.Equal(t, []string{"'nonce-" + nonce + "'", "https://connect.facebook.net"}, d["script-src"])
	assert.Equal(t, []string{"'nonce-" + nonce + "'"}, d["style-src"])
	assert.Equal(t, []string{"https://cdn.lumendesk.example", "data:"}, d["img-src"])
	assert.Equal(t, []string{"'self'"}, d["connect-src"])
	fb := []string{"https://www.facebook.com", "https://web.facebook.com", "https://staticxx.facebook.com"}
	assert.Equal(t, fb, d["frame-src"])
	assert.Equal(t, fb, d["child-src"])

	cfg := pageConfig(t, body)
	assert.Equal(t, []any{"https://facebook.com", "https://*.facebook.com"}, cfg["messageOrigins"], "live mode trusts Meta's origins by default")
	assert.Equal(t, LiveSDKURL, cfg["sdkUrl"])
	assert.False(t, strings.Contains(body, `class="sandbox"`), "no sandbox banner in live mode")
	has(t, body, `data-state="loading"`)
	has(t, body, "Secured by Meta")
}

func TestRenderSandboxHeaders(t *testing.T) {
	rec := render(t, sandboxPage())
	assertCommonHeaders(t, rec.Header())
	body := rec.Body.String()
	nonce := pageNonce(t, body)
	d := csp(t, rec.Header())
	assert.Equal(t, []string{"'nonce-" + nonce + "'", "http://127.0.0.1:8080"}, d["script-src"])
	assert.Equal(t, []string{"http://127.0.0.1:8080"}, d["frame-src"])
	assert.Equal(t, []string{"http://127.0.0.1:8080"}, d["child-src"])
	assert.NotContains(t, rec.Header().Get("Content-Security-Policy"), "facebook")
	has(t, body, "Sandbox</strong> — no real WhatsApp account is connected")
	cfg := pageConfig(t, body)
	assert.Equal(t, []any{"http://127.0.0.1:8080"}, cfg["messageOrigins"])

	// Without MessageOrigins, the sandbox SDK's origin is trusted.
	p := sandboxPage()
	p.MessageOrigins = nil
	assert.Equal(t, []any{"http://127.0.0.1:8080"}, pageConfig(t, render(t, p).Body.String())["messageOrigins"])
}

func pageConfig(t *testing.T, body string) map[string]any {
	t.Helper()
	m := regexp.MustCompile(`(?s)<script type="application/json" id="dh-config">(.*?)</script>`).FindStringSubmatch(body)
	require.Len(t, m, 2)
	var cfg map[string]any
	require.NoError(t, json.Unmarshal([]byte(m[1]), &cfg), m[1])
	return cfg
}

func TestRenderConfig(t *testing.T) {
	p := livePage()
	p.Coexistence = true
	cfg := pageConfig(t, render(t, p).Body.String())
	assert.Equal(t, map[string]any{
		"mode": "live", "status": "started", "sdkUrl": LiveSDKURL,
		"messageOrigins": []any{"https://facebook.com", "https://*.facebook.com"},
		"appId":          "1234567890123456", "configId": "100000000000001", "graphVersion": "v21.0",
		"coexistence": true, "callbackUrl": "/onboard/tok_abc/callback", "statusUrl": "/onboard/tok_abc/status",
	}, cfg)
}

func TestNonceDiffersPerResponse(t *testing.T) {
	seen := map[string]bool{}
	for range 20 {
		rec := render(t, livePage())
		n := pageNonce(t, rec.Body.String())
		assert.GreaterOrEqual(t, len(n), 22, "≥ 128 bits")
		assert.False(t, seen[n], "nonce reused")
		seen[n] = true
		assert.Contains(t, rec.Header().Get("Content-Security-Policy"), "'nonce-"+n+"'")
	}
	a, b := httptest.NewRecorder(), httptest.NewRecorder()
	require.NoError(t, RenderNotFound(a))
	require.NoError(t, RenderNotFound(b))
	assert.NotEqual(t, a.Header().Get("Content-Security-Policy"), b.Header().Get("Content-Security-Policy"))
}

func TestRenderEscapesEverything(t *testing.T) {
	const hostile = `</script><script>alert(1)</script>`
	p := livePage()
	p.TenantName = hostile + `"'><img src=x onerror=alert(2)>`
	p.PartnerName = hostile + `<style>body{display:none}</style>`
	p.CallbackURL = "/onboard/</script><script>alert(3)</script>/callback"
	p.LogoURL = `javascript:alert(4)`
	p.BrandColor = `red;}</style><script>alert(5)</script>`
	rec := render(t, p)
	body := rec.Body.String()

	for _, live := range []string{"<script>alert", "<img src=x", "<style>body", "javascript:", "red;}"} {
		assert.False(t, strings.Contains(body, live), "%s reached the page unescaped", live)
	}
	assert.Equal(t, 2, strings.Count(body, "<script"), "only the config and the page script")
	assert.Equal(t, 2, strings.Count(body, "<style"), "only the stylesheet and the brand colours")
	has(t, body, "&lt;/script&gt;&lt;script&gt;")
	has(t, body, `--brand:`+DefaultBrandColor)
	has(t, body, `<span class="monogram" aria-hidden="true">S</span>`, "an unusable logo falls back to the monogram")
	// The JSON keeps the value intact for the script, unable to close the element.
	assert.Equal(t, p.CallbackURL, pageConfig(t, body)["callbackUrl"])
	has(t, body, `\u003c/script\u003e`)
	// A javascript: logo adds nothing to img-src.
	assert.Equal(t, []string{"data:"}, csp(t, rec.Header())["img-src"])
}

func TestRenderLogo(t *testing.T) {
	p := livePage()
	p.LogoURL = "data:image/svg+xml;base64,PHN2Zy8+"
	rec := render(t, p)
	assert.True(t, strings.Contains(rec.Body.String(), `src="data:image/svg&#43;xml;base64,PHN2Zy8&#43;"`), "data: logo kept")
	assert.Equal(t, []string{"data:"}, csp(t, rec.Header())["img-src"])

	p.LogoURL = "https://Logos.Example:8443/a.png?x=1&y=2"
	rec = render(t, p)
	has(t, rec.Body.String(), `src="https://Logos.Example:8443/a.png?x=1&amp;y=2"`)
	assert.Equal(t, []string{"https://logos.example:8443", "data:"}, csp(t, rec.Header())["img-src"])

	for _, bad := range []string{"data:text/html,<script>alert(1)</script>", "/relative.png", "https://a b.example/x.png", "ftp://x.example/a.png"} {
		p.LogoURL = bad
		rec = render(t, p)
		assert.NotContains(t, rec.Body.String(), `class="logo"`, bad)
		assert.Equal(t, []string{"data:"}, csp(t, rec.Header())["img-src"], bad)
	}
}

func TestRenderInitialState(t *testing.T) {
	for status, state := range map[string]string{
		"pending": "loading", "started": "loading", "processing": "processing", "completed": "success",
		"failed": "failed", "cancelled": "cancelled", "expired": "expired",
	} {
		p := livePage()
		p.Status = status
		body := render(t, p).Body.String()
		has(t, body, `<body data-state="`+state+`"`, status)
		panel := state
		if state == "loading" {
			panel = "ready"
		}
		m := regexp.MustCompile(`<section [^>]*data-panel="` + panel + `"[^>]*>`).FindString(body)
		assert.NotContains(t, m, "hidden", "%s: panel %s visible without script", status, panel)
		visible := 0
		for _, tag := range regexp.MustCompile(`<section [^>]*>`).FindAllString(body, -1) {
			if !strings.Contains(tag, " hidden") {
				visible++
			}
		}
		assert.Equal(t, 1, visible, "%s: exactly one panel visible", status)
	}
}

func TestRenderRejectsBadInput(t *testing.T) {
	cases := map[string]func(*Page){
		"unknown status":            func(p *Page) { p.Status = "done" },
		"unknown mode":              func(p *Page) { p.Mode = "test" },
		"no partner name":           func(p *Page) { p.PartnerName = " " },
		"http SDK in live mode":     func(p *Page) { p.SDKURL = "http://connect.facebook.net/en_US/sdk.js" },
		"relative SDK":              func(p *Page) { p.SDKURL = "/sdk.js" },
		"message origin with path":  func(p *Page) { p.MessageOrigins = []string{"https://www.facebook.com/x"} },
		"message origin not a URL":  func(p *Page) { p.MessageOrigins = []string{"facebook.com"} },
		"app id":                    func(p *Page) { p.AppID = "" },
		"config id":                 func(p *Page) { p.ConfigID = "1 2" },
		"graph version":             func(p *Page) { p.GraphVersion = "21" },
		"callback URL not a path":   func(p *Page) { p.CallbackURL = "https://evil.example/cb" },
		"status URL protocol-rel.":  func(p *Page) { p.StatusURL = "//evil.example/status" },
		"callback URL with a space": func(p *Page) { p.CallbackURL = "/onboard/a b/callback" },
	}
	for name, mutate := range cases {
		p := livePage()
		mutate(&p)
		rec := httptest.NewRecorder()
		err := Render(rec, p)
		assert.Error(t, err, name)
		assert.Empty(t, rec.Header(), name+": nothing written")
		assert.Zero(t, rec.Body.Len(), name)
		assert.False(t, rec.Flushed, name)
	}
}

func TestNotFoundAndGonePages(t *testing.T) {
	check := func(t *testing.T, rec *httptest.ResponseRecorder, status int, title string) {
		t.Helper()
		assert.Equal(t, status, rec.Code)
		assertCommonHeaders(t, rec.Header())
		body := rec.Body.String()
		nonce := pageNonce(t, body)
		d := csp(t, rec.Header())
		assert.Equal(t, []string{"'nonce-" + nonce + "'"}, d["style-src"])
		assert.NotContains(t, d, "script-src", "no script at all")
		assert.NotContains(t, d, "connect-src")
		assert.NotContains(t, d, "frame-src")
		hasNot(t, body, "<script")
		hasNot(t, body, "<img")
		hasNot(t, body, "Secured by Meta")
		has(t, body, "<h1>"+title+"</h1>")
	}
	rec := httptest.NewRecorder()
	require.NoError(t, RenderNotFound(rec))
	check(t, rec, http.StatusNotFound, "This link doesn&#39;t work")

	for status, title := range map[string]string{
		"completed": "This link has already been used",
		"failed":    "This link has already been used",
		"cancelled": "This link was cancelled",
		"expired":   "This link has expired",
		"weird":     "This link is no longer valid",
	} {
		rec := httptest.NewRecorder()
		require.NoError(t, RenderGone(rec, status))
		check(t, rec, http.StatusGone, title)
	}
}

func TestSecurityHeadersForJSON(t *testing.T) {
	h := http.Header{}
	SecurityHeaders(h, "", nil)
	assert.Equal(t, "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'", h.Get("Content-Security-Policy"))
	assertCommonHeaders(t, h)
}

func TestBrandColors(t *testing.T) {
	assert.Equal(t, "#aabbcc", normalizeColor("#ABC"))
	assert.Equal(t, "#5b4cdb", normalizeColor("#5B4CDB"))
	for _, bad := range []string{"", "red", "#12345", "#1234567", "5b4cdb", "#ggg000", "#fff;x"} {
		assert.Equal(t, DefaultBrandColor, normalizeColor(bad), bad)
	}
	for _, c := range []string{"#5b4cdb", "#ffd400", "#ffffff", "#000000", "#25d366", "#777777", "#0b6e4f", "#e11d48"} {
		onBrand, onWhite := brandColors(c)
		bg := parseColor(c)
		// The button text is whichever of white and ink reads better.
		other := white.hex()
		if onBrand == white.hex() {
			other = ink.hex()
		}
		assert.GreaterOrEqual(t, contrast(parseColor(onBrand), bg), contrast(parseColor(other), bg), c)
		// Brand-coloured text and focus rings on white meet WCAG AA.
		assert.GreaterOrEqual(t, contrast(parseColor(onWhite), white), 4.5, c)
	}
	onBrand, onWhite := brandColors("#ffd400")
	assert.Equal(t, ink.hex(), onBrand, "dark text on yellow")
	assert.NotEqual(t, "#ffd400", onWhite, "yellow is darkened for text on white")
	onBrand, onWhite = brandColors("#5b4cdb")
	assert.Equal(t, "#ffffff", onBrand)
	assert.Equal(t, "#5b4cdb", onWhite, "already readable")
	assert.InDelta(t, 21, contrast(white, rgb{}), 0.001)
}

func TestOrigins(t *testing.T) {
	for in, want := range map[string]string{
		"https://www.facebook.com":      "https://www.facebook.com",
		"https://www.facebook.com/":     "https://www.facebook.com",
		"https://WWW.Facebook.com:443":  "https://www.facebook.com",
		"http://localhost:80":           "http://localhost",
		"http://127.0.0.1:8080":         "http://127.0.0.1:8080",
		"http://[::1]:8080":             "http://[::1]:8080",
		"https://x.example/path":        "",
		"https://x.example?q":           "",
		"https://user@x.example":        "",
		"javascript:alert(1)":           "",
		"https://x.example;script-src*": "",
	} {
		got, ok := bareOrigin(in)
		assert.Equal(t, want != "", ok, in)
		assert.Equal(t, want, got, in)
		got, ok = messageOrigin(in)
		assert.Equal(t, want != "", ok, in)
		assert.Equal(t, want, got, in)
	}
}

// Message origins also take "scheme://*.host" (any subdomain of host; page.js matches it).
func TestMessageOriginWildcards(t *testing.T) {
	for in, want := range map[string]string{
		"https://*.facebook.com":      "https://*.facebook.com",
		"https://*.Facebook.COM/":     "https://*.facebook.com",
		"https://*.facebook.com:443":  "https://*.facebook.com",
		"http://*.example.test:8080":  "http://*.example.test:8080",
		"https://*.":                  "",
		"https://*..facebook.com":     "",
		"https://*.*.facebook.com":    "",
		"https://*facebook.com":       "",
		"https://www.*.facebook.com":  "",
		"https://*.facebook.com/path": "",
		"*.facebook.com":              "",
		"ftp://*.facebook.com":        "",
		"https://*.[::1]":             "",
	} {
		got, ok := messageOrigin(in)
		assert.Equal(t, want != "", ok, in)
		assert.Equal(t, want, got, in)
	}
	p := livePage()
	p.MessageOrigins = []string{"https://*.Facebook.com", "https://facebook.com/"}
	assert.Equal(t, []any{"https://*.facebook.com", "https://facebook.com"}, pageConfig(t, render(t, p).Body.String())["messageOrigins"])
}
