package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// verifyCallback performs Meta's webhook verification handshake against an
// override URL: GET <url>?hub.mode=subscribe&hub.challenge=<n>&hub.verify_token=<t>.
// Only HTTP 200 whose body is exactly the challenge passes; anything else is
// Graph error 2200, with the detail strings Meta is seen to use.
func (s *Sandbox) verifyCallback(ctx context.Context, rawURL, verifyToken string) *GraphError {
	challenge := newDigits(10)
	if challenge[0] == '0' {
		challenge = "1" + challenge[1:]
	}
	if forced := s.faults.nextOverrideFailure(); forced != "" {
		s.log.Info("override verification failed by fault knob", "mode", forced)
		return errCallbackVerification(forcedVerificationDetail(forced, challenge))
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return errParam("Invalid callback URI format")
	}
	q := u.Query()
	q.Set("hub.mode", "subscribe")
	q.Set("hub.challenge", challenge)
	q.Set("hub.verify_token", verifyToken)
	u.RawQuery = q.Encode()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return errParam("Invalid callback URI format")
	}
	req.Header.Set("User-Agent", "facebookplatform/1.0 (+http://developers.facebook.com)")
	resp, err := s.http.Do(req)
	if err != nil {
		s.log.Info("override verification failed", "url", rawURL, "error", err)
		return errCallbackVerification(curlDetail(err))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return errCallbackVerification(fmt.Sprintf("HTTP Status Code = %d; HTTP Message = %s",
			resp.StatusCode, http.StatusText(resp.StatusCode)))
	}
	if string(body) != challenge {
		got := string(body)
		if len(got) > 100 {
			got = got[:100]
		}
		return errCallbackVerification(fmt.Sprintf(
			"HTTP Status Code = 200; HTTP Message = OK; Response does not match challenge, expected value=\"%s\", received=\"%s\"",
			challenge, got))
	}
	return nil
}

// curlDetail renders transport errors the way Meta's (curl based) verifier
// reports them.
func curlDetail(err error) string {
	var nerr net.Error
	switch {
	case errors.As(err, &nerr) && nerr.Timeout(), errors.Is(err, context.DeadlineExceeded):
		return "curl_errno = 28; curl_error = Operation timed out after 5000 milliseconds with 0 bytes received; HTTP Status Code = 0; HTTP Message = "
	case strings.Contains(err.Error(), "connection refused"):
		return "curl_errno = 7; curl_error = Failed to connect: Connection refused; HTTP Status Code = 0; HTTP Message = "
	case strings.Contains(err.Error(), "no such host"):
		return "curl_errno = 6; curl_error = Could not resolve host; HTTP Status Code = 0; HTTP Message = "
	default:
		return "curl_errno = 56; curl_error = Failure when receiving data from the peer; HTTP Status Code = 0; HTTP Message = "
	}
}

func forcedVerificationDetail(mode, challenge string) string {
	switch mode {
	case VerifyFailHTTP500:
		return "HTTP Status Code = 500; HTTP Message = Internal Server Error"
	case VerifyFailWrongChallenge:
		return fmt.Sprintf("HTTP Status Code = 200; HTTP Message = OK; Response does not match challenge, expected value=\"%s\", received=\"\"", challenge)
	case VerifyFailTimeout:
		return curlDetail(context.DeadlineExceeded)
	case VerifyFailRefused:
		return curlDetail(errors.New("connection refused"))
	default:
		return "HTTP Status Code = 404; HTTP Message = Not Found"
	}
}
