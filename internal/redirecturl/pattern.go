// Package redirecturl validates partners' redirect allow-list patterns (SPEC §4.2).
package redirecturl

import (
	"errors"
	"net/url"
	"strings"
)

// MaxPatterns bounds an allow-list; a partner needs a handful, not thousands.
const MaxPatterns = 50

// ValidatePattern checks one allow-list entry: an absolute URL prefix with scheme, host and
// optional path; no userinfo, query, fragment, backslashes or dot-segments; https only, except
// http for localhost, 127.0.0.1 and [::1] in dev mode (SPEC §12). A host may start with one
// `*.` label wildcard.
func ValidatePattern(pattern string, devMode bool) error {
	if len(pattern) > 2048 {
		return errors.New("must be at most 2048 characters")
	}
	if strings.ContainsAny(pattern, "\\ \t\r\n") {
		return errors.New("must not contain backslashes or white space")
	}
	u, err := url.Parse(pattern)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return errors.New("must be an absolute URL such as https://app.example.com/onboarding")
	}
	if u.User != nil {
		return errors.New("must not contain userinfo")
	}
	if u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(pattern, "?#") {
		return errors.New("must not contain a query or fragment")
	}
	for _, seg := range strings.Split(u.EscapedPath(), "/") {
		if s := strings.ToLower(seg); s == "." || s == ".." || s == "%2e" || s == "%2e%2e" || s == ".%2e" || s == "%2e." {
			return errors.New("must not contain dot-segments")
		}
	}
	host := u.Hostname()
	if strings.Contains(host, "*") && (!strings.HasPrefix(host, "*.") || strings.Count(host, "*") != 1 || strings.Count(host, ".") < 2) {
		return errors.New("may only use a wildcard as the first label of a host with at least two more labels, as in *.example.com")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if devMode && IsLoopbackHost(host) {
			return nil
		}
		if devMode {
			return errors.New("must use https (http is allowed only for localhost, 127.0.0.1 and [::1] in dev mode)")
		}
		return errors.New("must use https")
	default:
		return errors.New("must use https")
	}
}

// IsLoopbackHost reports the three host names dev mode relaxes (SPEC §12).
func IsLoopbackHost(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	return h == "localhost" || h == "127.0.0.1" || h == "::1" || h == "[::1]"
}
