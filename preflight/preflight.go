// Package preflight checks a partner's webhook override URL before an
// onboarding session is created (SPEC §4.3): it sends the same
// verification GET that Meta will send when the override is installed, so a
// broken endpoint is reported to the partner now, with a precise reason,
// instead of failing later inside Meta's subscription call while a tenant
// waits in the signup popup.
package preflight

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/dualhook/dualhook/egress"
)

// UserAgent identifies the preflight in the partner's access logs, so a
// request carrying their verify token is recognisable as ours.
const UserAgent = "Dualhook-Webhook-Preflight/1"

// Categories of a failed preflight (details.preflight.category).
const (
	CategoryEndpointUnreachable = "endpoint_unreachable"
	CategoryEndpointHTTPError   = "endpoint_http_error"
	CategoryChallengeMismatch   = "challenge_mismatch"
)

const (
	// Timeout bounds the whole exchange (SPEC §4.3).
	Timeout = 5 * time.Second
	// MaxBody is how much of the response is read; the answer is a short
	// challenge, anything longer is a mismatch.
	MaxBody = 4 << 10
	// MaxPreview bounds receivedPreview, in characters.
	MaxPreview = 200
)

// Result is the outcome, shaped like details.preflight of the 422
// webhook_preflight_failed error.
type Result struct {
	OK       bool   `json:"-"`
	Category string `json:"category"`
	// HTTPStatus is set whenever a response arrived (3xx included).
	HTTPStatus *int `json:"httpStatus"`
	// ReceivedPreview is the start of the response body: whitespace
	// trimmed, at most 200 characters, valid UTF-8, with the verify token
	// redacted should the endpoint echo it. It is empty when the answer came
	// from a private address that only the egress allow-list let through.
	ReceivedPreview string `json:"receivedPreview"`
	// Detail explains a failure for the operator's logs (for example
	// "timeout" or "address denied by egress policy"). It never contains
	// the URL, and so never the verify token.
	Detail string `json:"-"`
}

// Run sends GET rawURL?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…
// with client (use egress.Policy.NewClient, so the address policy applies)
// and reports whether the endpoint echoed the challenge with HTTP 200.
//
// Run enforces the SPEC's limits itself whatever client it is given: a 5 s
// deadline on ctx, redirects not followed (a 3xx is endpoint_http_error),
// and at most 4 KiB of body read.
func Run(ctx context.Context, client *http.Client, rawURL, verifyToken string) Result {
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()

	challenge, err := newChallenge()
	if err != nil {
		return unreachable("cannot generate challenge")
	}
	target, err := buildURL(rawURL, verifyToken, challenge)
	if err != nil {
		return unreachable("invalid URL")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return unreachable("invalid URL")
	}
	// Meta sends no body and expects text; say so, and close the connection
	// afterwards since this endpoint is not called again soon.
	req.Header.Set("Accept", "*/*")
	req.Header.Set("User-Agent", UserAgent)
	req.Close = true

	// Which connection answered decides whether its reply may be quoted back (see below).
	var internal atomic.Bool
	req = req.WithContext(httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) { internal.Store(egress.ReachedAllowListed(info.Conn)) },
	}))

	c := noRedirects(client)
	resp, err := c.Do(req)
	if err != nil {
		return unreachable(describe(err, verifyToken))
	}
	body, truncated, readErr := egress.ReadLimited(resp.Body, MaxBody)
	_ = resp.Body.Close()
	status := resp.StatusCode
	res := Result{HTTPStatus: &status, ReceivedPreview: preview(body, verifyToken)}
	if internal.Load() {
		// An address the operator allow-listed (DUALHOOK_EGRESS_ALLOW_CIDRS) is open to every
		// partner: quoting its reply would let any of them read internal hosts through the
		// 422. The category and status still say what failed.
		res.ReceivedPreview = ""
	}

	switch {
	case status != http.StatusOK:
		res.Category = CategoryEndpointHTTPError
		res.Detail = fmt.Sprintf("HTTP %d", status)
	case readErr != nil:
		// A 200 whose body broke off: we cannot know what was meant.
		res.Category = CategoryEndpointUnreachable
		res.Detail = "reading response: " + describe(readErr, verifyToken)
	case truncated || strings.TrimSpace(string(body)) != challenge:
		res.Category = CategoryChallengeMismatch
		res.Detail = "response body is not the challenge"
	default:
		res.OK = true
	}
	return res
}

func unreachable(detail string) Result {
	return Result{Category: CategoryEndpointUnreachable, Detail: detail}
}

// noRedirects returns a copy of client that returns 3xx responses instead
// of following them: a redirect would move the request (and the verify
// token) to a URL nobody validated, and Meta does not follow them either.
func noRedirects(client *http.Client) *http.Client {
	if client == nil {
		client = &http.Client{}
	}
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// newChallenge returns a random 10-digit decimal below 2^31, the shape of
// Meta's own hub.challenge: some receivers parse it as a 32-bit integer
// before echoing it, and a longer or non-numeric value would fail them here
// while Meta would succeed.
func newChallenge() (string, error) {
	const lo, hi = 1_000_000_000, 2_147_483_647
	n, err := rand.Int(rand.Reader, big.NewInt(hi-lo+1))
	if err != nil {
		return "", err
	}
	return fmt.Sprint(n.Int64() + lo), nil
}

// buildURL appends the hub.* parameters to rawURL's query without
// re-encoding what is already there (the partner's own parameters reach
// them byte for byte), in the order Meta sends them. The fragment is
// dropped: it is never sent.
func buildURL(rawURL, token, challenge string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", err
	}
	if u.Scheme == "" || u.Host == "" {
		return "", errors.New("not absolute")
	}
	params := "hub.mode=subscribe&hub.verify_token=" + url.QueryEscape(token) + "&hub.challenge=" + challenge
	if u.RawQuery != "" {
		u.RawQuery += "&" + params
	} else {
		u.RawQuery = params
	}
	u.ForceQuery = false
	u.Fragment, u.RawFragment = "", ""
	return u.String(), nil
}

// describe reduces a client error to a short cause for logs. *url.Error
// embeds the full request URL, verify token included, so only its inner
// error is kept, and the token is scrubbed from that too in case a lower
// layer ever quotes it.
func describe(err error, token string) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var msg string
	var dnsErr *net.DNSError
	var netErr net.Error
	var certErr *tls.CertificateVerificationError
	switch {
	case egress.IsDenied(err):
		msg = "address denied by egress policy: " + err.Error()
	case errors.Is(err, context.DeadlineExceeded):
		msg = "timeout"
	case errors.Is(err, context.Canceled):
		msg = "canceled"
	case errors.As(err, &dnsErr):
		msg = "DNS: " + dnsErr.Err
	case errors.As(err, &certErr):
		msg = "TLS: " + certErr.Error()
	case errors.As(err, &netErr) && netErr.Timeout():
		msg = "timeout"
	default:
		msg = err.Error()
	}
	return redact(msg, token)
}

func redact(s, token string) string {
	if token == "" {
		return s
	}
	s = strings.ReplaceAll(s, token, "[redacted]")
	if esc := url.QueryEscape(token); esc != token {
		s = strings.ReplaceAll(s, esc, "[redacted]")
	}
	return s
}

// preview makes receivedPreview: trimmed, valid UTF-8, at most MaxPreview
// characters, verify token redacted (the preview travels in an API error
// and may be logged; an endpoint that echoes the whole query would
// otherwise put the token there).
func preview(body []byte, token string) string {
	s := strings.ToValidUTF8(string(body), "\uFFFD")
	s = redact(strings.TrimSpace(s), token)
	if utf8.RuneCountInString(s) > MaxPreview {
		r := []rune(s)
		s = string(r[:MaxPreview])
	}
	return s
}
