package redirecturl

import (
	"errors"
	"net"
	"net/url"
	"strings"
)

// Check parses and normalises a redirect URL and matches it against an allow-list (SPEC §4.2).
// It returns the normalised URL (query and fragment preserved) or a reason for the user.
//
// The checks exist because open redirects are how onboarding links get abused: userinfo
// (`https://app.example.com@evil.test`), backslashes (browsers treat `\` as `/`), and
// dot-segments, raw or percent-encoded (`/ok/%2e%2e/evil`), are refused outright instead of being
// interpreted.
func Check(raw string, patterns []string, devMode bool) (string, error) {
	u, err := parseStrict(raw)
	if err != nil {
		return "", err
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && devMode && IsLoopbackHost(u.Hostname()):
	default:
		return "", errors.New("must use https")
	}
	if len(patterns) == 0 {
		return "", errors.New("does not match the partner's allowed redirect URLs (the allow-list is empty)")
	}
	for _, p := range patterns {
		pu, err := parseStrict(p)
		if err != nil {
			continue
		}
		if matches(pu, u) {
			return u.String(), nil
		}
	}
	return "", errors.New("does not match any of the partner's allowed redirect URLs")
}

// parseStrict parses an absolute http(s) URL and normalises scheme, host, port and an empty path.
func parseStrict(raw string) (*url.URL, error) {
	if len(raw) > 2048 {
		return nil, errors.New("must be at most 2048 characters")
	}
	if strings.ContainsAny(raw, "\\") || strings.ContainsFunc(raw, func(r rune) bool { return r <= 0x20 || r == 0x7f }) {
		return nil, errors.New("must not contain backslashes, spaces or control characters")
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Opaque != "" || u.Host == "" {
		return nil, errors.New("must be an absolute URL")
	}
	if u.User != nil || strings.Contains(u.Host, "@") {
		return nil, errors.New("must not contain userinfo")
	}
	u.Scheme = strings.ToLower(u.Scheme)
	if u.Scheme != "https" && u.Scheme != "http" {
		return nil, errors.New("must use https")
	}
	host := strings.ToLower(u.Hostname())
	for _, r := range host {
		if r > 0x7e {
			return nil, errors.New("must use an ASCII (punycode) host name")
		}
	}
	port := u.Port()
	if (u.Scheme == "https" && port == "443") || (u.Scheme == "http" && port == "80") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	u.Host = host
	if port != "" {
		u.Host = net.JoinHostPort(strings.Trim(host, "[]"), port)
	}
	escaped := u.EscapedPath()
	lower := strings.ToLower(escaped)
	if strings.Contains(lower, "%2f") || strings.Contains(lower, "%5c") {
		return nil, errors.New("must not contain encoded slashes")
	}
	for _, seg := range strings.Split(escaped, "/") {
		decoded, err := url.PathUnescape(seg)
		if err != nil {
			return nil, errors.New("has an invalid percent-encoding")
		}
		if decoded == "." || decoded == ".." {
			return nil, errors.New("must not contain dot-segments")
		}
	}
	if u.Path == "" {
		u.Path, u.RawPath = "/", ""
	}
	return u, nil
}

func matches(pattern, u *url.URL) bool {
	if pattern.Scheme != u.Scheme || pattern.Port() != u.Port() {
		return false
	}
	ph, uh := pattern.Hostname(), u.Hostname()
	if rest, ok := strings.CutPrefix(ph, "*."); ok {
		label, parent, found := strings.Cut(uh, ".")
		if !found || label == "" || parent != rest {
			return false
		}
	} else if ph != uh {
		return false
	}
	pp, up := pattern.EscapedPath(), u.EscapedPath()
	if up == pp {
		return true
	}
	return strings.HasPrefix(up, strings.TrimSuffix(pp, "/")+"/")
}

// WithParams returns u with the query parameters added; existing ones are kept (SPEC §5).
func WithParams(u string, params [][2]string) string {
	parsed, err := url.Parse(u)
	if err != nil {
		return u
	}
	var extra []string
	for _, p := range params {
		extra = append(extra, url.QueryEscape(p[0])+"="+url.QueryEscape(p[1]))
	}
	if parsed.RawQuery == "" {
		parsed.RawQuery = strings.Join(extra, "&")
	} else {
		parsed.RawQuery += "&" + strings.Join(extra, "&")
	}
	return parsed.String()
}
