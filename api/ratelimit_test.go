package api_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dualhook/dualhook/testkit/apitest"
)

// Two API processes (separate servers and connection pools, one database) draw on one budget.
func TestRateLimitBudgetIsSharedAcrossProcesses(t *testing.T) {
	small := func(c *configT) { c.RateLimitReadPerMinute = 5 }
	a := apitest.New(t, false, small)
	b := apitest.New(t, false, small)
	p := a.NewPartner()
	// Pin both clocks mid-window so the test cannot straddle a minute boundary.
	start := time.Now().Truncate(time.Minute).Add(10 * time.Second)
	a.Clock.Advance(time.Until(start))
	b.Clock.Advance(time.Until(start))

	for i := range 5 {
		env := a
		if i%2 == 1 {
			env = b
		}
		res := env.Do(apitest.Request{Method: "GET", Path: "/api/v1/partner", Key: p.Key})
		require.Equal(t, 200, res.Status)
		assert.Equal(t, "5", res.Header.Get("X-RateLimit-Limit"))
		assert.Equal(t, strconv.Itoa(4-i), res.Header.Get("X-RateLimit-Remaining"))
		assert.Equal(t, strconv.FormatInt(start.Truncate(time.Minute).Add(time.Minute).Unix(), 10), res.Header.Get("X-RateLimit-Reset"))
	}
	res := b.Do(apitest.Request{Method: "GET", Path: "/api/v1/partner", Key: p.Key})
	assert.Equal(t, 429, res.Status)
	assert.Equal(t, "rate_limited", res.ErrorCode())
	assert.Equal(t, "50", res.Header.Get("Retry-After"))
	assert.Equal(t, "0", res.Header.Get("X-RateLimit-Remaining"))

	// Writes have their own budget; reads being spent does not block them.
	w := a.Do(apitest.Request{Method: "POST", Path: "/api/v1/api-keys", Key: p.Key, Body: map[string]any{"name": "x"}})
	assert.Equal(t, 201, w.Status)
	assert.Equal(t, "30", w.Header.Get("X-RateLimit-Limit"))

	// The next window starts afresh.
	a.Clock.Advance(time.Minute)
	assert.Equal(t, 200, a.Do(apitest.Request{Method: "GET", Path: "/api/v1/partner", Key: p.Key}).Status)
}

// Budgets are per key: another key of the same partner has its own.
func TestRateLimitIsPerKey(t *testing.T) {
	env := apitest.New(t, false, func(c *configT) { c.RateLimitReadPerMinute = 2 })
	p := env.NewPartner()
	env.Clock.Advance(time.Until(time.Now().Truncate(time.Minute).Add(10 * time.Second)))
	res := env.Do(apitest.Request{Method: "POST", Path: "/api/v1/api-keys", Key: p.Key, Body: map[string]any{"name": "second"}})
	var k keyJSON
	res.JSON(t, &k)
	for range 2 {
		require.Equal(t, 200, env.Do(apitest.Request{Method: "GET", Path: "/api/v1/partner", Key: p.Key}).Status)
	}
	assert.Equal(t, 429, env.Do(apitest.Request{Method: "GET", Path: "/api/v1/partner", Key: p.Key}).Status)
	assert.Equal(t, 200, env.Do(apitest.Request{Method: "GET", Path: "/api/v1/partner", Key: k.Key}).Status)
}
