package sandbox

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSnapshotSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "sandbox.json")
	e := newEnv(t, func(c *Config) { c.SnapshotPath = path })
	sess, tok := e.onboard(ESSessionRequest{Scenario: ScenarioFinish})
	require.Equal(t, http.StatusOK, register(e, sess.PhoneNumberID, tok, "123456").Status)
	_, err := e.client.AdvanceClock(ctx(t), 2*time.Hour)
	require.NoError(t, err)

	info, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())

	// A new process on the same snapshot.
	cfg := DefaultConfig()
	cfg.SnapshotPath = path
	sb2, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = sb2.Close() })
	srv2 := httptest.NewServer(sb2.Handler())
	t.Cleanup(srv2.Close)
	e2 := &env{t: t, sb: sb2, srv: srv2, client: NewClient(srv2.URL, srv2.Client())}

	assert.InDelta(t, (2 * time.Hour).Seconds(), sb2.Clock().Offset().Seconds(), 5, "clock offset restored")
	r := e2.graph("GET", "/v21.0/"+sess.PhoneNumberID, tok, map[string]any{"fields": "status"})
	require.Equal(t, http.StatusOK, r.Status, r.Raw)
	assert.Equal(t, "CONNECTED", r.Body["status"])
	_, sc := e2.graph("GET", "/v21.0/oauth/access_token", "", map[string]any{
		"client_id": cfg.AppID, "client_secret": cfg.AppSecret, "code": sess.Code}).errCode()
	assert.Equal(t, 36009, sc, "used codes stay used")

	require.NoError(t, os.WriteFile(path, []byte("{broken"), 0o600))
	_, err = New(cfg)
	assert.Error(t, err, "a corrupt snapshot is reported, not silently dropped")
}

func TestClockControl(t *testing.T) {
	e := newEnv(t)
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	freeze := true
	st, err := e.client.SetClock(ctx(t), ClockRequest{Set: &at, Freeze: &freeze})
	require.NoError(t, err)
	assert.True(t, st.Frozen)
	assert.True(t, st.Now.Equal(at), st.Now)
	st, err = e.client.AdvanceClock(ctx(t), 90*time.Second)
	require.NoError(t, err)
	assert.True(t, st.Now.Equal(at.Add(90*time.Second)), st.Now)

	// Codes follow the frozen clock exactly: 30 s is fine, 30 s + 1 ns is not.
	s, err := e.client.CreateESSession(ctx(t), ESSessionRequest{Scenario: ScenarioFinish})
	require.NoError(t, err)
	_, err = e.client.AdvanceClock(ctx(t), 30*time.Second)
	require.NoError(t, err)
	e.exchange(s.Code)
	s, err = e.client.CreateESSession(ctx(t), ESSessionRequest{Scenario: ScenarioFinish})
	require.NoError(t, err)
	_, err = e.client.AdvanceClock(ctx(t), 30*time.Second+time.Nanosecond)
	require.NoError(t, err)
	cfg := e.sb.Config()
	_, sc := e.graph("GET", "/v21.0/oauth/access_token", "", map[string]any{"client_id": cfg.AppID, "client_secret": cfg.AppSecret, "code": s.Code}).errCode()
	assert.Equal(t, 36007, sc)

	_, err = e.client.SetClock(ctx(t), ClockRequest{Advance: "soon"})
	var ce *ControlError
	require.ErrorAs(t, err, &ce)

	require.NoError(t, e.client.Reset(ctx(t)))
	st, err = e.client.Now(ctx(t))
	require.NoError(t, err)
	assert.False(t, st.Frozen)
	assert.InDelta(t, 0, st.OffsetSeconds, 1)
	view, err := e.client.State(ctx(t))
	require.NoError(t, err)
	assert.Empty(t, view.WABAs)
}

func TestPrefixAndIndex(t *testing.T) {
	e := newEnv(t)
	for path, want := range map[string]int{
		"/":                     404,
		"/graph/v21.0/me":       404,
		Prefix:                  200,
		Prefix + "sdk.js":       200,
		Prefix + "en_US/sdk.js": 200,
		Prefix + "demo":         200,
		Prefix + "nothing":      404,
		Prefix + "dialog/es":    400, // no origin
	} {
		resp, err := http.Get(e.srv.URL + path)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, want, resp.StatusCode, path)
	}
	assert.Equal(t, e.srv.URL+"/_sandbox/meta/graph", e.sb.GraphBaseURL())
}
