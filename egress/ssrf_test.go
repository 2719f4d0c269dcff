package egress

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dualhook/dualhook/testkit/ssrf"
)

// The shared SSRF corpus (testkit/ssrf) is refused by the URL check in production mode, by
// CheckResolves, and by the client before any dial: a loopback listener named by the entries'
// ports accepts nothing.
func TestSSRFCorpus(t *testing.T) {
	tr := newTrap(t, "tcp", "127.0.0.1:0")
	p := guarded(t, Policy{Resolver: testDNS().resolver()})
	client := p.NewClient(5 * time.Second)
	for _, raw := range ssrf.Expand(tr.port()) {
		t.Run(raw, func(t *testing.T) {
			assert.Error(t, p.ValidateURL(raw), "ValidateURL")
			assert.Error(t, p.CheckResolves(t.Context(), raw), "CheckResolves")
			req, err := http.NewRequest(http.MethodPost, raw, strings.NewReader("{}"))
			if err != nil {
				return // not even a request: nothing can be sent
			}
			resp, err := client.Do(req)
			if resp != nil {
				resp.Body.Close()
			}
			require.Error(t, err, "the client sent the request")
		})
	}
	tr.untouched(t)
}
