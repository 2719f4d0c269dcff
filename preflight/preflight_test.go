package preflight

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dualhook/dualhook/egress"
)

const token = "vt_s3cr3t+token/with=odd&chars"

// devClient reaches httptest servers on 127.0.0.1 over http, exactly the
// dev-mode relaxation; everything else in egress stays in force.
func devClient() *http.Client {
	return egress.Policy{DevMode: true}.NewClient(Timeout)
}

func server(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// meta answers like a correct receiver, after checking what Meta sends.
func meta(t *testing.T, write func(w http.ResponseWriter, challenge string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if r.Method != http.MethodGet || q.Get("hub.mode") != "subscribe" || q.Get("hub.verify_token") != token || r.UserAgent() != UserAgent {
			t.Errorf("unexpected verification request: %s mode=%q token ok=%v", r.Method, q.Get("hub.mode"), q.Get("hub.verify_token") == token)
			w.WriteHeader(http.StatusForbidden)
			return
		}
		write(w, q.Get("hub.challenge"))
	}
}

func assertNoToken(t *testing.T, res Result) {
	t.Helper()
	raw, err := json.Marshal(res)
	require.NoError(t, err)
	for _, s := range []string{string(raw), res.Detail, res.ReceivedPreview} {
		assert.NotContains(t, s, token)
		assert.NotContains(t, s, url.QueryEscape(token))
		assert.NotContains(t, s, "s3cr3t")
	}
}

func TestRun(t *testing.T) {
	long := strings.Repeat("x", 10<<10)
	cases := []struct {
		name      string
		handler   func(w http.ResponseWriter, challenge string)
		ok        bool
		category  string
		status    int
		previewRe string
	}{
		{"echo", func(w http.ResponseWriter, c string) { fmt.Fprint(w, c) }, true, "", 200, `^\d{10}$`},
		{"echo with whitespace", func(w http.ResponseWriter, c string) { fmt.Fprintf(w, "\r\n\t %s \n\n", c) }, true, "", 200, `^\d{10}$`},
		{"wrong body", func(w http.ResponseWriter, c string) { fmt.Fprint(w, "hello") }, false, CategoryChallengeMismatch, 200, `^hello$`},
		{"json wrapped", func(w http.ResponseWriter, c string) { fmt.Fprintf(w, `{"challenge":"%s"}`, c) }, false, CategoryChallengeMismatch, 200, `^\{"challenge":"\d{10}"\}$`},
		{"empty 200", func(w http.ResponseWriter, c string) {}, false, CategoryChallengeMismatch, 200, `^$`},
		{"challenge plus more", func(w http.ResponseWriter, c string) { fmt.Fprint(w, c+"0") }, false, CategoryChallengeMismatch, 200, `^\d{11}$`},
		{"500", func(w http.ResponseWriter, c string) { http.Error(w, "boom", 500) }, false, CategoryEndpointHTTPError, 500, `^boom$`},
		{"403 with challenge", func(w http.ResponseWriter, c string) { w.WriteHeader(403); fmt.Fprint(w, c) }, false, CategoryEndpointHTTPError, 403, `^\d{10}$`},
		{"201 with challenge", func(w http.ResponseWriter, c string) { w.WriteHeader(201); fmt.Fprint(w, c) }, false, CategoryEndpointHTTPError, 201, `^\d{10}$`},
		{"oversized body", func(w http.ResponseWriter, c string) { fmt.Fprint(w, long) }, false, CategoryChallengeMismatch, 200, `^x{200}$`},
		{"challenge then oversized whitespace", func(w http.ResponseWriter, c string) { fmt.Fprint(w, c+strings.Repeat(" ", 8<<10)) }, false, CategoryChallengeMismatch, 200, `^\d{10}$`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := server(t, meta(t, tc.handler))
			res := Run(context.Background(), devClient(), srv.URL+"/webhook", token)
			assert.Equal(t, tc.ok, res.OK, res.Detail)
			assert.Equal(t, tc.category, res.Category)
			require.NotNil(t, res.HTTPStatus)
			assert.Equal(t, tc.status, *res.HTTPStatus)
			assert.Regexp(t, regexp.MustCompile(tc.previewRe), res.ReceivedPreview)
			assertNoToken(t, res)
		})
	}
}

func TestRunRedirectIsNotFollowed(t *testing.T) {
	var followed atomic.Int32
	target := server(t, func(w http.ResponseWriter, r *http.Request) {
		followed.Add(1)
		fmt.Fprint(w, r.URL.Query().Get("hub.challenge"))
	})
	src := server(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/?"+r.URL.RawQuery, http.StatusFound)
	})
	// Both the egress client and a plain client that would follow
	// redirects: Run must refuse to follow either way.
	for name, client := range map[string]*http.Client{"egress": devClient(), "plain": src.Client()} {
		t.Run(name, func(t *testing.T) {
			res := Run(context.Background(), client, src.URL+"/webhook", token)
			assert.False(t, res.OK)
			assert.Equal(t, CategoryEndpointHTTPError, res.Category)
			require.NotNil(t, res.HTTPStatus)
			assert.Equal(t, http.StatusFound, *res.HTTPStatus)
			assertNoToken(t, res)
		})
	}
	assert.Zero(t, followed.Load())
}

func TestRunTimeout(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { close(release) }) // runs before srv.Close (LIFO)

	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	res := Run(ctx, devClient(), srv.URL, token)
	assert.Less(t, time.Since(start), 3*time.Second, "the caller's deadline is honoured")
	select {
	case <-entered:
	default:
		t.Fatal("the request never reached the handler: the timeout was not exercised")
	}
	assert.False(t, res.OK)
	assert.Equal(t, CategoryEndpointUnreachable, res.Category)
	assert.Nil(t, res.HTTPStatus)
	assert.Equal(t, "timeout", res.Detail)
	assertNoToken(t, res)
}

func TestRunConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	res := Run(context.Background(), devClient(), "http://"+addr+"/webhook", token)
	assert.False(t, res.OK)
	assert.Equal(t, CategoryEndpointUnreachable, res.Category)
	assert.Nil(t, res.HTTPStatus)
	assert.Contains(t, res.Detail, "refused")
	assertNoToken(t, res)
}

func TestRunDeniedAddress(t *testing.T) {
	var hits atomic.Int32
	srv := server(t, func(w http.ResponseWriter, r *http.Request) { hits.Add(1) })
	port := srv.Listener.Addr().(*net.TCPAddr).Port

	prod := egress.Policy{}.NewClient(Timeout)
	for _, raw := range []string{
		fmt.Sprintf("https://127.0.0.1:%d/webhook", port),
		fmt.Sprintf("https://[::ffff:127.0.0.1]:%d/webhook", port),
		fmt.Sprintf("https://2130706433:%d/webhook", port),
		fmt.Sprintf("http://127.0.0.1:%d/webhook", port), // http outside dev mode
	} {
		res := Run(context.Background(), prod, raw, token)
		assert.False(t, res.OK, raw)
		assert.Equal(t, CategoryEndpointUnreachable, res.Category, raw)
		assert.Nil(t, res.HTTPStatus)
		assertNoToken(t, res)
	}
	res := Run(context.Background(), prod, fmt.Sprintf("https://127.0.0.1:%d/webhook", port), token)
	assert.Contains(t, res.Detail, "denied")
	assert.Zero(t, hits.Load(), "a denied endpoint is never contacted")
}

func TestRunKeepsExistingQuery(t *testing.T) {
	var rawQuery string
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		rawQuery = r.URL.RawQuery
		fmt.Fprint(w, r.URL.Query().Get("hub.challenge"))
	})
	res := Run(context.Background(), devClient(), srv.URL+"/hook?tenant=a%2Fb&x=1&x=2#frag", token)
	require.True(t, res.OK, res.Detail)
	prefix := "tenant=a%2Fb&x=1&x=2&hub.mode=subscribe&hub.verify_token=" + url.QueryEscape(token) + "&hub.challenge="
	require.True(t, strings.HasPrefix(rawQuery, prefix), rawQuery)
	q, err := url.ParseQuery(rawQuery)
	require.NoError(t, err)
	assert.Equal(t, []string{"1", "2"}, q["x"])
	assert.Equal(t, "a/b", q.Get("tenant"))
	assert.Equal(t, token, q.Get("hub.verify_token"))
}

func TestRunEmptyQueryMarker(t *testing.T) {
	var rawQuery string
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		rawQuery = r.URL.RawQuery
		fmt.Fprint(w, r.URL.Query().Get("hub.challenge"))
	})
	res := Run(context.Background(), devClient(), srv.URL+"/hook?", token)
	require.True(t, res.OK, res.Detail)
	assert.True(t, strings.HasPrefix(rawQuery, "hub.mode=subscribe&"), rawQuery)
}

func TestRunRedactsEchoedToken(t *testing.T) {
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, "bad request: %s / %s", r.URL.RawQuery, r.URL.Query().Get("hub.verify_token"))
	})
	res := Run(context.Background(), devClient(), srv.URL, token)
	assert.Equal(t, CategoryEndpointHTTPError, res.Category)
	assert.Contains(t, res.ReceivedPreview, "[redacted]")
	assertNoToken(t, res)
}

func TestRunPreviewIsBoundedValidUTF8(t *testing.T) {
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("\xff\xfe"))
		_, _ = io.WriteString(w, strings.Repeat("é", 3000))
	})
	res := Run(context.Background(), devClient(), srv.URL, token)
	assert.Equal(t, CategoryEndpointHTTPError, res.Category)
	assert.True(t, utf8.ValidString(res.ReceivedPreview))
	assert.Equal(t, MaxPreview, utf8.RuneCountInString(res.ReceivedPreview))
	assert.True(t, strings.HasPrefix(res.ReceivedPreview, "\uFFFD"))
}

func TestRunInvalidURL(t *testing.T) {
	for _, raw := range []string{"", "not a url", "/relative", "http://[::1"} {
		res := Run(context.Background(), devClient(), raw, token)
		assert.False(t, res.OK, raw)
		assert.Equal(t, CategoryEndpointUnreachable, res.Category, raw)
		assertNoToken(t, res)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestRunEnforcesItsOwnDeadlineAndChallengeShape(t *testing.T) {
	var deadlines []time.Duration
	var challenges []string
	client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		d, ok := r.Context().Deadline()
		require.True(t, ok, "Run must put a deadline on the request")
		deadlines = append(deadlines, time.Until(d))
		c := r.URL.Query().Get("hub.challenge")
		challenges = append(challenges, c)
		return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader(c)), Header: http.Header{}}, nil
	})}
	for i := 0; i < 5; i++ {
		res := Run(context.Background(), client, "https://example.com/hook", token)
		require.True(t, res.OK)
	}
	for _, d := range deadlines {
		assert.LessOrEqual(t, d, Timeout)
		assert.Greater(t, d, Timeout-time.Second)
	}
	seen := map[string]bool{}
	for _, c := range challenges {
		assert.Regexp(t, `^[1-9]\d{9}$`, c, "Meta-shaped: 10 digits")
		var n int64
		_, err := fmt.Sscan(c, &n)
		require.NoError(t, err)
		assert.Less(t, n, int64(1)<<31, "fits a signed 32-bit integer")
		seen[c] = true
	}
	assert.Greater(t, len(seen), 1, "challenges are random")
}

// DUALHOOK_EGRESS_ALLOW_CIDRS is install-wide: any partner may aim the preflight at an address
// the operator allow-listed. What such an internal host answers is never quoted back (the
// preview travels to the partner in the 422); the category and status still say what failed.
func TestRunDoesNotPreviewAllowListedPrivateAddresses(t *testing.T) {
	const secret = "INTERNAL-ADMIN db_password=hunter2 aws_secret=AKIAXXXXXXXXXXXXXXXX"
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("ok") == "mismatch" {
			fmt.Fprint(w, secret)
			return
		}
		http.Error(w, secret, http.StatusInternalServerError)
	}))
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	policy := egress.Policy{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, RootCAs: roots}
	u, err := url.Parse(srv.URL)
	require.NoError(t, err)
	for query, category := range map[string]string{"ok=error": CategoryEndpointHTTPError, "ok=mismatch": CategoryChallengeMismatch} {
		res := Run(context.Background(), policy.NewClient(Timeout), "https://"+u.Host+"/hook?"+query, token)
		assert.False(t, res.OK)
		assert.Equal(t, category, res.Category, res.Detail)
		require.NotNil(t, res.HTTPStatus)
		assert.Empty(t, res.ReceivedPreview)
		raw, err := json.Marshal(res)
		require.NoError(t, err)
		assert.NotContains(t, string(raw), "hunter2")
		assert.NotContains(t, res.Detail, "hunter2")
	}

	// The same listener reached through the dev-mode loopback relaxation (a developer's own
	// machine) keeps its preview, as a public address does (TestRun).
	dev := egress.Policy{DevMode: true, RootCAs: roots}
	res := Run(context.Background(), dev.NewClient(Timeout), "https://127.0.0.1:"+u.Port()+"/hook?ok=error", token)
	assert.Equal(t, CategoryEndpointHTTPError, res.Category, res.Detail)
	assert.Equal(t, secret, res.ReceivedPreview)
}
