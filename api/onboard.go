package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/dualhook/dualhook/db/dbq"
	"github.com/dualhook/dualhook/internal/apierr"
	"github.com/dualhook/dualhook/internal/domain"
	"github.com/dualhook/dualhook/internal/opt"
	"github.com/dualhook/dualhook/internal/secretstore"
	"github.com/dualhook/dualhook/internal/store"
	"github.com/dualhook/dualhook/onboardpage"
)

// The onboarding page and its callback (SPEC §5): the only unauthenticated HTML of the service.
// The one-time token in the path is the credential; it is looked up by its SHA-256.

// callbackWait is how long the callback waits for the outcome before answering 202 (SPEC §5).
const callbackWait = 20 * time.Second

var tokenShape = regexp.MustCompile(`^[0-9A-Za-z]{44}$`)

func terminal(status string) bool {
	switch status {
	case domain.StatusCompleted, domain.StatusFailed, domain.StatusCancelled, domain.StatusExpired:
		return true
	}
	return false
}

// sessionByToken resolves a page token; ok is false for a malformed or unknown token.
func (s *Server) sessionByToken(c echo.Context) (dbq.GetSessionByTokenHashRow, bool, error) {
	token := c.Param("token")
	if !tokenShape.MatchString(token) {
		return dbq.GetSessionByTokenHashRow{}, false, nil
	}
	row, err := s.deps.Store.GetSessionByTokenHash(c.Request().Context(), tokenHash(token))
	if store.IsNotFound(err) {
		return row, false, nil
	}
	return row, err == nil, err
}

func (s *Server) onboardingPage(c echo.Context) error {
	if err := s.throttlePage(c); err != nil {
		return err
	}
	row, ok, err := s.sessionByToken(c)
	if err != nil {
		return err
	}
	w := c.Response()
	if !ok {
		return onboardpage.RenderNotFound(w)
	}
	session, partner := row.OnboardingSession, row.Partner
	if terminal(session.Status) {
		return onboardpage.RenderGone(w, session.Status)
	}
	if session.Status == domain.StatusPending && s.deps.Temporal != nil {
		// First open: the workflow moves the session to started and emits onboarding.started
		// once. Signal-with-start also repairs a session whose workflow never started.
		if err := s.sessionWorkflows().Signal(c.Request().Context(), session, domain.SignalPageOpened, nil); err != nil {
			s.log(c).Warn("page-opened signal failed", "session_id", session.ID, "error", err)
		}
	}
	cfg := s.deps.Config
	mode := onboardpage.ModeLive
	if cfg.MetaSandboxURL != "" {
		mode = onboardpage.ModeSandbox
	}
	base := "/onboard/" + c.Param("token")
	return onboardpage.Render(w, onboardpage.Page{
		TenantName: session.TenantName, PartnerName: partner.DisplayName, LogoURL: opt.Deref(partner.LogoURL),
		BrandColor: opt.Deref(partner.BrandColor), Coexistence: session.Coexistence, Status: session.Status, Retry: session.RetryReason != nil, Mode: mode,
		SDKURL: cfg.SDKURL(), AppID: cfg.MetaAppID, ConfigID: cfg.MetaConfigID, GraphVersion: cfg.MetaGraphVersion,
		CallbackURL: base + "/callback", StatusURL: base + "/status",
	})
}

type callbackRequest struct {
	Code          string `json:"code"`
	Event         string `json:"event"`
	WabaID        string `json:"wabaId"`
	PhoneNumberID string `json:"phoneNumberId"`
	BusinessID    string `json:"businessId"`
	ErrorMessage  string `json:"errorMessage"`
	CurrentStep   string `json:"currentStep"`
}

type decisionResponse struct {
	Status      string `json:"status"`
	RedirectURL string `json:"redirectUrl,omitempty"`
	// Retry [ext]: the last attempt failed in a way the user may repeat (ours, or Meta's
	// availability); the session is open again until it expires.
	Retry *retryResponse `json:"retry,omitempty"`
}

type retryResponse struct {
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

var (
	metaID     = regexp.MustCompile(`^[0-9]{1,32}$`)
	stepName   = regexp.MustCompile(`^[A-Z_]{1,64}$`)
	finishLike = map[string]bool{domain.EventFinish: true, domain.EventFinishOnlyWaba: true, domain.EventFinishCoexistence: true, "FINISH_GRANT_ONLY_API_ACCESS": true}
	cancelLike = map[string]bool{domain.EventCancel: true, domain.EventError: true}
	// coexistenceVariants are the Coexistence flow's names for CANCEL and ERROR (the reference's
	// legacy variants): the workflow knows only the plain events, so the edge maps them, and the
	// session ends as for the plain ones.
	coexistenceVariants = map[string]string{
		"CANCEL_WHATSAPP_BUSINESS_APP_ONBOARDING": domain.EventCancel,
		"ERROR_WHATSAPP_BUSINESS_APP_ONBOARDING":  domain.EventError,
	}
	codeShape = regexp.MustCompile(`^[A-Za-z0-9_\-.#=/+]+$`)
)

// messageControl is a control character an error message must not hold: any C0 but tab and
// newline, and DEL. (NUL never gets here: decodeJSON refuses it in any body.)
func messageControl(r rune) bool { return (r < 0x20 && r != '\t' && r != '\n') || r == 0x7f }

func (r *callbackRequest) validate() error {
	bad := problems{}
	if r.Event == "" && r.Code != "" {
		r.Event = domain.EventFinish // a missing event means FINISH (SPEC §5)
	}
	if plain, ok := coexistenceVariants[r.Event]; ok {
		r.Event = plain
	}
	switch {
	case finishLike[r.Event]:
		if r.Code == "" {
			bad.add("code", "is required to finish")
		}
	case cancelLike[r.Event]:
		if r.Code != "" {
			bad.add("code", "must be absent for a cancel or error")
		}
	default:
		bad.add("event", "must be FINISH, FINISH_ONLY_WABA, FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING, CANCEL or ERROR")
	}
	if r.Code != "" && (len(r.Code) > 4096 || !codeShape.MatchString(r.Code)) {
		bad.add("code", "is not an authorization code")
	}
	for field, v := range map[string]string{"wabaId": r.WabaID, "phoneNumberId": r.PhoneNumberID, "businessId": r.BusinessID} {
		if v != "" && !metaID.MatchString(v) {
			bad.add(field, "must be a numeric Meta id")
		}
	}
	if r.CurrentStep != "" && !stepName.MatchString(r.CurrentStep) {
		bad.add("currentStep", "must be an Embedded Signup step name")
	}
	if utf8.RuneCountInString(r.ErrorMessage) > 1000 {
		bad.add("errorMessage", "must be at most 1000 characters")
	} else if strings.ContainsFunc(r.ErrorMessage, messageControl) {
		bad.add("errorMessage", "must not contain control characters other than tab and newline")
	}
	return bad.err()
}

// onboardingCallback hands the page's callback to the session's workflow as an Update and waits
// up to 20 s for the outcome (SPEC §5). The code never enters Temporal: it is stored encrypted
// and referenced.
func (s *Server) onboardingCallback(c echo.Context) error {
	session, err := s.pageSession(c)
	if err != nil {
		return err
	}
	if terminal(session.Status) {
		return s.answerDecided(c, session)
	}
	var req callbackRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if err := req.validate(); err != nil {
		return err
	}
	if s.deps.Temporal == nil {
		return unavailable("The workflow engine is not configured.")
	}
	ctx := c.Request().Context()
	in := domain.CallbackInput{
		Event: req.Event, WabaID: req.WabaID, PhoneNumberID: req.PhoneNumberID, BusinessID: req.BusinessID,
		ErrorMessage: req.ErrorMessage, CurrentStep: req.CurrentStep,
	}
	// One Update id per callback content: the page retrying the same callback gets the same
	// answer from Temporal instead of a second processing.
	fingerprint := sha256.Sum256([]byte(req.Code + "\x00" + req.Event + "\x00" + req.CurrentStep + "\x00" + req.ErrorMessage))
	updateID := "callback-" + hex.EncodeToString(fingerprint[:12])
	if req.Code != "" {
		err := s.deps.Store.InTx(ctx, func(q *dbq.Queries) error {
			id, err := secretstore.Create(ctx, q, s.deps.Ring, session.PartnerID, secretstore.KindOAuthCode, req.Code)
			in.CodeSecretID = id
			return err
		})
		if err != nil {
			return err
		}
	}
	waitCtx, cancel := context.WithTimeout(ctx, callbackWait)
	defer cancel()
	handle, err := s.sessionWorkflows().Update(waitCtx, session, client.UpdateWorkflowOptions{
		UpdateID: updateID, UpdateName: domain.UpdateCallback, Args: []any{in},
		WaitForStage: client.WorkflowUpdateStageAccepted,
	})
	if err != nil {
		// Rejected by the validator (already processing or decided), or the workflow is gone:
		// the code was not accepted, so it goes at once; the row says what to answer.
		s.eraseUnusedCode(c, session.ID, in.CodeSecretID)
		return s.answerFromRow(c, session.ID, err)
	}
	var out domain.Outcome
	if err := handle.Get(waitCtx, &out); err != nil {
		if waitRanOut(ctx, waitCtx, err) {
			// Still deciding: the session may yet record this code; retention prunes it if not.
			return c.JSON(http.StatusAccepted, decisionResponse{Status: domain.StatusProcessing})
		}
		s.eraseUnusedCode(c, session.ID, in.CodeSecretID)
		return s.answerFromRow(c, session.ID, err)
	}
	// A repeated callback (same Update id) is answered with the first one's outcome: its own
	// copy of the code was never used.
	s.eraseUnusedCode(c, session.ID, in.CodeSecretID)
	answer := decisionResponse{Status: out.Status, RedirectURL: out.RedirectURL}
	if out.Retry {
		answer.Retry = &retryResponse{Reason: out.Reason, Message: out.Message}
	}
	return c.JSON(http.StatusOK, answer)
}

// eraseUnusedCode erases the OAuth code this callback stored unless the session references it
// (the workflow accepted it; the activity that spends it erases it). A refused callback's code
// must not linger as a secret. A failure only logs: retention deletes unreferenced codes.
func (s *Server) eraseUnusedCode(c echo.Context, sessionID, secretID string) {
	if secretID == "" {
		return
	}
	ctx := context.WithoutCancel(c.Request().Context())
	err := s.deps.Store.InTx(ctx, func(q *dbq.Queries) error {
		session, err := q.GetSession(ctx, sessionID)
		if err != nil {
			return err
		}
		if opt.Deref(session.OauthCodeSecretID) == secretID {
			return nil
		}
		return secretstore.Erase(ctx, q, &secretID)
	})
	if err != nil {
		s.log(c).Warn("erasing a refused callback's code failed; retention will", "session_id", sessionID, "error", err)
	}
}

// answerFromRow answers a callback whose Update did not run, from PostgreSQL.
func (s *Server) answerFromRow(c echo.Context, sessionID string, cause error) error {
	session, err := s.deps.Store.GetSession(c.Request().Context(), sessionID)
	if err != nil {
		return err
	}
	if terminal(session.Status) {
		return s.answerDecided(c, session)
	}
	var notFound *serviceerror.NotFound
	if errors.As(cause, &notFound) {
		return unavailable("The onboarding workflow is not running; retry shortly.")
	}
	s.log(c).Info("callback not applied", "session_id", sessionID, "status", session.Status, "reason", cause.Error())
	return c.JSON(http.StatusAccepted, decisionResponse{Status: domain.StatusProcessing})
}

// answerDecided repeats the decision of a terminal session (SPEC §5): the same 200 body when the
// page's callback decided it, 410 when it expired or was cancelled through the API.
func (s *Server) answerDecided(c echo.Context, session dbq.OnboardingSession) error {
	if session.ResultRedirectURL != nil {
		return c.JSON(http.StatusOK, decisionResponse{Status: session.Status, RedirectURL: *session.ResultRedirectURL})
	}
	msg := "This onboarding link has ended."
	switch session.Status {
	case domain.StatusExpired:
		msg = "This onboarding link has expired."
	case domain.StatusCancelled:
		msg = "This onboarding link was cancelled."
	}
	// details.status lets the page tell "expired" from "cancelled".
	return apierr.New(apierr.CodeSessionExpired, "%s", msg).WithDetails(map[string]any{"status": session.Status})
}

// pageSession resolves the token of the page's JSON endpoints (callback, status), with the
// page's headers on every answer; an unknown token is 404 not_found.
func (s *Server) pageSession(c echo.Context) (dbq.OnboardingSession, error) {
	pageHeaders(c)
	if err := s.throttlePage(c); err != nil {
		return dbq.OnboardingSession{}, err
	}
	row, ok, err := s.sessionByToken(c)
	if err != nil {
		return dbq.OnboardingSession{}, err
	}
	if !ok {
		return dbq.OnboardingSession{}, apierr.NotFound("onboarding session")
	}
	return row.OnboardingSession, nil
}

// onboardingStatus is what the page polls after a 202 (SPEC §5).
func (s *Server) onboardingStatus(c echo.Context) error {
	session, err := s.pageSession(c)
	if err != nil {
		return err
	}
	switch {
	case terminal(session.Status):
		return s.answerDecided(c, session)
	case session.Status == domain.StatusProcessing:
		return c.JSON(http.StatusAccepted, decisionResponse{Status: session.Status})
	}
	// pending or started: nothing is being decided, the user may launch Embedded Signup again.
	answer := decisionResponse{Status: session.Status}
	if session.RetryReason != nil {
		answer.Retry = &retryResponse{Reason: *session.RetryReason, Message: opt.Deref(session.RetryMessage)}
	}
	return c.JSON(http.StatusOK, answer)
}

// pageHeaders keeps the page's JSON answers out of caches and frames, with the page's own
// security headers.
func pageHeaders(c echo.Context) {
	onboardpage.SecurityHeaders(c.Response().Header(), "", nil)
}
