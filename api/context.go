package api

import (
	"github.com/labstack/echo/v4"

	"github.com/dualhook/dualhook/db/dbq"
)

// Keys of values middleware puts on the echo.Context.
const (
	ctxRequestID = "dualhook.request_id"
	ctxPartner   = "dualhook.partner"
	ctxAPIKey    = "dualhook.api_key"
	ctxIdemKey   = "dualhook.idempotency"
)

func partnerOf(c echo.Context) *dbq.Partner {
	p, _ := c.Get(ctxPartner).(*dbq.Partner)
	return p
}

func apiKeyOf(c echo.Context) *dbq.APIKey {
	k, _ := c.Get(ctxAPIKey).(*dbq.APIKey)
	return k
}
