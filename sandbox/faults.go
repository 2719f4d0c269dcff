package sandbox

import (
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Fault kinds for Graph endpoint rules.
const (
	FaultHTTP5xx    = "5xx"         // HTTP 5xx (Status, default 500) with Meta's "unknown error" code 1, is_transient
	FaultTransient  = "transient"   // Graph error with is_transient: code 2 (default), 1 or 131000
	FaultRateLimit  = "rate_limit"  // 80008 on WABA endpoints (code 4 elsewhere) with usage at 100 %
	FaultTimeout    = "timeout"     // no answer until the client gives up (or DelayMs), then the connection is closed
	FaultDelay      = "delay"       // answer normally after DelayMs
	FaultReset      = "reset"       // connection reset without an answer
	FaultGraphError = "graph_error" // any Graph error: Code, Subcode, Message, Status, Transient
)

// Fault phases: before the endpoint runs (nothing changes at "Meta"), or
// after it ran (its effects stay, e.g. a spent code, but the caller sees the
// fault).
const (
	phaseBefore = "before"
	phaseAfter  = "after"
)

// Fault is a rule that makes matching Graph calls fail.
type Fault struct {
	ID string `json:"id,omitempty"`
	// Endpoint is a route name ("oauth/access_token", "waba/subscribed_apps",
	// "phone/register", …) or "*" for every Graph call (the default).
	Endpoint string `json:"endpoint,omitempty"`
	Method   string `json:"method,omitempty"` // optional, e.g. "POST"
	Kind     string `json:"kind"`
	// Count is how many matching calls fail (-1: all of them). With neither
	// Count nor Probability the rule fires once.
	Count int `json:"count,omitempty"`
	// Probability in (0,1] makes each matching call fail at random (until
	// Count is used up, when Count is positive).
	Probability float64 `json:"probability,omitempty"`
	Phase       string  `json:"phase,omitempty"` // "before" (default) or "after"
	Status      int     `json:"status,omitempty"`
	Code        int     `json:"code,omitempty"`
	Subcode     int     `json:"subcode,omitempty"`
	Message     string  `json:"message,omitempty"`
	Transient   bool    `json:"transient,omitempty"`
	DelayMs     int     `json:"delayMs,omitempty"`
	// RegainMinutes is estimated_time_to_regain_access for rate_limit.
	RegainMinutes int `json:"regainMinutes,omitempty"`
	Fired         int `json:"fired"`
}

// Override verification failure modes (POST /_sandbox/meta/faults/override-verification).
const (
	VerifyFailHTTP404        = "http_404"
	VerifyFailHTTP500        = "http_500"
	VerifyFailWrongChallenge = "wrong_challenge"
	VerifyFailTimeout        = "timeout"
	VerifyFailRefused        = "connection_refused"
)

type faultSet struct {
	mu    sync.Mutex
	seq   int
	rules []*Fault
	// overrideFails are consumed one per verification attempt.
	overrideFails []string
}

func newFaultSet() *faultSet { return &faultSet{} }

func (fs *faultSet) add(f Fault) (Fault, error) {
	switch f.Kind {
	case FaultHTTP5xx, FaultTransient, FaultRateLimit, FaultTimeout, FaultDelay, FaultReset, FaultGraphError:
	default:
		return Fault{}, errorf("unknown fault kind %q", f.Kind)
	}
	if f.Phase == "" {
		f.Phase = phaseBefore
	}
	if f.Phase != phaseBefore && f.Phase != phaseAfter {
		return Fault{}, errorf("phase must be %q or %q", phaseBefore, phaseAfter)
	}
	if f.Endpoint == "" {
		f.Endpoint = "*"
	}
	if f.Probability < 0 || f.Probability > 1 {
		return Fault{}, errorf("probability must be within [0,1]")
	}
	if f.Count == 0 && f.Probability == 0 {
		f.Count = 1
	}
	if f.Kind == FaultHTTP5xx && (f.Status < 500 || f.Status > 599) {
		if f.Status != 0 {
			return Fault{}, errorf("status must be 5xx")
		}
		f.Status = http.StatusInternalServerError
	}
	if f.Kind == FaultGraphError && f.Code == 0 {
		return Fault{}, errorf("graph_error needs a code")
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.seq++
	f.ID = "flt_" + strconv.Itoa(fs.seq)
	f.Fired = 0
	fs.rules = append(fs.rules, &f)
	return f, nil
}

// match returns a copy of the first rule that fires for this call, and
// consumes one of its counts.
func (fs *faultSet) match(endpoint, method, phase string) *Fault {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for i, f := range fs.rules {
		if f.Phase != phase || (f.Endpoint != "*" && f.Endpoint != endpoint) ||
			(f.Method != "" && !strings.EqualFold(f.Method, method)) {
			continue
		}
		if f.Probability > 0 && rand.Float64() >= f.Probability {
			continue
		}
		f.Fired++
		if f.Count > 0 {
			f.Count--
			if f.Count == 0 {
				fs.rules = slices.Delete(fs.rules, i, i+1)
			}
		}
		cp := *f
		return &cp
	}
	return nil
}

func (fs *faultSet) nextOverrideFailure() string {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if len(fs.overrideFails) == 0 {
		return ""
	}
	m := fs.overrideFails[0]
	fs.overrideFails = fs.overrideFails[1:]
	return m
}

// applyFault answers the call as the fault says. It reports false when the
// call should go on normally (a delay the client waited for).
func (s *Sandbox) applyFault(w http.ResponseWriter, r *http.Request, c *graphCall, f *Fault, traceID string, rec *Call) bool {
	var gerr *GraphError
	switch f.Kind {
	case FaultDelay:
		if s.waitOrDone(r, time.Duration(f.DelayMs)*time.Millisecond) {
			return false
		}
		rec.Status = 0
		return true
	case FaultTimeout:
		d := time.Duration(f.DelayMs) * time.Millisecond
		if d <= 0 {
			d = time.Minute
		}
		s.waitOrDone(r, d)
		dropConnection(w, false)
		rec.Status = 0
		return true
	case FaultReset:
		dropConnection(w, true)
		rec.Status = 0
		return true
	case FaultHTTP5xx:
		gerr = errTransient(1).withStatus(f.Status)
	case FaultTransient:
		gerr = errTransient(f.Code)
	case FaultRateLimit:
		regain := f.RegainMinutes
		if regain <= 0 {
			regain = 10
		}
		if c.route.wabaID != "" {
			setUsageHeader(w, c.route.wabaID, 100, regain)
			gerr = errWABARateLimit()
		} else {
			w.Header().Set("X-App-Usage", `{"call_count":100,"total_cputime":25,"total_time":25}`)
			gerr = newGraphError(4, "OAuthException", "(#4) Application request limit reached").withTransient()
		}
	case FaultGraphError:
		msg := f.Message
		if msg == "" {
			msg = "(#" + strconv.Itoa(f.Code) + ") Simulated error"
		}
		gerr = newGraphError(f.Code, "OAuthException", msg).withSubcode(f.Subcode)
		if f.Status != 0 {
			gerr.status = f.Status
		}
		if f.Transient {
			gerr.IsTransient = transient()
		}
	}
	s.writeGraphError(w, gerr, traceID)
	rec.Status, rec.ErrorCode, rec.ErrorSubcode = gerr.Status(), gerr.Code, gerr.Subcode
	return true
}

// dropConnection closes the client connection without an HTTP answer; with
// reset it makes the kernel send RST (SO_LINGER 0), like a crashed proxy.
func dropConnection(w http.ResponseWriter, reset bool) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		// HTTP/2 or a wrapped writer: aborting the handler is the closest.
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok && reset {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}
