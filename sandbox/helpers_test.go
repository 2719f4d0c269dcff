package sandbox

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// env is one sandbox served over real HTTP.
type env struct {
	t      *testing.T
	sb     *Sandbox
	srv    *httptest.Server
	client *Client
}

func newEnv(t *testing.T, mutate ...func(*Config)) *env {
	t.Helper()
	cfg := DefaultConfig()
	for _, m := range mutate {
		m(&cfg)
	}
	srv := httptest.NewUnstartedServer(nil)
	srv.Start()
	cfg.PublicURL = srv.URL
	sb, err := New(cfg)
	require.NoError(t, err)
	srv.Config.Handler = sb.Handler()
	t.Cleanup(func() {
		srv.Close()
		_ = sb.Close()
	})
	return &env{t: t, sb: sb, srv: srv, client: NewClient(srv.URL, srv.Client())}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

// graphResp is a decoded Graph answer.
type graphResp struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

// errCode returns error.code / error_subcode (0 when absent).
func (g graphResp) errCode() (int, int) {
	e, ok := g.Body["error"].(map[string]any)
	if !ok {
		return 0, 0
	}
	code, _ := e["code"].(float64)
	sub, _ := e["error_subcode"].(float64)
	return int(code), int(sub)
}

func (g graphResp) errField(name string) any {
	e, _ := g.Body["error"].(map[string]any)
	return e[name]
}

// graph calls the sandbox's Graph API. GET params go to the query string,
// other methods send them as a JSON body (how the service will call).
func (e *env) graph(method, path, token string, params map[string]any) graphResp {
	e.t.Helper()
	u := e.srv.URL + Prefix + "graph" + path
	var body io.Reader
	if method == http.MethodGet || method == http.MethodDelete {
		q := url.Values{}
		for k, v := range params {
			q.Set(k, toString(v))
		}
		if len(q) > 0 {
			u += "?" + q.Encode()
		}
	} else if params != nil {
		b, err := json.Marshal(params)
		require.NoError(e.t, err)
		body = strings.NewReader(string(b))
	}
	req, err := http.NewRequest(method, u, body)
	require.NoError(e.t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.srv.Client().Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	out := graphResp{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	require.NoError(e.t, json.Unmarshal(raw, &out.Body), "body: %s", raw)
	return out
}

func toString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// onboard runs a headless signup and exchanges its code for the token.
func (e *env) onboard(req ESSessionRequest) (ESSession, string) {
	e.t.Helper()
	sess, err := e.client.CreateESSession(ctx(e.t), req)
	require.NoError(e.t, err)
	return sess, e.exchange(sess.Code)
}

func (e *env) exchange(code string) string {
	e.t.Helper()
	cfg := e.sb.Config()
	r := e.graph(http.MethodGet, "/v21.0/oauth/access_token", "", map[string]any{
		"client_id": cfg.AppID, "client_secret": cfg.AppSecret, "code": code,
	})
	require.Equal(e.t, http.StatusOK, r.Status, r.Raw)
	tok, _ := r.Body["access_token"].(string)
	require.True(e.t, strings.HasPrefix(tok, "EAA"), tok)
	return tok
}

// challengeServer answers Meta's verification GET; echo decides whether it
// returns the challenge. It records the verify tokens it saw.
func challengeServer(t *testing.T, echo bool) (*httptest.Server, chan url.Values) {
	t.Helper()
	seen := make(chan url.Values, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.URL.Query()
		if !echo {
			http.NotFound(w, r)
			return
		}
		_, _ = io.WriteString(w, r.URL.Query().Get("hub.challenge"))
	}))
	t.Cleanup(srv.Close)
	return srv, seen
}
