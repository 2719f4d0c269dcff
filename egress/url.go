package egress

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// Reasons carried by URLError. Callers map every reason to the API's 400
// invalid_webhook_url (or the field's own code); the reason is for tests,
// logs and the human message.
const (
	ReasonSyntax        = "syntax"
	ReasonScheme        = "scheme"
	ReasonUserinfo      = "userinfo"
	ReasonDeniedAddress = "denied_address"
)

// MaxURLLength bounds partner URLs. Real webhook URLs are far shorter; the
// bound keeps stored settings and log lines sane.
const MaxURLLength = 2048

// URLError is returned by ValidateURL (and by the client and CheckResolves
// when the URL itself is refused). Message is safe to show the partner: it
// never contains the URL's path or query, where partners sometimes put
// credentials, only the host when it matters.
type URLError struct {
	Reason  string
	Message string
	// Err is the underlying *DeniedError for Reason "denied_address", so
	// IsDenied recognises literal-address refusals too.
	Err error
}

func (e *URLError) Error() string { return "egress: invalid URL: " + e.Message }
func (e *URLError) Unwrap() error { return e.Err }

func syntaxErr(format string, args ...any) *URLError {
	return &URLError{Reason: ReasonSyntax, Message: fmt.Sprintf(format, args...)}
}

// target is a URL that passed the static checks, reduced to what the
// address checks need.
type target struct {
	host    string     // as written (brackets stripped), for messages and dev-host matching
	addr    netip.Addr // valid when the host is an IP literal (canonical or not)
	literal bool       // host is an IP literal in canonical form
	odd     bool       // host is a non-canonical numeric IPv4 form
	devHost bool       // host is localhost, 127.0.0.1 or ::1
}

// ValidateURL checks a partner URL without touching the network: syntax,
// scheme, userinfo, and the host when it is an IP literal (in any spelling)
// or a name reserved for loopback (localhost, *.localhost). Names are not
// resolved; see CheckResolves and NewClient for that.
func (p Policy) ValidateURL(raw string) error {
	_, err := p.parse(raw)
	return err
}

func (p Policy) parse(raw string) (*url.URL, error) {
	if len(raw) > MaxURLLength {
		return nil, syntaxErr("URL is longer than %d characters", MaxURLLength)
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse's message quotes the whole URL; say less.
		return nil, syntaxErr("not a valid absolute URL")
	}
	if u.Scheme == "" || u.Opaque != "" || u.Host == "" {
		return nil, syntaxErr("not a valid absolute URL with a host")
	}
	if u.User != nil {
		// Credentials in URLs end up in logs and confuse host parsing
		// (https://127.0.0.1@example.com): refuse them outright.
		return nil, &URLError{Reason: ReasonUserinfo, Message: "URLs with user information (user:password@) are not accepted"}
	}
	if port := u.Port(); port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return nil, syntaxErr("port must be between 1 and 65535")
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return nil, syntaxErr("empty port")
	}
	t, uerr := parseHost(u.Hostname())
	if uerr != nil {
		return nil, uerr
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !(p.DevMode && t.devHost) {
			msg := "only https URLs are accepted"
			if p.DevMode {
				msg += " (dev mode accepts http only for localhost, 127.0.0.1 and [::1])"
			}
			return nil, &URLError{Reason: ReasonScheme, Message: msg}
		}
	default:
		return nil, &URLError{Reason: ReasonScheme, Message: "only https URLs are accepted"}
	}
	if err := p.checkTarget(t); err != nil {
		return nil, err
	}
	return u, nil
}

// checkTarget applies the address policy to what can be known without DNS.
func (p Policy) checkTarget(t target) *URLError {
	switch {
	case t.odd:
		if err := p.checkAddr(t.addr, false); err != nil {
			var de *DeniedError
			errors.As(err, &de)
			return &URLError{
				Reason:  ReasonDeniedAddress,
				Message: fmt.Sprintf("host %q is a numeric form of %s, a %s address; only public addresses are allowed", t.host, de.Addr, categoryWords(de.Category)),
				Err:     err,
			}
		}
		return syntaxErr("host %q is a non-canonical numeric address; write it as %s", t.host, t.addr)
	case t.literal:
		if err := p.checkAddr(t.addr, t.devHost); err != nil {
			var de *DeniedError
			errors.As(err, &de)
			return &URLError{
				Reason:  ReasonDeniedAddress,
				Message: fmt.Sprintf("host %s is a %s address; only public addresses are allowed", t.host, categoryWords(de.Category)),
				Err:     err,
			}
		}
		if t.addr.Zone() != "" {
			// Zones only scope link-local addresses, which are refused
			// anyway; on any other address they are noise we won't store.
			return syntaxErr("IPv6 zone identifiers are not accepted")
		}
	case isLocalhostName(t.host):
		// RFC 6761: these names always mean loopback. Refuse them here so
		// the partner gets a clear 400 instead of an unreachable endpoint.
		if !(p.DevMode && t.devHost) {
			return &URLError{
				Reason:  ReasonDeniedAddress,
				Message: fmt.Sprintf("host %q always resolves to loopback; only public addresses are allowed", t.host),
				Err:     &DeniedError{Category: CategoryLoopback},
			}
		}
	}
	return nil
}

func categoryWords(c string) string {
	switch c {
	case CategoryLinkLocal:
		return "link-local"
	case CategorySharedCGNAT:
		return "shared (CGNAT)"
	}
	return c
}

func isLocalhostName(host string) bool {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	return h == "localhost" || strings.HasSuffix(h, ".localhost")
}

// parseHost classifies a URL host (brackets already stripped).
func parseHost(host string) (target, *URLError) {
	t := target{host: host, devHost: isDevHost(host)}
	if host == "" {
		return t, syntaxErr("missing host")
	}
	if strings.Contains(host, ":") {
		a, err := netip.ParseAddr(host)
		if err != nil {
			return t, syntaxErr("invalid IPv6 address in host")
		}
		t.addr, t.literal = a, true
		return t, nil
	}
	if a, err := netip.ParseAddr(host); err == nil {
		t.addr, t.literal = a, true
		return t, nil
	}
	if endsInNumber(host) {
		a, ok := parseLooseIPv4(host)
		if !ok {
			return t, syntaxErr("host %q is neither a valid IPv4 address nor a domain name", host)
		}
		t.addr, t.odd = a, true
		return t, nil
	}
	if err := checkHostname(host); err != nil {
		return t, err
	}
	return t, nil
}

// checkHostname accepts ASCII DNS names only. Non-ASCII hosts are refused
// (partners must write the xn-- form): IDNA mapping would turn, for
// example, fullwidth digits into an IP address after this check ran.
func checkHostname(host string) *URLError {
	h := strings.TrimSuffix(host, ".")
	if len(h) == 0 || len(h) > 253 {
		return syntaxErr("invalid host name length")
	}
	for _, label := range strings.Split(h, ".") {
		if len(label) == 0 || len(label) > 63 {
			return syntaxErr("invalid host name %q", host)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			switch {
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
			default:
				if c >= 0x80 {
					return syntaxErr("host names must be ASCII; use the punycode (xn--) form")
				}
				return syntaxErr("invalid character in host name")
			}
		}
	}
	return nil
}

// endsInNumber is the WHATWG URL "ends in a number" test: a host whose last
// label is numeric (decimal digits, or 0x followed by hex digits) is an IPv4
// address for browsers, and must then parse as one.
func endsInNumber(host string) bool {
	parts := strings.Split(host, ".")
	if parts[len(parts)-1] == "" {
		if len(parts) == 1 {
			return false
		}
		parts = parts[:len(parts)-1]
	}
	last := parts[len(parts)-1]
	if last != "" && strings.Trim(last, "0123456789") == "" {
		return true
	}
	if len(last) >= 2 && (last[:2] == "0x" || last[:2] == "0X") {
		return strings.Trim(last[2:], "0123456789abcdefABCDEF") == ""
	}
	return false
}

// parseLooseIPv4 implements the WHATWG/inet_aton IPv4 parser: one to four
// parts, each decimal, octal (leading 0) or hex (0x), the last part filling
// the remaining bytes, an optional trailing dot. 127.1, 2130706433,
// 0177.0.0.1 and 0x7f.0.0.1 all denote 127.0.0.1.
func parseLooseIPv4(host string) (netip.Addr, bool) {
	parts := strings.Split(host, ".")
	if len(parts) > 1 && parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
	}
	if len(parts) == 0 || len(parts) > 4 {
		return netip.Addr{}, false
	}
	nums := make([]uint64, len(parts))
	for i, part := range parts {
		n, ok := parseIPv4Number(part)
		if !ok {
			return netip.Addr{}, false
		}
		nums[i] = n
	}
	for _, n := range nums[:len(nums)-1] {
		if n > 255 {
			return netip.Addr{}, false
		}
	}
	last := nums[len(nums)-1]
	if last >= 1<<(8*(5-len(nums))) {
		return netip.Addr{}, false
	}
	v := last
	for i, n := range nums[:len(nums)-1] {
		v += n << (8 * (3 - i))
	}
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true
}

func parseIPv4Number(s string) (uint64, bool) {
	if s == "" {
		return 0, false
	}
	base := 10
	switch {
	case len(s) >= 2 && (s[:2] == "0x" || s[:2] == "0X"):
		s, base = s[2:], 16
		if s == "" {
			return 0, true // WHATWG: "0x" alone is zero
		}
	case len(s) >= 2 && s[0] == '0':
		s, base = s[1:], 8
	}
	// Bound the length so huge inputs cannot overflow; any value this long
	// exceeds 32 bits anyway and is rejected by the caller.
	if len(s) > 32 {
		return 0, false
	}
	n, err := strconv.ParseUint(s, base, 64)
	if err != nil {
		return 0, false
	}
	return n, true
}
