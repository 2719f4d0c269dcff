package e2e

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dualhook/dualhook/internal/config"
	"github.com/dualhook/dualhook/internal/events"
	"github.com/dualhook/dualhook/internal/partners"
	"github.com/dualhook/dualhook/sandbox"
	"github.com/dualhook/dualhook/testkit/apitest"
	"github.com/dualhook/dualhook/testkit/eventstest"
	"github.com/dualhook/dualhook/testkit/stacktest"
)

// answerBound is how long a user or an API caller may wait here. A workflow whose task waited
// for a partner's receiver would answer only after ~8 s (Temporal completes a task held by
// local activities at 80 % of its 10 s timeout), so this bound tells the two apart with room
// for a loaded machine.
const answerBound = 6 * time.Second

// holdingReceiver holds every request until release is closed (or 25 s, within the delivery
// timeout the tests set).
func holdingReceiver(t *testing.T) (*eventstest.Receiver, *atomic.Int32, chan struct{}) {
	t.Helper()
	release := make(chan struct{})
	var held atomic.Int32
	rcv := eventstest.NewReceiver(t, func(_ int, _ eventstest.Request, w http.ResponseWriter) {
		held.Add(1)
		select {
		case <-release:
		case <-time.After(25 * time.Second):
		}
		w.WriteHeader(http.StatusOK)
	})
	return rcv, &held, release
}

// A partner's receiver that holds its events does not hold the user: the callback answers with
// the redirect while the receiver still has the onboarding.completed request, and the event is
// delivered once the receiver answers.
func TestCallbackAnswersWhileThePartnersReceiverHoldsTheEvent(t *testing.T) {
	st := stacktest.New(t, stacktest.Options{Config: func(c *config.Config) { c.DeliveryTimeout = 20 * time.Second }})
	rcv, held, release := holdingReceiver(t)
	p := st.API.NewPartner(func(s *partners.Settings) {
		s.AllowedRedirectURLs = []string{st.Redirect}
		s.EventWebhookURL = &rcv.URL
	})
	sessionID, token := st.CreateSession(p, "holding-receiver", nil)
	page := st.API.Do(apitest.Request{Method: "GET", Path: "/onboard/" + token, NoCheck: true})
	require.Equal(t, 200, page.Status)
	st.WaitSession(sessionID, "started") // its onboarding.started is now held by the receiver

	body, _ := st.Signup(sandbox.ESSessionRequest{Scenario: "finish"})
	answered := make(chan *apitest.Response, 1)
	go func() { answered <- st.Callback(token, body) }()
	select {
	case res := <-answered:
		assert.Equal(t, "completed", decide(t, res).Status)
	case <-time.After(answerBound):
		close(release)
		t.Fatalf("the callback did not answer within %s while the partner's receiver held its events", answerBound)
	}
	eventstest.Eventually(t, 20*time.Second, func() bool { return held.Load() == 2 },
		"the receiver should be holding onboarding.started and onboarding.completed")
	for _, ev := range st.EventsOfSession(sessionID) {
		assert.Equal(t, events.StatusPending, ev.Status, "%s is still with the receiver", ev.Type)
	}

	close(release)
	for _, ev := range st.WaitEvents(sessionID, 2) {
		assert.Equal(t, events.StatusDelivered, ev.Status, "%s, once the receiver answered", ev.Type)
	}
	assert.Len(t, rcv.Requests(), 2, "one request per event: the two that were held")
}

// The same for an API caller: a DELETE answers while the receiver holds the events (the
// onboarding's and connection.disconnected).
func TestDisconnectAnswersWhileThePartnersReceiverHoldsTheEvent(t *testing.T) {
	st := stacktest.New(t, stacktest.Options{Config: func(c *config.Config) { c.DeliveryTimeout = 20 * time.Second }})
	rcv, held, release := holdingReceiver(t)
	defer close(release)
	p := st.API.NewPartner(func(s *partners.Settings) {
		s.AllowedRedirectURLs = []string{st.Redirect}
		s.EventWebhookURL = &rcv.URL
	})
	connID, _ := lifecycleOnboard(t, st, p, "dc-holding", sandbox.ESSessionRequest{Scenario: "finish"}, nil)

	answered := make(chan *apitest.Response, 1)
	go func() { answered <- disconnectCall(st, p.Key, connID) }()
	select {
	case res := <-answered:
		require.Equal(t, 200, res.Status, "%s", res.Body)
		assert.Equal(t, "disconnected", res.Map(t)["status"])
	case <-time.After(answerBound):
		t.Fatalf("the DELETE did not answer within %s while the partner's receiver held its events", answerBound)
	}
	// The callback implies the page was opened, so the session's onboarding.started is held too.
	eventstest.Eventually(t, 20*time.Second, func() bool { return held.Load() == 3 },
		"the receiver should be holding onboarding.started, onboarding.completed and connection.disconnected")
}
