// Package onboardpage renders the co-branded onboarding page a tenant opens
// to connect a WhatsApp Business number through Meta's Embedded Signup
// (SPEC §5), and the 404/410 pages of that URL.
//
// Everything is server-rendered with html/template and served from this
// package: the stylesheet and the script are inlined under a per-response
// CSP nonce, the page's configuration travels in a JSON <script> element,
// and the only third-party script is Meta's SDK (or, in sandbox mode, the
// simulator's stand-in). The HTTP handlers that look the session up and
// answer the callback and status endpoints live elsewhere.
package onboardpage

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Mode selects Meta's SDK (live) or the Meta sandbox's stand-in (sandbox).
type Mode string

const (
	ModeLive    Mode = "live"
	ModeSandbox Mode = "sandbox"
)

// Page is what the onboarding page shows and how its script reaches Meta and
// Dualhook.
type Page struct {
	TenantName, PartnerName string
	LogoURL, BrandColor     string // optional ("" = none); brand colour "#rrggbb"
	Coexistence             bool   // launch the WhatsApp Business app (Coexistence) variant
	Status                  string // session status: pending|started|processing|completed|failed|cancelled|expired
	Retry                   bool   // the last attempt failed on our side or Meta's: say so, offer "Try again"
	Mode                    Mode
	SDKURL                  string   // live: LiveSDKURL; sandbox: <origin>/_sandbox/meta/sdk.js
	MessageOrigins          []string // origins trusted for postMessage ("scheme://*.host": any subdomain of host); empty = LiveMessageOrigins() (live) or the SDK's origin (sandbox)
	AppID, ConfigID         string
	GraphVersion            string // "v21.0"
	CallbackURL, StatusURL  string // POST /onboard/{token}/callback, GET /onboard/{token}/status (absolute paths)
}

// DefaultBrandColor is used when the partner has none (or an invalid one).
const DefaultBrandColor = "#0b6e4f"

var (
	//go:embed templates/*.html assets/page.css assets/page.js
	files embed.FS

	templates = template.Must(template.ParseFS(files, "templates/*.html"))
	pageCSS   = template.CSS(mustAsset("assets/page.css"))
	pageJS    = template.JS(mustAsset("assets/page.js"))

	hexColor     = regexp.MustCompile(`^#(?:[0-9a-fA-F]{6}|[0-9a-fA-F]{3})$`)
	graphVersion = regexp.MustCompile(`^v[0-9]+\.[0-9]+$`)
	metaID       = regexp.MustCompile(`^[0-9A-Za-z_-]{1,64}$`)
	imageDataURL = regexp.MustCompile(`^data:image/(?:png|jpeg|gif|webp|avif|svg\+xml)(?:;charset=[A-Za-z0-9-]+)?(?:;base64)?,[A-Za-z0-9+/=%._~!$&'()*,;:@?-]*$`)
)

func mustAsset(name string) string {
	b, err := files.ReadFile(name)
	if err != nil {
		panic(err) // embedded at build time
	}
	return string(b)
}

// uiStates maps a session status to the page's initial state.
var uiStates = map[string]string{
	"":           "loading",
	"pending":    "loading",
	"started":    "loading",
	"processing": "processing",
	"completed":  "success",
	"failed":     "failed",
	"cancelled":  "cancelled",
	"expired":    "expired",
}

// clientConfig is the page script's configuration (#dh-config).
type clientConfig struct {
	Mode           Mode     `json:"mode"`
	Status         string   `json:"status"`
	SDKURL         string   `json:"sdkUrl"`
	MessageOrigins []string `json:"messageOrigins"`
	AppID          string   `json:"appId"`
	ConfigID       string   `json:"configId"`
	GraphVersion   string   `json:"graphVersion"`
	Coexistence    bool     `json:"coexistence"`
	CallbackURL    string   `json:"callbackUrl"`
	StatusURL      string   `json:"statusUrl"`
}

type pageData struct {
	Nonce       string
	CSS         template.CSS
	BrandCSS    template.CSS
	JS          template.JS
	Config      clientConfig
	ShowMeta    bool
	PartnerName string
	TenantName  string
	LogoURL     template.URL // "" = monogram
	Initial     string
	Coexistence bool
	Sandbox     bool
	Mode        Mode
	State       string
	Retry       bool // the last attempt failed on our side or Meta's
}

type messageData struct {
	Nonce    string
	CSS      template.CSS
	ShowMeta bool
	Title    string
	Text     string
	Clock    bool
}

// Render writes the onboarding page (200) with every security header. It
// validates p first and writes nothing when p is unusable, so the caller can
// still answer 500.
func Render(w http.ResponseWriter, p Page) error {
	data, err := newPageData(p)
	if err != nil {
		return err
	}
	if data.LogoURL == "" {
		p.LogoURL = "" // an unusable logo adds nothing to img-src
	}
	nonce := NewNonce()
	data.Nonce = nonce
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, "page.html", data); err != nil {
		return fmt.Errorf("onboardpage: render: %w", err)
	}
	return write(w, http.StatusOK, nonce, &p, &buf)
}

// RenderNotFound writes the 404 page of an unknown onboarding token. It
// names no partner: whoever guesses tokens learns nothing.
func RenderNotFound(w http.ResponseWriter) error {
	return renderMessage(w, http.StatusNotFound, messageData{
		Title: "This link doesn't work",
		Text:  "Check that you opened the whole link, or ask for a new one.",
	})
}

// RenderGone writes the 410 page of a session that ended (completed, failed,
// cancelled or expired). Like the 404 page it names no partner.
func RenderGone(w http.ResponseWriter, status string) error {
	m := messageData{Title: "This link is no longer valid", Text: "Ask for a new link if you still need to connect WhatsApp."}
	switch status {
	case "completed":
		m.Title, m.Text = "This link has already been used", "WhatsApp was connected with this link. You can close this page."
	case "failed":
		m.Title, m.Text = "This link has already been used", "This connection attempt has ended. Ask for a new link to try again."
	case "cancelled":
		m.Title, m.Text = "This link was cancelled", "Ask for a new link if you still need to connect WhatsApp."
	case "expired":
		m.Title, m.Text, m.Clock = "This link has expired", "For your security, onboarding links only work for a limited time. Ask for a new link.", true
	}
	return renderMessage(w, http.StatusGone, m)
}

func renderMessage(w http.ResponseWriter, status int, m messageData) error {
	m.Nonce = NewNonce()
	m.CSS = pageCSS
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, "message.html", m); err != nil {
		return fmt.Errorf("onboardpage: render: %w", err)
	}
	return write(w, status, m.Nonce, nil, &buf)
}

func write(w http.ResponseWriter, status int, nonce string, p *Page, buf *bytes.Buffer) error {
	h := w.Header()
	SecurityHeaders(h, nonce, p)
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, err := buf.WriteTo(w)
	return err
}

func newPageData(p Page) (pageData, error) {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	state, ok := uiStates[p.Status]
	if !ok {
		bad("unknown Status %q", p.Status)
	}
	if strings.TrimSpace(p.PartnerName) == "" {
		bad("PartnerName is required")
	}
	if p.Mode != ModeLive && p.Mode != ModeSandbox {
		bad("Mode must be %q or %q, not %q", ModeLive, ModeSandbox, p.Mode)
	}
	sdkOrigin, ok := originOf(p.SDKURL)
	if !ok || (p.Mode == ModeLive && !strings.HasPrefix(p.SDKURL, "https://")) {
		bad("SDKURL %q must be an absolute https URL (http allowed in sandbox mode)", p.SDKURL)
	}
	origins := make([]string, 0, len(p.MessageOrigins))
	for _, o := range p.MessageOrigins {
		n, ok := messageOrigin(o)
		if !ok {
			bad("MessageOrigins: %q is not an origin", o)
			continue
		}
		origins = append(origins, n)
	}
	if len(p.MessageOrigins) == 0 {
		if p.Mode == ModeLive {
			origins = LiveMessageOrigins()
		} else if sdkOrigin != "" {
			origins = []string{sdkOrigin}
		}
	}
	if !metaID.MatchString(p.AppID) {
		bad("AppID %q is not an app id", p.AppID)
	}
	if !metaID.MatchString(p.ConfigID) {
		bad("ConfigID %q is not a configuration id", p.ConfigID)
	}
	if !graphVersion.MatchString(p.GraphVersion) {
		bad("GraphVersion %q must look like v21.0", p.GraphVersion)
	}
	for name, u := range map[string]string{"CallbackURL": p.CallbackURL, "StatusURL": p.StatusURL} {
		if !strings.HasPrefix(u, "/") || strings.HasPrefix(u, "//") || strings.ContainsAny(u, "\\ \t\r\n") {
			bad("%s %q must be an absolute path", name, u)
		}
	}
	if len(problems) > 0 {
		return pageData{}, errors.New("onboardpage: " + strings.Join(problems, "; "))
	}

	brand := normalizeColor(p.BrandColor)
	return pageData{
		CSS:         pageCSS,
		BrandCSS:    brandCSS(brand),
		JS:          pageJS,
		ShowMeta:    true,
		PartnerName: p.PartnerName,
		TenantName:  p.TenantName,
		LogoURL:     logoURL(p.LogoURL),
		Initial:     initial(p.PartnerName),
		Coexistence: p.Coexistence,
		Sandbox:     p.Mode == ModeSandbox,
		Mode:        p.Mode,
		State:       state,
		Retry:       p.Retry,
		Config: clientConfig{
			Mode:           p.Mode,
			Status:         p.Status,
			SDKURL:         p.SDKURL,
			MessageOrigins: origins,
			AppID:          p.AppID,
			ConfigID:       p.ConfigID,
			GraphVersion:   p.GraphVersion,
			Coexistence:    p.Coexistence,
			CallbackURL:    p.CallbackURL,
			StatusURL:      p.StatusURL,
		},
	}, nil
}

// logoURL accepts an absolute http(s) URL or an image data: URL; anything
// else (javascript:, relative paths…) shows the monogram instead.
func logoURL(raw string) template.URL {
	if raw == "" || len(raw) > 256<<10 {
		return ""
	}
	if _, ok := originOf(raw); ok {
		return template.URL(raw)
	}
	if imageDataURL.MatchString(raw) {
		return template.URL(raw) // html/template would refuse data: in src otherwise
	}
	return ""
}

func initial(name string) string {
	for _, r := range strings.TrimSpace(name) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return string(unicode.ToUpper(r))
		}
	}
	r, _ := utf8.DecodeRuneInString(strings.TrimSpace(name))
	if r == utf8.RuneError {
		return "·"
	}
	return string(r)
}

// ---- brand colour ------------------------------------------------------

type rgb struct{ r, g, b float64 } // 0–255

func normalizeColor(c string) string {
	if !hexColor.MatchString(c) {
		return DefaultBrandColor
	}
	c = strings.ToLower(c)
	if len(c) == 4 {
		c = "#" + strings.Repeat(c[1:2], 2) + strings.Repeat(c[2:3], 2) + strings.Repeat(c[3:4], 2)
	}
	return c
}

func parseColor(c string) rgb {
	v, _ := strconv.ParseUint(c[1:], 16, 32)
	return rgb{float64(v >> 16 & 0xff), float64(v >> 8 & 0xff), float64(v & 0xff)}
}

func (c rgb) hex() string {
	return fmt.Sprintf("#%02x%02x%02x", int(math.Round(c.r)), int(math.Round(c.g)), int(math.Round(c.b)))
}

// luminance is WCAG 2's relative luminance.
func (c rgb) luminance() float64 {
	lin := func(v float64) float64 {
		v /= 255
		if v <= 0.04045 {
			return v / 12.92
		}
		return math.Pow((v+0.055)/1.055, 2.4)
	}
	return 0.2126*lin(c.r) + 0.7152*lin(c.g) + 0.0722*lin(c.b)
}

func contrast(a, b rgb) float64 {
	la, lb := a.luminance(), b.luminance()
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

var (
	white = rgb{255, 255, 255}
	ink   = rgb{17, 24, 39} // --text
)

// brandColors returns the text colour for the brand background (white or
// near-black, whichever reads better) and a variant of the brand dark enough
// for text and focus rings on white (WCAG AA, 4.5:1).
func brandColors(brand string) (onBrand, onWhite string) {
	c := parseColor(brand)
	onBrand = white.hex()
	if contrast(c, ink) > contrast(c, white) {
		onBrand = ink.hex()
	}
	t := c
	for i := 0; i < 40 && contrast(t, white) < 4.5; i++ {
		t = rgb{t.r * 0.92, t.g * 0.92, t.b * 0.92}
	}
	return onBrand, t.hex()
}

func brandCSS(brand string) template.CSS {
	onBrand, onWhite := brandColors(brand)
	// Every value is a validated #rrggbb: nothing from the partner reaches
	// the stylesheet unchecked.
	return template.CSS(":root{--brand:" + brand + ";--brand-ink:" + onBrand + ";--brand-text:" + onWhite + "}")
}
