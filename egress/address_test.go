package egress

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestClassify(t *testing.T) {
	cases := []struct {
		addr string
		want string
	}{
		// public unicast: classified only, never dialled by tests
		{"8.8.8.8", ""},
		{"1.1.1.1", ""},
		{"93.184.216.34", ""},
		{"172.15.255.255", ""},
		{"172.32.0.0", ""},
		{"100.63.255.255", ""},
		{"100.128.0.0", ""},
		{"169.253.255.255", ""},
		{"2606:4700:4700::1111", ""},
		{"2a00:1450:4001:80b::200e", ""},
		{"64:ff9b::808:808", ""},          // NAT64 of 8.8.8.8
		{"2002:808:808::1", ""},           // 6to4 of 8.8.8.8
		{"::ffff:8.8.8.8", ""},            // IPv4-mapped public
		{"223.255.255.255", ""},           // just below multicast
		{"198.20.0.1", ""},                // just above benchmarking
		{"192.0.3.1", ""},                 // just above TEST-NET-1
		{"11.0.0.0", ""},                  // just above 10/8
		{"126.255.255.255", ""},           // just below loopback
		{"192.169.0.0", ""},               // just above 192.168/16
		{"fbff:ffff:ffff::1", "reserved"}, // outside 2000::/3

		{"127.0.0.1", CategoryLoopback},
		{"127.255.255.254", CategoryLoopback},
		{"::1", CategoryLoopback},
		{"::ffff:127.0.0.1", CategoryLoopback},
		{"::ffff:7f00:1", CategoryLoopback},
		{"64:ff9b::7f00:1", CategoryLoopback}, // NAT64 of 127.0.0.1
		{"2002:7f00:1::", CategoryLoopback},   // 6to4 of 127.0.0.1
		{"10.0.0.1", CategoryPrivate},
		{"10.255.255.255", CategoryPrivate},
		{"172.16.0.1", CategoryPrivate},
		{"172.31.255.255", CategoryPrivate},
		{"192.168.1.1", CategoryPrivate},
		{"::ffff:10.0.0.1", CategoryPrivate},
		{"::ffff:192.168.0.1", CategoryPrivate},
		{"64:ff9b::a00:1", CategoryPrivate},
		{"fc00::1", CategoryPrivate},
		{"fd12:3456::1", CategoryPrivate},
		{"fec0::1", CategoryPrivate},
		{"169.254.169.254", CategoryLinkLocal},
		{"169.254.0.1", CategoryLinkLocal},
		{"::ffff:169.254.169.254", CategoryLinkLocal},
		{"fe80::1", CategoryLinkLocal},
		{"fe80::1%eth0", CategoryLinkLocal},
		{"febf::1", CategoryLinkLocal},
		{"100.64.0.1", CategorySharedCGNAT},
		{"100.127.255.255", CategorySharedCGNAT},
		{"224.0.0.1", CategoryMulticast},
		{"239.255.255.250", CategoryMulticast},
		{"ff02::1", CategoryMulticast},
		{"::ffff:224.0.0.1", CategoryMulticast},
		{"0.0.0.0", CategoryUnspecified},
		{"::", CategoryUnspecified},
		{"::ffff:0.0.0.0", CategoryUnspecified},
		{"0.1.2.3", CategoryReserved},
		{"255.255.255.255", CategoryBroadcast},
		{"240.0.0.1", CategoryReserved},
		{"192.0.0.170", CategoryReserved},
		{"198.18.0.1", CategoryReserved},
		{"192.0.2.1", CategoryDocumentation},
		{"198.51.100.7", CategoryDocumentation},
		{"203.0.113.9", CategoryDocumentation},
		{"2001:db8::1", CategoryDocumentation},
		{"3fff::1", CategoryDocumentation},
		{"2001::1", CategoryReserved}, // Teredo
		{"100::1", CategoryReserved},
		{"64:ff9b:1::1", CategoryReserved},
		{"::127.0.0.1", CategoryReserved}, // deprecated IPv4-compatible
	}
	for _, tc := range cases {
		t.Run(tc.addr, func(t *testing.T) {
			assert.Equal(t, tc.want, Classify(netip.MustParseAddr(tc.addr)))
		})
	}
	assert.Equal(t, CategoryInvalid, Classify(netip.Addr{}))
}

func TestCheckAddrPolicy(t *testing.T) {
	allow := Policy{AllowCIDRs: []netip.Prefix{
		netip.MustParsePrefix("10.1.0.0/16"),
		netip.MustParsePrefix("127.0.0.1/32"),
		netip.MustParsePrefix("fd00::/8"),
		netip.MustParsePrefix("0.0.0.0/0"), // cannot open unspecified/multicast/broadcast
	}}
	cases := []struct {
		name   string
		policy Policy
		addr   string
		denied bool
	}{
		{"public", Policy{}, "8.8.8.8", false},
		{"private", Policy{}, "10.1.2.3", true},
		{"allowed cidr", allow, "10.1.2.3", false},
		{"allowed cidr mapped form", allow, "::ffff:10.1.2.3", false},
		{"allowed loopback host", allow, "127.0.0.1", false},
		{"allowed v6 ula", allow, "fd00::5", false},
		{"cidr does not reach unspecified", allow, "0.0.0.0", true},
		{"cidr does not reach multicast", allow, "224.0.0.1", true},
		{"cidr does not reach broadcast", allow, "255.255.255.255", true},
		// CheckAddr never applies the dev-mode loopback relaxation: that
		// depends on the host name and lives in the dialer.
		{"dev mode loopback without host", Policy{DevMode: true}, "127.0.0.1", true},
		{"dev mode private", Policy{DevMode: true}, "192.168.0.1", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.policy.CheckAddr(netip.MustParseAddr(tc.addr))
			if !tc.denied {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.True(t, IsDenied(err))
			assert.NotContains(t, err.Error(), tc.addr, "denial messages must not echo resolved addresses")
		})
	}
}

func TestCheckAddrDevHost(t *testing.T) {
	dev := Policy{DevMode: true}
	assert.NoError(t, dev.checkAddr(netip.MustParseAddr("127.0.0.1"), true))
	assert.NoError(t, dev.checkAddr(netip.MustParseAddr("::1"), true))
	// A dev host that resolves somewhere private is still refused.
	assert.Error(t, dev.checkAddr(netip.MustParseAddr("10.0.0.1"), true))
	assert.Error(t, dev.checkAddr(netip.MustParseAddr("169.254.169.254"), true))
	// Outside dev mode the host name changes nothing.
	assert.Error(t, Policy{}.checkAddr(netip.MustParseAddr("127.0.0.1"), true))
}

func TestControlCheckRefusesPrivateTargetsBeforeConnect(t *testing.T) {
	// controlCheck is what net.Dialer.Control runs, after DNS and before
	// connect(2). Exercised directly here so no socket is ever pointed at a
	// non-loopback address by the test suite.
	for _, addr := range []string{
		"10.0.0.1:443", "172.16.5.4:443", "192.168.0.10:443", "169.254.169.254:80",
		"100.64.1.1:443", "0.0.0.0:443", "[::ffff:127.0.0.1]:443", "[fd00::1]:443",
		"[fe80::1%eth0]:443", "127.0.0.1:443", "[::1]:443", "[64:ff9b::a9fe:a9fe]:80",
	} {
		t.Run(addr, func(t *testing.T) {
			err := Policy{}.controlCheck("tcp4", addr, false)
			require.Error(t, err)
			assert.True(t, IsDenied(err))
		})
	}
	assert.NoError(t, Policy{}.controlCheck("tcp4", "8.8.8.8:443", false))
	assert.NoError(t, Policy{}.controlCheck("tcp6", "[2606:4700:4700::1111]:443", false))
	assert.Error(t, Policy{}.controlCheck("udp4", "8.8.8.8:53", false), "only TCP is dialled")
}
