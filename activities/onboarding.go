package activities

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/dualhook/dualhook/db/dbq"
	"github.com/dualhook/dualhook/internal/domain"
	"github.com/dualhook/dualhook/internal/events"
	"github.com/dualhook/dualhook/internal/eventtypes"
	"github.com/dualhook/dualhook/internal/opt"
	"github.com/dualhook/dualhook/internal/redirecturl"
	"github.com/dualhook/dualhook/internal/secretstore"
	"github.com/dualhook/dualhook/internal/store"
	"github.com/dualhook/dualhook/metagraph"
)

// The onboarding session's activities (SPEC §6), in the order the workflow runs them. Each is
// safe to retry: it either finds its own earlier work in PostgreSQL or repeats an idempotent call.

// permanent is a failure the workflow records as-is: reason is a SPEC §6 failure reason.
func permanent(reason, message string, details ...map[string]any) error {
	var d []any
	for _, x := range details {
		d = append(d, x)
	}
	return temporal.NewNonRetryableApplicationError(message, reason, nil, d...)
}

// transient is retried by the activity's policy; if retries run out, the reason stands.
func transient(reason, message string) error {
	return temporal.NewApplicationError(message, reason)
}

// graphFailure classifies a Graph error: transient ones are retried (meta_unavailable once
// retries run out), permanent ones fail the step with its reason.
func graphFailure(err error, reason, what string) error {
	if metagraph.IsTransient(err) {
		return transient(domain.ReasonMetaUnavailable, "Meta is temporarily unavailable ("+what+"): "+err.Error())
	}
	return permanent(reason, what+": "+err.Error())
}

func (a *Activities) session(ctx context.Context, id string) (dbq.OnboardingSession, error) {
	return a.Store.GetSession(ctx, id)
}

func sessionMetadata(s dbq.OnboardingSession) json.RawMessage {
	if len(s.Metadata) == 0 {
		return json.RawMessage("{}")
	}
	return s.Metadata
}

// MarkSessionStarted moves a pending session to started and stores onboarding.started, once.
// It answers whether the event is stored, so the workflow delivers it: also when an earlier
// attempt committed it and its worker died before the workflow heard (the session is no longer
// pending then, but the event still needs its delivery).
func (a *Activities) MarkSessionStarted(ctx context.Context, in domain.SessionStep) (bool, error) {
	emitted := false
	err := a.Store.InTx(ctx, func(q *dbq.Queries) error {
		s, err := q.MarkSessionStarted(ctx, in.SessionID)
		if store.IsNotFound(err) {
			// Not pending any more: opened before, or already decided — or started by an earlier
			// attempt of this very step.
			emitted, err = eventStored(ctx, q, in.EventID)
			return err
		}
		if err != nil {
			return err
		}
		emitted = true
		return events.Emit(ctx, q, events.New{
			ID: in.EventID, PartnerID: s.PartnerID, Type: eventtypes.OnboardingStarted, TenantID: s.TenantID, SessionID: s.ID,
			Data: map[string]any{"sessionId": s.ID, "tenantId": s.TenantID, "metadata": sessionMetadata(s)},
		})
	})
	return emitted, err
}

// MarkSessionProcessing records the accepted callback: processing, with the code's reference and
// the browser's hints.
func (a *Activities) MarkSessionProcessing(ctx context.Context, in domain.ProcessingInput) error {
	cb := in.Callback
	_, err := a.Store.MarkSessionProcessing(ctx, dbq.MarkSessionProcessingParams{
		ID: in.SessionID, OauthCodeSecretID: &cb.CodeSecretID, CallbackEvent: opt.String(cb.Event),
		CallbackWabaID: opt.String(cb.WabaID), CallbackPhoneNumberID: opt.String(cb.PhoneNumberID), CallbackBusinessID: opt.String(cb.BusinessID),
	})
	if store.IsNotFound(err) {
		return permanent(domain.ReasonInternalError, "The session ended before its callback could be processed.")
	}
	return err
}

// ExchangeCode trades the OAuth code for an access token at once (codes live 30 s and work once)
// and stores the token encrypted before anything else happens.
func (a *Activities) ExchangeCode(ctx context.Context, in domain.SessionStep) (domain.ExchangeResult, error) {
	defer heartbeatUntilDone(ctx)()
	s, err := a.session(ctx, in.SessionID)
	if err != nil {
		return domain.ExchangeResult{}, err
	}
	if s.AccessTokenSecretID != nil {
		return domain.ExchangeResult{TokenSecretID: *s.AccessTokenSecretID}, nil // an earlier attempt got it
	}
	if s.OauthCodeSecretID == nil {
		return domain.ExchangeResult{}, permanent(domain.ReasonOAuthExchangeFailed, "No authorization code was received.")
	}
	code, err := secretstore.Read(ctx, a.Store, a.Ring, *s.OauthCodeSecretID)
	if errors.Is(err, secretstore.ErrErased) {
		return domain.ExchangeResult{}, permanent(domain.ReasonOAuthExchangeFailed, "The authorization code was already used.")
	}
	if err != nil {
		return domain.ExchangeResult{}, err
	}
	token, err := a.Graph.ExchangeCode(ctx, code)
	if err != nil {
		// Only a request that never reached Meta may be retried: one that did may have spent the
		// single-use code, and a second try would only earn 36009.
		if metagraph.NeverReachedMeta(err) {
			return domain.ExchangeResult{}, transient(domain.ReasonMetaUnavailable, "Meta could not be reached to exchange the code: "+err.Error())
		}
		if metagraph.IsCodeUsed(err) && activity.IsActivity(ctx) && activity.GetInfo(ctx).Attempt > 1 {
			// An earlier attempt of ours was lost while it was at Meta (its worker died): that
			// attempt spent the code. The window cannot be closed, a code works once; the failure
			// is ours, not the user's or Meta's (docs/onboarding.md, "Lost code exchanges").
			return domain.ExchangeResult{}, permanent(domain.ReasonInternalError,
				"Dualhook was interrupted while exchanging the authorization code with Meta, and a code works only once: start the signup again.")
		}
		var graphErr *metagraph.Error
		if errors.As(err, &graphErr) {
			return domain.ExchangeResult{}, permanent(domain.ReasonOAuthExchangeFailed, "Meta rejected the authorization code: "+err.Error())
		}
		return domain.ExchangeResult{}, permanent(domain.ReasonMetaUnavailable, "The code exchange reached Meta but got no answer: "+err.Error())
	}
	var out domain.ExchangeResult
	err = a.Store.InTx(ctx, func(q *dbq.Queries) error {
		id, err := secretstore.Create(ctx, q, a.Ring, s.PartnerID, secretstore.KindAccessToken, token.AccessToken)
		if err != nil {
			return err
		}
		var expires *time.Time
		if token.ExpiresIn != nil && *token.ExpiresIn > 0 {
			t := a.now().Add(time.Duration(*token.ExpiresIn) * time.Second)
			expires = &t
		}
		if err := q.SetSessionAccessToken(ctx, dbq.SetSessionAccessTokenParams{ID: s.ID, AccessTokenSecretID: &id, AccessTokenExpiresAt: expires}); err != nil {
			return err
		}
		out.TokenSecretID = id
		return secretstore.Erase(ctx, q, s.OauthCodeSecretID) // spent: no reason to keep it
	})
	return out, err
}

// DiscoverAssets establishes the WABA and number from the token, not from the browser
// (SPEC §6 step 2): the callback's ids are hints that must match what Meta granted.
func (a *Activities) DiscoverAssets(ctx context.Context, in domain.DiscoverInput) (domain.Discovery, error) {
	defer heartbeatUntilDone(ctx)()
	token, err := secretstore.Read(ctx, a.Store, a.Ring, in.TokenSecretID)
	if err != nil {
		return domain.Discovery{}, err
	}
	info, err := a.Graph.DebugToken(ctx, token)
	if err != nil {
		return domain.Discovery{}, graphFailure(err, domain.ReasonDiscoveryFailed, "Meta could not describe the token")
	}
	if !info.IsValid {
		return domain.Discovery{}, permanent(domain.ReasonDiscoveryFailed, "Meta reports the new token as invalid.")
	}
	granted := info.WABAIDs()
	cb := in.Callback
	wabaID := cb.WabaID
	switch {
	case wabaID != "" && !slices.Contains(granted, wabaID):
		return domain.Discovery{}, permanent(domain.ReasonDiscoveryFailed, "The WhatsApp Business Account reported by the browser was not granted to this app.")
	case wabaID == "" && len(granted) == 0:
		return domain.Discovery{}, permanent(domain.ReasonDiscoveryFailed, "The token grants no WhatsApp Business Account.")
	case wabaID == "":
		wabaID = granted[0] // Meta lists target_ids newest first
	}
	waba, err := a.Graph.WABA(ctx, token, wabaID)
	if err != nil {
		return domain.Discovery{}, graphFailure(err, domain.ReasonDiscoveryFailed, "Meta could not read the WhatsApp Business Account")
	}
	numbers, err := a.Graph.PhoneNumbers(ctx, token, wabaID)
	if err != nil {
		return domain.Discovery{}, graphFailure(err, domain.ReasonDiscoveryFailed, "Meta could not list the account's phone numbers")
	}
	phone, err := a.pickNumber(ctx, wabaID, cb.PhoneNumberID, numbers)
	if err != nil {
		return domain.Discovery{}, err
	}
	mode := domain.ModeUnknown
	switch {
	case cb.Event == domain.EventFinishCoexistence:
		mode = domain.ModeCoexistence
	case phone.IsOnBizApp != nil && *phone.IsOnBizApp:
		mode = domain.ModeCoexistence
	case phone.IsOnBizApp != nil:
		mode = domain.ModeCloudAPI
	}
	return domain.Discovery{
		WabaID: wabaID, PhoneNumberID: phone.ID, BusinessID: waba.OwnerBusinessID,
		DisplayPhoneNumber: phone.DisplayPhoneNumber, VerifiedName: phone.VerifiedName, Mode: mode,
	}, nil
}

// pickNumber checks the browser's phone id against the WABA's numbers or, without one
// (coexistence, FINISH_ONLY_WABA), takes the newest number that has no active connection.
func (a *Activities) pickNumber(ctx context.Context, wabaID, hint string, numbers []metagraph.PhoneNumber) (metagraph.PhoneNumber, error) {
	if hint != "" {
		for _, n := range numbers {
			if n.ID == hint {
				return n, nil
			}
		}
		return metagraph.PhoneNumber{}, permanent(domain.ReasonDiscoveryFailed, "The phone number reported by the browser does not belong to the granted WhatsApp Business Account.")
	}
	active, err := a.Store.ListActiveWabaConnections(ctx, wabaID)
	if err != nil {
		return metagraph.PhoneNumber{}, err
	}
	taken := map[string]bool{}
	for _, c := range active {
		taken[c.PhoneNumberID] = true
	}
	// Meta does not document the list's order: newest is by last_onboarded_time, and numbers
	// without one come last in Meta's order.
	newest := slices.Clone(numbers)
	slices.SortStableFunc(newest, func(x, y metagraph.PhoneNumber) int {
		switch {
		case x.LastOnboardedTime == nil && y.LastOnboardedTime == nil:
			return 0
		case x.LastOnboardedTime == nil:
			return 1
		case y.LastOnboardedTime == nil:
			return -1
		}
		return y.LastOnboardedTime.Compare(*x.LastOnboardedTime)
	})
	for _, n := range newest {
		if !taken[n.ID] {
			return n, nil
		}
	}
	return metagraph.PhoneNumber{}, permanent(domain.ReasonDiscoveryFailed, "The WhatsApp Business Account has no phone number that is not already connected.")
}

// ClaimWaba takes the WABA's claim for the holder, or asks to be retried while another holds it.
func (a *Activities) ClaimWaba(ctx context.Context, in domain.ClaimInput) error {
	defer heartbeatUntilDone(ctx)()
	_, err := a.Store.ClaimWaba(ctx, dbq.ClaimWabaParams{WabaID: in.WabaID, Holder: in.Holder, ExpiresAt: a.now().Add(domain.WabaClaimLease)})
	if store.IsNotFound(err) {
		// Benign: waiting for a claim is normal, not an error worth an ERROR log line per retry.
		return temporal.NewApplicationErrorWithOptions("Another operation on this WhatsApp Business Account is in progress.",
			"waba_claim_held", temporal.ApplicationErrorOptions{Category: temporal.ApplicationErrorCategoryBenign})
	}
	return err
}

// ReleaseWaba gives the claim back.
func (a *Activities) ReleaseWaba(ctx context.Context, in domain.ClaimInput) error {
	return a.Store.ReleaseWaba(ctx, dbq.ReleaseWabaParams{WabaID: in.WabaID, Holder: in.Holder})
}

// CheckSiblings applies SPEC §6 step 3 to the WABA's active connections.
func (a *Activities) CheckSiblings(ctx context.Context, in domain.SiblingInput) (domain.SiblingPlan, error) {
	s, err := a.session(ctx, in.SessionID)
	if err != nil {
		return domain.SiblingPlan{}, err
	}
	verifyToken, err := a.Ring.DecryptString(s.WebhookVerifyTokenCiphertext, secretstore.VerifyTokenAD)
	if err != nil {
		return domain.SiblingPlan{}, err
	}
	active, err := a.Store.ListActiveWabaConnections(ctx, in.Discovery.WabaID)
	if err != nil {
		return domain.SiblingPlan{}, err
	}
	plan := domain.SiblingPlan{Siblings: len(active)}
	for _, c := range active {
		sameTenant := c.PartnerID == s.PartnerID && c.TenantID == s.TenantID
		if c.PhoneNumberID == in.Discovery.PhoneNumberID {
			if !sameTenant {
				return plan, permanent(domain.ReasonNumberAlreadyConnected, "This phone number is already connected to another account.")
			}
			plan.ReonboardConnectionID = c.ID
			continue
		}
		if sameTenant {
			continue // the same tenant's new values win for every sibling
		}
		theirToken, err := a.Ring.DecryptString(c.WebhookVerifyTokenCiphertext, secretstore.VerifyTokenAD)
		if err != nil {
			return plan, err
		}
		urlDiffers, tokenDiffers := c.WebhookURL != s.WebhookOverrideURL, theirToken != verifyToken
		if !urlDiffers && !tokenDiffers {
			continue
		}
		mismatch := "both"
		switch {
		case !tokenDiffers:
			mismatch = "url"
		case !urlDiffers:
			mismatch = "verify_token"
		}
		details := map[string]any{"mismatch": mismatch}
		if c.PartnerID == s.PartnerID {
			details["webhookUrl"] = c.WebhookURL // only ever shown to the same partner
		}
		return plan, permanent(domain.ReasonWabaWebhookConflict,
			"This WhatsApp Business Account is already connected by another tenant with a different webhook "+mismatchWords(mismatch)+"; numbers of one account share one webhook.", details)
	}
	return plan, nil
}

func mismatchWords(m string) string {
	switch m {
	case "url":
		return "URL"
	case "verify_token":
		return "verify token"
	}
	return "URL and verify token"
}

// SubscribeOverride subscribes the app to the WABA (Meta requires it before an override), then
// sets the tenant's webhook URL as the WABA's override. Meta verifies the URL itself.
func (a *Activities) SubscribeOverride(ctx context.Context, in domain.MetaStepInput) error {
	defer heartbeatUntilDone(ctx)()
	s, token, err := a.sessionAndToken(ctx, in)
	if err != nil {
		return err
	}
	verifyToken, err := a.Ring.DecryptString(s.WebhookVerifyTokenCiphertext, secretstore.VerifyTokenAD)
	if err != nil {
		return err
	}
	if err := a.Graph.SubscribeApp(ctx, token, in.Discovery.WabaID); err != nil {
		return graphFailure(err, domain.ReasonWebhookSubscribeFailed, "Meta refused to subscribe the app to the account")
	}
	if err := a.Graph.SetOverride(ctx, token, in.Discovery.WabaID, s.WebhookOverrideURL, verifyToken); err != nil {
		if metagraph.IsOverrideVerificationFailed(err) {
			return permanent(domain.ReasonWebhookSubscribeFailed, "Meta could not verify the webhook URL (it must answer Meta's hub.challenge): "+err.Error())
		}
		return graphFailure(err, domain.ReasonWebhookSubscribeFailed, "Meta refused the webhook override")
	}
	return nil
}

// UndoOverride restores the WABA's previous override after a later step failed: the siblings'
// webhook when there are active siblings, else no subscription at all.
func (a *Activities) UndoOverride(ctx context.Context, in domain.MetaStepInput) error {
	defer heartbeatUntilDone(ctx)()
	_, token, err := a.sessionAndToken(ctx, in)
	if err != nil {
		return err
	}
	siblings, err := a.Store.ListActiveWabaConnections(ctx, in.Discovery.WabaID)
	if err != nil {
		return err
	}
	if len(siblings) == 0 {
		if err := a.Graph.UnsubscribeApp(ctx, token, in.Discovery.WabaID); err != nil && !metagraph.IsNotSubscribed(err) {
			return graphFailure(err, domain.ReasonInternalError, "Meta refused to remove the subscription")
		}
		return nil
	}
	previous := siblings[0]
	verifyToken, err := a.Ring.DecryptString(previous.WebhookVerifyTokenCiphertext, secretstore.VerifyTokenAD)
	if err != nil {
		return err
	}
	if err := a.Graph.SetOverride(ctx, token, in.Discovery.WabaID, previous.WebhookURL, verifyToken); err != nil {
		return graphFailure(err, domain.ReasonInternalError, "Meta refused to restore the previous override")
	}
	return nil
}

// RegisterNumber registers a Cloud API number with a 6-digit PIN that is generated and stored
// encrypted before the first attempt, so a retry uses the same PIN.
func (a *Activities) RegisterNumber(ctx context.Context, in domain.MetaStepInput) (domain.RegisterResult, error) {
	defer heartbeatUntilDone(ctx)()
	s, token, err := a.sessionAndToken(ctx, in)
	if err != nil {
		return domain.RegisterResult{}, err
	}
	if s.RegistrationPinSecretID == nil {
		// Re-onboarding a number we registered before: Meta holds that PIN as the number's
		// two-step verification PIN, so a new one would be refused (133005). Reuse it.
		existing, err := a.existingPIN(ctx, in.Discovery)
		if err != nil {
			return domain.RegisterResult{}, err
		}
		err = a.Store.InTx(ctx, func(q *dbq.Queries) error {
			id := existing
			if id == "" {
				pin, err := newPIN()
				if err != nil {
					return err
				}
				if id, err = secretstore.Create(ctx, q, a.Ring, s.PartnerID, secretstore.KindRegistrationPIN, pin); err != nil {
					return err
				}
			}
			return q.SetSessionRegistrationPin(ctx, dbq.SetSessionRegistrationPinParams{ID: s.ID, RegistrationPinSecretID: &id})
		})
		if err != nil {
			return domain.RegisterResult{}, err
		}
		if s, err = a.session(ctx, in.SessionID); err != nil {
			return domain.RegisterResult{}, err
		}
	}
	pin, err := secretstore.Read(ctx, a.Store, a.Ring, *s.RegistrationPinSecretID)
	if err != nil {
		return domain.RegisterResult{}, err
	}
	out := domain.RegisterResult{PinSecretID: *s.RegistrationPinSecretID, Registered: true}
	err = a.Graph.Register(ctx, token, in.Discovery.PhoneNumberID, pin)
	if err == nil {
		return out, nil
	}
	// Meta answers "already registered" both when our own earlier attempt went through and when
	// the number belongs to someone else; on a retry, Meta's view of the number decides.
	if metagraph.IsAlreadyRegistered(err) && activity.GetInfo(ctx).Attempt > 1 {
		phone, perr := a.Graph.PhoneNumber(ctx, token, in.Discovery.PhoneNumberID)
		if perr == nil && phone.Status == "CONNECTED" && phone.PlatformType == "CLOUD_API" {
			return out, nil
		}
	}
	return domain.RegisterResult{}, graphFailure(err, domain.ReasonRegistrationFailed, "Meta refused to register the phone number")
}

// existingPIN is the PIN secret of the active connection on the same number, if any.
func (a *Activities) existingPIN(ctx context.Context, d domain.Discovery) (string, error) {
	active, err := a.Store.ListActiveWabaConnections(ctx, d.WabaID)
	if err != nil {
		return "", err
	}
	for _, c := range active {
		if c.PhoneNumberID == d.PhoneNumberID && c.RegistrationPinSecretID != nil {
			return *c.RegistrationPinSecretID, nil
		}
	}
	return "", nil
}

// TriggerSyncs starts the coexistence contact and history syncs, each once. Meta answers a
// repeat with "already synced" (2593107, or code 4 "sync request limit exceeded"), which counts
// as started: a retry after a lost answer is not a failure. Each sync is tried even when the
// other failed; a failure carries, as its ApplicationError details, the SyncResult of the syncs
// that did start, so the caller (who treats the syncs as best effort) keeps their timestamps.
// Transient failures are retried by the activity's policy.
func (a *Activities) TriggerSyncs(ctx context.Context, in domain.MetaStepInput) (domain.SyncResult, error) {
	defer heartbeatUntilDone(ctx)()
	_, token, err := a.sessionAndToken(ctx, in)
	if err != nil {
		return domain.SyncResult{}, err
	}
	var out domain.SyncResult
	var failures []string
	retryable := false
	for _, sync := range []struct {
		kind string
		at   **time.Time
	}{{metagraph.SyncTypeContacts, &out.ContactSyncTriggeredAt}, {metagraph.SyncTypeHistory, &out.HistorySyncTriggeredAt}} {
		if err := a.Graph.SMBAppData(ctx, token, in.Discovery.PhoneNumberID, sync.kind); err != nil && !metagraph.IsAlreadySynced(err) {
			failures = append(failures, "the "+sync.kind+" sync: "+err.Error())
			retryable = retryable || metagraph.IsTransient(err)
			continue
		}
		now := a.now().UTC()
		*sync.at = &now
	}
	if len(failures) == 0 {
		return out, nil
	}
	reason, what := domain.ReasonRegistrationFailed, "Meta refused "
	if retryable {
		reason, what = domain.ReasonMetaUnavailable, "Meta is temporarily unavailable for "
	}
	return domain.SyncResult{}, temporal.NewApplicationErrorWithOptions(what+strings.Join(failures, "; "), reason,
		temporal.ApplicationErrorOptions{NonRetryable: !retryable, Details: []any{out}})
}

// StartedSyncs is the SyncResult a TriggerSyncs failure carries: the syncs that did start.
func StartedSyncs(err error) domain.SyncResult {
	var out domain.SyncResult
	if appErr, ok := errors.AsType[*temporal.ApplicationError](err); ok && appErr.HasDetails() {
		if appErr.Details(&out) != nil {
			return domain.SyncResult{}
		}
	}
	return out
}

func (a *Activities) sessionAndToken(ctx context.Context, in domain.MetaStepInput) (dbq.OnboardingSession, string, error) {
	s, err := a.session(ctx, in.SessionID)
	if err != nil {
		return s, "", err
	}
	token, err := secretstore.Read(ctx, a.Store, a.Ring, in.TokenSecretID)
	return s, token, err
}

// CommitConnection writes the outcome in one transaction (SPEC §6 step 6): the connection (new,
// or the same one re-onboarded), the siblings' webhook, the session `completed`, and the
// onboarding.completed event.
func (a *Activities) CommitConnection(ctx context.Context, in domain.CommitInput) (domain.Outcome, error) {
	var out domain.Outcome
	err := a.Store.InTx(ctx, func(q *dbq.Queries) error {
		s, err := q.GetSession(ctx, in.SessionID)
		if err != nil {
			return err
		}
		if s.Status == domain.StatusCompleted { // an earlier attempt committed
			out = domain.Outcome{Status: s.Status, RedirectURL: opt.Deref(s.ResultRedirectURL)}
			return nil
		}
		if _, err := q.LockHeldWabaClaim(ctx, dbq.LockHeldWabaClaimParams{WabaID: in.Discovery.WabaID, Holder: in.Holder}); err != nil {
			if store.IsNotFound(err) {
				return permanent(domain.ReasonInternalError, "The claim on the WhatsApp Business Account expired before the commit.")
			}
			return err
		}
		conn, err := a.writeConnection(ctx, q, s, in)
		if err != nil {
			return err
		}
		if _, err := q.SetWabaWebhook(ctx, dbq.SetWabaWebhookParams{
			WabaID: in.Discovery.WabaID, WebhookURL: s.WebhookOverrideURL, WebhookVerifyTokenCiphertext: s.WebhookVerifyTokenCiphertext,
		}); err != nil {
			return err
		}
		redirect := redirecturl.WithParams(s.SuccessRedirectURL, [][2]string{{"sessionId", s.ID}, {"status", domain.StatusCompleted}})
		if _, err := q.CompleteSession(ctx, dbq.CompleteSessionParams{ID: s.ID, ConnectionID: &conn.ID, ResultRedirectURL: &redirect}); err != nil {
			return err
		}
		out = domain.Outcome{Status: domain.StatusCompleted, RedirectURL: redirect}
		return events.Emit(ctx, q, events.New{
			ID: in.EventID, PartnerID: s.PartnerID, Type: eventtypes.OnboardingCompleted, TenantID: s.TenantID,
			SessionID: s.ID, ConnectionID: conn.ID, WabaID: conn.WabaID,
			Data: map[string]any{
				"sessionId": s.ID, "tenantId": s.TenantID, "metadata": sessionMetadata(s), "connectionId": conn.ID,
				"wabaId": conn.WabaID, "phoneNumberId": conn.PhoneNumberID, "businessId": conn.BusinessID,
				"displayPhoneNumber": conn.DisplayPhoneNumber, "verifiedName": conn.VerifiedName,
				"connectionMode": conn.ConnectionMode, "heartbeatStatus": conn.HeartbeatStatus,
				"heartbeatLastConfirmedAt": conn.HeartbeatLastConfirmedAt, "heartbeatNextDueAt": conn.HeartbeatNextDueAt,
			},
		})
	})
	if err == nil && out.Status == domain.StatusCompleted && a.Metrics != nil {
		a.Metrics.Sessions.WithLabelValues(domain.StatusCompleted).Inc()
	}
	return out, err
}

func (a *Activities) writeConnection(ctx context.Context, q *dbq.Queries, s dbq.OnboardingSession, in domain.CommitInput) (dbq.Connection, error) {
	d := in.Discovery
	now := a.now().UTC()
	heartbeat := struct {
		applies bool
		status  string
		last    *time.Time
		next    *time.Time
	}{status: "UNKNOWN"}
	var coexStatus *string
	if d.Mode == domain.ModeCoexistence {
		period, _ := a.heartbeatPeriods()
		next := now.Add(period)
		heartbeat.applies, heartbeat.status, heartbeat.last, heartbeat.next = true, "OK", &now, &next
		onboarded := "ONBOARDED"
		coexStatus = &onboarded
	}
	var registeredAt *time.Time
	var pinID *string
	if in.Register.Registered {
		registeredAt = &now
		pinID = &in.Register.PinSecretID
	}
	tokenExpires := s.AccessTokenExpiresAt
	if in.Plan.ReonboardConnectionID != "" {
		old, err := q.GetConnection(ctx, in.Plan.ReonboardConnectionID)
		if err != nil {
			return dbq.Connection{}, err
		}
		conn, err := q.ReonboardConnection(ctx, dbq.ReonboardConnectionParams{
			ID: old.ID, SessionID: s.ID, BusinessID: opt.String(d.BusinessID), DisplayPhoneNumber: opt.String(d.DisplayPhoneNumber),
			VerifiedName: opt.String(d.VerifiedName), ConnectionMode: d.Mode, WebhookURL: s.WebhookOverrideURL,
			WebhookVerifyTokenCiphertext: s.WebhookVerifyTokenCiphertext, Metadata: sessionMetadata(s), CoexistenceStatus: coexStatus,
			HistorySyncTriggeredAt: in.Syncs.HistorySyncTriggeredAt, ContactSyncTriggeredAt: in.Syncs.ContactSyncTriggeredAt,
			HeartbeatApplies: heartbeat.applies, HeartbeatStatus: heartbeat.status, HeartbeatLastConfirmedAt: heartbeat.last,
			HeartbeatNextDueAt: heartbeat.next, AccessTokenSecretID: &in.TokenSecretID, RegistrationPinSecretID: pinID,
			RegisteredAt: registeredAt, TokenIssuedAt: now, TokenExpiresAt: tokenExpires,
		})
		if err != nil {
			return dbq.Connection{}, err
		}
		// The replaced token is useless now; erase it rather than keep a second live secret.
		if old.AccessTokenSecretID != nil && *old.AccessTokenSecretID != in.TokenSecretID {
			if err := secretstore.Erase(ctx, q, old.AccessTokenSecretID); err != nil {
				return dbq.Connection{}, err
			}
		}
		return conn, nil
	}
	conn, err := q.InsertConnection(ctx, dbq.InsertConnectionParams{
		ID: in.ConnectionID, PartnerID: s.PartnerID, TenantID: s.TenantID, SessionID: s.ID, WabaID: d.WabaID,
		PhoneNumberID: d.PhoneNumberID, BusinessID: opt.String(d.BusinessID), DisplayPhoneNumber: opt.String(d.DisplayPhoneNumber),
		VerifiedName: opt.String(d.VerifiedName), ConnectionMode: d.Mode, WebhookURL: s.WebhookOverrideURL,
		WebhookVerifyTokenCiphertext: s.WebhookVerifyTokenCiphertext, Metadata: sessionMetadata(s), CoexistenceStatus: coexStatus,
		HistorySyncTriggeredAt: in.Syncs.HistorySyncTriggeredAt, ContactSyncTriggeredAt: in.Syncs.ContactSyncTriggeredAt,
		HeartbeatApplies: heartbeat.applies, HeartbeatStatus: heartbeat.status, HeartbeatLastConfirmedAt: heartbeat.last,
		HeartbeatNextDueAt: heartbeat.next, AccessTokenSecretID: &in.TokenSecretID, RegistrationPinSecretID: pinID,
		RegisteredAt: registeredAt, TokenIssuedAt: now, TokenExpiresAt: tokenExpires,
	})
	if store.IsUniqueViolation(err, "connections_one_active_number") {
		return dbq.Connection{}, permanent(domain.ReasonNumberAlreadyConnected, "This phone number is already connected.")
	}
	return conn, err
}

// ReopenSession opens a processing session again after a failed attempt the user may repeat:
// the attempt's code and token are erased (Meta's side was undone by the workflow), the reason
// is kept for the page. False when the session was not processing (decided or reopened
// meanwhile): the workflow then ends it as usual.
func (a *Activities) ReopenSession(ctx context.Context, in domain.ReopenInput) (bool, error) {
	reopened := false
	err := a.Store.InTx(ctx, func(q *dbq.Queries) error {
		before, err := q.GetSession(ctx, in.SessionID)
		if err != nil {
			return err
		}
		_, err = q.ReopenSession(ctx, dbq.ReopenSessionParams{ID: in.SessionID, RetryReason: &in.Reason, RetryMessage: &in.Message})
		if store.IsNotFound(err) {
			// Not processing: reopened by an earlier attempt of this step, or decided.
			reopened = before.Status == domain.StatusStarted && opt.Deref(before.RetryReason) == in.Reason
			return nil
		}
		if err != nil {
			return err
		}
		reopened = true
		if err := secretstore.Erase(ctx, q, before.OauthCodeSecretID); err != nil {
			return err
		}
		return secretstore.Erase(ctx, q, before.AccessTokenSecretID)
	})
	return reopened, err
}

// EndSession records failed, cancelled or expired with onboarding.failed, once. A session that
// already ended is answered as it is.
func (a *Activities) EndSession(ctx context.Context, in domain.EndInput) (domain.Outcome, error) {
	var out domain.Outcome
	err := a.Store.InTx(ctx, func(q *dbq.Queries) error {
		s, err := q.GetSession(ctx, in.SessionID)
		if err != nil {
			return err
		}
		var redirect *string
		if in.FromCallback {
			switch in.Status {
			case domain.StatusCancelled:
				r := redirecturl.WithParams(s.CancelRedirectURL, [][2]string{{"sessionId", s.ID}, {"status", domain.StatusCancelled}})
				redirect = &r
			case domain.StatusFailed:
				r := redirecturl.WithParams(s.FailureRedirectURL, [][2]string{{"sessionId", s.ID}, {"status", domain.StatusFailed}, {"reason", in.Reason}})
				redirect = &r
			}
		}
		var details json.RawMessage
		if len(in.Details) > 0 {
			if details, err = json.Marshal(in.Details); err != nil {
				return err
			}
		}
		category := domain.ErrorCategory(in.Reason)
		ended, err := q.EndSession(ctx, dbq.EndSessionParams{
			ID: s.ID, Status: in.Status, FailureReason: &in.Reason, FailureErrorCategory: &category,
			FailureMessage: &in.Message, FailureDetails: details, ResultRedirectURL: redirect,
		})
		if store.IsNotFound(err) {
			out = domain.Outcome{Status: s.Status, RedirectURL: opt.Deref(s.ResultRedirectURL), Reason: opt.Deref(s.FailureReason)}
			return nil
		}
		if err != nil {
			return err
		}
		out = domain.Outcome{Status: ended.Status, RedirectURL: opt.Deref(ended.ResultRedirectURL), Reason: in.Reason}
		if a.Metrics != nil {
			a.Metrics.Sessions.WithLabelValues(in.Status).Inc()
		}
		return events.Emit(ctx, q, events.New{
			ID: in.EventID, PartnerID: s.PartnerID, Type: eventtypes.OnboardingFailed, TenantID: s.TenantID, SessionID: s.ID,
			Data: map[string]any{
				"sessionId": s.ID, "tenantId": s.TenantID, "metadata": sessionMetadata(s),
				"reason": in.Reason, "errorCategory": category, "message": in.Message,
			},
		})
	})
	return out, err
}

// newPIN makes a uniformly random 6-digit PIN.
func newPIN() (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%06d", n.Int64()), nil
}

// eventStored reports whether the event with this id is stored: a step retried after its first
// attempt committed finds its own event, which the workflow must still deliver.
func eventStored(ctx context.Context, q *dbq.Queries, id string) (bool, error) {
	_, err := q.GetEventByID(ctx, id)
	if store.IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}
