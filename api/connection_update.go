package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/dualhook/dualhook/db/dbq"
	"github.com/dualhook/dualhook/egress"
	"github.com/dualhook/dualhook/internal/apierr"
	"github.com/dualhook/dualhook/internal/domain"
	"github.com/dualhook/dualhook/internal/opt"
	"github.com/dualhook/dualhook/internal/secretstore"
	"github.com/dualhook/dualhook/internal/store"
	"github.com/dualhook/dualhook/preflight"
)

// PATCH /api/v1/connections/{id} (SPEC §7.3). Name and metadata alone commit at once. A webhook
// change is the webhook-update/<wabaId>/<n> workflow (workflows/webhook_update.go): it holds the
// WABA's claim, sets the override at Meta and only then commits every sibling's webhook together
// with the name and metadata — so a refusal at Meta changes nothing, the name included.

// maxConnectionName bounds a connection's display name.
const maxConnectionName = 200

// webhookUpdateWait bounds how long the PATCH waits for the workflow: usually a second or two,
// longer only while another operation holds the WABA's claim. It stays under the server's
// 60 s write timeout; past it the client retries with the same Idempotency-Key and is attached
// to the same workflow.
const webhookUpdateWait = 45 * time.Second

type patchConnectionRequest struct {
	Name                 Optional[string]          `json:"name"`
	Metadata             Optional[json.RawMessage] `json:"metadata"`
	WebhookURL           Optional[string]          `json:"webhookUrl"`
	WebhookVerifyToken   Optional[string]          `json:"webhookVerifyToken"`
	SkipWebhookPreflight *bool                     `json:"skipWebhookPreflight"`
}

// connectionPatch is a request that passed every check.
type connectionPatch struct {
	setName       bool
	name          *string
	metadata      json.RawMessage // nil: unchanged
	webhook       bool
	webhookURL    string
	verifyToken   string
	skipPreflight bool
}

type connectionUpdateResponse struct {
	connectionResponse
	AffectedConnectionIDs []string `json:"affectedConnectionIds"`
}

// webhookUpdateRecovery is what a webhook PATCH records before its side effects, so a retry with
// the same Idempotency-Key (after a crash or a timeout) joins the same update (SPEC §4.4).
type webhookUpdateRecovery struct {
	WabaID string `json:"wabaId"`
	N      int64  `json:"n"`
}

func (s *Server) patchConnection(c echo.Context) error {
	var req patchConnectionRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	conn, err := s.partnerConnection(c)
	if err != nil {
		return err
	}
	v, err := s.validateConnectionPatch(c.Request().Context(), req)
	if err != nil {
		return err
	}
	if conn.Status != "active" {
		return disconnectedError()
	}
	if !v.webhook {
		updated, err := s.deps.Store.SetConnectionNameMetadata(c.Request().Context(), dbq.SetConnectionNameMetadataParams{
			ID: conn.ID, SetName: v.setName, Name: v.name, Metadata: v.metadata,
		})
		if store.IsNotFound(err) {
			return disconnectedError()
		}
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, connectionUpdateResponse{renderConnection(updated), []string{updated.ID}})
	}
	if !v.skipPreflight {
		res := preflight.Run(c.Request().Context(), s.egress.NewClient(preflight.Timeout), v.webhookURL, v.verifyToken)
		if !res.OK {
			return apierr.New(apierr.CodeWebhookPreflightFailed, "The webhook URL did not answer Meta's verification request correctly (%s).",
				strings.ReplaceAll(res.Category, "_", " ")).WithDetails(map[string]any{"preflight": res})
		}
	}
	in, err := s.storeWebhookUpdate(c, conn, v)
	if err != nil {
		return err
	}
	out, err := s.runWebhookUpdate(c.Request().Context(), in)
	if err != nil {
		return err
	}
	if !out.Applied {
		// Decided: the key is free for a corrected retry, which must be a new update rather
		// than this refused one again (SPEC §4.4).
		forgetRecovery(c)
		if !apierr.Known(out.Reason) || out.Reason == apierr.CodeInternalError {
			s.log(c).Error("webhook update failed", "workflow_id", domain.WebhookUpdateID(in.WabaID, in.N), "reason", out.Reason, "message", out.Message)
			return apierr.Internal()
		}
		return apierr.New(out.Reason, "%s", out.Message)
	}
	updated, err := s.partnerConnection(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, connectionUpdateResponse{renderConnection(updated), out.AffectedConnectionIDs})
}

func disconnectedError() error {
	return apierr.New(apierr.CodeConnectionDisconnected, "The connection is disconnected; onboard the number again to change it.")
}

// validateConnectionPatch checks the fields present: shapes first, then the webhook URL (SPEC §12
// rules, as on session create).
func (s *Server) validateConnectionPatch(ctx context.Context, req patchConnectionRequest) (connectionPatch, error) {
	bad := problems{}
	var v connectionPatch
	if req.Name.Set {
		v.setName = true
		if !req.Name.Null {
			bad.checkText("name", req.Name.Value, 1, maxConnectionName)
			v.name = &req.Name.Value
		}
	}
	if req.Metadata.Set {
		m := strings.TrimSpace(string(req.Metadata.Value))
		switch {
		case req.Metadata.Null:
			v.metadata = json.RawMessage("{}") // null clears it; the column is never null
		case !strings.HasPrefix(m, "{"):
			bad.add("metadata", "must be a JSON object")
		case len(m) > maxMetadataBytes:
			bad.add("metadata", "must be at most 16 KiB serialized")
		default:
			v.metadata = json.RawMessage(m)
		}
	}
	switch {
	case req.WebhookURL.Set != req.WebhookVerifyToken.Set:
		field := "webhookVerifyToken"
		if !req.WebhookURL.Set {
			field = "webhookUrl"
		}
		bad.add(field, "is required when changing the webhook (webhookUrl and webhookVerifyToken go together)")
	case req.WebhookURL.Set:
		v.webhook = true
		if req.WebhookURL.Null {
			bad.add("webhookUrl", "must be a string")
		}
		if req.WebhookVerifyToken.Null {
			bad.add("webhookVerifyToken", "must be a string")
		}
		bad.checkText("webhookUrl", req.WebhookURL.Value, 1, 2048)
		bad.checkText("webhookVerifyToken", req.WebhookVerifyToken.Value, 1, 200)
		v.webhookURL, v.verifyToken = req.WebhookURL.Value, req.WebhookVerifyToken.Value
	}
	v.skipPreflight = req.SkipWebhookPreflight != nil && *req.SkipWebhookPreflight
	if !req.Name.Set && !req.Metadata.Set && !req.WebhookURL.Set && !req.WebhookVerifyToken.Set {
		bad.add("body", "must set at least one of name, metadata, webhookUrl with webhookVerifyToken")
	}
	if err := bad.err(); err != nil {
		return v, err
	}
	if v.webhook {
		if err := s.checkWebhookURL(ctx, "webhookUrl", v.webhookURL); err != nil {
			return v, err
		}
	}
	return v, nil
}

// checkWebhookURL applies SPEC §12 to a tenant's webhook URL, as session create does for
// webhookOverrideUrl: syntax, scheme, Meta's 200-character limit, and no denied address. A host
// that does not resolve at all is the preflight's endpoint_unreachable, not a 400.
func (s *Server) checkWebhookURL(ctx context.Context, field, raw string) error {
	webhookErr := func(msg string) error {
		return apierr.New(apierr.CodeInvalidWebhookURL, "%s %s.", field, msg).WithDetails(map[string]any{"field": field})
	}
	if utf8.RuneCountInString(raw) > maxOverrideURLLength {
		return webhookErr("must be at most 200 characters (Meta's limit)")
	}
	if err := s.egress.ValidateURL(raw); err != nil {
		var ue *egress.URLError
		if errors.As(err, &ue) {
			return webhookErr(strings.TrimSuffix(ue.Message, "."))
		}
		return webhookErr("is not a valid URL")
	}
	if err := s.egress.CheckResolves(ctx, raw); err != nil && !egress.IsResolveError(err) {
		return webhookErr("resolves to an address that is not allowed (only public addresses are)")
	}
	return nil
}

// storeWebhookUpdate numbers the update with the WABA's counter and stores it (the verify token
// encrypted), or finds the one a crashed earlier attempt with the same Idempotency-Key stored.
func (s *Server) storeWebhookUpdate(c echo.Context, conn dbq.Connection, v connectionPatch) (domain.WebhookUpdateInput, error) {
	ctx := c.Request().Context()
	in := domain.WebhookUpdateInput{WabaID: conn.WabaID, ConnectionID: conn.ID, PartnerID: conn.PartnerID, TenantID: conn.TenantID}
	var rec webhookUpdateRecovery
	resumed, err := s.resumeRecovery(c, &rec)
	if err != nil {
		return in, err
	}
	if resumed && rec.WabaID == conn.WabaID {
		in.N = rec.N
		if _, err := s.deps.Store.GetWebhookUpdate(ctx, dbq.GetWebhookUpdateParams{WabaID: rec.WabaID, N: rec.N}); err == nil {
			return in, nil
		} else if !store.IsNotFound(err) {
			return in, err
		}
	} else {
		if in.N, err = s.deps.Store.NextWabaWebhookUpdate(ctx, conn.WabaID); err != nil {
			return in, err
		}
		if err := s.rememberRecovery(c, webhookUpdateRecovery{WabaID: conn.WabaID, N: in.N}); err != nil {
			return in, err
		}
	}
	ct := s.deps.Ring.EncryptString(v.verifyToken, secretstore.VerifyTokenAD)
	_, err = s.deps.Store.InsertWebhookUpdate(ctx, dbq.InsertWebhookUpdateParams{
		WabaID: conn.WabaID, N: in.N, PartnerID: conn.PartnerID, ConnectionID: conn.ID, WebhookURL: v.webhookURL,
		WebhookVerifyTokenCiphertext: &ct, SetName: v.setName, Name: v.name, Metadata: v.metadata,
	})
	return in, err
}

// forgetRecovery drops what rememberRecovery recorded once the work it protects has ended, so
// the idempotency middleware releases the key instead of keeping it for a resume.
func forgetRecovery(c echo.Context) {
	if state, ok := c.Get(ctxIdemKey).(*idempotencyState); ok {
		state.recorded, state.recovery = false, nil
	}
}

// runWebhookUpdate starts the update's workflow with its `result` Update (or joins the running
// one) and waits for the outcome. An update whose workflow already ended is answered from its
// row.
func (s *Server) runWebhookUpdate(ctx context.Context, in domain.WebhookUpdateInput) (domain.WebhookUpdateOutcome, error) {
	var out domain.WebhookUpdateOutcome
	if s.deps.Temporal == nil {
		return out, unavailable("Temporal is not configured.")
	}
	ctx, cancel := context.WithTimeout(ctx, webhookUpdateWait)
	defer cancel()
	start := s.deps.Temporal.NewWithStartWorkflowOperation(domain.WebhookUpdateStartOptions(in, s.deps.Config.TemporalTaskQueue),
		domain.WebhookUpdateWorkflowName, in)
	handle, err := s.deps.Temporal.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: start,
		UpdateOptions: client.UpdateWorkflowOptions{
			UpdateID: domain.UpdateWebhookResult, UpdateName: domain.UpdateWebhookResult, WaitForStage: client.WorkflowUpdateStageCompleted,
		},
	})
	if err == nil {
		err = handle.Get(ctx, &out)
	}
	if err == nil {
		return out, nil
	}
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) || isWorkflowClosed(err) {
		u, rerr := s.deps.Store.GetWebhookUpdate(context.WithoutCancel(ctx), dbq.GetWebhookUpdateParams{WabaID: in.WabaID, N: in.N})
		if rerr == nil && u.Status != "pending" {
			return domain.WebhookUpdateOutcome{Applied: u.Status == "applied", Reason: opt.Deref(u.FailureReason),
				Message: opt.Deref(u.FailureMessage), AffectedConnectionIDs: u.AffectedConnectionIds}, nil
		}
	}
	s.deps.Logger.Warn("webhook update not decided in time", "workflow_id", domain.WebhookUpdateID(in.WabaID, in.N), "error", err)
	return out, unavailable("The webhook update is still in progress; retry with the same Idempotency-Key to get its outcome.")
}
