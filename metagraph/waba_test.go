package metagraph_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dualhook/dualhook/metagraph"
	"github.com/dualhook/dualhook/sandbox"
)

func TestWABA(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sess, token := e.signup(t, sandbox.ESSessionRequest{BusinessName: "Lucky Shrub", WABAName: "Lucky Shrub WA"})
	other, otherToken := e.signup(t, sandbox.ESSessionRequest{})

	t.Run("happy path", func(t *testing.T) {
		w, err := e.mg.WABA(ctx(t), token, sess.WABAID)
		require.NoError(t, err)
		assert.Equal(t, sess.WABAID, w.ID)
		assert.Equal(t, "Lucky Shrub WA", w.Name)
		assert.Equal(t, sess.BusinessID, w.OwnerBusinessID, "owner_business_info.id")
		assert.Equal(t, "Lucky Shrub", w.OwnerBusinessName)
		assert.Equal(t, "USD", w.Currency)
		assert.Equal(t, "1", w.TimezoneID)
		assert.Equal(t, "APPROVED", w.AccountReviewStatus)
		assert.NotEmpty(t, w.MessageTemplateNamespace)
	})

	t.Run("token not granted the WABA (code 200)", func(t *testing.T) {
		_, err := e.mg.WABA(ctx(t), otherToken, sess.WABAID)
		ge := graphErr(t, err)
		assert.Equal(t, 200, ge.Code)
		assert.Equal(t, 403, ge.HTTPStatus)
		assert.False(t, metagraph.IsTransient(err))
		assert.False(t, metagraph.IsTokenInvalid(err))
		assertNoSecrets(t, err, otherToken)
	})

	t.Run("unknown token (190)", func(t *testing.T) {
		const bad = "EAA-garbage-RECOGNISABLE-0c4e"
		_, err := e.mg.WABA(ctx(t), bad, other.WABAID)
		assert.True(t, metagraph.IsTokenInvalid(err), "%v", err)
		assert.Equal(t, 401, graphErr(t, err).HTTPStatus)
		assertNoSecrets(t, err, bad)
	})

	t.Run("arguments checked before any call", func(t *testing.T) {
		before := len(e.calls(t, ""))
		for _, id := range []string{"", "../debug_token", "123?fields=x", "12/34"} {
			_, err := e.mg.WABA(ctx(t), token, id)
			require.Error(t, err, id)
			assert.False(t, metagraph.IsTransient(err))
		}
		_, err := e.mg.WABA(ctx(t), "", sess.WABAID)
		require.Error(t, err)
		_, err = e.mg.WABA(ctx(t), "EAA bad\r\nX-Injected: 1", sess.WABAID)
		require.Error(t, err)
		assert.Len(t, e.calls(t, ""), before)
	})
}

func TestRevokedToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sess, token := e.signup(t, sandbox.ESSessionRequest{})
	n, err := e.ctl.RevokeToken(ctx(t), sandbox.TokenFault{Token: token})
	require.NoError(t, err)
	require.Equal(t, 1, n)

	calls := map[string]func() error{
		"WABA": func() error { _, err := e.mg.WABA(ctx(t), token, sess.WABAID); return err },
		"PhoneNumbers": func() error {
			_, err := e.mg.PhoneNumbers(ctx(t), token, sess.WABAID)
			return err
		},
		"PhoneNumber": func() error {
			_, err := e.mg.PhoneNumber(ctx(t), token, sess.PhoneNumberID)
			return err
		},
		"SubscribedApps": func() error {
			_, err := e.mg.SubscribedApps(ctx(t), token, sess.WABAID)
			return err
		},
		"SubscribeApp":   func() error { return e.mg.SubscribeApp(ctx(t), token, sess.WABAID) },
		"UnsubscribeApp": func() error { return e.mg.UnsubscribeApp(ctx(t), token, sess.WABAID) },
		"Register":       func() error { return e.mg.Register(ctx(t), token, sess.PhoneNumberID, "947261") },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			err := call()
			assert.True(t, metagraph.IsTokenInvalid(err), "%v", err)
			ge := graphErr(t, err)
			assert.Equal(t, 458, ge.Subcode)
			assert.False(t, metagraph.IsTransient(err))
			assertNoSecrets(t, err, token, "947261")
		})
	}

	t.Run("expired token (190/463)", func(t *testing.T) {
		sess, token := e.signup(t, sandbox.ESSessionRequest{})
		_, err := e.ctl.RevokeToken(ctx(t), sandbox.TokenFault{Token: token, Action: "expire"})
		require.NoError(t, err)
		_, err = e.mg.WABA(ctx(t), token, sess.WABAID)
		assert.True(t, metagraph.IsTokenInvalid(err), "%v", err)
		assert.Equal(t, 463, graphErr(t, err).Subcode)
	})
}
