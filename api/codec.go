package api

import (
	"crypto/subtle"
	"errors"
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"
	"go.temporal.io/sdk/converter"

	"github.com/dualhook/dualhook/internal/apierr"
	"github.com/dualhook/dualhook/internal/payloadcodec"
)

// codec serves the Temporal Web UI's "remote codec" protocol (POST /temporal-codec/encode,
// /temporal-codec/decode) so operators read the encrypted payloads (SPEC §12). It requires
// `Authorization: Bearer <operator token>`. The token is never accepted in the path: paths end up
// in proxy and access logs. (The dev stack's Web UI, which cannot send a header, uses
// DevCodecHandler instead.)
func (s *Server) codec(c echo.Context) error {
	r, w := c.Request(), c.Response()
	s.codecCORS(w.Header(), r)
	if r.Method == http.MethodOptions {
		return c.NoContent(http.StatusNoContent)
	}
	token := s.deps.Config.OperatorToken
	if token == "" {
		return apierr.NotFound("route")
	}
	presented := ""
	if scheme, value, ok := strings.Cut(r.Header.Get(echo.HeaderAuthorization), " "); ok && strings.EqualFold(scheme, "Bearer") {
		presented = strings.TrimSpace(value)
	}
	if subtle.ConstantTimeCompare([]byte(presented), []byte(token)) != 1 {
		return apierr.Unauthorized()
	}
	op := strings.TrimPrefix(r.URL.Path, "/temporal-codec")
	if r.Method != http.MethodPost || (op != "/encode" && op != "/decode") {
		return apierr.New(apierr.CodeNotFound, "The codec serves POST /encode and POST /decode.")
	}
	s.serveCodec(w, r, op)
	return nil
}

// codecCORS lets the configured Web UI origins call the codec from the browser.
func (s *Server) codecCORS(h http.Header, r *http.Request) {
	origin := r.Header.Get("Origin")
	if origin != "" && slices.Contains(s.deps.Config.CodecCORSOrigins, origin) {
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
		h.Set("Access-Control-Allow-Headers", "Content-Type, X-Namespace, Authorization")
		h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
		h.Set("Vary", "Origin")
	}
}

func (s *Server) serveCodec(w http.ResponseWriter, r *http.Request, op string) {
	r2 := r.Clone(r.Context())
	r2.URL.Path = op
	converter.NewPayloadCodecHTTPHandler(payloadcodec.Codec{Ring: s.deps.Ring}).ServeHTTP(w, r2)
}

// DevCodecHandler is the codec for the dev stack's Temporal Web UI, which can only be given an
// endpoint URL and cannot send the operator token. It exists in dev mode only, and the dev stack
// serves it on its own loopback listener (never the API's): it answers POST /encode and
// /decode without a token, only for loopback host names (a DNS-rebinding page has its own host
// name), with CORS for the Web UI's origins only, and with the codec's body limit.
func (s *Server) DevCodecHandler() (http.Handler, error) {
	if !s.deps.Config.DevMode {
		return nil, errors.New("api: the tokenless codec exists in dev mode only")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !loopbackHost(r.Host) {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		s.codecCORS(w.Header(), r)
		switch {
		case r.Method == http.MethodOptions:
			w.WriteHeader(http.StatusNoContent)
		case r.Method != http.MethodPost || (r.URL.Path != "/encode" && r.URL.Path != "/decode"):
			http.Error(w, "the codec serves POST /encode and POST /decode", http.StatusNotFound)
		case r.ContentLength > MaxCodecBodyBytes:
			http.Error(w, "payload too large", http.StatusRequestEntityTooLarge)
		default:
			r.Body = http.MaxBytesReader(w, r.Body, MaxCodecBodyBytes)
			s.serveCodec(w, r, r.URL.Path)
		}
	}), nil
}

func loopbackHost(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
