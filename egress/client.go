package egress

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// maxResponseHeaderBytes bounds what a partner endpoint can make us buffer
// before the body is even read.
const maxResponseHeaderBytes = 64 << 10

// NewClient returns an *http.Client for partner URLs:
//   - every request URL is checked with ValidateURL first (https only,
//     no userinfo, literal hosts judged), so a caller cannot bypass the
//     scheme rule by building the request itself;
//   - every TCP connection is vetted on the resolved IP it is about to use,
//     inside net.Dialer.Control, i.e. after DNS and before connect(2): a
//     refused address never sees a packet, and DNS rebinding is useless;
//   - proxies are disabled (an HTTP_PROXY from the environment would move
//     the connection, and the check, to the proxy);
//   - redirects are never followed: the 3xx response is returned as-is and
//     callers treat it as a failure;
//   - timeout bounds the whole exchange including reading the body.
//
// Refusals surface as errors for which IsDenied is true.
func (p Policy) NewClient(timeout time.Duration) *http.Client {
	tr := &http.Transport{
		Proxy:                  nil,
		DialContext:            p.dialContext(timeout),
		ForceAttemptHTTP2:      true, // a custom DialContext otherwise disables HTTP/2
		TLSHandshakeTimeout:    timeout,
		ResponseHeaderTimeout:  timeout,
		MaxResponseHeaderBytes: maxResponseHeaderBytes,
		MaxIdleConns:           100,
		MaxIdleConnsPerHost:    4,
		IdleConnTimeout:        90 * time.Second,
		ExpectContinueTimeout:  time.Second,
	}
	if p.RootCAs != nil {
		tr.TLSClientConfig = &tls.Config{RootCAs: p.RootCAs, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{
		Transport: &guardTransport{policy: p, next: tr},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
		Timeout: timeout,
	}
}

// guardTransport runs ValidateURL on every request before the real
// transport sees it.
type guardTransport struct {
	policy Policy
	next   *http.Transport
}

func (g *guardTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL == nil {
		return nil, syntaxErr("request has no URL")
	}
	if _, err := g.policy.parse(req.URL.String()); err != nil {
		if req.Body != nil {
			_ = req.Body.Close() // RoundTripper contract: always close the body
		}
		return nil, err
	}
	return g.next.RoundTrip(req)
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the
// wrapped transport.
func (g *guardTransport) CloseIdleConnections() { g.next.CloseIdleConnections() }

// dialContext returns the transport's dialer. The dev-mode loopback
// relaxation needs the host name the request asked for, which Control (an
// IP and port) no longer knows, so it is decided here from the dial address
// and captured by the per-dial Control closure.
func (p Policy) dialContext(timeout time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		devHost := p.DevMode && isDevHost(host)
		d := &net.Dialer{
			Timeout:   timeout,
			KeepAlive: 30 * time.Second,
			Resolver:  p.Resolver,
			Control: func(network, address string, _ syscall.RawConn) error {
				return p.controlCheck(network, address, devHost)
			},
		}
		conn, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if p.allowListed(conn.RemoteAddr(), devHost) {
			return &allowListedConn{Conn: conn}, nil
		}
		return conn, nil
	}
}

// allowListed reports whether a connection went to an address that is not public and was
// reached only because of AllowCIDRs (the dev-mode loopback relaxation is not counted).
func (p Policy) allowListed(remote net.Addr, devHost bool) bool {
	ap, err := netip.ParseAddrPort(remote.String())
	if err != nil {
		return true // unknown: treat as internal
	}
	a := ap.Addr().WithZone("")
	if a.Is4In6() {
		a = a.Unmap()
	}
	category := Classify(a)
	if category == "" {
		return false
	}
	return !(p.DevMode && devHost && category == CategoryLoopback)
}

// allowListedConn marks a connection that reached a private address through AllowCIDRs.
type allowListedConn struct{ net.Conn }

// ReachedAllowListed reports whether conn (as httptrace.GotConnInfo hands it over, TLS or not)
// was opened by a Policy client to a non-public address that only AllowCIDRs let through.
// DUALHOOK_EGRESS_ALLOW_CIDRS is install-wide: every partner can aim at such an address, so
// callers must not show one partner what an internal host answered.
func ReachedAllowListed(conn net.Conn) bool {
	for conn != nil {
		switch c := conn.(type) {
		case *allowListedConn:
			return true
		case interface{ NetConn() net.Conn }:
			conn = c.NetConn()
		default:
			return false
		}
	}
	return false
}

// controlCheck is the dial-time gate: address is the literal IP:port the
// socket is about to connect to.
func (p Policy) controlCheck(network, address string, devHost bool) error {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return fmt.Errorf("egress: network %q is not allowed", network)
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("egress: unexpected dial address: %w", err)
	}
	if err := p.checkAddr(ap.Addr(), devHost); err != nil {
		return err
	}
	if p.dialGuard != nil {
		return p.dialGuard(address)
	}
	return nil
}

// IsDenied reports whether err (possibly wrapped in *url.Error and
// *net.OpError, as the HTTP client returns it) is a refusal by the address
// policy: the dial-time check, CheckResolves, or a literal address refused
// by ValidateURL.
func IsDenied(err error) bool {
	var de *DeniedError
	return errors.As(err, &de)
}

// ResolveError reports that a host name could not be resolved. Callers map
// it to endpoint_unreachable rather than to a 400: DNS may be briefly
// broken, and the URL itself is acceptable.
type ResolveError struct {
	Host string
	Err  error
}

func (e *ResolveError) Error() string {
	return fmt.Sprintf("egress: cannot resolve host %q: %v", e.Host, e.Err)
}
func (e *ResolveError) Unwrap() error { return e.Err }

// IsResolveError reports whether err is (or wraps) a *ResolveError.
func IsResolveError(err error) bool {
	var re *ResolveError
	return errors.As(err, &re)
}

// errNoAddresses is the ResolveError cause when DNS answers with nothing.
var errNoAddresses = errors.New("no addresses")

// CheckResolves validates raw and resolves its host, failing if ANY
// resolved address is refused, like a strict SSRF filter: a name that
// mixes public and private answers is either misconfigured or hostile.
// It gives the partner an early, precise 400 at configuration time; it is
// not what makes requests safe (the dial-time check is), since the answer
// may differ when the request is made.
//
// Errors: *URLError (the URL itself), *DeniedError (a resolved address),
// *ResolveError (DNS failure or an empty answer).
func (p Policy) CheckResolves(ctx context.Context, raw string) error {
	u, err := p.parse(raw)
	if err != nil {
		return err
	}
	host := u.Hostname()
	if _, err := netip.ParseAddr(host); err == nil {
		return nil // literal: parse already judged it
	}
	r := p.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	// A request already cancelled does not resolve: the resolver would race the cancellation
	// against an answer it may already have (its select picks either).
	if err := ctx.Err(); err != nil {
		return &ResolveError{Host: host, Err: err}
	}
	addrs, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return &ResolveError{Host: host, Err: err}
	}
	if len(addrs) == 0 {
		return &ResolveError{Host: host, Err: errNoAddresses}
	}
	devHost := p.DevMode && isDevHost(host)
	for _, a := range addrs {
		if err := p.checkAddr(a, devHost); err != nil {
			return err
		}
	}
	return nil
}
