package metagraph

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	buc := `{"102290129340398":[{"type":"whatsapp_business_management","call_count":100,"total_cputime":25,"total_time":25,"estimated_time_to_regain_access":19}],` +
		`"2":[{"type":"whatsapp","call_count":1,"estimated_time_to_regain_access":"3"}]}`
	tests := []struct {
		name    string
		headers map[string]string
		want    time.Duration
	}{
		{"none", nil, 0},
		{"seconds", map[string]string{"Retry-After": "30"}, 30 * time.Second},
		{"http date", map[string]string{"Retry-After": now.Add(90 * time.Second).Format(http.TimeFormat)}, 90 * time.Second},
		{"date in the past", map[string]string{"Retry-After": now.Add(-time.Hour).Format(http.TimeFormat)}, 0},
		{"garbage", map[string]string{"Retry-After": "soon"}, 0},
		{"negative", map[string]string{"Retry-After": "-5"}, 0},
		{"BUC minutes, largest wins", map[string]string{"X-Business-Use-Case-Usage": buc}, 19 * time.Minute},
		{"BUC zero", map[string]string{"X-Business-Use-Case-Usage": `{"1":[{"estimated_time_to_regain_access":0}]}`}, 0},
		{"BUC absurd is ignored", map[string]string{"X-Business-Use-Case-Usage": `{"1":[{"estimated_time_to_regain_access":99999999}]}`}, 0},
		{"BUC garbage", map[string]string{"X-Business-Use-Case-Usage": `{`}, 0},
		{"both: larger wins", map[string]string{"Retry-After": "30", "X-Business-Use-Case-Usage": buc}, 19 * time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tc.headers {
				h.Set(k, v)
			}
			assert.Equal(t, tc.want, retryAfter(h, now))
		})
	}
}

func TestScrub(t *testing.T) {
	const secret = "s3cret/with spaces&="
	tests := []struct{ in, want string }{
		{"token s3cret/with spaces&= here", "token [redacted] here"},
		{"query s3cret%2Fwith+spaces%26%3D", "query [redacted]"},
		{"path s3cret%2Fwith%20spaces&=", "path [redacted]"},
		{"app token 123|s3cret/with spaces&=", "app token [redacted]"},
		{"nothing", "nothing"},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, scrub(tc.in, []string{"", secret, "123|" + secret}))
	}
}

func TestValidVersion(t *testing.T) {
	for v, ok := range map[string]bool{"v21.0": true, "v1.10": true, "v21": false, "21.0": false, "v21.0.1": false, "v.0": false, "V21.0": false, "v21.x": false} {
		assert.Equal(t, ok, validVersion(v), v)
	}
}
