package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/dualhook/dualhook/internal/apierr"
	"github.com/dualhook/dualhook/internal/connhealth"
	"github.com/dualhook/dualhook/metagraph"
)

// Health (SPEC §7.6): the stored snapshot, and a refresh that asks Meta now with the
// connection's token. The health-refresh schedule does the same for every active connection
// (workflows/health.go).

type healthResponse struct {
	ConnectionID string          `json:"connectionId"`
	Health       json.RawMessage `json:"health"`
}

type healthRefreshResponse struct {
	ConnectionID string          `json:"connectionId"`
	Refreshed    bool            `json:"refreshed"`
	Health       json.RawMessage `json:"health"`
}

func (s *Server) getConnectionHealth(c echo.Context) error {
	conn, err := s.partnerConnection(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, healthResponse{ConnectionID: conn.ID, Health: renderConnection(conn).Health})
}

// refreshConnectionHealth answers `refreshed: false` with the stored snapshot when Meta is
// unavailable or refuses the read for another reason than the token: the partner keeps what
// is known. A 190 marks the token expired (SPEC §7.1) and answers meta_token_expired.
func (s *Server) refreshConnectionHealth(c echo.Context) error {
	conn, err := s.partnerConnection(c)
	if err != nil {
		return err
	}
	graph, err := s.graphClient()
	if err != nil {
		s.log(c).Error("Meta Graph API client unavailable", "error", err)
		return apierr.New(apierr.CodeMetaUnavailable, "Meta cannot be reached from this install.")
	}
	r := connhealth.Refresher{Store: s.deps.Store, Ring: s.deps.Ring, Graph: graph, Now: s.deps.Now, OnGraphError: s.noteTokenError}
	updated, err := r.Refresh(c.Request().Context(), conn)
	switch {
	case err == nil:
		return c.JSON(http.StatusOK, healthRefreshResponse{ConnectionID: conn.ID, Refreshed: true, Health: renderConnection(updated).Health})
	case errors.Is(err, connhealth.ErrDisconnected):
		return disconnectedError()
	case errors.Is(err, connhealth.ErrTokenExpired):
		return apierr.New(apierr.CodeMetaTokenExpired, "Meta no longer accepts this connection's access token; onboard the number again.")
	}
	var graphErr *metagraph.Error
	var netErr *metagraph.NetworkError
	if !errors.As(err, &graphErr) && !errors.As(err, &netErr) {
		return err
	}
	s.log(c).Warn("health refresh: Meta did not answer", "connection_id", conn.ID, "error", err)
	return c.JSON(http.StatusOK, healthRefreshResponse{ConnectionID: conn.ID, Refreshed: false, Health: renderConnection(conn).Health})
}

// noteTokenError is the API's activities.noteTokenError: a 190 on the connection's token marks
// it expired.
func (s *Server) noteTokenError(ctx context.Context, connectionID string, err error) error {
	if metagraph.IsTokenInvalid(err) {
		if markErr := s.deps.Store.MarkConnectionTokenExpired(context.WithoutCancel(ctx), connectionID); markErr != nil {
			s.deps.Logger.Error("could not mark the token expired", "connection_id", connectionID, "error", markErr)
		}
	}
	return err
}

// graphClient is Deps.Graph, or one built once from the configuration (the same settings the
// worker uses).
func (s *Server) graphClient() (*metagraph.Client, error) {
	s.graphOnce.Do(func() {
		if s.deps.Graph != nil {
			s.graph = s.deps.Graph
			return
		}
		cfg := s.deps.Config
		s.graph, s.graphErr = metagraph.New(metagraph.Config{
			BaseURL: cfg.GraphBaseURL(), Version: cfg.MetaGraphVersion, AppID: cfg.MetaAppID, AppSecret: cfg.MetaAppSecret,
		})
	})
	return s.graph, s.graphErr
}
