package events_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/dualhook/dualhook/db/dbq"
	"github.com/dualhook/dualhook/internal/events"
	"github.com/dualhook/dualhook/internal/eventtypes"
	"github.com/dualhook/dualhook/internal/ids"
	"github.com/dualhook/dualhook/testkit/eventstest"
)

func TestRenderIsTheSpecEnvelope(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 891_234_567, time.FixedZone("CET", 3600))
	body, err := events.Render(events.New{ID: "evt_1", Type: eventtypes.ConnectionModeResolved, CreatedAt: at,
		Data: map[string]any{"connectionMode": "coexistence", "previousMode": nil, "url": "https://a.test/?x=1&y=<2>"}})
	require.NoError(t, err)
	assert.Equal(t, `{"event":"connection.mode_resolved","id":"evt_1","createdAt":"2026-03-04T04:06:07.891Z",`+
		`"data":{"connectionMode":"coexistence","previousMode":null,"url":"https://a.test/?x=1&y=<2>"}}`, string(body))

	body, err = events.Render(events.New{ID: "evt_2", Type: eventtypes.OnboardingStarted, CreatedAt: at})
	require.NoError(t, err)
	assert.Contains(t, string(body), `"data":{}`)

	var nilMap map[string]any
	body, err = events.Render(events.New{ID: "evt_2", Type: eventtypes.OnboardingStarted, CreatedAt: at, Data: nilMap})
	require.NoError(t, err)
	assert.Contains(t, string(body), `"data":{}`)

	_, err = events.Render(events.New{ID: "evt_3", Type: eventtypes.OnboardingStarted, Data: []string{"not", "an", "object"}})
	assert.Error(t, err)
}

func TestEmitIsTransactionalAndIdempotent(t *testing.T) {
	t.Parallel()
	s := eventstest.New(t, eventstest.Options{})
	partner, _ := s.NewPartner(nil, nil)
	ctx := context.Background()
	id := ids.New(ids.Event)
	emit := func(data map[string]any) error {
		return s.Store.InTx(ctx, func(q *dbq.Queries) error {
			return events.Emit(ctx, q, events.New{ID: id, PartnerID: partner.ID, Type: eventtypes.OnboardingStarted,
				TenantID: "t1", SessionID: "sess_1", Data: data})
		})
	}
	require.NoError(t, emit(map[string]any{"n": 1}))
	first := s.Event(id)
	require.NoError(t, emit(map[string]any{"n": 2}), "a retried activity inserts nothing")
	again := s.Event(id)
	assert.Equal(t, first.Body, again.Body, "the first committed body is the one sent")
	assert.Equal(t, events.StatusPending, again.Status)
	assert.Equal(t, "t1", *again.TenantID)
	assert.Equal(t, "sess_1", *again.SessionID)
	assert.Nil(t, again.ConnectionID)
	assert.Equal(t, first.CreatedAt.UTC().Format(events.TimeFormat), first.CreatedAt.UTC().Format(events.TimeFormat))
	assert.Contains(t, string(first.Body), `"createdAt":"`+first.CreatedAt.UTC().Format(events.TimeFormat)+`"`,
		"the row's createdAt and the body's agree")

	// A state change that rolls back takes its event with it.
	rolledBack := ids.New(ids.Event)
	err := s.Store.InTx(ctx, func(q *dbq.Queries) error {
		if err := events.Emit(ctx, q, events.New{ID: rolledBack, PartnerID: partner.ID, Type: eventtypes.OnboardingFailed}); err != nil {
			return err
		}
		return errors.New("the state change failed")
	})
	require.Error(t, err)
	_, err = s.Store.GetEventByID(ctx, rolledBack)
	assert.Error(t, err, "no event for a rolled-back change")

	for name, bad := range map[string]events.New{
		"id":      {ID: "sess_x", PartnerID: partner.ID, Type: eventtypes.OnboardingStarted},
		"partner": {ID: ids.New(ids.Event), Type: eventtypes.OnboardingStarted},
		"type":    {ID: ids.New(ids.Event), PartnerID: partner.ID, Type: "onboarding.exploded"},
	} {
		err := s.Store.InTx(ctx, func(q *dbq.Queries) error { return events.Emit(ctx, q, bad) })
		assert.Error(t, err, name)
	}
}

// An id already stored for a different event must never swallow the second event silently
// (issue: onboarding.completed lost when a retried task took another path to the same id).
func TestEmitRefusesAnIDStoredForAnotherEvent(t *testing.T) {
	t.Parallel()
	s := eventstest.New(t, eventstest.Options{})
	partner, _ := s.NewPartner(nil, nil)
	other, _ := s.NewPartner(nil, nil)
	ctx := context.Background()
	id := ids.New(ids.Event)
	emit := func(e events.New) error {
		e.ID = id
		return s.Store.InTx(ctx, func(q *dbq.Queries) error { return events.Emit(ctx, q, e) })
	}
	started := events.New{PartnerID: partner.ID, Type: eventtypes.OnboardingStarted, TenantID: "t1", SessionID: "sess_1"}
	require.NoError(t, emit(started))
	require.NoError(t, emit(started), "the same event again is a retry")

	for name, e := range map[string]events.New{
		"another type":       {PartnerID: partner.ID, Type: eventtypes.OnboardingCompleted, TenantID: "t1", SessionID: "sess_1"},
		"another partner":    {PartnerID: other.ID, Type: eventtypes.OnboardingStarted, TenantID: "t1", SessionID: "sess_1"},
		"another session":    {PartnerID: partner.ID, Type: eventtypes.OnboardingStarted, TenantID: "t1", SessionID: "sess_2"},
		"another connection": {PartnerID: partner.ID, Type: eventtypes.OnboardingStarted, TenantID: "t1", SessionID: "sess_1", ConnectionID: "conn_1"},
	} {
		err := emit(e)
		var appErr *temporal.ApplicationError
		require.ErrorAs(t, err, &appErr, name)
		assert.Equal(t, events.ErrIDConflict, appErr.Type(), name)
		assert.True(t, appErr.NonRetryable(), name)
	}
	assert.Equal(t, eventtypes.OnboardingStarted, s.Event(id).Type, "the stored event is untouched")
}
