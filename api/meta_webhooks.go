package api

import (
	"crypto/subtle"
	"io"
	"net/http"

	"github.com/labstack/echo/v4"
	"go.temporal.io/sdk/temporal"

	"github.com/dualhook/dualhook/db/dbq"
	"github.com/dualhook/dualhook/internal/domain"
	"github.com/dualhook/dualhook/internal/metawebhook"
)

// Meta's app webhooks (SPEC §11). Not under /api/v1: Meta is the caller, the app verify token
// (GET) and the app secret's signature (POST) are the credentials, and the answers are Meta's
// protocol, not the API's envelope.

// verifyMetaWebhook answers the App Dashboard's verification of the callback URL.
func (s *Server) verifyMetaWebhook(c echo.Context) error {
	q := c.QueryParams()
	want := s.deps.Config.MetaAppVerifyToken
	got := q.Get("hub.verify_token")
	if q.Get("hub.mode") != "subscribe" || want == "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		return c.NoContent(http.StatusForbidden)
	}
	c.Response().Header().Set("X-Content-Type-Options", "nosniff")
	return c.String(http.StatusOK, q.Get("hub.challenge"))
}

// receiveMetaWebhook accepts a signed delivery and hands it to meta-event/<hash of the body>.
// It answers as soon as the workflow is started: Meta retries anything but a 2xx.
//
// A signed body stays valid forever, so two guards keep a captured one from being replayed
// (say a PARTNER_REMOVED, which would disconnect the numbers onboarded since): changes older
// than metawebhook.MaxAge (48 h; Meta stops retrying after 36 h) are refused, and the delivery's
// dedupe row (keyed by the content hash, kept longer than MaxAge) is claimed before anything
// starts, so a delivery already handed to a workflow never starts again, even once Temporal's
// retention has dropped that workflow. Refusals answer 200: Meta must not retry them.
func (s *Server) receiveMetaWebhook(c echo.Context) error {
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return err // the body limit's 413, or a broken connection
	}
	// The signature is over the raw bytes (Meta escapes non-ASCII as \uXXXX): never re-serialise.
	if !metawebhook.VerifySignature(s.deps.Config.MetaAppSecret, body, c.Request().Header.Get(metawebhook.SignatureHeader)) {
		return c.NoContent(http.StatusUnauthorized)
	}
	changes, err := metawebhook.Parse(body)
	if err != nil {
		// Signed by Meta yet unreadable: a retry would send the same bytes, so accept and drop.
		s.log(c).Warn("a signed Meta webhook is not an envelope; dropped", "bytes", len(body))
		return c.NoContent(http.StatusOK)
	}
	if len(changes) == 0 {
		return c.NoContent(http.StatusOK) // message-path fields only: dropped unread
	}
	hash := metawebhook.Hash(body)
	changes, stale := metawebhook.Fresh(changes, s.deps.Now())
	if len(stale) > 0 {
		oldest := stale[0].Time
		for _, ch := range stale[1:] {
			if ch.Time.Before(oldest) {
				oldest = ch.Time
			}
		}
		s.log(c).Warn("Meta webhook changes older than Meta's retry window refused (a replay?)",
			"content_hash", hash, "stale", len(stale), "fresh", len(changes), "oldest", oldest, "max_age", metawebhook.MaxAge.String())
	}
	if len(changes) == 0 {
		return c.NoContent(http.StatusOK)
	}
	if s.deps.Temporal == nil {
		return unavailable("Temporal is not configured.")
	}
	opts := domain.MetaEventStartOptions(hash, s.deps.Config.TemporalTaskQueue)
	ctx := c.Request().Context()
	started, err := s.deps.Store.ClaimMetaWebhookDelivery(ctx, dbq.ClaimMetaWebhookDeliveryParams{ContentHash: hash, WorkflowID: opts.ID})
	if err != nil {
		// Meta retries a non-2xx for up to 36 hours: the delivery is not lost.
		s.log(c).Error("claiming the Meta webhook delivery failed", "workflow_id", opts.ID, "error", err)
		return c.NoContent(http.StatusServiceUnavailable)
	}
	if started != nil {
		s.log(c).Info("Meta webhook already handled; not started again", "workflow_id", opts.ID, "first_started_at", *started)
		return c.NoContent(http.StatusOK)
	}
	_, err = s.deps.Temporal.ExecuteWorkflow(ctx, opts, domain.MetaEventWorkflowName, domain.MetaEventInput{DeliveryHash: hash, Changes: changes})
	if err != nil && !temporal.IsWorkflowExecutionAlreadyStartedError(err) {
		// The row stays unstarted, so Meta's retry (non-2xx, up to 36 hours) starts it.
		s.log(c).Error("starting the Meta event workflow failed", "workflow_id", opts.ID, "error", err)
		return c.NoContent(http.StatusServiceUnavailable)
	}
	duplicate := err != nil
	if err := s.deps.Store.MarkMetaWebhookDeliveryStarted(ctx, hash); err != nil {
		// The workflow runs; until the mark lands, a duplicate is caught by the workflow id.
		s.log(c).Warn("marking the Meta webhook delivery started failed", "workflow_id", opts.ID, "error", err)
	}
	s.log(c).Info("Meta webhook accepted", "workflow_id", opts.ID, "changes", len(changes), "duplicate", duplicate)
	return c.NoContent(http.StatusOK)
}
