// Package egress is the single gate for outbound HTTP to partner-supplied
// URLs (event deliveries, the onboarding webhook preflight, logo fetches).
//
// Partners choose these URLs, so every request is a potential SSRF: the
// package allows only https to public unicast addresses (SPEC §12). The URL
// is checked statically (ValidateURL), optionally resolved up front for a
// friendly API error (CheckResolves), and — the check that actually
// protects — every TCP connection is vetted on the IP being connected, just
// before connect(2), so a DNS answer that changes between validation and
// dialling (DNS rebinding) gains nothing. Redirects are never followed, and
// proxies from the environment are ignored, since both would let a request
// land somewhere the check never saw.
//
// Odd numeric hosts (2130706433, 0177.0.0.1, 0x7f.0.0.1, 127.1, and a
// trailing dot) are parsed the way browsers and curl parse them
// (WHATWG/inet_aton rules) and are always rejected by ValidateURL: with
// Reason "denied_address" when the address they denote is refused by the
// policy, otherwise "syntax" asking for the canonical dotted-quad. Go's own
// stack would hand such a host to DNS rather than treat it as an address,
// so accepting them could only create disagreements between components.
package egress

import (
	"crypto/x509"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// Policy decides which destinations outbound calls may reach.
//
// The zero value is the production policy: https only, public unicast
// addresses only.
type Policy struct {
	// DevMode relaxes exactly what SPEC §12 allows: for the hosts
	// localhost, 127.0.0.1 and [::1], http is accepted and loopback
	// addresses may be dialled. Nothing else changes.
	DevMode bool
	// AllowCIDRs are ranges a self-hoster explicitly trusts (for example an
	// internal receiver at 10.1.2.3/32). An allowed range overrides the
	// special-purpose table, except for unspecified, multicast and
	// broadcast addresses, which are never destinations.
	AllowCIDRs []netip.Prefix
	// Resolver resolves host names for CheckResolves and for dialling.
	// Nil means net.DefaultResolver. Tests inject a resolver whose Dial
	// answers from an in-process DNS server.
	Resolver *net.Resolver
	// RootCAs, when set, replaces the system's certificate roots for NewClient (tests trust
	// their own servers with it). Nil means the system roots.
	RootCAs *x509.CertPool

	// dialGuard, when set, runs in net.Dialer.Control after the policy
	// allowed an address. Tests use it as a safety net that refuses (and
	// reports) any connection outside loopback, so a policy bug cannot make
	// the test suite send packets to a real network.
	dialGuard func(address string) error
}

// ParseCIDRs parses a comma-separated list of CIDR prefixes from
// configuration (for example "10.0.0.0/8, fd00::/8"). A bare address is
// taken as a single-host prefix. Empty elements are skipped, so "" yields
// no prefixes.
//
// Prefixes with host bits set (10.1.2.3/8) are rejected rather than
// masked: such a value is usually a typo for a narrower range, and silently
// widening it would open more of the network than the operator meant.
// IPv4-mapped IPv6 prefixes are rejected because addresses are compared in
// their IPv4 form, so such a prefix would never match.
func ParseCIDRs(csv string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, field := range strings.Split(csv, ",") {
		field = strings.TrimSpace(field)
		if field == "" {
			continue
		}
		var pfx netip.Prefix
		if strings.Contains(field, "/") {
			p, err := netip.ParsePrefix(field)
			if err != nil {
				return nil, fmt.Errorf("egress: invalid CIDR %q: %w", field, err)
			}
			pfx = p
		} else {
			a, err := netip.ParseAddr(field)
			if err != nil {
				return nil, fmt.Errorf("egress: invalid CIDR %q: %w", field, err)
			}
			if a.Zone() != "" {
				return nil, fmt.Errorf("egress: invalid CIDR %q: zones are not allowed", field)
			}
			pfx = netip.PrefixFrom(a, a.BitLen())
		}
		if !pfx.IsValid() {
			return nil, fmt.Errorf("egress: invalid CIDR %q", field)
		}
		if pfx.Addr().Is4In6() {
			return nil, fmt.Errorf("egress: invalid CIDR %q: write IPv4-mapped ranges in IPv4 form", field)
		}
		if pfx.Masked() != pfx {
			return nil, fmt.Errorf("egress: invalid CIDR %q: host bits set (did you mean %s?)", field, pfx.Masked())
		}
		out = append(out, pfx)
	}
	return out, nil
}

// isDevHost reports whether host (as it appears in a URL or a dial address,
// brackets stripped) is one of the three dev-mode hosts of SPEC §12. The
// comparison is exact apart from case: "localhost." or "127.1" are not dev
// hosts, because the relaxation is meant to be narrow and predictable.
func isDevHost(host string) bool {
	switch strings.ToLower(host) {
	case "localhost", "127.0.0.1", "::1":
		return true
	}
	return false
}
