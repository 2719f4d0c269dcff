// Package metagraph is the client of Meta's Graph API that the onboarding
// activities use (SPEC §6, §7.3–7.6): the Embedded Signup code exchange,
// debug_token discovery, WABA and phone-number reads, webhook subscription
// and overrides, register and the coexistence smb_app_data syncs.
//
// It talks to https://graph.facebook.com or to the sandbox
// (sandbox.GraphBaseURL()) through the same code: only Config.BaseURL
// differs.
//
// Design rules, each for a reason:
//
//   - Access tokens travel in "Authorization: Bearer", never in a URL, so
//     proxies and access logs never see them. The two exceptions are
//     imposed by Meta: oauth/access_token takes client_secret and code as
//     query parameters, and debug_token takes input_token as one.
//   - Every error string is safe to log: URLs are never part of an error
//     (Go's *url.Error embeds the full URL, with code and client_secret for
//     the exchange), and each call scrubs the secrets it handled (token,
//     code, app secret, PIN, verify token) from whatever Meta sent back —
//     Meta's 2200 message quotes the body the callback answered, which may
//     echo the verify token.
//   - Errors are classified, not retried: callers (Temporal activities)
//     own the retry policy. See IsTransient and NeverReachedMeta.
//   - No logging, no global state; a Client is safe for concurrent use.
package metagraph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// DefaultTimeout bounds one HTTP call to Graph when Config.Timeout is zero.
const DefaultTimeout = 15 * time.Second

// maxResponseBody caps what is read from Graph; real answers are a few KiB.
const maxResponseBody = 8 << 20

// defaultPageSize is the limit sent on list edges. Graph defaults to 25;
// asking for more saves calls against the per-WABA hourly quota (80008).
const defaultPageSize = 100

// maxPages stops a paging loop that Meta (or a bug) would make endless.
const maxPages = 1000

// userAgent identifies this client in Meta's (or the sandbox's) logs.
const userAgent = "dualhook-metagraph/1"

// Config configures a Client.
type Config struct {
	// BaseURL is Graph's origin without the version, for example
	// "https://graph.facebook.com" or sandbox.GraphBaseURL().
	BaseURL string
	// Version is the Graph API version, "v21.0" style (^v\d+\.\d+$, the
	// constraint Meta's OpenAPI puts on the path segment).
	Version string
	// AppID and AppSecret are the Meta app's credentials. The secret
	// authenticates the code exchange and forms the app access token
	// ("APP_ID|APP_SECRET") debug_token is called with.
	AppID, AppSecret string
	// HTTPClient performs the calls. Nil: a dedicated client that does not
	// follow redirects (Graph never redirects API calls; following one
	// would forward the bearer token).
	HTTPClient *http.Client
	// Timeout bounds each HTTP call (each page of a list). Zero means
	// DefaultTimeout.
	Timeout time.Duration
}

// String keeps the app secret out of logs and %v.
func (c Config) String() string {
	return fmt.Sprintf("metagraph.Config{BaseURL:%q Version:%q AppID:%q AppSecret:[redacted] Timeout:%s}",
		c.BaseURL, c.Version, c.AppID, c.Timeout)
}

// GoString keeps the app secret out of %#v.
func (c Config) GoString() string { return c.String() }

// Client calls Meta's Graph API. Create it with New.
type Client struct {
	base      string // BaseURL + "/" + Version, no trailing slash
	appID     string
	appSecret string
	http      *http.Client
	timeout   time.Duration
	pageSize  int
}

// New validates cfg and returns a client.
func New(cfg Config) (*Client, error) {
	base := strings.TrimRight(strings.TrimSpace(cfg.BaseURL), "/")
	u, err := url.Parse(base)
	if base == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
		u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, errors.New("metagraph: BaseURL must be an absolute http(s) URL without query, fragment or credentials")
	}
	if !validVersion(cfg.Version) {
		return nil, errors.New(`metagraph: Version must look like "v21.0"`)
	}
	if !isNumericID(cfg.AppID) {
		return nil, errors.New("metagraph: AppID must be a numeric Meta app id")
	}
	if cfg.AppSecret == "" {
		return nil, errors.New("metagraph: AppSecret is required")
	}
	if cfg.Timeout < 0 {
		return nil, errors.New("metagraph: Timeout must not be negative")
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = defaultHTTPClient()
	}
	return &Client{
		base:      base + "/" + cfg.Version,
		appID:     cfg.AppID,
		appSecret: cfg.AppSecret,
		http:      hc,
		timeout:   timeout,
		pageSize:  defaultPageSize,
	}, nil
}

func defaultHTTPClient() *http.Client {
	var tr *http.Transport
	if dt, ok := http.DefaultTransport.(*http.Transport); ok {
		tr = dt.Clone()
	} else {
		tr = &http.Transport{Proxy: http.ProxyFromEnvironment}
	}
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// validVersion checks ^v\d+\.\d+$ without a package-level regexp.
func validVersion(v string) bool {
	rest, ok := strings.CutPrefix(v, "v")
	if !ok {
		return false
	}
	major, minor, ok := strings.Cut(rest, ".")
	return ok && isDigits(major) && isDigits(minor)
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isNumericID reports whether s looks like a Graph object id. Ids go into
// URL paths, so anything else ("../", "?", "/") is refused before a call.
func isNumericID(s string) bool { return len(s) <= 32 && isDigits(s) }

// request describes one Graph call.
type request struct {
	op     string // operation name used in errors, e.g. "register"
	method string
	path   string // after the version, e.g. "123/subscribed_apps"
	query  url.Values
	body   any    // sent as JSON when non-nil
	token  string // bearer token; empty sends none
	// secrets are scrubbed from every error string of this call.
	secrets []string
	// idempotent: repeating the call after it may have reached Meta is
	// safe. False only for the single-use code exchange.
	idempotent bool
}

// do performs r and decodes a successful JSON answer into out (when
// non-nil). Failures are *Error (Meta answered) or *NetworkError (it did
// not, or not completely).
func (c *Client) do(ctx context.Context, r request, out any) error {
	secrets := append([]string{c.appSecret, r.token}, r.secrets...)
	if err := ctx.Err(); err != nil {
		return newNetworkError(r, false, false, true, err, secrets)
	}
	callCtx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	// Whether the request bytes were handed to the connection decides if
	// Meta may have acted on it (SPEC §6 step 1: the code exchange is
	// retried only when it never reached Meta). The flag is sticky: if
	// net/http retried internally after a first complete write, the
	// request may have reached Meta even if the final failure is a dial
	// error.
	var sent atomic.Bool
	trace := &httptrace.ClientTrace{WroteRequest: func(info httptrace.WroteRequestInfo) {
		if info.Err == nil {
			sent.Store(true)
		}
	}}

	var body io.Reader
	if r.body != nil {
		b, err := json.Marshal(r.body)
		if err != nil {
			return fmt.Errorf("metagraph: %s: encoding the request body failed", r.op)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(callCtx, trace), r.method, c.base+"/"+r.path, body)
	if err != nil {
		// Never wrap: the error would quote the URL.
		return fmt.Errorf("metagraph: %s: building the request failed", r.op)
	}
	req.URL.RawQuery = r.query.Encode()
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}

	resp, err := c.http.Do(req)
	if err != nil {
		return newNetworkError(r, sent.Load(), isTimeout(err, callCtx), ctx.Err() != nil, err, secrets)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody+1))
	if err != nil {
		// Headers arrived: Meta got the request and may have acted on it.
		return newNetworkError(r, true, isTimeout(err, callCtx), ctx.Err() != nil, err, secrets)
	}
	if len(data) > maxResponseBody {
		return &Error{Op: r.op, HTTPStatus: resp.StatusCode, Message: "response body too large"}
	}
	if gerr := parseError(r.op, resp, data, secrets); gerr != nil {
		gerr.notRetryable = !r.idempotent
		return gerr
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		// The body is not quoted: it may hold a token.
		return &Error{Op: r.op, HTTPStatus: resp.StatusCode, Message: "malformed JSON in Graph's answer",
			FBTraceID: resp.Header.Get("x-fb-trace-id")}
	}
	return nil
}

// successResponse is Graph's answer to most POSTs and DELETEs.
type successResponse struct {
	Success *bool `json:"success"`
}

// doSuccess performs r and requires {"success": true} when Graph says
// anything about success. Some Graph edges answer HTTP 200 with
// {"success": false} instead of an error envelope.
func (c *Client) doSuccess(ctx context.Context, r request) error {
	var out successResponse
	if err := c.do(ctx, r, &out); err != nil {
		return err
	}
	if out.Success != nil && !*out.Success {
		return &Error{Op: r.op, HTTPStatus: http.StatusOK, Message: `Graph answered "success": false`, unsuccessful: true}
	}
	return nil
}

// page is the envelope of Graph list edges.
type page[T any] struct {
	Data   []T `json:"data"`
	Paging *struct {
		Next    string `json:"next"`
		Cursors struct {
			After string `json:"after"`
		} `json:"cursors"`
	} `json:"paging"`
}

// listAll reads every page of a list edge. Graph signals more pages with
// paging.next. The next URL is not fetched as is: its query (cursor or
// offset, fields, limit) is replayed against our own base URL and path, so
// the bearer token only ever goes to the configured host, and an
// access_token Meta may have embedded in next is dropped.
func listAll[T any](ctx context.Context, c *Client, r request) ([]T, error) {
	var all []T
	seen := map[string]bool{r.query.Encode(): true}
	for range maxPages {
		var p page[T]
		if err := c.do(ctx, r, &p); err != nil {
			return nil, err
		}
		all = append(all, p.Data...)
		if p.Paging == nil || p.Paging.Next == "" || len(p.Data) == 0 {
			return all, nil
		}
		next, err := url.Parse(p.Paging.Next)
		if err != nil {
			return nil, &Error{Op: r.op, HTTPStatus: http.StatusOK, Message: "unparsable paging.next in Graph's answer"}
		}
		q := url.Values{}
		for k, v := range r.query {
			q[k] = v
		}
		for k, v := range next.Query() {
			if k == "access_token" || k == "appsecret_proof" {
				continue
			}
			q[k] = v
		}
		if q.Get("after") == "" && q.Get("offset") == "" && p.Paging.Cursors.After != "" {
			q.Set("after", p.Paging.Cursors.After)
		}
		enc := q.Encode()
		if seen[enc] {
			return nil, &Error{Op: r.op, HTTPStatus: http.StatusOK, Message: "Graph paging did not advance"}
		}
		seen[enc] = true
		r.query = q
	}
	return nil, &Error{Op: r.op, HTTPStatus: http.StatusOK, Message: fmt.Sprintf("more than %d pages", maxPages)}
}

// Operation names, as they appear in Error.Op and NetworkError.Op.
const (
	opExchangeCode       = "exchange_code"
	opDebugToken         = "debug_token"
	opGetWABA            = "get_waba"
	opListPhoneNumbers   = "list_phone_numbers"
	opGetPhoneNumber     = "get_phone_number"
	opListSubscribedApps = "list_subscribed_apps"
	opSubscribeApp       = "subscribe_app"
	opSetOverride        = "set_override"
	opClearOverride      = "clear_override"
	opUnsubscribeApp     = "unsubscribe_app"
	opRegister           = "register"
	opSMBAppData         = "smb_app_data"
)

// argError reports a bad argument, found before anything is sent.
func argError(op, msg string) error { return errors.New("metagraph: " + op + ": " + msg) }

// checkToken refuses an empty token or one that cannot be a header value,
// before anything is sent.
func checkToken(op, token string) error {
	if token == "" {
		return argError(op, "access token is empty")
	}
	if strings.ContainsAny(token, "\r\n\x00 ") {
		return argError(op, "access token contains invalid characters")
	}
	return nil
}

// checkID refuses ids that are not numeric before they reach a URL path.
func checkID(op, what, id string) error {
	if !isNumericID(id) {
		return argError(op, what+" must be a numeric Graph id")
	}
	return nil
}
