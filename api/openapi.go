package api

import (
	_ "embed"
	"net/http"

	"github.com/labstack/echo/v4"
)

// OpenAPIDocument is the OpenAPI 3.1 description of this API (SPEC §13). A test validates real
// responses against it, so it cannot drift from the handlers.
//
//go:embed openapi.yaml
var OpenAPIDocument []byte

func (s *Server) openAPI(c echo.Context) error {
	return c.Blob(http.StatusOK, "application/yaml", OpenAPIDocument)
}
