// Package apierr defines the stable error codes of SPEC §10. Errors carry their code from the
// place they arise (handlers, middleware, activities); the HTTP layer only renders them.
package apierr

import (
	"errors"
	"fmt"
	"net/http"
)

// Stable codes (SPEC §10). Never rename one: partners switch on them.
const (
	CodeInvalidRequest          = "invalid_request"
	CodeInvalidRedirectURL      = "invalid_redirect_url"
	CodeInvalidWebhookURL       = "invalid_webhook_url"
	CodeUnauthorized            = "unauthorized"
	CodeForbidden               = "forbidden"
	CodeNotFound                = "not_found"
	CodeMethodNotAllowed        = "method_not_allowed"
	CodeIdempotencyKeyInUse     = "idempotency_key_in_use"
	CodeWabaWebhookConflict     = "waba_webhook_conflict"
	CodeNumberAlreadyConnected  = "number_already_connected"
	CodeConnectionDisconnected  = "connection_disconnected"
	CodeHeartbeatNotApplicable  = "heartbeat_not_applicable"
	CodeReplayInProgress        = "replay_in_progress"
	CodeMetaTokenExpired        = "meta_token_expired"
	CodeSessionExpired          = "session_expired"
	CodePayloadTooLarge         = "payload_too_large"
	CodeUnsupportedMediaType    = "unsupported_media_type"
	CodeIdempotencyKeyCollision = "idempotency_key_collision"
	// CodeAPIKeyLimitReached [ext]: the partner already has as many live API keys as allowed.
	CodeAPIKeyLimitReached     = "api_key_limit_reached"
	CodeWebhookPreflightFailed = "webhook_preflight_failed"
	CodeRateLimited            = "rate_limited"
	CodeInternalError          = "internal_error"
	CodeWebhookSubscribeFailed = "webhook_subscribe_failed"
	CodeMetaUnavailable        = "meta_unavailable"
	CodeServiceUnavailable     = "service_unavailable"
)

type spec struct {
	status int
	typ    string
}

var codes = map[string]spec{
	CodeInvalidRequest:          {http.StatusBadRequest, "invalid_request"},
	CodeInvalidRedirectURL:      {http.StatusBadRequest, "invalid_request"},
	CodeInvalidWebhookURL:       {http.StatusBadRequest, "invalid_request"},
	CodeUnauthorized:            {http.StatusUnauthorized, "authentication"},
	CodeForbidden:               {http.StatusForbidden, "authentication"},
	CodeNotFound:                {http.StatusNotFound, "invalid_request"},
	CodeMethodNotAllowed:        {http.StatusMethodNotAllowed, "invalid_request"},
	CodeIdempotencyKeyInUse:     {http.StatusConflict, "conflict"},
	CodeWabaWebhookConflict:     {http.StatusConflict, "conflict"},
	CodeNumberAlreadyConnected:  {http.StatusConflict, "conflict"},
	CodeConnectionDisconnected:  {http.StatusConflict, "conflict"},
	CodeHeartbeatNotApplicable:  {http.StatusConflict, "conflict"},
	CodeReplayInProgress:        {http.StatusConflict, "conflict"},
	CodeMetaTokenExpired:        {http.StatusConflict, "meta"},
	CodeSessionExpired:          {http.StatusGone, "invalid_request"},
	CodePayloadTooLarge:         {http.StatusRequestEntityTooLarge, "invalid_request"},
	CodeUnsupportedMediaType:    {http.StatusUnsupportedMediaType, "invalid_request"},
	CodeIdempotencyKeyCollision: {http.StatusUnprocessableEntity, "conflict"},
	CodeAPIKeyLimitReached:      {http.StatusConflict, "conflict"},
	CodeWebhookPreflightFailed:  {http.StatusUnprocessableEntity, "invalid_request"},
	CodeRateLimited:             {http.StatusTooManyRequests, "rate_limited"},
	CodeInternalError:           {http.StatusInternalServerError, "api_error"},
	CodeWebhookSubscribeFailed:  {http.StatusBadGateway, "meta"},
	CodeMetaUnavailable:         {http.StatusServiceUnavailable, "meta"},
	CodeServiceUnavailable:      {http.StatusServiceUnavailable, "api_error"},
}

// Error is an API error with a stable code. Details are only set where a code documents them.
type Error struct {
	Code    string
	Message string
	Details map[string]any
	// Header holds response headers the error needs (Retry-After on 429).
	Header http.Header
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Status is the HTTP status of the code.
func (e *Error) Status() int { return codes[e.Code].status }

// Type is the error group of the code.
func (e *Error) Type() string { return codes[e.Code].typ }

// New makes an error with a message. An unknown code is a programming error and panics in tests
// through TestEveryCodeIsKnown; at run time it renders as internal_error.
func New(code, format string, args ...any) *Error {
	if _, ok := codes[code]; !ok {
		return &Error{Code: CodeInternalError, Message: "An internal error occurred."}
	}
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WithDetails returns a copy of e with details set.
func (e *Error) WithDetails(details map[string]any) *Error {
	c := *e
	c.Details = details
	return &c
}

// InvalidFields is the 400 for malformed or wrong-typed input: details.fields maps each field to
// its problem (SPEC §1).
func InvalidFields(fields map[string]string) *Error {
	msg := "The request has invalid fields."
	if len(fields) == 1 {
		for f, p := range fields {
			msg = fmt.Sprintf("Field %q %s.", f, p)
		}
	}
	return New(CodeInvalidRequest, "%s", msg).WithDetails(map[string]any{"fields": fields})
}

// NotFound is the 404 shared by absent ids and other partners' ids (no oracle, SPEC §1).
func NotFound(kind string) *Error {
	return New(CodeNotFound, "No %s with that id exists.", kind)
}

// Unauthorized is the single 401 for every authentication failure (no oracle, SPEC §2).
func Unauthorized() *Error {
	return New(CodeUnauthorized, "A valid API key is required: send Authorization: Bearer dh_live_….")
}

// Internal is the 500 that never carries internals; the request id ties it to the logs.
func Internal() *Error {
	return New(CodeInternalError, "An internal error occurred. Quote the request id to the operator.")
}

// As extracts an *Error from err's chain.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// Known reports whether code is one of SPEC §10's.
func Known(code string) bool {
	_, ok := codes[code]
	return ok
}

// Codes lists every known code (used by tests and the OpenAPI check).
func Codes() []string {
	out := make([]string, 0, len(codes))
	for c := range codes {
		out = append(out, c)
	}
	return out
}
