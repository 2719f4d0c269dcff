package api

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/dualhook/dualhook/db/dbq"
	"github.com/dualhook/dualhook/internal/apierr"
	"github.com/dualhook/dualhook/internal/ids"
	"github.com/dualhook/dualhook/internal/opt"
	"github.com/dualhook/dualhook/internal/secretstore"
	"github.com/dualhook/dualhook/internal/store"
)

// POST /api/v1/connections/{id}/reveal-secrets (SPEC §7.5) and its audit log. The audit row is
// written in the transaction that reads the secrets: if the row cannot be written, no secret is
// read — and a replayed (idempotent) reveal writes its own row too.

// Secret types a partner may reveal.
const (
	secretAccessToken     = "access_token"
	secretRegistrationPIN = "registration_pin"
)

// maxAuditUserAgent bounds what the audit keeps of a User-Agent header.
const maxAuditUserAgent = 512

type revealRequest struct {
	SecretTypes []string `json:"secretTypes"`
}

type revealResponse struct {
	ConnectionID string             `json:"connectionId"`
	Secrets      map[string]*string `json:"secrets"`
}

func (s *Server) revealSecrets(c echo.Context) error {
	types, err := revealTypes(c)
	if err != nil {
		return err
	}
	secrets, err := s.reveal(c, types)
	if err != nil {
		return err
	}
	noStore(c)
	return c.JSON(http.StatusOK, revealResponse{ConnectionID: c.Param("id"), Secrets: secrets})
}

// revealTypes reads and checks secretTypes: a non-empty list of known types (repeats collapse).
func revealTypes(c echo.Context) ([]string, error) {
	var req revealRequest
	if err := decodeJSON(c, &req); err != nil {
		return nil, err
	}
	if len(req.SecretTypes) == 0 {
		return nil, apierr.InvalidFields(map[string]string{"secretTypes": "must list at least one of access_token, registration_pin"})
	}
	var types []string
	for _, t := range req.SecretTypes {
		if t != secretAccessToken && t != secretRegistrationPIN {
			return nil, apierr.InvalidFields(map[string]string{"secretTypes": "may only contain access_token and registration_pin"})
		}
		if !slices.Contains(types, t) {
			types = append(types, t)
		}
	}
	return types, nil
}

// reveal writes the audit row and reads the secrets in one transaction. The connection row is
// share-locked, so a disconnect (which erases the secrets) cannot interleave.
func (s *Server) reveal(c echo.Context, types []string) (map[string]*string, error) {
	id := c.Param("id")
	if !ids.HasPrefix(id, ids.Connection) {
		return nil, apierr.NotFound("connection")
	}
	ctx := c.Request().Context()
	p, key := partnerOf(c), apiKeyOf(c)
	out := map[string]*string{}
	err := s.deps.Store.InTx(ctx, func(q *dbq.Queries) error {
		conn, err := q.GetPartnerConnectionForShare(ctx, dbq.GetPartnerConnectionForShareParams{PartnerID: p.ID, ID: id})
		if store.IsNotFound(err) {
			return apierr.NotFound("connection")
		}
		if err != nil {
			return err
		}
		if conn.Status != "active" {
			return apierr.New(apierr.CodeConnectionDisconnected, "The connection is disconnected; its secrets were erased.")
		}
		if conn.TokenStatus == "expired" {
			return apierr.New(apierr.CodeMetaTokenExpired, "Meta no longer accepts this connection's access token; onboard the number again.")
		}
		if _, err := q.InsertSecretRevealAudit(ctx, dbq.InsertSecretRevealAuditParams{
			ID: ids.New(ids.Audit), PartnerID: p.ID, APIKeyID: key.ID, ConnectionID: conn.ID, SecretTypes: types,
			RequestID: requestIDOf(c), ClientIP: opt.String(c.RealIP()), UserAgent: opt.String(truncateRunes(c.Request().UserAgent(), maxAuditUserAgent)),
		}); err != nil {
			return err
		}
		for _, t := range types {
			ref := conn.AccessTokenSecretID
			if t == secretRegistrationPIN {
				ref = conn.RegistrationPinSecretID
			}
			if ref == nil {
				out[t] = nil // a coexistence number has no PIN: it was never registered by us
				continue
			}
			v, err := secretstore.Read(ctx, q, s.deps.Ring, *ref)
			if errors.Is(err, secretstore.ErrErased) {
				return apierr.New(apierr.CodeConnectionDisconnected, "The connection's secrets were erased.")
			}
			if err != nil {
				return err
			}
			out[t] = &v
		}
		return nil
	})
	return out, err
}

// replayReveal runs before an idempotent replay of a reveal hands out the stored response
// (SPEC §4.4): the replay is a reveal too, so it writes its own audit row — and a connection
// that was disconnected (or whose token expired) since does not get its secret back from the
// idempotency store.
func (s *Server) replayReveal(c echo.Context) error {
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return err
	}
	c.Request().Body = io.NopCloser(bytes.NewReader(body))
	types, err := revealTypes(c)
	if err != nil {
		return err
	}
	if _, err := s.reveal(c, types); err != nil {
		return err
	}
	noStore(c)
	return nil
}

func noStore(c echo.Context) {
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
}

type auditResponse struct {
	AuditID      string   `json:"auditId"`
	ConnectionID string   `json:"connectionId"`
	KeyID        string   `json:"keyId"`
	SecretTypes  []string `json:"secretTypes"`
	RequestID    string   `json:"requestId"`
	ClientIP     *string  `json:"clientIp"`
	UserAgent    *string  `json:"userAgent"`
	CreatedAt    string   `json:"createdAt"`
}

func renderAudit(a dbq.SecretRevealAudit) auditResponse {
	return auditResponse{
		AuditID: a.ID, ConnectionID: a.ConnectionID, KeyID: a.APIKeyID, SecretTypes: a.SecretTypes, RequestID: a.RequestID,
		ClientIP: a.ClientIP, UserAgent: a.UserAgent, CreatedAt: timestamp(a.CreatedAt),
	}
}

// listSecretReveals is GET /api/v1/audit/secret-reveals?connectionId=&keyId= (SPEC §7.5 [ext]).
func (s *Server) listSecretReveals(c echo.Context) error {
	p, err := parsePage(c)
	if err != nil {
		return err
	}
	rows, err := s.deps.Store.ListSecretRevealAudit(c.Request().Context(), dbq.ListSecretRevealAuditParams{
		PartnerID: partnerOf(c).ID, ConnectionID: opt.String(c.QueryParam("connectionId")), APIKeyID: opt.String(c.QueryParam("keyId")),
		BeforeCreatedAt: p.before, BeforeID: p.lastID, RowLimit: int32(p.limit + 1),
	})
	if err != nil {
		return err
	}
	return respondPage(c, p, rows, func(r dbq.SecretRevealAudit) (time.Time, string) { return r.CreatedAt, r.ID }, renderAudit)
}

func truncateRunes(v string, n int) string {
	r := []rune(v)
	if len(r) <= n {
		return v
	}
	return string(r[:n])
}
