package e2e

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/dualhook/dualhook/db/dbq"
	"github.com/dualhook/dualhook/internal/eventtypes"
	"github.com/dualhook/dualhook/sandbox"
	"github.com/dualhook/dualhook/testkit/apitest"
	"github.com/dualhook/dualhook/testkit/stacktest"
)

// onboarded is a connection made by a real onboarding through the stack.
type onboarded struct {
	SessionID    string
	ConnectionID string
	ES           sandbox.ESSession
}

// onboard runs a whole onboarding (create, Embedded Signup at the sandbox, callback) and returns
// the connection.
func onboardConnection(t *testing.T, st *stacktest.Stack, p apitest.Partner, tenant string, extra stacktest.SessionRequest, es sandbox.ESSessionRequest) onboarded {
	t.Helper()
	if es.Scenario == "" {
		es.Scenario = "finish"
	}
	sessionID, token := st.CreateSession(p, tenant, extra)
	body, signup := st.Signup(es)
	require.Equal(t, "completed", decide(t, st.Callback(token, body)).Status)
	row := st.Session(sessionID)
	require.NotNil(t, row.ConnectionID)
	return onboarded{SessionID: sessionID, ConnectionID: *row.ConnectionID, ES: signup}
}

// connectionRow reads a connection straight from PostgreSQL.
func dbConnection(t *testing.T, st *stacktest.Stack, id string) dbq.Connection {
	t.Helper()
	c, err := st.API.Store.GetConnection(context.Background(), id)
	require.NoError(t, err)
	return c
}

// connectionEvents are the events stored for a connection of a type, oldest first.
func eventsOfConnection(t *testing.T, st *stacktest.Stack, connectionID, typ string) []dbq.Event {
	t.Helper()
	rows, err := st.API.Store.Pool.Query(context.Background(),
		"SELECT id, type, status, body FROM events WHERE connection_id = $1 AND type = $2 ORDER BY created_at, id", connectionID, typ)
	require.NoError(t, err)
	defer rows.Close()
	var out []dbq.Event
	for rows.Next() {
		var e dbq.Event
		require.NoError(t, rows.Scan(&e.ID, &e.Type, &e.Status, &e.Body))
		out = append(out, e)
	}
	require.NoError(t, rows.Err())
	return out
}

// exec runs SQL against the stack's database (to put a connection in a state the API cannot
// reach quickly, such as disconnected — another part's feature).
func execSQL(t *testing.T, st *stacktest.Stack, sql string, args ...any) {
	t.Helper()
	_, err := st.API.Store.Pool.Exec(context.Background(), sql, args...)
	require.NoError(t, err)
}

func markDisconnected(t *testing.T, st *stacktest.Stack, connectionID string) {
	t.Helper()
	execSQL(t, st, "UPDATE connections SET status = 'disconnected', disconnected_at = now(), disconnect_reason = 'api' WHERE id = $1", connectionID)
}

// received are the bodies of the events of a type the partners' receiver got.
func received(st *stacktest.Stack, typ string) []map[string]any {
	var out []map[string]any
	for _, r := range st.Events.Requests() {
		if r.Header.Get("X-Dualhook-Event") != typ {
			continue
		}
		var body map[string]any
		if json.Unmarshal(r.Body, &body) == nil {
			out = append(out, body)
		}
	}
	return out
}

// subscribeTypes makes the partner receive the given types on top of the hosted ones.
func subscribeTypes(t *testing.T, st *stacktest.Stack, p apitest.Partner, extra ...string) {
	t.Helper()
	types := append(eventtypes.Default(), extra...)
	res := st.API.Do(apitest.Request{Method: "PATCH", Path: "/api/v1/partner", Key: p.Key, Body: map[string]any{"eventTypes": types}})
	require.Equal(t, 200, res.Status, "%s", res.Body)
}

// getConnection reads a connection through the API as partner p.
func getConnection(t *testing.T, st *stacktest.Stack, p apitest.Partner, id string) map[string]any {
	t.Helper()
	res := st.API.Do(apitest.Request{Method: "GET", Path: "/api/v1/connections/" + id, Key: p.Key})
	require.Equal(t, 200, res.Status, "%s", res.Body)
	return res.Map(t)
}

// describe is the server's description of a workflow run ("" for the latest).
func describe(st *stacktest.Stack, workflowID, runID string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	d, err := st.API.Temporal.DescribeWorkflow(context.Background(), workflowID, runID)
	if err != nil {
		return nil, err
	}
	return d.RawResponse, nil
}
