package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/dualhook/dualhook/internal/domain"
)

// disconnectWait is how long DELETE waits for the disconnect before answering 202 with the
// connection as it stands (Meta slow or refusing; the workflow keeps trying).
const disconnectWait = 20 * time.Second

// disconnectConnection is DELETE /api/v1/connections/{id} (SPEC §7.4). The work is the
// connection's disconnect workflow: its id (disconnect/<connectionId>, reject-duplicate) makes a
// repeated call find the first one, so the event is emitted once and the first reason wins.
func (s *Server) disconnectConnection(c echo.Context) error {
	conn, err := s.partnerConnection(c)
	if err != nil {
		return err
	}
	if conn.Status == domain.ConnectionDisconnected {
		return c.JSON(http.StatusOK, renderConnection(conn))
	}
	if s.deps.Temporal == nil {
		return unavailable("Temporal is not configured.")
	}
	ctx := c.Request().Context()
	target := domain.DisconnectTarget{ConnectionID: conn.ID, PartnerID: conn.PartnerID, TenantID: conn.TenantID, WabaID: conn.WabaID}
	waitCtx, cancel := context.WithTimeout(ctx, disconnectWait)
	defer cancel()
	// Update-with-start: the first DELETE starts the workflow, a repeated one (or one racing a
	// Meta-side removal) attaches to it; both wait only until the disconnect is decided.
	start := s.deps.Temporal.NewWithStartWorkflowOperation(domain.DisconnectStartOptions(target, s.deps.Config.TemporalTaskQueue),
		domain.DisconnectWorkflowName, domain.DisconnectInput{ConnectionID: conn.ID, Reason: domain.DisconnectReasonAPI})
	handle, err := s.deps.Temporal.UpdateWithStartWorkflow(waitCtx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: start,
		UpdateOptions: client.UpdateWorkflowOptions{
			UpdateName: domain.UpdateAwaitDisconnect, WaitForStage: client.WorkflowUpdateStageCompleted,
		},
	})
	if err == nil {
		var result domain.DisconnectResult
		err = handle.Get(waitCtx, &result)
	}
	var notFound *serviceerror.NotFound
	switch {
	case err == nil, waitRanOut(ctx, waitCtx, err), isWorkflowClosed(err), errors.As(err, &notFound):
		// Decided, still in progress, or decided by a workflow that already ended.
	default:
		s.log(c).Error("the disconnect workflow could not be reached", "connection_id", conn.ID, "error", err)
		return unavailable("The workflow engine is unavailable; retry the request.")
	}
	// The row is the answer either way: the disconnect committed, or it is still in progress.
	conn, err = s.partnerConnection(c)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if conn.Status != domain.ConnectionDisconnected {
		status = http.StatusAccepted
	}
	return c.JSON(status, renderConnection(conn))
}
