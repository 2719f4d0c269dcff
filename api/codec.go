package api

import (
	"crypto/subtle"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"
	"go.temporal.io/sdk/converter"

	"github.com/dualhook/dualhook/internal/apierr"
	"github.com/dualhook/dualhook/internal/payloadcodec"
)

// codec serves the Temporal Web UI's "remote codec" protocol (POST …/encode, …/decode) so
// operators read the encrypted payloads (SPEC §12). Operator credentials are required: either
// `Authorization: Bearer <operator token>`, or the token as the first path segment
// (/temporal-codec/<token>/decode), because the stock UI can only be given an endpoint URL.
func (s *Server) codec(c echo.Context) error {
	r, w := c.Request(), c.Response()
	origin := r.Header.Get("Origin")
	if origin != "" && slices.Contains(s.deps.Config.CodecCORSOrigins, origin) {
		w.Header().Set("Access-Control-Allow-Origin", origin)
		w.Header().Set("Access-Control-Allow-Credentials", "true")
		w.Header().Set("Access-Control-Allow-Headers", "Content-Type, X-Namespace, Authorization")
		w.Header().Set("Access-Control-Allow-Methods", "POST, OPTIONS")
		w.Header().Set("Vary", "Origin")
	}
	if r.Method == http.MethodOptions {
		return c.NoContent(http.StatusNoContent)
	}
	token := s.deps.Config.OperatorToken
	if token == "" {
		return apierr.NotFound("route")
	}
	rest := strings.TrimPrefix(r.URL.Path, "/temporal-codec")
	presented := ""
	if scheme, value, ok := strings.Cut(r.Header.Get(echo.HeaderAuthorization), " "); ok && strings.EqualFold(scheme, "Bearer") {
		presented = strings.TrimSpace(value)
	} else if first, after, ok := strings.Cut(strings.TrimPrefix(rest, "/"), "/"); ok {
		presented, rest = first, "/"+after
	}
	if subtle.ConstantTimeCompare([]byte(presented), []byte(token)) != 1 {
		return apierr.Unauthorized()
	}
	if r.Method != http.MethodPost || (rest != "/encode" && rest != "/decode") {
		return apierr.New(apierr.CodeNotFound, "The codec serves POST /encode and POST /decode.")
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path = rest
	converter.NewPayloadCodecHTTPHandler(payloadcodec.Codec{Ring: s.deps.Ring}).ServeHTTP(w, r2)
	return nil
}
