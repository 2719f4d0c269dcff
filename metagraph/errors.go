package metagraph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Error is an answer from Meta that is not a success: Graph's error
// envelope {"error":{"message","type","code","error_subcode",
// "error_data","is_transient","fbtrace_id"}}, or an HTTP failure without
// one (a proxy's 502 page, a {"success": false}).
//
// Message and Details are Meta's texts with this call's secrets scrubbed,
// so the whole value is safe to log.
type Error struct {
	// Op names the client operation ("exchange_code", "register", …).
	Op         string
	HTTPStatus int
	Code       int
	// Subcode is error_subcode. Meta calls it deprecated for Cloud API
	// responses since v16.0 but still sends it where it matters here
	// (36007/36009 on the exchange, 463/458 on tokens, 33 on unknown ids).
	Subcode int
	Type    string
	Message string
	// Details is error_data.details, where Meta puts the useful half of
	// WhatsApp errors (e.g. why register refused).
	Details   string
	FBTraceID string
	// IsTransient is Meta's is_transient flag as sent. IsTransient(err)
	// also counts 5xx and the codes SPEC §6 lists.
	IsTransient bool
	// RetryAfter is how long Meta asks to wait: the Retry-After header or
	// the largest estimated_time_to_regain_access (minutes) of
	// X-Business-Use-Case-Usage. Zero when Meta gave none.
	RetryAfter time.Duration

	unsuccessful bool // HTTP 200 with {"success": false}
	// notRetryable marks answers to the single-use code exchange: it
	// reached Meta, so SPEC §6 step 1 forbids repeating it.
	notRetryable bool
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "metagraph: %s: HTTP %d: %s", e.Op, e.HTTPStatus, e.Message)
	if e.Details != "" && !strings.Contains(e.Message, e.Details) {
		b.WriteString(": " + e.Details)
	}
	var attrs []string
	if e.Code != 0 {
		attrs = append(attrs, fmt.Sprintf("code %d", e.Code))
	}
	if e.Subcode != 0 {
		attrs = append(attrs, fmt.Sprintf("subcode %d", e.Subcode))
	}
	if e.IsTransient {
		attrs = append(attrs, "is_transient")
	}
	if e.RetryAfter > 0 {
		attrs = append(attrs, "retry after "+e.RetryAfter.String())
	}
	if e.FBTraceID != "" {
		attrs = append(attrs, "fbtrace_id "+e.FBTraceID)
	}
	if len(attrs) > 0 {
		b.WriteString(" (" + strings.Join(attrs, ", ") + ")")
	}
	return b.String()
}

// transient follows SPEC §6: 5xx, is_transient, and codes 2 (temporary
// service error), 4 (app call limit), 80007/80008 (WABA rate limits) and
// 131000 (generic "Something went wrong"). Code 1 counts only with
// is_transient or a 5xx: Meta also uses code 1 for "Error validating
// client secret." (HTTP 400), which is final. A 429 (Meta itself does not
// send it, a proxy in front may) counts too.
//
// Answers to ExchangeCode are never transient: the request reached Meta,
// which may have spent the single-use code, and SPEC §6 step 1 retries
// the exchange only when it never reached Meta. Neither is code 4 on an
// smb_app_data sync: there it means "sync request limit exceeded" (see
// IsAlreadySynced), and repeating the call cannot change the answer.
func (e *Error) transient() bool {
	if e.notRetryable || e.syncLimit() {
		return false
	}
	if e.IsTransient || e.HTTPStatus >= 500 || e.HTTPStatus == http.StatusTooManyRequests {
		return true
	}
	switch e.Code {
	case 2, 4, 80007, 80008, 131000:
		return true
	}
	return false
}

// NetworkError is a call that got no complete answer from Meta: dial
// failure, connection refused or reset, timeout, cancelled context.
//
// Sent tells whether the request may have reached Meta. It is false only
// when the request was never completely written to a connection (dial
// errors, refused connections, resets before the write finished, a context
// done before sending): Meta cannot have acted on it. It is true once the
// request bytes were written, even if the answer never came — Meta may have
// spent the code or registered the number.
type NetworkError struct {
	Op      string
	Sent    bool
	Timeout bool

	msg        string // scrubbed transport error text
	err        error  // transport error, without Go's *url.Error (it quotes the URL)
	idempotent bool
	callerDone bool // the caller's context ended: retrying inside it is pointless
}

func (e *NetworkError) Error() string {
	state := "request never reached Meta"
	if e.Sent {
		state = "request may have reached Meta"
	}
	if e.Timeout {
		state += " (timeout)"
	}
	return fmt.Sprintf("metagraph: %s: %s: %s", e.Op, state, e.msg)
}

// Unwrap gives the transport error, so errors.Is(err,
// context.DeadlineExceeded) and friends work. It is the error inside Go's
// *url.Error, never the *url.Error itself, whose text holds the URL.
func (e *NetworkError) Unwrap() error { return e.err }

func newNetworkError(r request, sent, timeout, callerDone bool, err error, secrets []string) *NetworkError {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &NetworkError{
		Op: r.op, Sent: sent, Timeout: timeout,
		msg: scrub(err.Error(), secrets), err: err,
		idempotent: r.idempotent, callerDone: callerDone,
	}
}

func isTimeout(err error, callCtx context.Context) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(callCtx.Err(), context.DeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout())
}

// IsTransient reports whether retrying err later is safe and may succeed:
// Meta's transient answers (5xx, is_transient, codes 2, 4, 80007, 80008,
// 131000; code 4 on smb_app_data is IsAlreadySynced instead) and network
// errors that are safe to repeat — any call that never
// reached Meta, and calls that may have reached it except the single-use
// code exchange. For ExchangeCode it is therefore the same as
// NeverReachedMeta. False when the caller's own context ended: retrying
// inside it is pointless.
func IsTransient(err error) bool {
	if ge, ok := errors.AsType[*Error](err); ok {
		return ge.transient()
	}
	if ne, ok := errors.AsType[*NetworkError](err); ok {
		return !ne.callerDone && (!ne.Sent || ne.idempotent)
	}
	return false
}

// NeverReachedMeta reports whether err is a network failure that happened
// before the request was written: Meta cannot have acted on it. SPEC §6
// step 1 retries the code exchange only then.
func NeverReachedMeta(err error) bool {
	ne, ok := errors.AsType[*NetworkError](err)
	return ok && !ne.Sent
}

// RetryAfter returns the wait Meta asked for (see Error.RetryAfter), or 0.
func RetryAfter(err error) time.Duration {
	if ge, ok := errors.AsType[*Error](err); ok {
		return ge.RetryAfter
	}
	return 0
}

// IsTokenInvalid reports Graph code 190: the access token is invalid,
// expired (subcode 463) or revoked (458: the business removed the app).
// SPEC §7.1 marks the connection's token expired; §7.4 treats it as
// "already removed" when unsubscribing.
func IsTokenInvalid(err error) bool { return hasCode(err, 190) }

// IsCodeExpired reports 100/36007: the Embedded Signup code is older than
// its 30 s lifetime. Final: the user must sign up again.
func IsCodeExpired(err error) bool { return hasCodeSub(err, 100, 36007) }

// IsCodeUsed reports 100/36009: the code was already exchanged (a double
// submit, or an earlier attempt that reached Meta). Final.
func IsCodeUsed(err error) bool { return hasCodeSub(err, 100, 36009) }

// IsAlreadyRegistered reports register's code 100 "Phone number is already
// registered or in invalid state for registration". Meta uses that one
// message for both cases, and the sandbox answers it for numbers
// registered elsewhere and for coexistence numbers (a repeat with the same
// PIN succeeds there). A caller that counts it as success on a retry
// (SPEC §6 step 5) should confirm with PhoneNumber.
func IsAlreadyRegistered(err error) bool {
	ge, ok := errors.AsType[*Error](err)
	return ok && ge.Code == 100 && strings.Contains(strings.ToLower(ge.Message), "already registered")
}

// IsAlreadySynced reports that this smb_app_data sync_type was already
// requested for the onboarding (each runs once): 2593107, as meta.md
// documents, or code 4 "sync request limit exceeded", which Meta has been
// reported to answer a repeated sync with. Code 4 counts only on the
// smb_app_data call; elsewhere it is the app call limit, which IsTransient
// retries. SPEC §6 counts an already started sync as success on a retry.
func IsAlreadySynced(err error) bool {
	ge, ok := errors.AsType[*Error](err)
	return ok && (ge.Code == 2593107 || ge.syncLimit())
}

// syncLimit is code 4 on an smb_app_data sync. Meta's text varies ("sync
// request limit exceeded"; the app-limit wording would be "Application
// request limit reached"), so only the call and the code are compared: a
// real app limit on the sync is then taken for a spent sync, which the
// best-effort syncs can afford, while retrying a spent sync for minutes
// cannot be.
func (e *Error) syncLimit() bool { return e.Op == opSMBAppData && e.Code == 4 }

// IsNotSubscribed reports that the app is not subscribed to the WABA.
// DELETE /{waba}/subscribed_apps answers {"success": true} even then (per
// meta.md and the sandbox), so UnsubscribeApp returns nil and needs no
// special case; this matches a {"success": false} answer to that DELETE,
// should Meta ever send one, and the code 100 Meta/the sandbox answer when
// an override is set before the app is subscribed.
func IsNotSubscribed(err error) bool {
	ge, ok := errors.AsType[*Error](err)
	if !ok {
		return false
	}
	if ge.unsuccessful && ge.Op == opUnsubscribeApp {
		return true
	}
	msg := strings.ToLower(ge.Message)
	return ge.Code == 100 && (strings.Contains(msg, "must be subscribed") || strings.Contains(msg, "not subscribed"))
}

// IsOverrideVerificationFailed reports 2200: Meta's hub.challenge GET to
// the override URL failed (non-200, wrong body, timeout, refused).
func IsOverrideVerificationFailed(err error) bool { return hasCode(err, 2200) }

func hasCode(err error, code int) bool {
	ge, ok := errors.AsType[*Error](err)
	return ok && ge.Code == code
}

func hasCodeSub(err error, code, sub int) bool {
	ge, ok := errors.AsType[*Error](err)
	return ok && ge.Code == code && ge.Subcode == sub
}

// wireError is the member of Graph's {"error": …} envelope, decoded
// leniently: a type surprise must not hide the error.
type wireError struct {
	Message     string          `json:"message"`
	Type        string          `json:"type"`
	Code        flexInt         `json:"code"`
	Subcode     flexInt         `json:"error_subcode"`
	IsTransient flexBool        `json:"is_transient"`
	FBTraceID   string          `json:"fbtrace_id"`
	ErrorData   json.RawMessage `json:"error_data"`
}

// parseError turns a non-success answer into *Error; nil for a success.
// A 2xx carrying an error envelope is still an error.
func parseError(op string, resp *http.Response, data []byte, secrets []string) *Error {
	var env struct {
		Error json.RawMessage `json:"error"`
	}
	_ = json.Unmarshal(data, &env)
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	hasEnvelope := len(env.Error) > 0 && string(env.Error) != "null"
	if ok && !hasEnvelope {
		return nil
	}
	e := &Error{
		Op:         op,
		HTTPStatus: resp.StatusCode,
		FBTraceID:  resp.Header.Get("x-fb-trace-id"),
		RetryAfter: retryAfter(resp.Header, time.Now()),
	}
	var w wireError
	var s string
	switch {
	case !hasEnvelope:
		e.Message = fmt.Sprintf("HTTP %d without a Graph error body", resp.StatusCode)
	case json.Unmarshal(env.Error, &s) == nil: // OAuth-style {"error": "invalid_request"}
		e.Message = s
	case json.Unmarshal(env.Error, &w) == nil:
		e.Message, e.Type = w.Message, w.Type
		e.Code, e.Subcode, e.IsTransient = int(w.Code), int(w.Subcode), bool(w.IsTransient)
		e.Details = errorDetails(w.ErrorData)
		if w.FBTraceID != "" {
			e.FBTraceID = w.FBTraceID
		}
	default:
		e.Message = "unparsable Graph error envelope"
	}
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	e.Message, e.Details = scrub(e.Message, secrets), scrub(e.Details, secrets)
	return e
}

// errorDetails extracts error_data.details; Graph sends error_data as an
// object, and on some endpoints as a string holding JSON.
func errorDetails(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var obj struct {
		Details string `json:"details"`
	}
	if json.Unmarshal(raw, &obj) == nil {
		return obj.Details
	}
	var s string
	if json.Unmarshal(raw, &s) == nil && json.Unmarshal([]byte(s), &obj) == nil {
		return obj.Details
	}
	return ""
}

// redacted replaces secrets in error texts.
const redacted = "[redacted]"

// scrub removes every secret (raw and URL-encoded) from s, longest first
// so the app token "ID|SECRET" goes before the bare secret.
func scrub(s string, secrets []string) string {
	ss := slices.Clone(secrets)
	slices.SortFunc(ss, func(a, b string) int { return len(b) - len(a) })
	for _, sec := range ss {
		if sec == "" {
			continue
		}
		for _, form := range []string{sec, url.QueryEscape(sec), url.PathEscape(sec)} {
			s = strings.ReplaceAll(s, form, redacted)
		}
	}
	return s
}
