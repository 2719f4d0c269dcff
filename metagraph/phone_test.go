package metagraph_test

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dualhook/dualhook/metagraph"
	"github.com/dualhook/dualhook/sandbox"
)

func TestPhoneNumbersPaging(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	first, token := e.signup(t, sandbox.ESSessionRequest{})
	want := []string{first.PhoneNumberID}
	for _, scenario := range []string{"finish", "finish", "finish", "finish_coex"} {
		s, _ := e.signup(t, sandbox.ESSessionRequest{Scenario: scenario, WABAID: first.WABAID})
		require.Equal(t, first.WABAID, s.WABAID)
		want = append(want, s.PhoneNumberID)
	}
	coexID := want[len(want)-1]

	for _, size := range []int{2, 5, 100} {
		metagraph.SetPageSize(e.mg, size)
		require.NoError(t, e.ctl.ClearCalls(ctx(t)))
		phones, err := e.mg.PhoneNumbers(ctx(t), token, first.WABAID)
		require.NoError(t, err)
		var got []string
		for _, p := range phones {
			got = append(got, p.ID)
		}
		assert.ElementsMatch(t, want, got, "page size %d", size)
		assert.Len(t, got, len(want), "no duplicates")

		calls := e.calls(t, "waba/phone_numbers")
		wantCalls := (len(want) + size - 1) / size
		require.Len(t, calls, wantCalls, "page size %d", size)
		for i, c := range calls {
			assert.Equal(t, "bearer", c.Auth)
			assert.NotContains(t, c.Params, "access_token")
			assert.Equal(t, c.Params["after"] != "", i > 0, "cursor from paging.next on later pages")
			assert.Contains(t, c.Params["fields"], "is_on_biz_app")
		}
	}

	i := slices.IndexFunc(phones(t, e, token, first.WABAID), func(p metagraph.PhoneNumber) bool { return p.ID == coexID })
	require.GreaterOrEqual(t, i, 0)
	coex := phones(t, e, token, first.WABAID)[i]
	require.NotNil(t, coex.IsOnBizApp)
	assert.True(t, *coex.IsOnBizApp)
	cloud := phones(t, e, token, first.WABAID)[slices.IndexFunc(phones(t, e, token, first.WABAID), func(p metagraph.PhoneNumber) bool { return p.ID == first.PhoneNumberID })]
	require.NotNil(t, cloud.IsOnBizApp)
	assert.False(t, *cloud.IsOnBizApp)
	assert.Equal(t, first.DisplayPhone, cloud.DisplayPhoneNumber)
}

func phones(t *testing.T, e *env, token, wabaID string) []metagraph.PhoneNumber {
	t.Helper()
	p, err := e.mg.PhoneNumbers(ctx(t), token, wabaID)
	require.NoError(t, err)
	return p
}

func TestPhoneNumbersEmpty(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sess, token := e.signup(t, sandbox.ESSessionRequest{Scenario: "finish_only_waba"})
	p, err := e.mg.PhoneNumbers(ctx(t), token, sess.WABAID)
	require.NoError(t, err)
	assert.Empty(t, p)
}

func TestPhoneNumber(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sess, token := e.signup(t, sandbox.ESSessionRequest{DisplayPhoneNumber: "15550783881", VerifiedName: "Lucky Shrub"})
	before := time.Now().Add(-time.Minute)

	p, err := e.mg.PhoneNumber(ctx(t), token, sess.PhoneNumberID)
	require.NoError(t, err)
	assert.Equal(t, sess.PhoneNumberID, p.ID)
	assert.Equal(t, "15550783881", p.DisplayPhoneNumber)
	assert.Equal(t, "Lucky Shrub", p.VerifiedName)
	assert.Equal(t, "GREEN", p.QualityRating)
	assert.Equal(t, "APPROVED", p.NameStatus)
	assert.Equal(t, "PENDING", p.Status)
	assert.Equal(t, "NOT_APPLICABLE", p.PlatformType)
	assert.Equal(t, "VERIFIED", p.CodeVerificationStatus)
	assert.Equal(t, "TIER_250", p.MessagingLimitTier)
	assert.Equal(t, "LIVE", p.AccountMode)
	require.NotNil(t, p.IsOnBizApp)
	assert.False(t, *p.IsOnBizApp)
	require.NotNil(t, p.LastOnboardedTime)
	assert.True(t, p.LastOnboardedTime.After(before))
	require.NotEmpty(t, p.HealthStatus)
	h := p.Health()
	require.NotNil(t, h)
	assert.Equal(t, "BLOCKED", h.CanSendMessage, "unregistered number")
	require.NotEmpty(t, h.Entities)
	assert.Equal(t, "PHONE_NUMBER", h.Entities[0].EntityType)
	require.NotEmpty(t, h.Entities[0].Errors)
	assert.NotZero(t, h.Entities[0].Errors[0].ErrorCode)

	require.NoError(t, e.mg.Register(ctx(t), token, sess.PhoneNumberID, "581063"))
	p, err = e.mg.PhoneNumber(ctx(t), token, sess.PhoneNumberID)
	require.NoError(t, err)
	assert.Equal(t, "CONNECTED", p.Status)
	assert.Equal(t, "CLOUD_API", p.PlatformType)
	assert.Equal(t, "AVAILABLE", p.Health().CanSendMessage)

	_, err = e.mg.PhoneNumber(ctx(t), token, "999999999999999")
	ge := graphErr(t, err)
	assert.Equal(t, 100, ge.Code)
	assert.Equal(t, 33, ge.Subcode)
}

func TestRegister(t *testing.T) {
	t.Parallel()
	const pin = "581063"

	t.Run("register, repeat, wrong PIN", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		sess, token := e.signup(t, sandbox.ESSessionRequest{})
		require.NoError(t, e.mg.Register(ctx(t), token, sess.PhoneNumberID, pin))
		require.NoError(t, e.mg.Register(ctx(t), token, sess.PhoneNumberID, pin), "same PIN again succeeds")

		const other = "135799"
		err := e.mg.Register(ctx(t), token, sess.PhoneNumberID, other)
		assert.Equal(t, 133005, graphErr(t, err).Code, "%v", err)
		assert.False(t, metagraph.IsTransient(err))
		assert.False(t, metagraph.IsAlreadyRegistered(err))
		assertNoSecrets(t, err, other, pin, token)

		calls := e.calls(t, "phone/register")
		require.Len(t, calls, 3)
		assert.Equal(t, map[string]string{"messaging_product": "whatsapp", "pin": "[redacted]"}, calls[0].Params)
		assert.Equal(t, "bearer", calls[0].Auth)
	})

	t.Run("already registered elsewhere", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		sess, token := e.signup(t, sandbox.ESSessionRequest{})
		require.NoError(t, e.ctl.MarkRegisteredElsewhere(ctx(t), sess.PhoneNumberID, true))
		err := e.mg.Register(ctx(t), token, sess.PhoneNumberID, pin)
		assert.True(t, metagraph.IsAlreadyRegistered(err), "%v", err)
		assert.False(t, metagraph.IsTransient(err))
		assert.Contains(t, graphErr(t, err).Details, "another WhatsApp account")
		assertNoSecrets(t, err, pin, token)
	})

	t.Run("coexistence number", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		sess, token := e.signup(t, sandbox.ESSessionRequest{Scenario: "finish_coex"})
		err := e.mg.Register(ctx(t), token, sess.PhoneNumberID, pin)
		assert.True(t, metagraph.IsAlreadyRegistered(err), "%v", err)
	})

	t.Run("10 per 72 h (133016)", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		sess, token := e.signup(t, sandbox.ESSessionRequest{})
		for range 10 {
			require.NoError(t, e.mg.Register(ctx(t), token, sess.PhoneNumberID, pin))
		}
		err := e.mg.Register(ctx(t), token, sess.PhoneNumberID, pin)
		assert.Equal(t, 133016, graphErr(t, err).Code)
		assert.False(t, metagraph.IsTransient(err), "the number is locked for 72 h")
	})

	t.Run("malformed PIN refused before any call", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		sess, token := e.signup(t, sandbox.ESSessionRequest{})
		for _, bad := range []string{"", "12345", "1234567", "12345a", "12 456"} {
			err := e.mg.Register(ctx(t), token, sess.PhoneNumberID, bad)
			require.Error(t, err, bad)
			if bad != "" {
				assertNoSecrets(t, err, bad)
			}
		}
		assert.Empty(t, e.calls(t, "phone/register"))
	})
}

func TestSMBAppData(t *testing.T) {
	t.Parallel()

	t.Run("each sync once, already synced on repeat", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		sess, token := e.signup(t, sandbox.ESSessionRequest{Scenario: "finish_coex"})
		for _, st := range []string{metagraph.SyncTypeContacts, metagraph.SyncTypeHistory} {
			require.NoError(t, e.mg.SMBAppData(ctx(t), token, sess.PhoneNumberID, st), st)
		}
		for _, st := range []string{metagraph.SyncTypeContacts, metagraph.SyncTypeHistory} {
			err := e.mg.SMBAppData(ctx(t), token, sess.PhoneNumberID, st)
			assert.True(t, metagraph.IsAlreadySynced(err), "%s: %v", st, err)
			assert.False(t, metagraph.IsTransient(err))
		}
		calls := e.calls(t, "phone/smb_app_data")
		require.Len(t, calls, 4)
		assert.Equal(t, map[string]string{"messaging_product": "whatsapp", "sync_type": "smb_app_state_sync"}, calls[0].Params)
	})

	// Meta has also been seen answering a repeated sync with code 4 "sync
	// request limit exceeded": already synced, and final for this call,
	// even when Meta flags it is_transient.
	t.Run("code 4 on a sync is already synced, never transient", func(t *testing.T) {
		t.Parallel()
		for _, transient := range []bool{false, true} {
			e := newEnv(t)
			sess, token := e.signup(t, sandbox.ESSessionRequest{Scenario: "finish_coex"})
			e.fault(t, sandbox.Fault{Endpoint: "phone/smb_app_data", Kind: sandbox.FaultGraphError, Code: 4,
				Message: "(#4) Sync request limit exceeded", Transient: transient})
			err := e.mg.SMBAppData(ctx(t), token, sess.PhoneNumberID, metagraph.SyncTypeHistory)
			assert.Equal(t, 4, graphErr(t, err).Code)
			assert.True(t, metagraph.IsAlreadySynced(err), "%v", err)
			assert.False(t, metagraph.IsTransient(err), "%v", err)
		}
	})

	t.Run("code 4 elsewhere stays the app rate limit", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		sess, token := e.signup(t, sandbox.ESSessionRequest{Scenario: "finish_coex"})
		e.fault(t, sandbox.Fault{Endpoint: "phone", Kind: sandbox.FaultGraphError, Code: 4, Message: "(#4) Application request limit reached"})
		_, err := e.mg.PhoneNumber(ctx(t), token, sess.PhoneNumberID)
		assert.Equal(t, 4, graphErr(t, err).Code)
		assert.False(t, metagraph.IsAlreadySynced(err))
		assert.True(t, metagraph.IsTransient(err))
	})

	t.Run("outside the 24 h window (2593108)", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		sess, token := e.signup(t, sandbox.ESSessionRequest{Scenario: "finish_coex"})
		_, err := e.ctl.AdvanceClock(ctx(t), 25*time.Hour)
		require.NoError(t, err)
		err = e.mg.SMBAppData(ctx(t), token, sess.PhoneNumberID, metagraph.SyncTypeHistory)
		assert.Equal(t, 2593108, graphErr(t, err).Code)
		assert.False(t, metagraph.IsAlreadySynced(err))
	})

	t.Run("Cloud API number", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		sess, token := e.signup(t, sandbox.ESSessionRequest{})
		err := e.mg.SMBAppData(ctx(t), token, sess.PhoneNumberID, metagraph.SyncTypeContacts)
		assert.Equal(t, 100, graphErr(t, err).Code)
	})

	t.Run("unknown sync type refused before any call", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		sess, token := e.signup(t, sandbox.ESSessionRequest{Scenario: "finish_coex"})
		require.Error(t, e.mg.SMBAppData(ctx(t), token, sess.PhoneNumberID, "contacts"))
		assert.Empty(t, e.calls(t, "phone/smb_app_data"))
	})
}
