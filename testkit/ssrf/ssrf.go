// Package ssrf holds the shared corpus of hostile URLs every URL field of the service must refuse
// outside dev mode (SPEC §12): loopback in all its spellings (decimal, octal, hex, short forms,
// IPv4-mapped and NAT64 IPv6), localhost names, unspecified addresses, private, link-local and
// cloud-metadata addresses, userinfo tricks and non-https schemes. It is test-only.
//
// Entries that point at loopback with a port carry the placeholder Port; Expand substitutes a
// real port (that of a listener the test runs), so a test can prove that no connection was made.
package ssrf

import (
	"strconv"
	"strings"
)

// Port is the placeholder in Corpus for the port of the test's loopback listener.
const Port = "{port}"

// Corpus is the list of hostile URLs, with Port where the URL names the test's listener port.
// Every entry is refused by the egress rules in production mode; none needs DNS.
var Corpus = []string{
	// Loopback, canonical and odd numeric forms.
	"https://127.0.0.1:" + Port + "/hook",
	"https://127.0.0.1/hook",
	"https://127.8.9.10/hook",
	"https://127.0.0.1.:" + Port + "/hook",
	"https://2130706433:" + Port + "/hook", // decimal 127.0.0.1
	"https://2130706433/hook",
	"https://0x7f000001:" + Port + "/hook", // hex, whole
	"https://0x7f.0.0.1:" + Port + "/hook", // hex, first part
	"https://0177.0.0.1:" + Port + "/hook", // octal
	"https://127.1:" + Port + "/hook",      // short form
	"https://0/hook",                       // 0.0.0.0, short form
	"https://[127.0.0.1]:" + Port + "/hook",
	"https://１２７.０.０.１:" + Port + "/hook", // fullwidth digits
	"HTTPS://127.0.0.1:" + Port + "/hook",

	// Loopback over IPv6.
	"https://[::1]:" + Port + "/hook",
	"https://[::ffff:127.0.0.1]:" + Port + "/hook",
	"https://[::ffff:7f00:1]:" + Port + "/hook",
	"https://[0:0:0:0:0:ffff:7f00:1]:" + Port + "/hook",
	"https://[64:ff9b::127.0.0.1]:" + Port + "/hook", // NAT64
	"https://[::127.0.0.1]:" + Port + "/hook",        // deprecated IPv4-compatible

	// Localhost names.
	"https://localhost:" + Port + "/hook",
	"https://LOCALHOST.:" + Port + "/hook",
	"https://LocalHost/hook",
	"https://api.localhost:" + Port + "/hook",

	// Unspecified.
	"https://0.0.0.0:" + Port + "/hook",
	"https://[::]:" + Port + "/hook",
	"https://[::ffff:0.0.0.0]:" + Port + "/hook",

	// Userinfo (credentials, and the host-confusion trick).
	"https://user:pw@127.0.0.1:" + Port + "/hook",
	"https://127.0.0.1:" + Port + "@example.com/hook",
	"https://example.com@127.0.0.1:" + Port + "/hook",
	"https://user:pass@example.com/hook",

	// Not https, or not absolute.
	"http://127.0.0.1:" + Port + "/hook",
	"http://localhost:" + Port + "/hook",
	"http://example.com/hook",
	"ftp://127.0.0.1:" + Port + "/hook",
	"gopher://127.0.0.1:" + Port + "/_hook",
	"file:///etc/passwd",
	"//127.0.0.1:" + Port + "/hook",
	"127.0.0.1:" + Port,
	"https:\\\\127.0.0.1:" + Port + "\\hook",

	// Private ranges.
	"https://10.0.0.1/hook",
	"https://10.1.1/hook", // short form of 10.1.0.1
	"https://172.16.0.1/hook",
	"https://172.31.255.254/hook",
	"https://192.168.1.1/hook",
	"https://[::ffff:10.0.0.1]/hook",
	"https://[::ffff:192.168.0.1]/hook",
	"https://[fd00::1]/hook", // ULA
	"https://010.0.0.1/hook", // leading zero: ambiguous, refused

	// Link-local and the cloud metadata address.
	"https://169.254.169.254/latest/meta-data/",
	"https://2852039166/latest/meta-data/", // decimal 169.254.169.254
	"https://[::ffff:169.254.169.254]/latest/meta-data/",
	"https://[0:0:0:0:0:ffff:a9fe:a9fe]/latest/meta-data/",
	"https://[fe80::1%25eth0]/hook",

	// CGNAT, multicast, broadcast, documentation.
	"https://100.64.0.1/hook",
	"https://224.0.0.1/hook",
	"https://255.255.255.255/hook",
	"https://192.0.2.1/hook",
}

// Expand returns Corpus with Port replaced by port.
func Expand(port int) []string {
	out := make([]string, len(Corpus))
	for i, u := range Corpus {
		out[i] = strings.ReplaceAll(u, Port, strconv.Itoa(port))
	}
	return out
}
