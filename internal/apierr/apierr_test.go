package apierr

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
)

// The SPEC §10 table, copied by hand: changing a status or type is a wire break.
func TestCodesMatchTheSpecTable(t *testing.T) {
	want := map[string][2]any{
		"invalid_request": {400, "invalid_request"}, "invalid_redirect_url": {400, "invalid_request"},
		"invalid_webhook_url": {400, "invalid_request"}, "unauthorized": {401, "authentication"},
		"forbidden": {403, "authentication"}, "not_found": {404, "invalid_request"},
		"method_not_allowed": {405, "invalid_request"}, "idempotency_key_in_use": {409, "conflict"},
		"waba_webhook_conflict": {409, "conflict"}, "number_already_connected": {409, "conflict"},
		"connection_disconnected": {409, "conflict"}, "heartbeat_not_applicable": {409, "conflict"},
		"replay_in_progress": {409, "conflict"},
		"meta_token_expired": {409, "meta"}, "session_expired": {410, "invalid_request"},
		"payload_too_large": {413, "invalid_request"}, "unsupported_media_type": {415, "invalid_request"},
		"idempotency_key_collision": {422, "conflict"}, "webhook_preflight_failed": {422, "invalid_request"},
		"rate_limited": {429, "rate_limited"}, "internal_error": {500, "api_error"},
		"webhook_subscribe_failed": {502, "meta"}, "meta_unavailable": {503, "meta"},
		"service_unavailable": {503, "api_error"},
		// [ext] codes beyond the SPEC table.
		"api_key_limit_reached": {409, "conflict"},
	}
	assert.Len(t, Codes(), len(want))
	for code, st := range want {
		e := New(code, "x")
		assert.Equal(t, code, e.Code)
		assert.Equal(t, st[0], e.Status(), code)
		assert.Equal(t, st[1], e.Type(), code)
	}
}

func TestUnknownCodeBecomesInternal(t *testing.T) {
	e := New("no_such_code", "boom")
	assert.Equal(t, CodeInternalError, e.Code)
	assert.Equal(t, http.StatusInternalServerError, e.Status())
	assert.NotContains(t, e.Message, "boom")
}

func TestInvalidFieldsNamesTheField(t *testing.T) {
	e := InvalidFields(map[string]string{"name": "must be a string"})
	assert.Equal(t, `Field "name" must be a string.`, e.Message)
	assert.Equal(t, map[string]string{"name": "must be a string"}, e.Details["fields"])
}
