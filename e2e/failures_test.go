package e2e

import (
	"context"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dualhook/dualhook/sandbox"
	"github.com/dualhook/dualhook/testkit/apitest"
	"github.com/dualhook/dualhook/testkit/stacktest"
)

type decision struct{ Status, RedirectURL string }

func decide(t *testing.T, res *apitest.Response) decision {
	t.Helper()
	require.Equal(t, 200, res.Status, "%s", res.Body)
	var d decision
	res.JSON(t, &d)
	return d
}

func query(t *testing.T, raw string) url.Values {
	t.Helper()
	u, err := url.Parse(raw)
	require.NoError(t, err)
	return u.Query()
}

func TestCoexistenceOnboarding(t *testing.T) {
	st := stacktest.New(t, stacktest.Options{})
	sessionID, token := st.CreateSession(st.Partner, "coex-1", stacktest.SessionRequest{"coexistence": true})
	body, es := st.Signup(sandbox.ESSessionRequest{Scenario: "finish_coex"})
	assert.Equal(t, "FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING", body["event"])
	assert.Nil(t, body["phoneNumberId"], "the coexistence event carries only the WABA")

	d := decide(t, st.Callback(token, body))
	assert.Equal(t, "completed", d.Status)
	conn := st.ConnectionOf(sessionID)
	assert.Equal(t, "coexistence", conn["connectionMode"])
	assert.Equal(t, es.PhoneNumberID, conn["phoneNumberId"], "the number is discovered from the WABA")
	assert.Equal(t, true, conn["heartbeatApplies"])
	assert.Equal(t, "OK", conn["heartbeatStatus"])
	assert.NotNil(t, conn["heartbeatNextDueAt"])
	assert.NotNil(t, conn["contactSyncTriggeredAt"])
	assert.NotNil(t, conn["historySyncTriggeredAt"])
	calls := st.GraphCalls()
	assert.NotContains(t, calls, "POST phone/register", "coexistence numbers are never registered")
	assert.Equal(t, 2, count(calls, "POST phone/smb_app_data"), "contact sync then history, once each")
}

// A sync whose answer was lost is repeated, and Meta answers the repeat with code 4 "sync
// request limit exceeded": that counts as started (never retried), and the onboarding completes
// with both syncs recorded.
func TestCoexistenceOnboardingWithARepeatedSync(t *testing.T) {
	st := stacktest.New(t, stacktest.Options{})
	// The contact sync runs at Meta, but its answer is a 5xx: the activity repeats it.
	_, err := st.Meta.SetFault(context.Background(), sandbox.Fault{Endpoint: "phone/smb_app_data", Kind: "5xx", Phase: "after", Count: 1})
	require.NoError(t, err)
	sessionID, token := st.CreateSession(st.Partner, "coex-repeat", stacktest.SessionRequest{"coexistence": true})
	body, es := st.Signup(sandbox.ESSessionRequest{Scenario: "finish_coex"})
	d := decide(t, st.Callback(token, body))
	assert.Equal(t, "completed", d.Status, "%+v", st.Session(sessionID).FailureMessage)
	conn := st.ConnectionOf(sessionID)
	assert.NotNil(t, conn["contactSyncTriggeredAt"])
	assert.NotNil(t, conn["historySyncTriggeredAt"])
	assert.Equal(t, 4, count(st.GraphCalls(), "POST phone/smb_app_data"), "both syncs, then their repeats answered code 4, once each")
	assert.NotEmpty(t, st.Subscriptions(es.WABAID), "nothing was undone")
}

// The syncs are best effort: a sync Meta refuses does not undo or fail the onboarding; the
// connection records the one that started and null for the other.
func TestCoexistenceOnboardingWithARefusedSync(t *testing.T) {
	st := stacktest.New(t, stacktest.Options{})
	// The first sync (contacts) is refused with a final error; history starts.
	_, err := st.Meta.SetFault(context.Background(), sandbox.Fault{Endpoint: "phone/smb_app_data", Kind: "graph_error", Code: 100,
		Message: "(#100) Invalid parameter", Count: 1})
	require.NoError(t, err)
	sessionID, token := st.CreateSession(st.Partner, "coex-refused", stacktest.SessionRequest{"coexistence": true})
	body, es := st.Signup(sandbox.ESSessionRequest{Scenario: "finish_coex"})
	d := decide(t, st.Callback(token, body))
	assert.Equal(t, "completed", d.Status, "%+v", st.Session(sessionID).FailureMessage)
	conn := st.ConnectionOf(sessionID)
	assert.Nil(t, conn["contactSyncTriggeredAt"], "the refused sync stays null")
	assert.NotNil(t, conn["historySyncTriggeredAt"])
	assert.Equal(t, 2, count(st.GraphCalls(), "POST phone/smb_app_data"), "a final refusal is not retried")
	assert.NotContains(t, st.GraphCalls(), "DELETE waba/subscribed_apps")
	assert.NotEmpty(t, st.Subscriptions(es.WABAID))
}

func TestPopupCancelAndErrorDecideAtOnce(t *testing.T) {
	st := stacktest.New(t, stacktest.Options{})

	sessionID, token := st.CreateSession(st.Partner, "cancel-1", nil)
	body, _ := st.Signup(sandbox.ESSessionRequest{Scenario: "cancel", CancelStep: "PHONE_NUMBER_VERIFICATION"})
	assert.Nil(t, body["code"])
	d := decide(t, st.Callback(token, body))
	assert.Equal(t, "cancelled", d.Status)
	assert.Contains(t, d.RedirectURL, "/onboarding/cancelled?")
	assert.Equal(t, "cancelled", query(t, d.RedirectURL).Get("status"))
	s := st.Session(sessionID)
	assert.Equal(t, "cancelled", *s.FailureReason)
	assert.Equal(t, "user", *s.FailureErrorCategory)
	assert.Contains(t, *s.FailureMessage, "PHONE_NUMBER_VERIFICATION")

	sessionID, token = st.CreateSession(st.Partner, "error-1", nil)
	body, _ = st.Signup(sandbox.ESSessionRequest{Scenario: "error", ErrorMessage: "Your verified name violates WhatsApp guidelines."})
	d = decide(t, st.Callback(token, body))
	assert.Equal(t, "failed", d.Status)
	q := query(t, d.RedirectURL)
	assert.Equal(t, "failed", q.Get("status"))
	assert.Equal(t, "user_error", q.Get("reason"))
	s = st.Session(sessionID)
	assert.Equal(t, "Your verified name violates WhatsApp guidelines.", *s.FailureMessage)

	evs := st.WaitEvents(sessionID, 1)
	assert.Equal(t, "onboarding.failed", evs[len(evs)-1].Type)
	assert.Empty(t, st.GraphCalls(), "nothing reached Meta's Graph API")
}

// The Coexistence flow's CANCEL_WHATSAPP_BUSINESS_APP_ONBOARDING and
// ERROR_WHATSAPP_BUSINESS_APP_ONBOARDING mean CANCEL and ERROR: they decide at once, as the plain
// events do, instead of a 202 "processing" for a callback the workflow refused.
func TestCoexistencePopupCancelAndErrorDecideAtOnce(t *testing.T) {
	st := stacktest.New(t, stacktest.Options{})

	sessionID, token := st.CreateSession(st.Partner, "coex-cancel-1", stacktest.SessionRequest{"coexistence": true})
	body, _ := st.Signup(sandbox.ESSessionRequest{Scenario: "cancel", CancelStep: "PHONE_NUMBER_VERIFICATION"})
	body["event"] = "CANCEL_WHATSAPP_BUSINESS_APP_ONBOARDING"
	d := decide(t, st.Callback(token, body))
	assert.Equal(t, "cancelled", d.Status)
	assert.Equal(t, "cancelled", query(t, d.RedirectURL).Get("status"))
	s := st.Session(sessionID)
	assert.Equal(t, "cancelled", *s.FailureReason)
	assert.Contains(t, *s.FailureMessage, "PHONE_NUMBER_VERIFICATION")

	sessionID, token = st.CreateSession(st.Partner, "coex-error-1", stacktest.SessionRequest{"coexistence": true})
	body, _ = st.Signup(sandbox.ESSessionRequest{Scenario: "error", ErrorMessage: "This number is already in use."})
	body["event"] = "ERROR_WHATSAPP_BUSINESS_APP_ONBOARDING"
	d = decide(t, st.Callback(token, body))
	assert.Equal(t, "failed", d.Status)
	assert.Equal(t, "user_error", query(t, d.RedirectURL).Get("reason"))
	s = st.Session(sessionID)
	assert.Equal(t, "This number is already in use.", *s.FailureMessage)
	var types []string
	for _, ev := range st.WaitEvents(sessionID, 2) {
		types = append(types, ev.Type)
	}
	assert.ElementsMatch(t, []string{"onboarding.started", "onboarding.failed"}, types)
	assert.Empty(t, st.GraphCalls(), "nothing reached Meta's Graph API")
}

// A callback PostgreSQL could not store (NUL or another control character in errorMessage) is
// refused at the edge with 400: it never reaches the workflow, whose end would otherwise be
// retried against the database forever, and the link stays usable.
func TestUnstorableCallbackIsRefusedAndTheLinkStaysUsable(t *testing.T) {
	st := stacktest.New(t, stacktest.Options{})
	sessionID, token := st.CreateSession(st.Partner, "poison-1", nil)
	for _, msg := range []string{"x\x00", "bell\x07", "esc\x1b[31m", "del\x7f"} {
		res := st.Callback(token, map[string]any{"event": "ERROR", "errorMessage": msg})
		require.Equal(t, 400, res.Status, "%q: %s", msg, res.Body)
		assert.Equal(t, "invalid_request", res.ErrorCode())
		assert.Contains(t, string(res.Body), `"errorMessage"`)
	}
	assert.NotEqual(t, "failed", st.Session(sessionID).Status)
	// Tab and newline are fine, and the session is decided as usual.
	d := decide(t, st.Callback(token, map[string]any{"event": "ERROR", "errorMessage": "line one\n\tline two"}))
	assert.Equal(t, "failed", d.Status)
	assert.Equal(t, "line one\n\tline two", *st.Session(sessionID).FailureMessage)
}

func TestRepeatedCallbackAnswersTheSameAndConnectsOnce(t *testing.T) {
	st := stacktest.New(t, stacktest.Options{})
	sessionID, token := st.CreateSession(st.Partner, "repeat-1", nil)
	body, _ := st.Signup(sandbox.ESSessionRequest{Scenario: "finish"})
	first := decide(t, st.Callback(token, body))
	second := decide(t, st.Callback(token, body))
	assert.Equal(t, first, second)
	status := st.API.Do(apitest.Request{Method: "GET", Path: "/onboard/" + token + "/status", NoCheck: true})
	assert.Equal(t, first, decide(t, status))
	assert.Equal(t, 1, count(st.GraphCalls(), "GET oauth/access_token"), "the code was exchanged once")
	res := st.API.Do(apitest.Request{Method: "GET", Path: "/api/v1/connections?tenantId=repeat-1", Key: st.Partner.Key})
	assert.Len(t, res.Map(t)["data"], 1)
	_ = sessionID

	// The page of a decided session is gone.
	page := st.API.Do(apitest.Request{Method: "GET", Path: "/onboard/" + token, NoCheck: true})
	assert.Equal(t, 410, page.Status)
}

func TestCallbackWithoutTheMessageEvent(t *testing.T) {
	st := stacktest.New(t, stacktest.Options{})
	sessionID, token := st.CreateSession(st.Partner, "noevent-1", nil)
	_, es := st.Signup(sandbox.ESSessionRequest{Scenario: "finish"})
	d := decide(t, st.Callback(token, map[string]any{"code": es.Code}))
	assert.Equal(t, "completed", d.Status)
	conn := st.ConnectionOf(sessionID)
	assert.Equal(t, es.WABAID, conn["wabaId"], "the WABA comes from debug_token")
	assert.Equal(t, es.PhoneNumberID, conn["phoneNumberId"])
}

func TestForgedIDsInTheCallbackFailDiscovery(t *testing.T) {
	st := stacktest.New(t, stacktest.Options{})
	_, other := st.Signup(sandbox.ESSessionRequest{Scenario: "finish"}) // someone else's WABA
	for name, forge := range map[string]func(map[string]any){
		"waba":  func(b map[string]any) { b["wabaId"] = other.WABAID },
		"phone": func(b map[string]any) { b["phoneNumberId"] = other.PhoneNumberID },
	} {
		t.Run(name, func(t *testing.T) {
			sessionID, token := st.CreateSession(st.Partner, "forged-"+name, nil)
			body, _ := st.Signup(sandbox.ESSessionRequest{Scenario: "finish"})
			forge(body)
			d := decide(t, st.Callback(token, body))
			assert.Equal(t, "failed", d.Status)
			assert.Equal(t, "discovery_failed", query(t, d.RedirectURL).Get("reason"))
			assert.Equal(t, "meta", *st.Session(sessionID).FailureErrorCategory)
		})
	}
	assert.NotContains(t, st.GraphCalls(), "POST waba/subscribed_apps", "nothing changed at Meta")
}

func TestExpiredAndReusedCodesFailTheExchange(t *testing.T) {
	st := stacktest.New(t, stacktest.Options{})
	ctx := context.Background()
	for name, spoil := range map[string]func(code string){
		"expired": func(code string) { require.NoError(t, st.Meta.ExpireCode(ctx, code)) },
		"reused":  func(code string) { require.NoError(t, st.Meta.BurnCode(ctx, code)) },
	} {
		t.Run(name, func(t *testing.T) {
			sessionID, token := st.CreateSession(st.Partner, "code-"+name, nil)
			body, es := st.Signup(sandbox.ESSessionRequest{Scenario: "finish"})
			spoil(es.Code)
			d := decide(t, st.Callback(token, body))
			assert.Equal(t, "failed", d.Status)
			assert.Equal(t, "oauth_exchange_failed", query(t, d.RedirectURL).Get("reason"))
			s := st.Session(sessionID)
			assert.Equal(t, "meta", *s.FailureErrorCategory)
			assert.NotContains(t, *s.FailureMessage, es.Code, "the code never appears in a message")
		})
	}
	assert.Equal(t, 2, count(st.GraphCalls(), "GET oauth/access_token"), "a spent code is never retried")
}

func TestOverrideVerificationFailureIsUndoneAtMeta(t *testing.T) {
	st := stacktest.New(t, stacktest.Options{})
	sessionID, token := st.CreateSession(st.Partner, "verify-1", nil)
	body, es := st.Signup(sandbox.ESSessionRequest{Scenario: "finish"})
	require.NoError(t, st.Meta.FailOverrideVerification(context.Background(), sandbox.OverrideFault{Failure: sandbox.VerifyFailWrongChallenge}))
	d := decide(t, st.Callback(token, body))
	assert.Equal(t, "failed", d.Status)
	assert.Equal(t, "webhook_subscribe_failed", query(t, d.RedirectURL).Get("reason"))
	assert.Equal(t, "configuration", *st.Session(sessionID).FailureErrorCategory)
	assert.NotContains(t, *st.Session(sessionID).FailureMessage, "verify-verify-1")
	assert.Equal(t, "DELETE waba/subscribed_apps", last(st.GraphCalls()), "the subscription this session made is removed")
	assert.Empty(t, st.Subscriptions(es.WABAID))
}

func TestTransientGraphErrorsAreRetried(t *testing.T) {
	st := stacktest.New(t, stacktest.Options{})
	ctx := context.Background()
	_, err := st.Meta.SetFault(ctx, sandbox.Fault{Endpoint: "waba/phone_numbers", Kind: "5xx", Count: 2})
	require.NoError(t, err)
	_, err = st.Meta.SetFault(ctx, sandbox.Fault{Endpoint: "phone/register", Kind: "rate_limit", Count: 1})
	require.NoError(t, err)
	sessionID, token := st.CreateSession(st.Partner, "transient-1", nil)
	body, _ := st.Signup(sandbox.ESSessionRequest{Scenario: "finish"})
	d := decide(t, st.Callback(token, body))
	assert.Equal(t, "completed", d.Status, "%+v", st.Session(sessionID).FailureMessage)
	calls := st.GraphCalls()
	assert.Equal(t, 3, count(calls, "GET waba/phone_numbers"))
	assert.Equal(t, 2, count(calls, "POST phone/register"))
}

func TestRegistrationFailureAfterTheOverrideIsUndone(t *testing.T) {
	st := stacktest.New(t, stacktest.Options{})
	sessionID, token := st.CreateSession(st.Partner, "register-1", nil)
	body, es := st.Signup(sandbox.ESSessionRequest{Scenario: "finish"})
	require.NoError(t, st.Meta.MarkRegisteredElsewhere(context.Background(), es.PhoneNumberID, true))
	d := decide(t, st.Callback(token, body))
	assert.Equal(t, "failed", d.Status)
	assert.Equal(t, "registration_failed", query(t, d.RedirectURL).Get("reason"))
	calls := st.GraphCalls()
	assert.Equal(t, "DELETE waba/subscribed_apps", last(calls), "%v", calls)
	assert.Empty(t, st.Subscriptions(es.WABAID), "Meta is back to how it was")
	res := st.API.Do(apitest.Request{Method: "GET", Path: "/api/v1/connections?tenantId=register-1", Key: st.Partner.Key})
	assert.Empty(t, res.Map(t)["data"], "no connection was recorded")
	_ = sessionID
}

func count(list []string, v string) int {
	n := 0
	for _, x := range list {
		if x == v {
			n++
		}
	}
	return n
}

func last(list []string) string {
	if len(list) == 0 {
		return ""
	}
	return list[len(list)-1]
}

// Meta spends the code and then drops the connection (its availability, not the user's doing):
// the callback answers "try again" with the reason, the session is started again — also for the
// status poll and a reloaded page — and a fresh Embedded Signup within the same session
// completes it. The partner hears onboarding.started and onboarding.completed, nothing failed.
func TestAFailureThatIsNotTheUsersOffersTryAgain(t *testing.T) {
	st := stacktest.New(t, stacktest.Options{})
	ctx := context.Background()
	_, err := st.Meta.SetFault(ctx, sandbox.Fault{Endpoint: "oauth/access_token", Kind: "reset", Phase: "after", Count: 1})
	require.NoError(t, err)
	sessionID, token := st.CreateSession(st.Partner, "try-again", nil)
	body, _ := st.Signup(sandbox.ESSessionRequest{Scenario: "finish"})
	res := st.Callback(token, body)
	require.Equal(t, 200, res.Status, "%s", res.Body)
	answer := res.Map(t)
	assert.Equal(t, "started", answer["status"])
	assert.Equal(t, "meta_unavailable", answer["retry"].(map[string]any)["reason"], "%v", answer)
	assert.Nil(t, answer["redirectUrl"])

	row := st.Session(sessionID)
	assert.Equal(t, "started", row.Status)
	assert.Nil(t, row.OauthCodeSecretID, "the spent attempt's code is dropped")
	status := st.API.Do(apitest.Request{Method: "GET", Path: "/onboard/" + token + "/status", NoCheck: true})
	require.Equal(t, 200, status.Status)
	assert.Equal(t, "meta_unavailable", status.Map(t)["retry"].(map[string]any)["reason"], "the poll says so too")
	page := st.API.Do(apitest.Request{Method: "GET", Path: "/onboard/" + token, NoCheck: true})
	require.Equal(t, 200, page.Status)
	assert.Contains(t, string(page.Body), "It was not your doing", "a reloaded page says so too")
	session := st.API.Do(apitest.Request{Method: "GET", Path: "/api/v1/onboarding/sessions/" + sessionID, Key: st.Partner.Key})
	assert.Nil(t, session.Map(t)["failure"], "the contract's failure is for ended sessions only")

	body, _ = st.Signup(sandbox.ESSessionRequest{Scenario: "finish"})
	assert.Equal(t, "completed", decide(t, st.Callback(token, body)).Status)
	var types []string
	for _, ev := range st.WaitEvents(sessionID, 2) {
		types = append(types, ev.Type)
	}
	assert.ElementsMatch(t, []string{"onboarding.started", "onboarding.completed"}, types)
	assert.Nil(t, st.Session(sessionID).RetryReason, "the accepted attempt clears the last one's failure")
}
