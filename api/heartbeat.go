package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/dualhook/dualhook/internal/apierr"
	"github.com/dualhook/dualhook/internal/domain"
	"github.com/dualhook/dualhook/internal/opt"
)

// POST /api/v1/connections/{id}/heartbeat/confirm (SPEC §7.6): the `confirm` Update of the
// connection's heartbeat workflow, sent with Update-with-Start so a heartbeat that is missing
// (its start failed after onboarding, an operator ended it) is started on the way. The answer is
// the state the workflow's activity committed.

type heartbeatResponse struct {
	ConnectionID             string  `json:"connectionId"`
	HeartbeatStatus          string  `json:"heartbeatStatus"`
	HeartbeatLastConfirmedAt *string `json:"heartbeatLastConfirmedAt"`
	HeartbeatNextDueAt       *string `json:"heartbeatNextDueAt"`
}

// heartbeatConfirmWait bounds the wait for the committed confirmation.
const heartbeatConfirmWait = 20 * time.Second

func (s *Server) confirmHeartbeat(c echo.Context) error {
	conn, err := s.partnerConnection(c)
	if err != nil {
		return err
	}
	switch {
	case conn.Status != "active":
		return disconnectedError()
	case !conn.HeartbeatApplies:
		return apierr.New(apierr.CodeHeartbeatNotApplicable, "The heartbeat applies to coexistence connections only (this one is %s).", conn.ConnectionMode)
	}
	if s.deps.Temporal == nil {
		return unavailable("Temporal is not configured.")
	}
	in := domain.HeartbeatInput{ConnectionID: conn.ID, PartnerID: conn.PartnerID, TenantID: conn.TenantID}
	ctx, cancel := context.WithTimeout(c.Request().Context(), heartbeatConfirmWait)
	defer cancel()
	var st domain.HeartbeatState
	// Twice at most: an Update that lands while the run continues-as-new is refused as "already
	// completed"; the next attempt reaches the new run.
	for attempt := 0; ; attempt++ {
		err = s.sendHeartbeatConfirm(ctx, in, "confirm/"+requestIDOf(c)+"/"+strconv.Itoa(attempt), &st)
		if err == nil || attempt == 1 || !isWorkflowClosed(err) {
			break
		}
	}
	var appErr *temporal.ApplicationError
	switch {
	case err == nil:
	case errors.As(err, &appErr) && apierr.Known(appErr.Type()) && appErr.Type() != apierr.CodeInternalError:
		return apierr.New(appErr.Type(), "%s", appErr.Message())
	default:
		s.log(c).Warn("heartbeat confirmation not committed", "connection_id", conn.ID, "error", err)
		return unavailable("The heartbeat confirmation could not be committed in time; retry.")
	}
	out := heartbeatResponse{ConnectionID: conn.ID, HeartbeatStatus: st.Status}
	if !st.LastConfirmedAt.IsZero() {
		out.HeartbeatLastConfirmedAt = opt.Ptr(timestamp(st.LastConfirmedAt))
	}
	if !st.NextDueAt.IsZero() {
		out.HeartbeatNextDueAt = opt.Ptr(timestamp(st.NextDueAt))
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) sendHeartbeatConfirm(ctx context.Context, in domain.HeartbeatInput, updateID string, out *domain.HeartbeatState) error {
	start := s.deps.Temporal.NewWithStartWorkflowOperation(domain.HeartbeatStartOptions(in, s.deps.Config.TemporalTaskQueue),
		domain.HeartbeatWorkflowName, in)
	handle, err := s.deps.Temporal.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: start,
		UpdateOptions: client.UpdateWorkflowOptions{
			UpdateID: updateID, UpdateName: domain.UpdateHeartbeatConfirm, WaitForStage: client.WorkflowUpdateStageCompleted,
		},
	})
	if err != nil {
		return err
	}
	return handle.Get(ctx, out)
}
