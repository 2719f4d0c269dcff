package api_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dualhook/dualhook/testkit/apitest"
)

// A tenantId in the path is percent-decoded exactly once: "%25" is a literal "%", and a
// decoded "%41" is not decoded again into "A".
func TestTenantPathIsDecodedOnce(t *testing.T) {
	env := apitest.New(t, false)
	p := env.NewPartner()
	for path, want := range map[string]string{
		"100%25":             "100%",
		"a%2541":             "a%41",
		"%25":                "%",
		"%2525":              "%25",
		"a%2Fb":              "a/b",
		"a%2fb%25":           "a/b%",
		"caf%C3%A9":          "café",
		"%E6%9D%B1%E4%BA%AC": "東京",
		"never%2Fseen%20x":   "never/seen x",
		"plain-tenant_1":     "plain-tenant_1",
		"%F0%9F%98%80%2525x": "😀%25x",
		"a+b":                "a+b",
	} {
		res := env.Do(apitest.Request{Method: "GET", Path: "/api/v1/tenants/" + path, Key: p.Key})
		require.Equal(t, http.StatusOK, res.Status, "%s: %s", path, res.Body)
		assert.Equal(t, want, res.Map(t)["tenantId"], path)
	}
	// A lone "%" is not a valid escape; invalid UTF-8 stays refused.
	for _, path := range []string{"a%ffb", "%C3", "a%00b", "%25%C3"} {
		res := env.Do(apitest.Request{Method: "GET", Path: "/api/v1/tenants/" + path, Key: p.Key})
		assert.Contains(t, fieldsOf(t, res), "tenantId", path)
	}
}
