package sandbox

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Call is one Graph request the sandbox received, as listed by
// GET /_sandbox/meta/calls. Secrets (client_secret, code, tokens, PINs,
// verify tokens) are replaced by "[redacted]" in Params.
type Call struct {
	Seq          int64             `json:"seq"`
	Time         time.Time         `json:"time"`
	Method       string            `json:"method"`
	Path         string            `json:"path"` // "/v21.0/{id}/subscribed_apps"
	Version      string            `json:"version"`
	Endpoint     string            `json:"endpoint"` // route name, see the docs
	WABAID       string            `json:"wabaId,omitempty"`
	Params       map[string]string `json:"params,omitempty"`
	Auth         string            `json:"auth,omitempty"` // "bearer", "query" or ""
	Status       int               `json:"status"`
	ErrorCode    int               `json:"errorCode,omitempty"`
	ErrorSubcode int               `json:"errorSubcode,omitempty"`
	Fault        string            `json:"fault,omitempty"` // kind of fault applied, if any
}

const maxCalls = 10000

type callLog struct {
	mu    sync.Mutex
	seq   int64
	calls []Call
}

func newCallLog() *callLog { return &callLog{} }

func (l *callLog) add(now time.Time, c Call) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	c.Seq, c.Time = l.seq, now
	l.calls = append(l.calls, c)
	if len(l.calls) > maxCalls { // a long `dualhook dev` must not grow forever
		l.calls = append([]Call(nil), l.calls[len(l.calls)-maxCalls/2:]...)
	}
}

// CallFilter selects calls; zero fields match everything.
type CallFilter struct {
	Since    int64  // only calls with Seq > Since
	Method   string // exact, case-insensitive
	Endpoint string // route name
	WABAID   string
	PathHas  string // substring of Path
}

func (f CallFilter) match(c Call) bool {
	return c.Seq > f.Since &&
		(f.Method == "" || strings.EqualFold(f.Method, c.Method)) &&
		(f.Endpoint == "" || f.Endpoint == c.Endpoint) &&
		(f.WABAID == "" || f.WABAID == c.WABAID) &&
		(f.PathHas == "" || strings.Contains(c.Path, f.PathHas))
}

func (l *callLog) list(f CallFilter) []Call {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := []Call{}
	for _, c := range l.calls {
		if f.match(c) {
			out = append(out, c)
		}
	}
	return out
}

func (l *callLog) clear() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = nil
}

// handleCalls serves GET (list, filters: since, method, endpoint, wabaId,
// path) and DELETE (clear) on /_sandbox/meta/calls.
func (s *Sandbox) handleCalls(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodDelete {
		s.calls.clear()
		w.WriteHeader(http.StatusNoContent)
		return
	}
	q := r.URL.Query()
	since, _ := strconv.ParseInt(q.Get("since"), 10, 64)
	calls := s.calls.list(CallFilter{
		Since: since, Method: q.Get("method"), Endpoint: q.Get("endpoint"),
		WABAID: q.Get("wabaId"), PathHas: q.Get("path"),
	})
	writeJSON(w, http.StatusOK, map[string]any{"data": calls})
}
