package egress

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestValidateURL(t *testing.T) {
	prod := Policy{}
	dev := Policy{DevMode: true}
	allow := Policy{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}}

	cases := []struct {
		name   string
		policy Policy
		url    string
		reason string // "" = accepted
	}{
		{"public https", prod, "https://example.com/hooks?x=1", ""},
		{"public https port", prod, "https://example.com:8443/hooks", ""},
		{"public ip literal", prod, "https://8.8.8.8/hooks", ""},
		{"public ipv6 literal", prod, "https://[2606:4700:4700::1111]/", ""},
		{"uppercase scheme and host", prod, "HTTPS://EXAMPLE.COM/", ""},
		{"trailing-dot name", prod, "https://example.com./", ""},
		{"underscore label", prod, "https://my_host.example.com/", ""},
		{"fragment ignored", prod, "https://example.com/a#frag", ""},

		{"http", prod, "http://example.com/", ReasonScheme},
		{"ftp", prod, "ftp://example.com/", ReasonScheme},
		{"javascript", prod, "javascript:alert(1)", ReasonSyntax},
		{"relative", prod, "/hooks", ReasonSyntax},
		{"scheme relative", prod, "//example.com/hooks", ReasonSyntax},
		{"empty", prod, "", ReasonSyntax},
		{"no host", prod, "https:///path", ReasonSyntax},
		{"bad escape", prod, "https://exa%zzmple.com/", ReasonSyntax},
		{"space in host", prod, "https://exa mple.com/", ReasonSyntax},
		{"non-ascii host", prod, "https://exämple.com/", ReasonSyntax},
		{"fullwidth digits", prod, "https://１２７.０.０.１/", ReasonSyntax},
		{"port zero", prod, "https://example.com:0/", ReasonSyntax},
		{"port too big", prod, "https://example.com:65536/", ReasonSyntax},
		{"empty port", prod, "https://example.com:/", ReasonSyntax},
		{"too long", prod, "https://example.com/" + strings.Repeat("a", MaxURLLength), ReasonSyntax},
		{"userinfo", prod, "https://user:pass@example.com/", ReasonUserinfo},
		{"userinfo confusion", prod, "https://127.0.0.1@example.com/", ReasonUserinfo},
		{"bracketed ipv4", prod, "https://[127.0.0.1]/", ReasonSyntax},
		{"out of range octet", prod, "https://1.2.3.256/", ReasonSyntax},
		{"numeric last label", prod, "https://foo.123/", ReasonSyntax},
		{"five parts", prod, "https://1.2.3.4.5/", ReasonSyntax},

		{"loopback", prod, "https://127.0.0.1/", ReasonDeniedAddress},
		{"loopback 127/8", prod, "https://127.8.9.10/", ReasonDeniedAddress},
		{"loopback v6", prod, "https://[::1]/", ReasonDeniedAddress},
		{"localhost", prod, "https://localhost/", ReasonDeniedAddress},
		{"localhost upper trailing dot", prod, "https://LOCALHOST./", ReasonDeniedAddress},
		{"sub.localhost", prod, "https://api.localhost/", ReasonDeniedAddress},
		{"10/8", prod, "https://10.0.0.1/", ReasonDeniedAddress},
		{"172.16/12", prod, "https://172.16.0.1/", ReasonDeniedAddress},
		{"172.31", prod, "https://172.31.255.254/", ReasonDeniedAddress},
		{"192.168/16", prod, "https://192.168.1.1/", ReasonDeniedAddress},
		{"metadata", prod, "https://169.254.169.254/latest/meta-data/", ReasonDeniedAddress},
		{"cgnat", prod, "https://100.64.0.1/", ReasonDeniedAddress},
		{"unspecified v4", prod, "https://0.0.0.0/", ReasonDeniedAddress},
		{"unspecified v6", prod, "https://[::]/", ReasonDeniedAddress},
		{"multicast", prod, "https://224.0.0.1/", ReasonDeniedAddress},
		{"broadcast", prod, "https://255.255.255.255/", ReasonDeniedAddress},
		{"documentation", prod, "https://192.0.2.1/", ReasonDeniedAddress},
		{"mapped loopback", prod, "https://[::ffff:127.0.0.1]/", ReasonDeniedAddress},
		{"mapped loopback hex", prod, "https://[::ffff:7f00:1]/", ReasonDeniedAddress},
		{"mapped private", prod, "https://[::ffff:10.0.0.1]/", ReasonDeniedAddress},
		{"mapped metadata", prod, "https://[0:0:0:0:0:ffff:a9fe:a9fe]/", ReasonDeniedAddress},
		{"nat64 loopback", prod, "https://[64:ff9b::127.0.0.1]/", ReasonDeniedAddress},
		{"ula", prod, "https://[fd00::1]/", ReasonDeniedAddress},
		{"link-local v6 zone", prod, "https://[fe80::1%25eth0]/", ReasonDeniedAddress},
		{"public v6 with zone", prod, "https://[2606:4700:4700::1111%25eth0]/", ReasonSyntax},

		// Odd numeric forms: parsed as browsers/curl do and refused.
		{"decimal", prod, "https://2130706433/", ReasonDeniedAddress},
		{"octal", prod, "https://0177.0.0.1/", ReasonDeniedAddress},
		{"hex", prod, "https://0x7f.0.0.1/", ReasonDeniedAddress},
		{"hex whole", prod, "https://0x7f000001/", ReasonDeniedAddress},
		{"short", prod, "https://127.1/", ReasonDeniedAddress},
		{"short three", prod, "https://10.1.1/", ReasonDeniedAddress},
		{"leading zero", prod, "https://010.0.0.1/", ReasonSyntax}, // octal: 8.0.0.1, public, so "write it canonically" — not 10.0.0.1
		{"trailing dot ip", prod, "https://127.0.0.1./", ReasonDeniedAddress},
		{"decimal metadata", prod, "https://2852039166/", ReasonDeniedAddress},
		{"zero short", prod, "https://0/", ReasonDeniedAddress},
		{"public decimal", prod, "https://134744072/", ReasonSyntax}, // 8.8.8.8, still non-canonical
		{"public hex", prod, "https://0x08.0x08.0x08.0x08/", ReasonSyntax},

		// Dev mode: http and loopback for exactly three hosts.
		{"dev localhost http", dev, "http://localhost:8080/hook", ""},
		{"dev localhost upper", dev, "http://LocalHost:8080/hook", ""},
		{"dev 127.0.0.1 http", dev, "http://127.0.0.1:8080/hook", ""},
		{"dev ::1 http", dev, "http://[::1]:8080/hook", ""},
		{"dev localhost https", dev, "https://localhost/", ""},
		{"dev public https", dev, "https://example.com/", ""},
		{"dev public http", dev, "http://example.com/", ReasonScheme},
		{"dev private http", dev, "http://10.0.0.1/", ReasonScheme},
		{"dev private https", dev, "https://10.0.0.1/", ReasonDeniedAddress},
		{"dev other loopback", dev, "https://127.0.0.2/", ReasonDeniedAddress},
		{"dev other loopback http", dev, "http://127.0.0.2/", ReasonScheme},
		{"dev mapped loopback", dev, "https://[::ffff:127.0.0.1]/", ReasonDeniedAddress},
		{"dev odd loopback", dev, "https://0177.0.0.1/", ReasonDeniedAddress},
		{"dev sub.localhost", dev, "http://api.localhost/", ReasonScheme},
		{"dev sub.localhost https", dev, "https://api.localhost/", ReasonDeniedAddress},
		{"dev localhost trailing dot", dev, "http://localhost./", ReasonScheme},
		{"dev metadata", dev, "https://169.254.169.254/", ReasonDeniedAddress},

		// Explicitly allowed ranges.
		{"allowed cidr", allow, "https://10.1.2.3/", ""},
		{"allowed cidr still https", allow, "http://10.1.2.3/", ReasonScheme},
		{"outside allowed cidr", allow, "https://10.2.0.1/", ReasonDeniedAddress},
		{"allowed cidr odd form", allow, "https://10.1.515/", ReasonSyntax}, // 10.1.2.3, allowed but non-canonical
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.policy.ValidateURL(tc.url)
			if tc.reason == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			var ue *URLError
			require.True(t, errors.As(err, &ue), "want *URLError, got %T", err)
			assert.Equal(t, tc.reason, ue.Reason, ue.Message)
			assert.NotEmpty(t, ue.Message)
			assert.Equal(t, tc.reason == ReasonDeniedAddress, IsDenied(err))
		})
	}
}

func TestValidateURLOddFormsDenote(t *testing.T) {
	// The loose parser must compute the address a browser would connect to.
	cases := map[string]string{
		"2130706433":       "127.0.0.1",
		"0177.0.0.1":       "127.0.0.1",
		"0x7f.0.0.1":       "127.0.0.1",
		"0x7F.1":           "127.0.0.1",
		"127.1":            "127.0.0.1",
		"127.0.1":          "127.0.0.1",
		"0x7f000001":       "127.0.0.1",
		"017700000001":     "127.0.0.1",
		"127.0.0.1.":       "127.0.0.1",
		"010.0.0.1":        "8.0.0.1",
		"0":                "0.0.0.0",
		"0x":               "0.0.0.0",
		"4294967295":       "255.255.255.255",
		"169.254.43518":    "169.254.169.254",
		"0xa9.0xfe.0xa9fe": "169.254.169.254",
	}
	for host, want := range cases {
		t.Run(host, func(t *testing.T) {
			require.True(t, endsInNumber(host))
			got, ok := parseLooseIPv4(host)
			require.True(t, ok)
			assert.Equal(t, want, got.String())
		})
	}
	for _, bad := range []string{"4294967296", "256.0.0.1", "1.2.3.4.5", "1..2.3", "0x1g", "09.0.0.1", "1.2.65536", ".1.2.3", "99999999999999999999999999999999999"} {
		_, ok := parseLooseIPv4(bad)
		assert.False(t, ok, bad)
	}
	for _, name := range []string{"example.com", "1.example", "0xzz", "x.0x1g", "123abc"} {
		assert.False(t, endsInNumber(name), name)
	}
}

func TestValidateURLMessagesDoNotLeakPathOrQuery(t *testing.T) {
	for _, raw := range []string{
		"http://example.com/hook?token=s3cr3t-value",
		"https://10.0.0.1/hook?token=s3cr3t-value",
		"https://user:s3cr3t-value@example.com/",
		"https://exa%zzmple.com/?token=s3cr3t-value",
	} {
		err := Policy{}.ValidateURL(raw)
		require.Error(t, err, raw)
		assert.NotContains(t, err.Error(), "s3cr3t-value")
	}
}

func TestParseCIDRs(t *testing.T) {
	got, err := ParseCIDRs(" 10.0.0.0/8, fd00::/8 ,192.168.1.7,, ::1 ")
	require.NoError(t, err)
	assert.Equal(t, []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("fd00::/8"),
		netip.MustParsePrefix("192.168.1.7/32"),
		netip.MustParsePrefix("::1/128"),
	}, got)

	got, err = ParseCIDRs("")
	require.NoError(t, err)
	assert.Empty(t, got)

	for _, bad := range []string{"10.0.0.1/8", "10.0.0.0/33", "nope", "10.0.0.0/8,bad", "::ffff:10.0.0.0/104", "fe80::1%eth0", "0177.0.0.1"} {
		_, err := ParseCIDRs(bad)
		assert.Error(t, err, bad)
	}
	_, err = ParseCIDRs("10.0.0.1/8")
	assert.ErrorContains(t, err, "10.0.0.0/8", "the error suggests the masked prefix")
}
