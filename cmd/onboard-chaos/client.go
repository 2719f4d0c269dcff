package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"sync"
	"time"
)

// endpointStats counts what the clients saw from one endpoint of the product.
type endpointStats struct {
	Requests        int `json:"requests"`
	Status5xx       int `json:"status5xx"`
	Status429       int `json:"status429"`
	TransportErrors int `json:"transportErrors"`
	// Other4xx counts the 4xx answers other than 429 by status code.
	Other4xx map[string]int `json:"other4xx,omitempty"`
}

// client talks to the product over HTTP and counts every answer by endpoint.
type client struct {
	http *http.Client
	base string
	key  string

	mu    sync.Mutex
	stats map[string]*endpointStats
}

func newClient(base, key string, conns int) *client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = conns
	tr.MaxConnsPerHost = 0
	// The page's fetch gives up after 30 s (onboardpage/assets/page.js); the callback handler
	// itself answers within 20 s.
	return &client{http: &http.Client{Transport: tr, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		base: base, key: key, stats: map[string]*endpointStats{}}
}

func (c *client) count(endpoint string, status int, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats[endpoint]
	if s == nil {
		s = &endpointStats{}
		c.stats[endpoint] = s
	}
	s.Requests++
	switch {
	case err != nil:
		s.TransportErrors++
	case status >= 500:
		s.Status5xx++
	case status == http.StatusTooManyRequests:
		s.Status429++
	case status >= 400:
		if s.Other4xx == nil {
			s.Other4xx = map[string]int{}
		}
		s.Other4xx[fmt.Sprint(status)]++
	}
}

func (c *client) snapshot() map[string]endpointStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]endpointStats, len(c.stats))
	for k, v := range c.stats {
		cp := *v
		if v.Other4xx != nil {
			cp.Other4xx = make(map[string]int, len(v.Other4xx))
			for code, n := range v.Other4xx {
				cp.Other4xx[code] = n
			}
		}
		out[k] = cp
	}
	return out
}

// do sends one request; endpoint names the counter. The API key goes only to /api/ paths.
func (c *client) do(ctx context.Context, endpoint, method, path string, body any, header map[string]string) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if len(path) >= 5 && path[:5] == "/api/" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			c.count(endpoint, 0, err)
		}
		return 0, nil, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 8<<20))
	c.count(endpoint, res.StatusCode, err)
	if err != nil {
		return 0, nil, err
	}
	return res.StatusCode, data, nil
}

// apiSession is the part of GET /api/v1/onboarding/sessions/{id} the report uses.
type apiSession struct {
	SessionID string `json:"sessionId"`
	Status    string `json:"status"`
	Failure   *struct {
		Reason        string `json:"reason"`
		ErrorCategory string `json:"errorCategory"`
		Message       string `json:"message"`
	} `json:"failure"`
}

func (c *client) session(ctx context.Context, id string) (apiSession, error) {
	var s apiSession
	status, body, err := c.do(ctx, "GET /api/v1/onboarding/sessions/{id}", http.MethodGet, "/api/v1/onboarding/sessions/"+url.PathEscape(id), nil, nil)
	if err != nil {
		return s, err
	}
	if status != http.StatusOK {
		return s, fmt.Errorf("session %s: HTTP %d", id, status)
	}
	return s, json.Unmarshal(body, &s)
}

// apiEvent is one row of GET /api/v1/events.
type apiEvent struct {
	EventID      string          `json:"eventId"`
	Type         string          `json:"type"`
	Status       string          `json:"status"`
	SessionID    *string         `json:"sessionId"`
	AttemptCount int             `json:"attemptCount"`
	CreatedAt    string          `json:"createdAt"`
	Payload      json.RawMessage `json:"payload"`
}

// sessionOf is the event's session: the row's column, else the payload's data.sessionId.
func (e apiEvent) sessionOf() string {
	if e.SessionID != nil && *e.SessionID != "" {
		return *e.SessionID
	}
	var p struct {
		Data struct {
			SessionID string `json:"sessionId"`
		} `json:"data"`
	}
	_ = json.Unmarshal(e.Payload, &p)
	return p.Data.SessionID
}

// events lists every event of the partner, following the cursor (bounded).
func (c *client) events(ctx context.Context, maxPages int) ([]apiEvent, error) {
	var all []apiEvent
	cursor := ""
	for range maxPages {
		path := "/api/v1/events?limit=100"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		status, body, err := c.do(ctx, "GET /api/v1/events", http.MethodGet, path, nil, nil)
		if err != nil {
			return nil, err
		}
		if status != http.StatusOK {
			return nil, fmt.Errorf("GET /api/v1/events: HTTP %d: %.200s", status, body)
		}
		var page struct {
			Data       []apiEvent `json:"data"`
			NextCursor *string    `json:"nextCursor"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Data...)
		if page.NextCursor == nil || *page.NextCursor == "" {
			return all, nil
		}
		cursor = *page.NextCursor
	}
	return nil, fmt.Errorf("GET /api/v1/events: more than %d pages", maxPages)
}

// eventAttempts is GET /api/v1/events/{id}'s number of recorded attempts.
func (c *client) eventAttempts(ctx context.Context, id string) (int, error) {
	status, body, err := c.do(ctx, "GET /api/v1/events/{id}", http.MethodGet, "/api/v1/events/"+url.PathEscape(id), nil, nil)
	if err != nil {
		return 0, err
	}
	if status != http.StatusOK {
		return 0, fmt.Errorf("HTTP %d", status)
	}
	var ev struct {
		Attempts []json.RawMessage `json:"attempts"`
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		return 0, err
	}
	return len(ev.Attempts), nil
}

// sortedKeys returns a map's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
