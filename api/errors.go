package api

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"

	"github.com/labstack/echo/v4"

	"github.com/dualhook/dualhook/internal/apierr"
)

type errorBody struct {
	Error errorPayload `json:"error"`
}

type errorPayload struct {
	Code      string         `json:"code"`
	Message   string         `json:"message"`
	Type      string         `json:"type"`
	RequestID string         `json:"requestId"`
	Details   map[string]any `json:"details,omitempty"`
}

// handleError renders every error — ours, Echo's own (404, 405, 413) and panics — as SPEC §1's
// envelope. Internals never reach the client; they are logged with the request id.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	apiErr := s.toAPIError(err, c)
	for k, vs := range apiErr.Header {
		for _, v := range vs {
			c.Response().Header().Add(k, v)
		}
	}
	body := errorBody{Error: errorPayload{
		Code: apiErr.Code, Message: apiErr.Message, Type: apiErr.Type(),
		RequestID: requestIDOf(c), Details: apiErr.Details,
	}}
	var writeErr error
	if c.Request().Method == http.MethodHead {
		writeErr = c.NoContent(apiErr.Status())
	} else {
		writeErr = c.JSON(apiErr.Status(), body)
	}
	if writeErr != nil {
		s.log(c).Debug("writing error response failed", "error", writeErr)
	}
}

func (s *Server) toAPIError(err error, c echo.Context) *apierr.Error {
	if e, ok := apierr.As(err); ok {
		if e.Status() >= 500 {
			s.log(c).Error("request failed", "code", e.Code, "error", err)
		}
		return e
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		switch he.Code {
		case http.StatusNotFound:
			return apierr.New(apierr.CodeNotFound, "No route matches %s %s.", c.Request().Method, c.Path())
		case http.StatusMethodNotAllowed:
			return apierr.New(apierr.CodeMethodNotAllowed, "Method %s is not allowed here.", c.Request().Method)
		case http.StatusRequestEntityTooLarge:
			return apierr.New(apierr.CodePayloadTooLarge, "The request body exceeds %d bytes.", bodyLimitOf(c))
		case http.StatusUnsupportedMediaType:
			return apierr.New(apierr.CodeUnsupportedMediaType, "Send the body as application/json.")
		case http.StatusBadRequest:
			return apierr.InvalidFields(map[string]string{"request": "is malformed"})
		case http.StatusUnauthorized:
			return apierr.Unauthorized()
		case http.StatusServiceUnavailable:
			return apierr.New(apierr.CodeServiceUnavailable, "The service is temporarily unavailable.")
		}
	}
	s.log(c).Error("unhandled error", "error", err)
	return apierr.Internal()
}

// recoverPanics turns a panic into a logged 500 with the envelope instead of a dropped
// connection.
func (s *Server) recoverPanics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				if err, ok := r.(error); ok && errors.Is(err, http.ErrAbortHandler) {
					panic(r)
				}
				s.log(c).Error("panic", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				err = apierr.Internal()
			}
		}()
		return next(c)
	}
}

func unavailable(msg string) *apierr.Error {
	return apierr.New(apierr.CodeServiceUnavailable, "%s", msg)
}

func (s *Server) log(c echo.Context) *slog.Logger {
	l := s.deps.Logger.With("request_id", requestIDOf(c))
	if p := partnerOf(c); p != nil {
		l = l.With("partner_id", p.ID)
	}
	return l
}
