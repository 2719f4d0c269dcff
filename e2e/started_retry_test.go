package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dualhook/dualhook/activities"
	"github.com/dualhook/dualhook/internal/domain"
	"github.com/dualhook/dualhook/internal/ids"
	"github.com/dualhook/dualhook/testkit/stacktest"
)

// A MarkSessionStarted retried after its first attempt committed (the worker died before the
// workflow heard) still answers that the event is stored, so the workflow delivers it; the
// chaos run found such an onboarding.started stored and never delivered.
func TestMarkSessionStartedRetriedAfterCommitStillDelivers(t *testing.T) {
	st := stacktest.New(t, stacktest.Options{})
	sessionID, _ := st.InsertSession(st.Partner, "started-retry", time.Hour, false)
	acts := &activities.Activities{Store: st.API.Store}
	ctx := context.Background()
	step := domain.SessionStep{SessionID: sessionID, EventID: ids.New(ids.Event)}

	emitted, err := acts.MarkSessionStarted(ctx, step)
	require.NoError(t, err)
	assert.True(t, emitted, "the first attempt stores the event")
	emitted, err = acts.MarkSessionStarted(ctx, step)
	require.NoError(t, err)
	assert.True(t, emitted, "a retry finds its own event: it must still be delivered")

	emitted, err = acts.MarkSessionStarted(ctx, domain.SessionStep{SessionID: sessionID, EventID: ids.New(ids.Event)})
	require.NoError(t, err)
	assert.False(t, emitted, "another run's step finds the session started and stores nothing")
	assert.Len(t, st.EventsOfSession(sessionID), 1)
}
