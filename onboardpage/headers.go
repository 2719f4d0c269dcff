package onboardpage

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
)

// LiveSDKURL is Meta's JavaScript SDK, which the page loads in live mode.
const LiveSDKURL = "https://connect.facebook.net/en_US/sdk.js"

// LiveMessageOrigins returns the origins trusted for the WA_EMBEDDED_SIGNUP
// message event Meta's Embedded Signup popup posts: https facebook.com and
// its subdomains ("https://*.facebook.com" matches any subdomain, not the
// bare host, as in CSP). Meta posts from www. as a rule, web. and staticxx.
// are seen in the wild (reference/meta.md §1.4), other integrations accept
// business., and Meta's own sample accepts any origin ending in
// facebook.com (m. on mobile). Only https, and only facebook.com itself:
// not facebook.com.evil.test, not evilfacebook.com.
func LiveMessageOrigins() []string {
	return []string{"https://facebook.com", "https://*.facebook.com"}
}

// liveFrameOrigins are the origins Meta's SDK loads frames from (its
// cross-domain channel and dialogs); the Embedded Signup dialog itself is a
// popup, which CSP does not govern. Deliberately narrower than the message
// origins: CSP lists only the hosts known to serve the SDK's frames.
var liveFrameOrigins = []string{"https://www.facebook.com", "https://web.facebook.com", "https://staticxx.facebook.com"}

// NewNonce returns a fresh CSP nonce (128 random bits, base64url).
func NewNonce() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// SecurityHeaders sets the headers every onboarding response carries: a
// strict Content-Security-Policy, no framing, no referrer (the page URL
// holds the session's token), no caching, no sniffing.
//
// nonce authorises the response's inline <style> and <script> elements; ""
// allows none. p is the page being rendered: it adds the SDK's origin to
// script-src, the logo's origin to img-src, the frames Meta's SDK (or the
// sandbox) needs, and connect-src 'self' for the callback and status calls.
// The JSON endpoints (callback, status) and the 404/410 pages pass p == nil.
func SecurityHeaders(h http.Header, nonce string, p *Page) {
	nonceSrc := ""
	if nonce != "" {
		nonceSrc = "'nonce-" + nonce + "'"
	}
	directives := []string{"default-src 'none'"}
	if p != nil {
		directives = append(directives, join("script-src", nonceSrc, sourceOf(p.SDKURL)))
	}
	if nonceSrc != "" {
		directives = append(directives, "style-src "+nonceSrc)
	}
	img := []string{"data:"}
	if p != nil {
		if src := sourceOf(p.LogoURL); src != "" && !strings.HasPrefix(p.LogoURL, "data:") {
			img = append([]string{src}, img...)
		}
	}
	if nonceSrc != "" || p != nil {
		directives = append(directives, join("img-src", img...))
	}
	if p != nil {
		directives = append(directives, "connect-src 'self'")
		frames := frameSources(p)
		if len(frames) > 0 {
			directives = append(directives, join("frame-src", frames...), join("child-src", frames...))
		}
	}
	directives = append(directives, "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'")

	h.Set("Content-Security-Policy", strings.Join(directives, "; "))
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	// same-origin would cut window.opener for Meta's popup, which posts the
	// message event and the code back through it.
	h.Set("Cross-Origin-Opener-Policy", "same-origin-allow-popups")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()")
	h.Set("X-Robots-Tag", "noindex, nofollow")
}

func frameSources(p *Page) []string {
	switch p.Mode {
	case ModeLive:
		return liveFrameOrigins
	case ModeSandbox:
		if src := sourceOf(p.SDKURL); src != "" {
			return []string{src}
		}
	}
	return nil
}

func join(name string, sources ...string) string {
	out := name
	for _, s := range sources {
		if s != "" {
			out += " " + s
		}
	}
	if out == name {
		out += " 'none'"
	}
	return out
}

// sourceOf is the CSP source for an absolute http(s) URL (its origin), ""
// for anything else (data: URLs, relative or malformed URLs).
func sourceOf(raw string) string {
	o, _ := originOf(raw)
	return o
}

// originOf returns scheme://host[:port] of an absolute http(s) URL. Only
// characters valid in a CSP host-source are accepted, so a URL cannot
// inject a directive.
func originOf(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return "", false
	}
	host := strings.ToLower(u.Host)
	for _, r := range host {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune(".-:[]", r)) {
			return "", false
		}
	}
	// Browsers report origins without the default port (event.origin).
	if u.Scheme == "https" {
		host = strings.TrimSuffix(host, ":443")
	} else {
		host = strings.TrimSuffix(host, ":80")
	}
	return u.Scheme + "://" + host, true
}

// messageOrigin accepts an origin (see bareOrigin) or a wildcard
// "scheme://*.host[:port]", which page.js matches against any subdomain of
// host (one or more labels), never host itself; returned normalised.
func messageOrigin(raw string) (string, bool) {
	scheme, rest, ok := strings.Cut(raw, "://*.")
	if !ok {
		return bareOrigin(raw)
	}
	if strings.HasPrefix(rest, ".") || strings.HasPrefix(rest, "[") {
		return "", false
	}
	n, ok := bareOrigin(scheme + "://" + rest)
	if !ok {
		return "", false
	}
	s, host, _ := strings.Cut(n, "://")
	return s + "://*." + host, true
}

// bareOrigin accepts only an origin ("https://host[:port]", a trailing "/"
// tolerated) and returns it normalised like event.origin.
func bareOrigin(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return "", false
	}
	return originOf(raw)
}
