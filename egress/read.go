package egress

import (
	"io"
)

// drainLimit is how much of an over-long body ReadLimited discards after
// the limit so the keep-alive connection can be reused. Beyond that the
// body is just closed: a partner endpoint streaming without end must not
// hold a worker.
const drainLimit = 64 << 10

// ReadLimited reads at most n bytes from r and reports whether r had more
// (truncated). Partner responses are untrusted: we keep only a preview, so
// memory stays bounded whatever the endpoint sends.
//
// Afterwards it drains up to 64 KiB more (so a slightly long response does
// not cost the pooled connection) and closes r if it is an io.Closer, so
// callers may pass resp.Body and forget it (a later Close is harmless).
// On a read error it returns what was read so far with the error.
func ReadLimited(r io.Reader, n int64) ([]byte, bool, error) {
	if n < 0 {
		n = 0
	}
	if c, ok := r.(io.Closer); ok {
		defer c.Close()
	}
	// Read one byte past the limit to tell "exactly n" from "more than n".
	buf, err := io.ReadAll(io.LimitReader(r, n+1))
	truncated := int64(len(buf)) > n
	if truncated {
		buf = buf[:n]
		_, _ = io.Copy(io.Discard, io.LimitReader(r, drainLimit))
	}
	if err != nil {
		return buf, truncated, err
	}
	return buf, truncated, nil
}
