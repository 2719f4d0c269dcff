package activities

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"

	"github.com/dualhook/dualhook/internal/config"
)

func TestNextDelayFollowsTheSpecSchedule(t *testing.T) {
	s := config.DefaultDeliverySchedule
	want := []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour, 6 * time.Hour, 24 * time.Hour}
	for i, w := range want {
		assert.Equal(t, w, NextDelay(s, i+1, 0), "after attempt %d", i+1)
	}
	assert.Equal(t, 5*time.Minute, NextDelay(s, 2, 30*time.Second), "a shorter Retry-After does not hurry us")
	assert.Equal(t, 2*time.Hour, NextDelay(s, 2, 2*time.Hour), "a longer Retry-After is honoured")
	assert.Equal(t, 24*time.Hour, NextDelay(s, 1, 100*time.Hour), "capped at 24 h")
	assert.Len(t, s, 6, "7 attempts")
	var total time.Duration
	for _, d := range s {
		total += d
	}
	assert.Equal(t, 31*time.Hour+21*time.Minute, total, "~31 h")
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"120": 2 * time.Minute,
		" 0 ": 0,
		now.Add(90 * time.Second).Format(http.TimeFormat): 90 * time.Second,
		now.Add(-time.Hour).Format(http.TimeFormat):       0,
		"99999999999": MaxRetryAfter,
	} {
		got, ok := ParseRetryAfter(in, now)
		assert.True(t, ok, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "-1", "soon", "1.5"} {
		_, ok := ParseRetryAfter(bad, now)
		assert.False(t, ok, bad)
	}
}

func TestPreviewIsStorable(t *testing.T) {
	assert.Equal(t, "ok", Preview([]byte("ok")))
	long := Preview([]byte(strings.Repeat("é", 600)))
	assert.LessOrEqual(t, len(long), PreviewBytes)
	assert.True(t, utf8.ValidString(long))
	assert.Equal(t, 1024, len(long))
	bin := Preview([]byte{0xff, 0x00, 'a'})
	assert.True(t, utf8.ValidString(bin))
	assert.NotContains(t, bin, "\x00", "PostgreSQL text cannot hold NUL")
}

func TestSendErrorsNeverCarryTheURL(t *testing.T) {
	u := "https://h.test/hook?token=secret"
	err := &url.Error{Op: "Post", URL: u, Err: errors.New("dial tcp: connection refused")}
	assert.Equal(t, "dial tcp: connection refused", describeSendError(err, time.Second, u))
	other := fmt.Errorf("wrapped: %s failed", u)
	assert.Equal(t, "wrapped: <eventWebhookUrl> failed", describeSendError(other, time.Second, u))
}
