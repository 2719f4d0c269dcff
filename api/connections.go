package api

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/dualhook/dualhook/db/dbq"
	"github.com/dualhook/dualhook/internal/apierr"
	"github.com/dualhook/dualhook/internal/ids"
	"github.com/dualhook/dualhook/internal/store"
)

// connectionResponse is SPEC §7.1's object. It never carries a token, PIN or verify token.
type connectionResponse struct {
	ConnectionID             string          `json:"connectionId"`
	Name                     *string         `json:"name"`
	TenantID                 string          `json:"tenantId"`
	SessionID                string          `json:"sessionId"`
	WabaID                   string          `json:"wabaId"`
	PhoneNumberID            string          `json:"phoneNumberId"`
	BusinessID               *string         `json:"businessId"`
	DisplayPhoneNumber       *string         `json:"displayPhoneNumber"`
	VerifiedName             *string         `json:"verifiedName"`
	Status                   string          `json:"status"`
	ConnectionMode           string          `json:"connectionMode"`
	WebhookURL               string          `json:"webhookUrl"`
	Metadata                 json.RawMessage `json:"metadata"`
	CoexistenceStatus        *string         `json:"coexistenceStatus"`
	HistorySyncTriggeredAt   *string         `json:"historySyncTriggeredAt"`
	ContactSyncTriggeredAt   *string         `json:"contactSyncTriggeredAt"`
	HeartbeatApplies         bool            `json:"heartbeatApplies"`
	HeartbeatStatus          string          `json:"heartbeatStatus"`
	HeartbeatLastConfirmedAt *string         `json:"heartbeatLastConfirmedAt"`
	HeartbeatNextDueAt       *string         `json:"heartbeatNextDueAt"`
	Health                   json.RawMessage `json:"health"`
	TokenIssuedAt            string          `json:"tokenIssuedAt"`
	TokenExpiresAt           *string         `json:"tokenExpiresAt"`
	TokenStatus              string          `json:"tokenStatus"`
	CreatedAt                string          `json:"createdAt"`
	UpdatedAt                string          `json:"updatedAt"`
	DisconnectedAt           *string         `json:"disconnectedAt"`
	DisconnectReason         *string         `json:"disconnectReason"`
}

func renderConnection(c dbq.Connection) connectionResponse {
	out := connectionResponse{
		ConnectionID: c.ID, Name: c.Name, TenantID: c.TenantID, SessionID: c.SessionID, WabaID: c.WabaID,
		PhoneNumberID: c.PhoneNumberID, BusinessID: c.BusinessID, DisplayPhoneNumber: c.DisplayPhoneNumber,
		VerifiedName: c.VerifiedName, Status: c.Status, ConnectionMode: c.ConnectionMode, WebhookURL: c.WebhookURL,
		Metadata: c.Metadata, CoexistenceStatus: c.CoexistenceStatus,
		HistorySyncTriggeredAt: optTimestamp(c.HistorySyncTriggeredAt), ContactSyncTriggeredAt: optTimestamp(c.ContactSyncTriggeredAt),
		HeartbeatApplies: c.HeartbeatApplies, HeartbeatStatus: c.HeartbeatStatus,
		HeartbeatLastConfirmedAt: optTimestamp(c.HeartbeatLastConfirmedAt), HeartbeatNextDueAt: optTimestamp(c.HeartbeatNextDueAt),
		Health: c.Health, TokenIssuedAt: timestamp(c.TokenIssuedAt), TokenExpiresAt: optTimestamp(c.TokenExpiresAt),
		TokenStatus: c.TokenStatus, CreatedAt: timestamp(c.CreatedAt), UpdatedAt: timestamp(c.UpdatedAt),
		DisconnectedAt: optTimestamp(c.DisconnectedAt), DisconnectReason: c.DisconnectReason,
	}
	if len(out.Metadata) == 0 {
		out.Metadata = json.RawMessage("{}")
	}
	if len(out.Health) == 0 {
		out.Health = json.RawMessage("null")
	}
	return out
}

var connectionStatuses = []string{"active", "disconnected"}

func (s *Server) listConnections(c echo.Context) error {
	p, err := parsePage(c)
	if err != nil {
		return err
	}
	tenantID, status, err := listFilters(c, "status", connectionStatuses)
	if err != nil {
		return err
	}
	var wabaID *string
	if v := c.QueryParam("wabaId"); v != "" {
		wabaID = &v
	}
	rows, err := s.deps.Store.ListConnections(c.Request().Context(), dbq.ListConnectionsParams{
		PartnerID: partnerOf(c).ID, TenantID: tenantID, Status: status, WabaID: wabaID,
		BeforeCreatedAt: p.before, BeforeID: p.lastID, RowLimit: int32(p.limit + 1),
	})
	if err != nil {
		return err
	}
	return respondPage(c, p, rows, func(r dbq.Connection) (time.Time, string) { return r.CreatedAt, r.ID }, renderConnection)
}

func (s *Server) partnerConnection(c echo.Context) (dbq.Connection, error) {
	id := c.Param("id")
	if !ids.HasPrefix(id, ids.Connection) {
		return dbq.Connection{}, apierr.NotFound("connection")
	}
	conn, err := s.deps.Store.GetPartnerConnection(c.Request().Context(), dbq.GetPartnerConnectionParams{PartnerID: partnerOf(c).ID, ID: id})
	if store.IsNotFound(err) {
		return conn, apierr.NotFound("connection")
	}
	return conn, err
}

func (s *Server) getConnection(c echo.Context) error {
	conn, err := s.partnerConnection(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, renderConnection(conn))
}

type tenantResponse struct {
	TenantID    string               `json:"tenantId"`
	Connections []connectionResponse `json:"connections"`
	Sessions    []SessionResponse    `json:"sessions"`
}

// tenantParam is the tenantId path segment percent-decoded exactly once. Echo's parameter is
// already decoded when the path needed no raw form (no %2F and the like) and still escaped
// otherwise, so decoding it again would turn "100%25" into an invalid escape and "a%2541" into
// "aA"; the segment is taken from the request's escaped path instead and decoded here alone.
func tenantParam(c echo.Context) (string, error) {
	escaped := c.Request().URL.EscapedPath()
	return url.PathUnescape(escaped[strings.LastIndexByte(escaped, '/')+1:])
}

// getTenant answers 200 with empty lists for a tenant never seen (SPEC §7.2): tenants are the
// partner's own ids, not ours to know.
func (s *Server) getTenant(c echo.Context) error {
	tenantID, err := tenantParam(c)
	if err != nil || tenantID == "" || len([]rune(tenantID)) > 128 || !printable(tenantID) {
		return apierr.InvalidFields(map[string]string{"tenantId": "must be 1 to 128 printable characters"})
	}
	ctx := c.Request().Context()
	p := partnerOf(c)
	conns, err := s.deps.Store.ListTenantConnections(ctx, dbq.ListTenantConnectionsParams{PartnerID: p.ID, TenantID: tenantID})
	if err != nil {
		return err
	}
	sessions, err := s.deps.Store.ListTenantSessions(ctx, dbq.ListTenantSessionsParams{PartnerID: p.ID, TenantID: tenantID})
	if err != nil {
		return err
	}
	out := tenantResponse{TenantID: tenantID, Connections: []connectionResponse{}, Sessions: []SessionResponse{}}
	for _, conn := range conns {
		out.Connections = append(out.Connections, renderConnection(conn))
	}
	for _, session := range sessions {
		out.Sessions = append(out.Sessions, RenderSession(session))
	}
	return c.JSON(http.StatusOK, out)
}
