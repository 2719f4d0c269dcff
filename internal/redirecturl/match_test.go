package redirecturl

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheckMatchesTheAllowList(t *testing.T) {
	patterns := []string{"https://app.acme.test/onboarding", "https://*.tenants.acme.test/", "https://acme.test:8443/cb/"}
	ok := map[string]string{
		"https://app.acme.test/onboarding":                 "https://app.acme.test/onboarding",
		"https://APP.Acme.test/onboarding/done?x=1#f":      "https://app.acme.test/onboarding/done?x=1#f",
		"https://app.acme.test:443/onboarding/":            "https://app.acme.test/onboarding/",
		"https://t1.tenants.acme.test/anything":            "https://t1.tenants.acme.test/anything",
		"https://t1.tenants.acme.test":                     "https://t1.tenants.acme.test/",
		"https://acme.test:8443/cb/x":                      "https://acme.test:8443/cb/x",
		"https://app.acme.test/onboarding?next=%2Fevil%2F": "https://app.acme.test/onboarding?next=%2Fevil%2F",
	}
	for in, want := range ok {
		got, err := Check(in, patterns, false)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	bad := []string{
		"http://app.acme.test/onboarding",               // scheme
		"https://app.acme.test/onboardingx",             // not at a / boundary
		"https://app.acme.test/",                        // shorter than the pattern
		"https://evil.test/onboarding",                  // host
		"https://app.acme.test.evil.test/onboarding",    // suffix trick
		"https://app.acme.test@evil.test/onboarding",    // userinfo
		"https://evil.test@app.acme.test/onboarding",    // userinfo the other way
		`https://app.acme.test\@evil.test/onboarding`,   // backslash
		"https://app.acme.test/onboarding/../admin",     // dot-segment
		"https://app.acme.test/onboarding/%2e%2e/admin", // encoded dot-segment
		"https://app.acme.test/onboarding/%2E./admin",   // mixed
		"https://app.acme.test/onboarding%2f..%2fadmin", // encoded slash
		"https://app.acme.test:8443/onboarding",         // port
		"https://a.b.tenants.acme.test/",                // wildcard is one label only
		"https://tenants.acme.test/",                    // wildcard needs a label
		"https://acme.test:8443/cbx",                    // boundary with port
		"//app.acme.test/onboarding",                    // scheme-relative
		"/onboarding",                                   // relative
		"javascript:alert(1)//app.acme.test/onboarding",
		"https://app.acme.test/onboarding\n",
	}
	for _, in := range bad {
		_, err := Check(in, patterns, false)
		assert.Error(t, err, in)
	}
	_, err := Check("https://app.acme.test/onboarding", nil, false)
	assert.ErrorContains(t, err, "empty", "an empty allow-list rejects every redirect")
}

func TestDevModeAllowsHTTPLoopbackOnly(t *testing.T) {
	patterns := []string{"http://localhost:3000/", "http://app.acme.test/"}
	_, err := Check("http://localhost:3000/done", patterns, true)
	assert.NoError(t, err)
	_, err = Check("http://localhost:3000/done", patterns, false)
	assert.Error(t, err)
	_, err = Check("http://app.acme.test/done", patterns, true)
	assert.Error(t, err, "http stays refused for other hosts in dev mode")
}

func TestWithParamsKeepsExistingQuery(t *testing.T) {
	assert.Equal(t, "https://a.test/x?tab=2&sessionId=sess_1&status=completed",
		WithParams("https://a.test/x?tab=2", [][2]string{{"sessionId", "sess_1"}, {"status", "completed"}}))
	assert.Equal(t, "https://a.test/x?sessionId=sess_1&status=failed&reason=user_error#frag",
		WithParams("https://a.test/x#frag", [][2]string{{"sessionId", "sess_1"}, {"status", "failed"}, {"reason", "user_error"}}))
}
