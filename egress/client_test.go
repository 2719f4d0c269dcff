package egress

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// guarded installs the test safety net: any connection the policy lets
// through to a non-loopback address is refused (and fails the test) before
// connect(2). This machine's tests must never send traffic off 127/8 and
// ::1, even if the policy under test is broken.
func guarded(t *testing.T, p Policy) Policy {
	t.Helper()
	p.dialGuard = func(address string) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil || !ap.Addr().Unmap().IsLoopback() {
			t.Errorf("policy allowed a dial to %s: refused by the test guard", address)
			return errors.New("test guard: non-loopback dial")
		}
		return nil
	}
	return p
}

// trap is a TCP listener that must never be reached. untouched proves it:
// it connects a sentinel and checks that the sentinel is the FIRST
// connection accepted. The kernel completes handshakes and queues them in
// order before Accept, so any earlier connection (from the request under
// test, which has already returned) would be accepted before the sentinel.
type trap struct {
	ln       net.Listener
	accepted chan net.Conn
}

func newTrap(t *testing.T, network, addr string) *trap {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	tr := &trap{ln: ln, accepted: make(chan net.Conn, 16)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(tr.accepted)
				return
			}
			tr.accepted <- c
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		for c := range tr.accepted {
			c.Close()
		}
	})
	return tr
}

func (tr *trap) port() int { return tr.ln.Addr().(*net.TCPAddr).Port }

func (tr *trap) untouched(t *testing.T) {
	t.Helper()
	sentinel, err := net.Dial(tr.ln.Addr().Network(), tr.ln.Addr().String())
	require.NoError(t, err)
	defer sentinel.Close()
	select {
	case c := <-tr.accepted:
		require.Equal(t, sentinel.LocalAddr().String(), c.RemoteAddr().String(),
			"the trap accepted a connection before the sentinel: a refused request reached it")
		c.Close()
	case <-time.After(10 * time.Second):
		t.Fatal("sentinel connection was never accepted")
	}
	select {
	case c, ok := <-tr.accepted:
		if ok {
			c.Close()
			t.Fatal("unexpected extra connection on the trap")
		}
	default:
	}
}

func requireDenied(t *testing.T, err error) {
	t.Helper()
	require.Error(t, err)
	assert.True(t, IsDenied(err), "want a policy denial, got %v", err)
	var ue *url.Error
	assert.True(t, errors.As(err, &ue), "client errors come wrapped in *url.Error")
}

func testDNS() *fakeDNS {
	return newFakeDNS(map[string][]string{
		"localhost":      {"127.0.0.1"},
		"rebind.test":    {"127.0.0.1"},
		"loopback6.test": {"::1"},
		"mapped.test":    {"::ffff:127.0.0.1"},
		"internal.test":  {"10.0.0.5"},
		"metadata.test":  {"169.254.169.254"},
		"mixed.test":     {"93.184.216.34", "10.0.0.5"},
		"public.test":    {"93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"},
		"svc.test":       {"127.0.0.1"},
	})
}

func TestClientRefusesLoopbackNameAtDialTime(t *testing.T) {
	tr := newTrap(t, "tcp", "127.0.0.1:0")
	dns := testDNS()
	for _, p := range []Policy{{}, {DevMode: true}} {
		p.Resolver = dns.resolver()
		client := guarded(t, p).NewClient(5 * time.Second)
		for _, host := range []string{"rebind.test", "mapped.test"} {
			t.Run(fmt.Sprintf("dev=%v/%s", p.DevMode, host), func(t *testing.T) {
				// The URL passes static validation (it is a name); only the
				// dial-time check on the resolved address can stop it.
				rawURL := fmt.Sprintf("https://%s:%d/hook", host, tr.port())
				require.NoError(t, p.ValidateURL(rawURL))
				resp, err := client.Get(rawURL)
				if resp != nil {
					resp.Body.Close()
				}
				requireDenied(t, err)
				tr.untouched(t)
			})
		}
	}
	assert.Positive(t, dns.lookups("rebind.test"), "the name was really resolved")
}

func TestDialerRefusesLoopbackLiteralBeforeConnect(t *testing.T) {
	// Bypass the URL check and call the transport's dialer directly: the
	// Control hook alone must stop the connection.
	dial := guarded(t, Policy{}).dialContext(5 * time.Second)
	t.Run("v4", func(t *testing.T) {
		tr := newTrap(t, "tcp", "127.0.0.1:0")
		c, err := dial(context.Background(), "tcp", tr.ln.Addr().String())
		if c != nil {
			c.Close()
		}
		require.Error(t, err)
		assert.True(t, IsDenied(err))
		var de *DeniedError
		require.ErrorAs(t, err, &de)
		assert.Equal(t, CategoryLoopback, de.Category)
		tr.untouched(t)
	})
	t.Run("v6", func(t *testing.T) {
		tr := newTrap(t, "tcp6", "[::1]:0")
		c, err := dial(context.Background(), "tcp", tr.ln.Addr().String())
		if c != nil {
			c.Close()
		}
		require.Error(t, err)
		assert.True(t, IsDenied(err))
		tr.untouched(t)
	})
	t.Run("v6 name", func(t *testing.T) {
		tr := newTrap(t, "tcp6", "[::1]:0")
		p := guarded(t, Policy{Resolver: testDNS().resolver()})
		c, err := p.dialContext(5*time.Second)(context.Background(), "tcp", fmt.Sprintf("loopback6.test:%d", tr.port()))
		if c != nil {
			c.Close()
		}
		require.Error(t, err)
		assert.True(t, IsDenied(err))
		tr.untouched(t)
	})
}

func TestClientRefusesPrivateNames(t *testing.T) {
	// Names resolving to private or metadata addresses: the Control hook
	// refuses before connect(2). The guard would fail the test (and still
	// block the connect) if the policy ever let one through.
	p := guarded(t, Policy{Resolver: testDNS().resolver()})
	client := p.NewClient(5 * time.Second)
	// (mixed.test is covered by CheckResolves: its public answer would be
	// dialled first, which this machine's tests must not do.)
	for _, host := range []string{"internal.test", "metadata.test"} {
		t.Run(host, func(t *testing.T) {
			resp, err := client.Get("https://" + host + "/hook")
			if resp != nil {
				resp.Body.Close()
			}
			requireDenied(t, err)
		})
	}
}

func TestClientDNSRebinding(t *testing.T) {
	tr := newTrap(t, "tcp", "127.0.0.1:0")
	dns := testDNS()
	// First answer public (what a validator sees), then loopback (what a
	// naive client would connect to).
	dns.answer = func(name string, n int) []netip.Addr {
		if name != "rebind.test" {
			return nil
		}
		if n <= 1 {
			return []netip.Addr{netip.MustParseAddr("93.184.216.34")}
		}
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	}
	p := guarded(t, Policy{Resolver: dns.resolver()})
	rawURL := fmt.Sprintf("https://rebind.test:%d/hook", tr.port())
	require.NoError(t, p.CheckResolves(context.Background(), rawURL), "validation-time answer is public")

	resp, err := p.NewClient(5 * time.Second).Get(rawURL)
	if resp != nil {
		resp.Body.Close()
	}
	requireDenied(t, err)
	assert.GreaterOrEqual(t, dns.lookups("rebind.test"), 2, "the dial resolved the name again")
	tr.untouched(t)
}

func TestClientRefusesBeforeDialling(t *testing.T) {
	// Requests the URL check refuses never reach the dialer at all.
	tr := newTrap(t, "tcp", "127.0.0.1:0")
	client := guarded(t, Policy{Resolver: testDNS().resolver()}).NewClient(5 * time.Second)
	for _, raw := range []string{
		fmt.Sprintf("http://rebind.test:%d/", tr.port()), // http outside dev mode
		fmt.Sprintf("https://127.0.0.1:%d/", tr.port()),
		fmt.Sprintf("https://localhost:%d/", tr.port()),
		fmt.Sprintf("https://0177.0.0.1:%d/", tr.port()),
		fmt.Sprintf("https://2130706433:%d/", tr.port()),
		fmt.Sprintf("https://0x7f.0.0.1:%d/", tr.port()),
		fmt.Sprintf("https://127.1:%d/", tr.port()),
		fmt.Sprintf("https://[::ffff:127.0.0.1]:%d/", tr.port()),
		fmt.Sprintf("https://user:pw@rebind.test:%d/", tr.port()),
	} {
		t.Run(raw, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, raw, strings.NewReader("{}"))
			require.NoError(t, err)
			resp, err := client.Do(req)
			if resp != nil {
				resp.Body.Close()
			}
			require.Error(t, err)
			var ue *URLError
			require.ErrorAs(t, err, &ue)
			tr.untouched(t)
		})
	}
}

func TestClientDevMode(t *testing.T) {
	var hits atomic.Int32
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		fmt.Fprint(w, "ok")
	})
	srv := httptest.NewServer(handler)
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port

	dev := guarded(t, Policy{DevMode: true, Resolver: testDNS().resolver()})
	client := dev.NewClient(5 * time.Second)
	// get answers the status code (0 when refused) and closes the body itself.
	get := func(raw string) (int, error) {
		resp, err := client.Get(raw)
		if err != nil {
			return 0, err
		}
		_, _, _ = ReadLimited(resp.Body, 1024)
		_ = resp.Body.Close()
		return resp.StatusCode, nil
	}

	for _, host := range []string{"127.0.0.1", "localhost", "LOCALHOST"} {
		status, err := get(fmt.Sprintf("http://%s:%d/hook", host, port))
		require.NoError(t, err, host)
		assert.Equal(t, http.StatusOK, status)
	}
	assert.EqualValues(t, 3, hits.Load())

	t.Run("ipv6 loopback", func(t *testing.T) {
		ln, err := net.Listen("tcp6", "[::1]:0")
		if err != nil {
			t.Skipf("no IPv6 loopback: %v", err)
		}
		srv6 := httptest.NewUnstartedServer(handler)
		srv6.Listener.Close()
		srv6.Listener = ln
		srv6.Start()
		defer srv6.Close()
		status, err := get(fmt.Sprintf("http://[::1]:%d/hook", ln.Addr().(*net.TCPAddr).Port))
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, status)
	})

	// Everything else stays as in production.
	before := hits.Load()
	for _, raw := range []string{
		fmt.Sprintf("http://127.0.0.2:%d/", port),          // another loopback address: not a dev host
		fmt.Sprintf("http://svc.test:%d/", port),           // a name resolving to loopback
		fmt.Sprintf("https://svc.test:%d/", port),          // same over https: refused at dial time
		fmt.Sprintf("http://0177.0.0.1:%d/", port),         // odd form of 127.0.0.1
		fmt.Sprintf("http://[::ffff:127.0.0.1]:%d/", port), // mapped form
		"http://10.0.0.1/",
		"https://10.0.0.1/",
		"http://example.com/",
	} {
		status, err := get(raw)
		require.Error(t, err, raw)
		assert.Zero(t, status)
	}
	assert.Equal(t, before, hits.Load(), "no refused request reached the server")
}

func TestClientNeverFollowsRedirects(t *testing.T) {
	var targetHits atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		targetHits.Add(1)
	}))
	defer target.Close()

	for name, location := range map[string]string{
		"to private":  "http://10.0.0.1/internal",
		"to metadata": "http://169.254.169.254/latest/meta-data/",
		"to loopback": target.URL + "/followed",
		"relative":    "/followed",
	} {
		t.Run(name, func(t *testing.T) {
			src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, location, http.StatusFound)
			}))
			defer src.Close()
			client := guarded(t, Policy{DevMode: true}).NewClient(5 * time.Second)
			resp, err := client.Get(src.URL + "/hook")
			require.NoError(t, err)
			defer resp.Body.Close()
			assert.Equal(t, http.StatusFound, resp.StatusCode, "the 3xx is returned as-is")
			assert.Equal(t, location, resp.Header.Get("Location"))
		})
	}
	assert.Zero(t, targetHits.Load(), "redirect target was never requested")
}

func TestClientAllowCIDRs(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hello")
	}))
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	serverTLS := srv.Client().Transport.(*http.Transport).TLSClientConfig

	newClient := func(p Policy, serverName string) *http.Client {
		c := guarded(t, p).NewClient(5 * time.Second)
		cfg := serverTLS.Clone()
		cfg.ServerName = serverName // httptest's certificate covers 127.0.0.1 and example.com
		c.Transport.(*guardTransport).next.TLSClientConfig = cfg
		return c
	}
	dns := testDNS()

	t.Run("allowed literal", func(t *testing.T) {
		p := Policy{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, Resolver: dns.resolver()}
		resp, err := newClient(p, "").Get(fmt.Sprintf("https://127.0.0.1:%d/", port))
		require.NoError(t, err)
		defer resp.Body.Close()
		body, truncated, err := ReadLimited(resp.Body, 100)
		require.NoError(t, err)
		assert.False(t, truncated)
		assert.Equal(t, "hello", string(body))
	})
	t.Run("allowed name", func(t *testing.T) {
		p := Policy{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Resolver: dns.resolver()}
		resp, err := newClient(p, "example.com").Get(fmt.Sprintf("https://svc.test:%d/", port))
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode)
	})
	t.Run("other range does not open loopback", func(t *testing.T) {
		tr := newTrap(t, "tcp", "127.0.0.1:0")
		p := Policy{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, Resolver: dns.resolver()}
		resp, err := newClient(p, "example.com").Get(fmt.Sprintf("https://svc.test:%d/", tr.port()))
		if resp != nil {
			resp.Body.Close()
		}
		requireDenied(t, err)
		tr.untouched(t)
	})
	t.Run("still https only", func(t *testing.T) {
		p := Policy{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
		resp, err := newClient(p, "").Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
		if resp != nil {
			resp.Body.Close()
		}
		var ue *URLError
		require.ErrorAs(t, err, &ue)
		assert.Equal(t, ReasonScheme, ue.Reason)
	})
}

func TestClientTimeoutAndSettings(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)

	client := guarded(t, Policy{DevMode: true}).NewClient(200 * time.Millisecond)
	assert.Equal(t, 200*time.Millisecond, client.Timeout)
	tr := client.Transport.(*guardTransport).next
	assert.Nil(t, tr.Proxy, "environment proxies must not be used")
	assert.NotNil(t, client.CheckRedirect)

	start := time.Now()
	resp, err := client.Get(srv.URL)
	if resp != nil {
		resp.Body.Close()
	}
	require.Error(t, err)
	assert.False(t, IsDenied(err))
	var ue *url.Error
	require.ErrorAs(t, err, &ue)
	assert.True(t, ue.Timeout())
	assert.Less(t, time.Since(start), 5*time.Second)
}

func TestClientTLSFailureIsNotDenied(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	p := guarded(t, Policy{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	resp, err := p.NewClient(5 * time.Second).Get(srv.URL) // self-signed: not trusted
	if resp != nil {
		resp.Body.Close()
	}
	require.Error(t, err)
	assert.False(t, IsDenied(err))
	var certErr *tls.CertificateVerificationError
	assert.ErrorAs(t, err, &certErr)
}

func TestCheckResolves(t *testing.T) {
	dns := testDNS()
	prod := Policy{Resolver: dns.resolver()}
	dev := Policy{DevMode: true, Resolver: dns.resolver()}
	allow := Policy{Resolver: dns.resolver(), AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	ctx := context.Background()

	assert.NoError(t, prod.CheckResolves(ctx, "https://public.test/hook"))
	assert.NoError(t, prod.CheckResolves(ctx, "https://8.8.8.8/hook"), "literal: no DNS needed")
	assert.NoError(t, dev.CheckResolves(ctx, "http://localhost:8080/hook"))
	assert.NoError(t, allow.CheckResolves(ctx, "https://internal.test/hook"))

	for name, tc := range map[string]struct {
		p   Policy
		url string
	}{
		"private":         {prod, "https://internal.test/"},
		"metadata":        {prod, "https://metadata.test/"},
		"any denied":      {prod, "https://mixed.test/"},
		"loopback":        {prod, "https://rebind.test/"},
		"mapped loopback": {prod, "https://mapped.test/"},
		"v6 loopback":     {prod, "https://loopback6.test/"},
		"dev other name":  {dev, "https://rebind.test/"},
	} {
		t.Run(name, func(t *testing.T) {
			err := tc.p.CheckResolves(ctx, tc.url)
			require.Error(t, err)
			var de *DeniedError
			require.ErrorAs(t, err, &de)
			assert.True(t, IsDenied(err))
			assert.False(t, IsResolveError(err))
		})
	}

	t.Run("nxdomain", func(t *testing.T) {
		err := prod.CheckResolves(ctx, "https://missing.test/")
		require.Error(t, err)
		assert.True(t, IsResolveError(err))
		assert.False(t, IsDenied(err))
	})
	t.Run("url errors come first", func(t *testing.T) {
		err := prod.CheckResolves(ctx, "http://public.test/")
		var ue *URLError
		require.ErrorAs(t, err, &ue)
		assert.Equal(t, ReasonScheme, ue.Reason)
		err = prod.CheckResolves(ctx, "https://10.0.0.1/")
		require.ErrorAs(t, err, &ue)
		assert.True(t, IsDenied(err))
	})
	t.Run("context", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		err := prod.CheckResolves(cctx, "https://public.test/")
		assert.True(t, IsResolveError(err))
	})
}
