package redirecturl

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestValidatePattern(t *testing.T) {
	ok := []struct {
		pattern string
		dev     bool
	}{
		{"https://app.example.com", false},
		{"https://app.example.com/onboarding/", false},
		{"https://*.example.com/done", false},
		{"https://app.example.com:8443/x", false},
		{"http://localhost:3000/cb", true},
		{"http://127.0.0.1/cb", true},
		{"http://[::1]:9000", true},
	}
	for _, tc := range ok {
		assert.NoError(t, ValidatePattern(tc.pattern, tc.dev), tc.pattern)
	}
	bad := []struct {
		pattern string
		dev     bool
	}{
		{"", false},
		{"app.example.com", false},
		{"/relative", false},
		{"http://app.example.com", false},
		{"http://app.example.com", true},
		{"http://localhost:3000", false},
		{"ftp://example.com", false},
		{"javascript:alert(1)", false},
		{"https://user:pw@example.com", false},
		{"https://example.com/a?x=1", false},
		{"https://example.com/a#frag", false},
		{"https://example.com/a/../b", false},
		{"https://example.com/a/%2e%2e/b", false},
		{`https://example.com\@evil.com`, false},
		{"https://*.com", false},
		{"https://a.*.example.com", false},
		{"https://**.example.com", false},
	}
	for _, tc := range bad {
		assert.Error(t, ValidatePattern(tc.pattern, tc.dev), tc.pattern)
	}
}
