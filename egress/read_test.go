package egress

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type closeRecorder struct {
	io.Reader
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

// endless yields 'x' forever and counts what was consumed.
type endless struct{ n int64 }

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	e.n += int64(len(p))
	return len(p), nil
}

func TestReadLimited(t *testing.T) {
	cases := []struct {
		body      string
		n         int64
		want      string
		truncated bool
	}{
		{"", 10, "", false},
		{"short", 10, "short", false},
		{"exactly10!", 10, "exactly10!", false},
		{"eleven chars", 10, "eleven cha", true},
		{"anything", 0, "", true},
		{"", 0, "", false},
		{"neg", -5, "", true},
	}
	for _, tc := range cases {
		rc := &closeRecorder{Reader: strings.NewReader(tc.body)}
		got, truncated, err := ReadLimited(rc, tc.n)
		require.NoError(t, err)
		assert.Equal(t, tc.want, string(got), tc.body)
		assert.Equal(t, tc.truncated, truncated, tc.body)
		assert.True(t, rc.closed, "closers are closed")
	}
}

func TestReadLimitedEndlessBody(t *testing.T) {
	src := &endless{}
	got, truncated, err := ReadLimited(src, 4096)
	require.NoError(t, err)
	assert.True(t, truncated)
	assert.Len(t, got, 4096)
	assert.LessOrEqual(t, src.n, int64(4096+1+drainLimit+64<<10), "draining is bounded")
}

func TestReadLimitedPropagatesErrors(t *testing.T) {
	boom := errors.New("connection reset")
	r := io.MultiReader(strings.NewReader("partial"), &failing{err: boom})
	got, truncated, err := ReadLimited(r, 100)
	assert.ErrorIs(t, err, boom)
	assert.False(t, truncated)
	assert.Equal(t, "partial", string(got))
}

type failing struct{ err error }

func (f *failing) Read([]byte) (int, error) { return 0, f.err }
