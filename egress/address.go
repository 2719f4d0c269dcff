package egress

import (
	"fmt"
	"net/netip"
)

// Address categories reported by Classify and carried by DeniedError. They
// name why an address is not a public unicast destination; operators read
// them in logs, so they are stable, lowercase words.
const (
	CategoryUnspecified   = "unspecified"
	CategoryLoopback      = "loopback"
	CategoryPrivate       = "private"
	CategoryLinkLocal     = "link_local"
	CategorySharedCGNAT   = "cgnat"
	CategoryMulticast     = "multicast"
	CategoryBroadcast     = "broadcast"
	CategoryDocumentation = "documentation"
	CategoryReserved      = "reserved"
	CategoryInvalid       = "invalid"
)

type specialRange struct {
	prefix   netip.Prefix
	category string
}

// v4Special lists the IPv4 ranges that are not public unicast destinations
// (IANA IPv4 Special-Purpose Address Registry, plus multicast and class E).
// Order matters only where ranges nest: the more specific entry comes first
// so the reported category is the most telling one (broadcast before 240/4).
var v4Special = []specialRange{
	{netip.MustParsePrefix("0.0.0.0/32"), CategoryUnspecified},
	{netip.MustParsePrefix("0.0.0.0/8"), CategoryReserved}, // "this network": Linux dials 0.x as the local host
	{netip.MustParsePrefix("10.0.0.0/8"), CategoryPrivate},
	{netip.MustParsePrefix("100.64.0.0/10"), CategorySharedCGNAT},
	{netip.MustParsePrefix("127.0.0.0/8"), CategoryLoopback},
	{netip.MustParsePrefix("169.254.0.0/16"), CategoryLinkLocal}, // cloud metadata lives at 169.254.169.254
	{netip.MustParsePrefix("172.16.0.0/12"), CategoryPrivate},
	{netip.MustParsePrefix("192.0.0.0/24"), CategoryReserved}, // IETF protocol assignments (DS-Lite, NAT64 discovery)
	{netip.MustParsePrefix("192.0.2.0/24"), CategoryDocumentation},
	{netip.MustParsePrefix("192.88.99.0/24"), CategoryReserved}, // deprecated 6to4 relay anycast
	{netip.MustParsePrefix("192.168.0.0/16"), CategoryPrivate},
	{netip.MustParsePrefix("198.18.0.0/15"), CategoryReserved}, // benchmarking; often used for internal lab networks
	{netip.MustParsePrefix("198.51.100.0/24"), CategoryDocumentation},
	{netip.MustParsePrefix("203.0.113.0/24"), CategoryDocumentation},
	{netip.MustParsePrefix("224.0.0.0/4"), CategoryMulticast},
	{netip.MustParsePrefix("255.255.255.255/32"), CategoryBroadcast},
	{netip.MustParsePrefix("240.0.0.0/4"), CategoryReserved},
}

// v6Special lists the IPv6 ranges refused outright. Forms that embed an IPv4
// address which a translator would reach (IPv4-mapped, NAT64 64:ff9b::/96,
// 6to4 2002::/16) are not here: Classify unwraps them and judges the IPv4
// address instead, so ::ffff:127.0.0.1 is loopback and 64:ff9b::808:808 is
// as public as 8.8.8.8.
var v6Special = []specialRange{
	{netip.MustParsePrefix("::/128"), CategoryUnspecified},
	{netip.MustParsePrefix("::1/128"), CategoryLoopback},
	{netip.MustParsePrefix("64:ff9b:1::/48"), CategoryReserved}, // local-use NAT64: embedding depends on the operator's prefix length
	{netip.MustParsePrefix("100::/64"), CategoryReserved},       // discard-only
	{netip.MustParsePrefix("2001:db8::/32"), CategoryDocumentation},
	{netip.MustParsePrefix("2001::/23"), CategoryReserved}, // IETF protocol assignments incl. Teredo, which embeds an obfuscated IPv4
	{netip.MustParsePrefix("3fff::/20"), CategoryDocumentation},
	{netip.MustParsePrefix("5f00::/16"), CategoryReserved}, // SRv6 SIDs
	{netip.MustParsePrefix("fc00::/7"), CategoryPrivate},   // unique local
	{netip.MustParsePrefix("fe80::/10"), CategoryLinkLocal},
	{netip.MustParsePrefix("fec0::/10"), CategoryPrivate}, // deprecated site-local
	{netip.MustParsePrefix("ff00::/8"), CategoryMulticast},
}

var (
	nat64WellKnown = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour      = netip.MustParsePrefix("2002::/16")
	globalUnicast6 = netip.MustParsePrefix("2000::/3")
)

// Classify returns the category of a when it is not a public unicast
// address, or "" when it is. It knows nothing of policy (dev mode,
// AllowCIDRs): it is the fixed table the policy starts from. Zones are
// ignored, and IPv6 forms that carry an IPv4 address are judged by that
// IPv4 address.
func Classify(a netip.Addr) string {
	if !a.IsValid() {
		return CategoryInvalid
	}
	a = a.WithZone("")
	if a.Is4In6() {
		a = a.Unmap()
	}
	if a.Is4() {
		for _, r := range v4Special {
			if r.prefix.Contains(a) {
				return r.category
			}
		}
		return ""
	}
	if nat64WellKnown.Contains(a) {
		b := a.As16()
		return Classify(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
	}
	if sixToFour.Contains(a) {
		b := a.As16()
		return Classify(netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}))
	}
	for _, r := range v6Special {
		if r.prefix.Contains(a) {
			return r.category
		}
	}
	// Only 2000::/3 is allocated for global unicast; everything else
	// (including the deprecated IPv4-compatible ::/96) is reserved.
	if !globalUnicast6.Contains(a) {
		return CategoryReserved
	}
	return ""
}

// DeniedError reports that the policy refused an address. It is returned
// by the dial-time check (wrapped in *net.OpError and *url.Error by the HTTP
// client), by CheckResolves, and wrapped by a *URLError for literal hosts.
//
// The message names the category but not the address: the error may reach
// the partner who supplied the URL, and echoing what an internal name
// resolves to would turn the API into a map of the operator's network. The
// address is kept in Addr for the operator's logs.
type DeniedError struct {
	Addr     netip.Addr
	Category string
}

func (e *DeniedError) Error() string {
	return fmt.Sprintf("egress: destination address is not allowed (%s)", e.Category)
}

// alwaysDenied are categories an AllowCIDRs entry cannot open: they are not
// unicast destinations at all, and connecting to 0.0.0.0 reaches the local
// host on Linux, which an operator allowing "0.0.0.0/0" would not expect.
func alwaysDenied(category string) bool {
	switch category {
	case CategoryUnspecified, CategoryMulticast, CategoryBroadcast, CategoryInvalid:
		return true
	}
	return false
}

// CheckAddr returns a *DeniedError when the policy refuses a connection to
// a, or nil. It applies AllowCIDRs but not the dev-mode loopback relaxation,
// which depends on the host name the caller asked for (see NewClient).
func (p Policy) CheckAddr(a netip.Addr) error {
	return p.checkAddr(a, false)
}

// checkAddr is CheckAddr with the dev-mode relaxation: devHost says the
// address came from one of the dev hosts (localhost, 127.0.0.1, [::1]), in
// which case loopback is allowed when the policy is in dev mode.
func (p Policy) checkAddr(a netip.Addr, devHost bool) error {
	a = a.WithZone("")
	if a.Is4In6() {
		a = a.Unmap()
	}
	category := Classify(a)
	if category == "" {
		return nil
	}
	if alwaysDenied(category) {
		return &DeniedError{Addr: a, Category: category}
	}
	if p.DevMode && devHost && category == CategoryLoopback {
		return nil
	}
	for _, pfx := range p.AllowCIDRs {
		if pfx.Contains(a) {
			return nil
		}
	}
	return &DeniedError{Addr: a, Category: category}
}
