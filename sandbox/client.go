package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client drives a running sandbox over HTTP through its control endpoints.
// Integration tests use it against `dualhook dev`/`dualhook sandbox` or an
// httptest server wrapping Handler.
type Client struct {
	base string
	http *http.Client
}

// NewClient returns a client for the sandbox served at origin (e.g.
// "http://127.0.0.1:8080"; the "/_sandbox/meta" prefix is added). A nil
// httpClient uses a client with a 30 s timeout.
func NewClient(origin string, httpClient *http.Client) *Client {
	if httpClient == nil {
		httpClient = &http.Client{Timeout: 30 * time.Second}
	}
	return &Client{base: strings.TrimRight(origin, "/") + strings.TrimRight(Prefix, "/"), http: httpClient}
}

// GraphBaseURL is the Graph base URL of that sandbox (append "/v21.0/...").
func (c *Client) GraphBaseURL() string { return c.base + "/graph" }

// ControlError is a non-2xx answer of a control endpoint.
type ControlError struct {
	Status  int
	Message string
}

func (e *ControlError) Error() string {
	return fmt.Sprintf("sandbox: HTTP %d: %s", e.Status, e.Message)
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var env struct {
			Error struct{ Message string } `json:"error"`
		}
		_ = json.Unmarshal(data, &env)
		msg := env.Error.Message
		if msg == "" {
			msg = strings.TrimSpace(string(data))
		}
		return &ControlError{Status: resp.StatusCode, Message: msg}
	}
	if out != nil && len(data) > 0 {
		return json.Unmarshal(data, out)
	}
	return nil
}

// CreateESSession runs one Embedded Signup headlessly and returns what a
// browser would receive.
func (c *Client) CreateESSession(ctx context.Context, req ESSessionRequest) (ESSession, error) {
	var out ESSession
	err := c.do(ctx, http.MethodPost, "/es/sessions", req, &out)
	return out, err
}

// SetFault adds a Graph fault rule and returns it with its id.
func (c *Client) SetFault(ctx context.Context, f Fault) (Fault, error) {
	var out Fault
	err := c.do(ctx, http.MethodPost, "/faults", f, &out)
	return out, err
}

// Faults lists the active faults.
func (c *Client) Faults(ctx context.Context) (FaultList, error) {
	var out FaultList
	err := c.do(ctx, http.MethodGet, "/faults", nil, &out)
	return out, err
}

// DeleteFault removes one rule.
func (c *Client) DeleteFault(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/faults/"+url.PathEscape(id), nil, nil)
}

// ClearFaults removes every rule, pending override failure and quota override.
func (c *Client) ClearFaults(ctx context.Context) error {
	return c.do(ctx, http.MethodDelete, "/faults", nil, nil)
}

// ExpireCode makes a code answer 36007 from now on.
func (c *Client) ExpireCode(ctx context.Context, code string) error {
	return c.do(ctx, http.MethodPost, "/faults/codes", CodeFault{Code: code, Action: "expire"}, nil)
}

// BurnCode marks a code used, so its exchange answers 36009.
func (c *Client) BurnCode(ctx context.Context, code string) error {
	return c.do(ctx, http.MethodPost, "/faults/codes", CodeFault{Code: code, Action: "burn"}, nil)
}

// FailOverrideVerification makes the next override verifications fail.
func (c *Client) FailOverrideVerification(ctx context.Context, f OverrideFault) error {
	return c.do(ctx, http.MethodPost, "/faults/override-verification", f, nil)
}

// MarkRegisteredElsewhere makes register answer "already registered" for the number.
func (c *Client) MarkRegisteredElsewhere(ctx context.Context, phoneNumberID string, elsewhere bool) error {
	return c.UpdateNumber(ctx, NumberFault{PhoneNumberID: phoneNumberID, RegisteredElsewhere: &elsewhere})
}

// UpdateNumber changes a number's health or status fields.
func (c *Client) UpdateNumber(ctx context.Context, f NumberFault) error {
	return c.do(ctx, http.MethodPost, "/faults/numbers", f, nil)
}

// RevokeToken revokes, expires or restores tokens; it returns how many matched.
func (c *Client) RevokeToken(ctx context.Context, f TokenFault) (int, error) {
	var out struct {
		Tokens int `json:"tokens"`
	}
	err := c.do(ctx, http.MethodPost, "/faults/tokens", f, &out)
	return out.Tokens, err
}

// SetWABA adds other partners' app subscriptions (or changes review status).
func (c *Client) SetWABA(ctx context.Context, f WABAFault) error {
	return c.do(ctx, http.MethodPost, "/faults/wabas", f, nil)
}

// SetQuota overrides the per-WABA hourly quota (0 restores the defaults).
func (c *Client) SetQuota(ctx context.Context, perHour int) error {
	return c.do(ctx, http.MethodPost, "/faults/quota", QuotaFault{PerHour: perHour}, nil)
}

// Calls lists the Graph calls received, oldest first.
func (c *Client) Calls(ctx context.Context, f CallFilter) ([]Call, error) {
	q := url.Values{}
	if f.Since > 0 {
		q.Set("since", strconv.FormatInt(f.Since, 10))
	}
	for k, v := range map[string]string{"method": f.Method, "endpoint": f.Endpoint, "wabaId": f.WABAID, "path": f.PathHas} {
		if v != "" {
			q.Set(k, v)
		}
	}
	var out struct {
		Data []Call `json:"data"`
	}
	path := "/calls"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	err := c.do(ctx, http.MethodGet, path, nil, &out)
	return out.Data, err
}

// ClearCalls empties the call log.
func (c *Client) ClearCalls(ctx context.Context) error {
	return c.do(ctx, http.MethodDelete, "/calls", nil, nil)
}

// Now reads the sandbox clock.
func (c *Client) Now(ctx context.Context) (ClockState, error) {
	var out ClockState
	err := c.do(ctx, http.MethodGet, "/clock", nil, &out)
	return out, err
}

// AdvanceClock moves the sandbox clock forward by d.
func (c *Client) AdvanceClock(ctx context.Context, d time.Duration) (ClockState, error) {
	var out ClockState
	err := c.do(ctx, http.MethodPost, "/clock", ClockRequest{Advance: d.String()}, &out)
	return out, err
}

// SetClock applies a full clock request (set, freeze, advance).
func (c *Client) SetClock(ctx context.Context, req ClockRequest) (ClockState, error) {
	var out ClockState
	err := c.do(ctx, http.MethodPost, "/clock", req, &out)
	return out, err
}

// EmitWebhook sends a Meta app webhook and reports what was delivered.
func (c *Client) EmitWebhook(ctx context.Context, req EmitRequest) (EmitResult, error) {
	var out EmitResult
	err := c.do(ctx, http.MethodPost, "/webhooks/emit", req, &out)
	return out, err
}

// VerifyAppWebhook makes the sandbox verify the app's callback URL with a
// hub.challenge GET carrying the app verify token.
func (c *Client) VerifyAppWebhook(ctx context.Context, req VerifyRequest) (VerifyResult, error) {
	var out VerifyResult
	err := c.do(ctx, http.MethodPost, "/webhooks/verify", req, &out)
	return out, err
}

// State returns the redacted state dump.
func (c *Client) State(ctx context.Context) (StateView, error) {
	var out StateView
	err := c.do(ctx, http.MethodGet, "/state", nil, &out)
	return out, err
}

// Reset forgets all state, faults, calls and clock changes.
func (c *Client) Reset(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/reset", nil, nil)
}
