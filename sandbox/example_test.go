package sandbox_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"

	"github.com/dualhook/dualhook/sandbox"
)

// Serve the sandbox, run an Embedded Signup headlessly and exchange the
// code, as an integration under test would.
func Example() {
	srv := httptest.NewUnstartedServer(nil)
	srv.Start()
	defer srv.Close()
	cfg := sandbox.DefaultConfig()
	cfg.PublicURL = srv.URL
	sb, err := sandbox.New(cfg)
	if err != nil {
		panic(err)
	}
	defer sb.Close()
	srv.Config.Handler = sb.Handler()

	client := sandbox.NewClient(srv.URL, srv.Client())
	sess, err := client.CreateESSession(context.Background(), sandbox.ESSessionRequest{Scenario: sandbox.ScenarioFinish})
	if err != nil {
		panic(err)
	}
	q := url.Values{"client_id": {cfg.AppID}, "client_secret": {cfg.AppSecret}, "code": {sess.Code}}
	resp, err := srv.Client().Get(sb.GraphBaseURL() + "/v21.0/oauth/access_token?" + q.Encode())
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(sess.MessageEvent.Event, resp.StatusCode == http.StatusOK)
	// Output: FINISH true
}
