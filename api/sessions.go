package api

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/dualhook/dualhook/db/dbq"
	"github.com/dualhook/dualhook/egress"
	"github.com/dualhook/dualhook/internal/apierr"
	"github.com/dualhook/dualhook/internal/domain"
	"github.com/dualhook/dualhook/internal/ids"
	"github.com/dualhook/dualhook/internal/opt"
	"github.com/dualhook/dualhook/internal/redirecturl"
	"github.com/dualhook/dualhook/internal/secretstore"
	"github.com/dualhook/dualhook/internal/sessionworkflow"
	"github.com/dualhook/dualhook/internal/store"
	"github.com/dualhook/dualhook/preflight"
)

// Limits of SPEC §4.1.
const (
	maxMetadataBytes     = 16 << 10
	maxOverrideURLLength = 200 // Meta's limit for override_callback_uri
	defaultExpiry        = 3600
	minExpiry, maxExpiry = 300, 86400
	// onboardingTokenLength base62 characters carry ≈262 bits (SPEC §4.1: ≥ 256).
	onboardingTokenLength = 44
)

type createSessionRequest struct {
	TenantID             *string         `json:"tenantId"`
	TenantName           *string         `json:"tenantName"`
	SuccessRedirectURL   *string         `json:"successRedirectUrl"`
	FailureRedirectURL   *string         `json:"failureRedirectUrl"`
	CancelRedirectURL    *string         `json:"cancelRedirectUrl"`
	WebhookOverrideURL   *string         `json:"webhookOverrideUrl"`
	WebhookVerifyToken   *string         `json:"webhookVerifyToken"`
	Metadata             json.RawMessage `json:"metadata"`
	ExpiresInSeconds     *int64          `json:"expiresInSeconds"`
	SkipWebhookPreflight *bool           `json:"skipWebhookPreflight"`
	Coexistence          *bool           `json:"coexistence"`
}

// sessionRecovery is what a create records before its side effects, so a retry with the same
// Idempotency-Key after a crash finishes the same session (SPEC §4.4).
type sessionRecovery struct {
	SessionID string `json:"sessionId"`
	Token     string `json:"token"`
}

type createSessionResponse struct {
	SessionID            string  `json:"sessionId"`
	OnboardingURL        string  `json:"onboardingUrl"`
	Status               string  `json:"status"`
	ExpiresAt            string  `json:"expiresAt"`
	IdempotencyExpiresAt *string `json:"idempotencyExpiresAt"`
}

// validSession is a create request that passed every check.
type validSession struct {
	tenantID, tenantName       string
	success, failure, cancel   string
	overrideURL, verifyToken   string
	metadata                   json.RawMessage
	expiresIn                  time.Duration
	skipPreflight, coexistence bool
}

func (s *Server) createSession(c echo.Context) error {
	var req createSessionRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	v, err := s.validateSession(c.Request().Context(), partnerOf(c), req)
	if err != nil {
		return err
	}
	if !v.skipPreflight {
		res := preflight.Run(c.Request().Context(), s.egress.NewClient(preflight.Timeout), v.overrideURL, v.verifyToken)
		if !res.OK {
			return apierr.New(apierr.CodeWebhookPreflightFailed, "The webhook URL did not answer Meta's verification request correctly (%s).",
				strings.ReplaceAll(res.Category, "_", " ")).WithDetails(map[string]any{"preflight": res})
		}
	}

	var rec sessionRecovery
	resumed, err := s.resumeRecovery(c, &rec)
	if err != nil {
		return err
	}
	if !resumed {
		rec = sessionRecovery{SessionID: ids.New(ids.Session), Token: ids.RandomString(onboardingTokenLength)}
		if err := s.rememberRecovery(c, rec); err != nil {
			return err
		}
	}
	ctx := c.Request().Context()
	p := partnerOf(c)
	session, err := s.deps.Store.CreateSession(ctx, dbq.CreateSessionParams{
		ID: rec.SessionID, PartnerID: p.ID, TenantID: v.tenantID, TenantName: v.tenantName, TokenHash: tokenHash(rec.Token),
		SuccessRedirectURL: v.success, FailureRedirectURL: v.failure, CancelRedirectURL: v.cancel,
		WebhookOverrideURL: v.overrideURL, WebhookVerifyTokenCiphertext: s.deps.Ring.EncryptString(v.verifyToken, secretstore.VerifyTokenAD),
		Metadata: v.metadata, Coexistence: v.coexistence, SkipWebhookPreflight: v.skipPreflight,
		ExpiresAt: s.deps.Now().Add(v.expiresIn).UTC().Truncate(time.Microsecond), WorkflowID: domain.OnboardingID(rec.SessionID),
	})
	if store.IsNotFound(err) { // resumed: the crashed attempt had inserted it
		session, err = s.deps.Store.GetPartnerSession(ctx, dbq.GetPartnerSessionParams{PartnerID: p.ID, ID: rec.SessionID})
	}
	if err != nil {
		return err
	}
	if err := s.ensureSessionWorkflow(ctx, session); err != nil {
		return err
	}
	out := createSessionResponse{
		SessionID: session.ID, OnboardingURL: s.deps.Config.PublicOrigin() + "/onboard/" + rec.Token,
		Status: session.Status, ExpiresAt: timestamp(session.ExpiresAt),
	}
	if _, ok := c.Get(ctxIdemKey).(*idempotencyState); ok {
		out.IdempotencyExpiresAt = opt.Ptr(timestamp(s.deps.Now().Add(IdempotencyLifetime)))
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusCreated, out)
}

// ensureSessionWorkflow starts the session's workflow, or finds the one already running (a
// retried create, the reconciler), and records that it exists.
func (s *Server) ensureSessionWorkflow(ctx context.Context, session dbq.OnboardingSession) error {
	if s.deps.Temporal == nil {
		return unavailable("Temporal is not configured.")
	}
	if err := s.sessionWorkflows().Start(ctx, session); err != nil {
		s.deps.Logger.Error("starting the session workflow failed; a retry or the reconciler will start it",
			"session_id", session.ID, "error", err)
		return unavailable("The workflow engine is unavailable; retry with the same Idempotency-Key.")
	}
	return s.deps.Store.MarkSessionWorkflowStarted(ctx, session.ID)
}

// sessionWorkflows starts (or finds) sessions' workflows.
func (s *Server) sessionWorkflows() sessionworkflow.Starter {
	return sessionworkflow.Starter{Temporal: s.deps.Temporal, TaskQueue: s.deps.Config.TemporalTaskQueue}
}

func tokenHash(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// validateSession applies SPEC §4.1–§4.2 and §12 in the order a user fixes them: field shapes,
// then redirect URLs, then the webhook URL.
func (s *Server) validateSession(ctx context.Context, p *dbq.Partner, req createSessionRequest) (validSession, error) {
	bad := problems{}
	required := func(field string, v *string, min, max int) string {
		if v == nil {
			bad.add(field, "is required")
			return ""
		}
		bad.checkText(field, *v, min, max)
		return *v
	}
	v := validSession{
		tenantID:    required("tenantId", req.TenantID, 1, 128),
		tenantName:  required("tenantName", req.TenantName, 1, 200),
		success:     required("successRedirectUrl", req.SuccessRedirectURL, 1, 2048),
		failure:     required("failureRedirectUrl", req.FailureRedirectURL, 1, 2048),
		cancel:      required("cancelRedirectUrl", req.CancelRedirectURL, 1, 2048),
		overrideURL: required("webhookOverrideUrl", req.WebhookOverrideURL, 1, 2048),
		verifyToken: required("webhookVerifyToken", req.WebhookVerifyToken, 1, 200),
		metadata:    json.RawMessage("{}"),
		expiresIn:   defaultExpiry * time.Second,
	}
	if req.TenantID != nil && !printable(*req.TenantID) {
		bad.add("tenantId", "must hold printable characters only")
	}
	if m := strings.TrimSpace(string(req.Metadata)); m != "" && m != "null" {
		if !strings.HasPrefix(m, "{") {
			bad.add("metadata", "must be a JSON object")
		} else if len(m) > maxMetadataBytes {
			bad.add("metadata", "must be at most 16 KiB serialized")
		} else {
			v.metadata = json.RawMessage(m)
		}
	}
	if req.ExpiresInSeconds != nil {
		if *req.ExpiresInSeconds < minExpiry || *req.ExpiresInSeconds > maxExpiry {
			bad.add("expiresInSeconds", "must be an integer from 300 to 86400")
		}
		v.expiresIn = time.Duration(*req.ExpiresInSeconds) * time.Second
	}
	v.skipPreflight = req.SkipWebhookPreflight != nil && *req.SkipWebhookPreflight
	v.coexistence = req.Coexistence != nil && *req.Coexistence
	if err := bad.err(); err != nil {
		return v, err
	}

	for _, f := range []struct {
		field string
		value *string
	}{{"successRedirectUrl", &v.success}, {"failureRedirectUrl", &v.failure}, {"cancelRedirectUrl", &v.cancel}} {
		normalized, err := redirecturl.Check(*f.value, p.AllowedRedirectURLs, s.deps.Config.DevMode)
		if err != nil {
			return v, apierr.New(apierr.CodeInvalidRedirectURL, "%s %s.", f.field, err.Error()).WithDetails(map[string]any{"field": f.field})
		}
		*f.value = normalized
	}

	webhookErr := func(msg string) error {
		return apierr.New(apierr.CodeInvalidWebhookURL, "webhookOverrideUrl %s.", msg).WithDetails(map[string]any{"field": "webhookOverrideUrl"})
	}
	if utf8.RuneCountInString(v.overrideURL) > maxOverrideURLLength {
		return v, webhookErr("must be at most 200 characters (Meta's limit)")
	}
	if err := s.egress.ValidateURL(v.overrideURL); err != nil {
		var ue *egress.URLError
		if errors.As(err, &ue) {
			return v, webhookErr(strings.TrimSuffix(ue.Message, "."))
		}
		return v, webhookErr("is not a valid URL")
	}
	// A host that resolves to a denied address is a 400; one that does not resolve at all is the
	// preflight's endpoint_unreachable (SPEC §4.1).
	if err := s.egress.CheckResolves(ctx, v.overrideURL); err != nil && !egress.IsResolveError(err) {
		return v, webhookErr("resolves to an address that is not allowed (only public addresses are)")
	}
	return v, nil
}

func printable(s string) bool {
	if !utf8.ValidString(s) { // a percent-decoded path parameter may be anything
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// SessionResponse is SPEC §4.5's session object.
type SessionResponse struct {
	SessionID    string          `json:"sessionId"`
	Status       string          `json:"status"`
	TenantID     string          `json:"tenantId"`
	TenantName   string          `json:"tenantName"`
	Metadata     json.RawMessage `json:"metadata"`
	Coexistence  bool            `json:"coexistence"`
	ExpiresAt    string          `json:"expiresAt"`
	CreatedAt    string          `json:"createdAt"`
	StartedAt    *string         `json:"startedAt"`
	CompletedAt  *string         `json:"completedAt"`
	ConnectionID *string         `json:"connectionId"`
	Failure      *SessionFailure `json:"failure"`
	WorkflowID   string          `json:"workflowId"`
}

// SessionFailure is why a session failed.
type SessionFailure struct {
	Reason        string         `json:"reason"`
	ErrorCategory string         `json:"errorCategory"`
	Message       string         `json:"message"`
	Details       map[string]any `json:"details,omitempty"`
}

// RenderSession is the session object of a row.
func RenderSession(s dbq.OnboardingSession) SessionResponse {
	out := SessionResponse{
		SessionID: s.ID, Status: s.Status, TenantID: s.TenantID, TenantName: s.TenantName, Metadata: s.Metadata,
		Coexistence: s.Coexistence, ExpiresAt: timestamp(s.ExpiresAt), CreatedAt: timestamp(s.CreatedAt),
		StartedAt: optTimestamp(s.StartedAt), CompletedAt: optTimestamp(s.CompletedAt), ConnectionID: s.ConnectionID,
		WorkflowID: s.WorkflowID,
	}
	if len(out.Metadata) == 0 {
		out.Metadata = json.RawMessage("{}")
	}
	if s.FailureReason != nil {
		f := &SessionFailure{Reason: *s.FailureReason, ErrorCategory: opt.Deref(s.FailureErrorCategory), Message: opt.Deref(s.FailureMessage)}
		if len(s.FailureDetails) > 0 {
			_ = json.Unmarshal(s.FailureDetails, &f.Details)
		}
		out.Failure = f
	}
	return out
}

func (s *Server) partnerSession(c echo.Context) (dbq.OnboardingSession, error) {
	id := c.Param("id")
	if !ids.HasPrefix(id, ids.Session) {
		return dbq.OnboardingSession{}, apierr.NotFound("session")
	}
	session, err := s.deps.Store.GetPartnerSession(c.Request().Context(), dbq.GetPartnerSessionParams{PartnerID: partnerOf(c).ID, ID: id})
	if store.IsNotFound(err) {
		return session, apierr.NotFound("session")
	}
	return session, err
}

func (s *Server) getSession(c echo.Context) error {
	session, err := s.partnerSession(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, RenderSession(session))
}

var sessionStatuses = []string{domain.StatusPending, domain.StatusStarted, domain.StatusProcessing,
	domain.StatusCompleted, domain.StatusFailed, domain.StatusCancelled, domain.StatusExpired}

func (s *Server) listSessions(c echo.Context) error {
	p, err := parsePage(c)
	if err != nil {
		return err
	}
	tenantID, status, err := listFilters(c, "status", sessionStatuses)
	if err != nil {
		return err
	}
	rows, err := s.deps.Store.ListSessions(c.Request().Context(), dbq.ListSessionsParams{
		PartnerID: partnerOf(c).ID, TenantID: tenantID, Status: status,
		BeforeCreatedAt: p.before, BeforeID: p.lastID, RowLimit: int32(p.limit + 1),
	})
	if err != nil {
		return err
	}
	return respondPage(c, p, rows, func(r dbq.OnboardingSession) (time.Time, string) { return r.CreatedAt, r.ID }, RenderSession)
}

// listFilters reads ?tenantId= and a status filter checked against its allowed values.
func listFilters(c echo.Context, statusParam string, allowed []string) (tenantID, status *string, err error) {
	if v := c.QueryParam("tenantId"); v != "" {
		tenantID = &v
	}
	if v := c.QueryParam(statusParam); v != "" {
		ok := false
		for _, a := range allowed {
			ok = ok || a == v
		}
		if !ok {
			return nil, nil, apierr.InvalidFields(map[string]string{statusParam: "must be one of " + strings.Join(allowed, ", ")})
		}
		status = &v
	}
	return tenantID, status, nil
}

// cancelSession ends a pending or started session as cancelled through its workflow, so the
// event and the workflow agree; a session in any other state is answered unchanged (SPEC §4.5).
func (s *Server) cancelSession(c echo.Context) error {
	session, err := s.partnerSession(c)
	if err != nil {
		return err
	}
	if session.Status == domain.StatusPending || session.Status == domain.StatusStarted {
		if err := s.updateSessionWorkflow(c.Request().Context(), session, domain.UpdateCancel, "cancel", nil); err != nil {
			return err
		}
		if session, err = s.partnerSession(c); err != nil {
			return err
		}
	}
	return c.JSON(http.StatusOK, RenderSession(session))
}

// updateSessionWorkflow sends an Update, starting the workflow first if it is missing (a crash
// between the session row and the workflow start), and waits for the result.
func (s *Server) updateSessionWorkflow(ctx context.Context, session dbq.OnboardingSession, name, updateID string, arg any, result ...any) error {
	if s.deps.Temporal == nil {
		return unavailable("Temporal is not configured.")
	}
	args := []any{}
	if arg != nil {
		args = append(args, arg)
	}
	reqCtx := ctx
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	handle, err := s.sessionWorkflows().Update(ctx, session, client.UpdateWorkflowOptions{
		UpdateID: updateID, UpdateName: name, Args: args, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		var out any
		if len(result) > 0 {
			out = result[0]
		}
		err = handle.Get(ctx, out)
	}
	var notFound *serviceerror.NotFound
	switch {
	case err == nil:
		return nil
	case errors.As(err, &notFound) || isWorkflowClosed(err):
		return nil // the workflow already ended; the caller re-reads the row
	case waitRanOut(reqCtx, ctx, err):
		// No worker answered in time (none running, or all busy): the request may still take
		// effect, so the caller should retry, not report a bug.
		return unavailable("The workflow engine did not answer in time; retry the request.")
	}
	return err
}

func isWorkflowClosed(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "workflow execution already completed") ||
		temporal.IsWorkflowExecutionAlreadyStartedError(err))
}

// waitRanOut reports whether err means only that our wait for an Update's result ended (our
// deadline, or the SDK's own long poll giving up just before it, which it reports as a timeout
// or cancellation) while the request itself is still there: the work goes on, answer "in
// progress". Checking only waitCtx.Err() misses the second case, which races the deadline.
func waitRanOut(reqCtx, waitCtx context.Context, err error) bool {
	if errors.Is(waitCtx.Err(), context.DeadlineExceeded) {
		return true
	}
	var gaveUp *client.WorkflowUpdateServiceTimeoutOrCanceledError
	return errors.As(err, &gaveUp) && reqCtx.Err() == nil
}
