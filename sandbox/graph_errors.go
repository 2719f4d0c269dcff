package sandbox

import (
	"fmt"
	"net/http"
)

// GraphError is Meta's error envelope member:
// {"error":{"message","type","code","error_subcode","error_data","is_transient","fbtrace_id"}}.
type GraphError struct {
	Message      string         `json:"message"`
	Type         string         `json:"type"`
	Code         int            `json:"code"`
	Subcode      int            `json:"error_subcode,omitempty"`
	ErrorData    map[string]any `json:"error_data,omitempty"`
	UserTitle    string         `json:"error_user_title,omitempty"`
	UserMsg      string         `json:"error_user_msg,omitempty"`
	IsTransient  *bool          `json:"is_transient,omitempty"`
	FBTraceID    string         `json:"fbtrace_id"`
	status       int
	wwwAuthError string // when set, WWW-Authenticate is added (OAuth errors)
}

func (e *GraphError) Error() string { return e.Message }

// Status is the HTTP status Meta answers this error with.
func (e *GraphError) Status() int {
	if e.status != 0 {
		return e.status
	}
	return statusForCode(e.Code)
}

// statusForCode follows Meta's WhatsApp error table.
func statusForCode(code int) int {
	switch {
	case code == 0 || code == 190:
		return http.StatusUnauthorized
	case code == 2:
		return http.StatusServiceUnavailable
	case code == 3 || code == 131000:
		return http.StatusInternalServerError
	case code == 10 || code == 368 || code == 131031 || (code >= 200 && code <= 299):
		return http.StatusForbidden
	default:
		return http.StatusBadRequest
	}
}

func transient() *bool { t := true; return &t }

func newGraphError(code int, typ, msg string) *GraphError {
	return &GraphError{Code: code, Type: typ, Message: msg}
}

func (e *GraphError) withSubcode(sc int) *GraphError { e.Subcode = sc; return e }
func (e *GraphError) withStatus(st int) *GraphError  { e.status = st; return e }
func (e *GraphError) withTransient() *GraphError     { e.IsTransient = transient(); return e }
func (e *GraphError) withDetails(details string) *GraphError {
	e.ErrorData = map[string]any{"messaging_product": "whatsapp", "details": details}
	return e
}

// Constructors for the errors the sandbox produces. Messages are copied from
// what Meta is known to send.

func errUnknownPath(path string) *GraphError {
	return newGraphError(2500, "OAuthException", "Unknown path components: "+path)
}

func errNoToken() *GraphError {
	return newGraphError(104, "OAuthException", "An access token is required to request this resource.")
}

func errBadToken() *GraphError {
	e := newGraphError(190, "OAuthException", "Invalid OAuth access token - Cannot parse access token")
	e.wwwAuthError = "invalid_token"
	return e
}

func errExpiredToken(expired string) *GraphError {
	e := newGraphError(190, "OAuthException",
		"Error validating access token: Session has expired on "+expired+".").withSubcode(463)
	e.wwwAuthError = "invalid_token"
	return e
}

func errRevokedToken(appID string, subcode int) *GraphError {
	e := newGraphError(190, "OAuthException",
		"Error validating access token: The user has not authorized application "+appID+".").withSubcode(subcode)
	e.wwwAuthError = "invalid_token"
	return e
}

func errUnsupported(method, id string) *GraphError {
	return newGraphError(100, "GraphMethodException", fmt.Sprintf(
		"Unsupported %s request. Object with ID '%s' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api",
		method, id)).withSubcode(33)
}

func errPermission() *GraphError {
	return newGraphError(200, "OAuthException", "(#200) Permissions error").withSubcode(1349174)
}

func errParam(msg string) *GraphError {
	return newGraphError(100, "OAuthException", "(#100) "+msg)
}

func errNonexistingField(field, nodeType string) *GraphError {
	return errParam(fmt.Sprintf("Tried accessing nonexisting field (%s) on node type (%s)", field, nodeType))
}

func errOAuth(code, subcode int, msg string) *GraphError {
	e := newGraphError(code, "OAuthException", msg).withSubcode(subcode)
	e.wwwAuthError = "invalid_code"
	return e
}

func errWABARateLimit() *GraphError {
	return newGraphError(80008, "OAuthException",
		"(#80008) There have been too many calls to this WhatsApp Business account. Wait a bit and try again. For more info, please refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting.").
		withTransient()
}

func errTransient(code int) *GraphError {
	switch code {
	case 1:
		return newGraphError(1, "OAuthException", "An unknown error has occurred.").withTransient().withStatus(http.StatusInternalServerError)
	case 131000:
		return newGraphError(131000, "OAuthException", "(#131000) Something went wrong").withTransient().withDetails("Something went wrong")
	default:
		return newGraphError(2, "OAuthException", "An unexpected error has occurred. Please retry your request later.").withTransient()
	}
}

func errCallbackVerification(detail string) *GraphError {
	return newGraphError(2200, "OAuthException",
		"(#2200) Callback verification failed with the following errors: "+detail)
}

// errSyncLimit answers a repeated smb_app_data sync. Meta's coexistence
// page documents 2593107 "sync limit exceeded"; Meta has also been reported
// to answer code 4 "sync request limit exceeded" — the code of the app call
// limit, without is_transient — which is the default (Config.RepeatedSyncCode).
func errSyncLimit(code int, syncType string) *GraphError {
	details := "The " + syncType + " synchronization can only be requested once per onboarding."
	if code == SyncLimitCode {
		return newGraphError(SyncLimitCode, "OAuthException", "(#4) Sync request limit exceeded").withDetails(details)
	}
	return newGraphError(SyncLimitCodeDocumented, "OAuthException", "(#2593107) Synchronization request limit exceeded").withDetails(details)
}
