package api_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dualhook/dualhook/testkit/apitest"
)

func createKey(t *testing.T, env *apitest.Env, key, name string) (*apitest.Response, keyJSON) {
	t.Helper()
	res := env.Do(apitest.Request{Method: "POST", Path: "/api/v1/api-keys", Key: key, Body: map[string]any{"name": name}})
	var k keyJSON
	if res.Status == 201 {
		res.JSON(t, &k)
	}
	return res, k
}

// A partner's live keys are capped: each key has its own budgets, so unlimited keys would mean
// unlimited budgets. Keys in a rotation grace window count; revoked and expired ones do not.
func TestAPIKeysPerPartnerAreCapped(t *testing.T) {
	env := apitest.New(t, false, func(c *configT) { c.MaxAPIKeysPerPartner = 3; c.RateLimitWritePerMinute = 1000 })
	p := env.NewPartner() // its first key is live: 1 of 3
	_, k2 := createKey(t, env, p.Key, "two")
	res, k3 := createKey(t, env, p.Key, "three")
	require.Equal(t, 201, res.Status, "%s", res.Body)

	res, _ = createKey(t, env, p.Key, "four")
	assert.Equal(t, 409, res.Status, "%s", res.Body)
	assert.Equal(t, "api_key_limit_reached", res.ErrorCode())
	assert.Contains(t, res.Map(t)["error"].(map[string]any)["message"], "revoke")
	assert.NotContains(t, string(res.Body), `"key"`)

	// Rotating with a grace window keeps the old key alive beside the new one: one key too many.
	res = env.Do(apitest.Request{Method: "POST", Path: "/api/v1/api-keys/" + k2.KeyID + "/rotate", Key: p.Key})
	assert.Equal(t, 409, res.Status, "%s", res.Body)
	assert.Equal(t, "api_key_limit_reached", res.ErrorCode())
	// Without one the count does not grow.
	res = env.Do(apitest.Request{Method: "POST", Path: "/api/v1/api-keys/" + k2.KeyID + "/rotate", Key: p.Key, Body: map[string]any{"gracePeriodSeconds": 0}})
	require.Equal(t, 201, res.Status, "%s", res.Body)

	// Revoking a key frees its place.
	require.Equal(t, 200, env.Do(apitest.Request{Method: "DELETE", Path: "/api/v1/api-keys/" + k3.KeyID, Key: p.Key}).Status)
	res, _ = createKey(t, env, p.Key, "four")
	assert.Equal(t, 201, res.Status, "%s", res.Body)
	res, _ = createKey(t, env, p.Key, "five")
	assert.Equal(t, "api_key_limit_reached", res.ErrorCode())

	// Another partner has its own allowance.
	other := env.NewPartner()
	res, _ = createKey(t, env, other.Key, "two")
	assert.Equal(t, 201, res.Status, "%s", res.Body)

	// The operator CLI's service is not capped.
	_, _, err := env.PartnerService().CreateKey(t.Context(), p.Row.ID, "operator")
	assert.NoError(t, err)
}

// A key being rotated out keeps working for its grace window, but cannot mint keys that would
// outlive it: neither create nor rotate (its own rotation included).
func TestRotatedOutKeyCannotCreateOrRotateKeys(t *testing.T) {
	env := apitest.New(t, false, func(c *configT) { c.RateLimitWritePerMinute = 1000 })
	p := env.NewPartner()
	res, k := createKey(t, env, p.Key, "leaving")
	require.Equal(t, 201, res.Status, "%s", res.Body)
	res = env.Do(apitest.Request{Method: "POST", Path: "/api/v1/api-keys/" + k.KeyID + "/rotate", Key: p.Key})
	require.Equal(t, 201, res.Status, "%s", res.Body)
	var replacement keyJSON
	res.JSON(t, &replacement)

	// Still a working key...
	assert.Equal(t, 200, env.Do(apitest.Request{Method: "GET", Path: "/api/v1/partner", Key: k.Key}).Status)
	// ...that mints nothing.
	for _, req := range []apitest.Request{
		{Method: "POST", Path: "/api/v1/api-keys", Key: k.Key, Body: map[string]any{"name": "forever"}},
		{Method: "POST", Path: "/api/v1/api-keys/" + k.KeyID + "/rotate", Key: k.Key},
		{Method: "POST", Path: "/api/v1/api-keys/" + replacement.KeyID + "/rotate", Key: k.Key},
		{Method: "POST", Path: "/api/v1/api-keys/" + p.KeyID + "/rotate", Key: k.Key, Body: map[string]any{"gracePeriodSeconds": 604800}},
	} {
		res := env.Do(req)
		assert.Equal(t, 403, res.Status, "%s %s: %s", req.Method, req.Path, res.Body)
		assert.Equal(t, "forbidden", res.ErrorCode())
		assert.Contains(t, res.Map(t)["error"].(map[string]any)["message"], "rotated out")
	}
	keys := env.Do(apitest.Request{Method: "GET", Path: "/api/v1/api-keys", Key: p.Key}).Map(t)["data"].([]any)
	assert.Len(t, keys, 3, "first key, the rotated one and its replacement; nothing else")
	// The replacement can.
	res, _ = createKey(t, env, replacement.Key, "fine")
	assert.Equal(t, 201, res.Status, "%s", res.Body)
}

// Reveals have a per-partner budget on top of the per-key one: more keys do not buy more reveals.
func TestRevealBudgetIsSharedByThePartnersKeys(t *testing.T) {
	env := apitest.New(t, false, func(c *configT) { c.RateLimitRevealPerHour = 3; c.RateLimitPartnerRevealPerHour = 5 })
	p := env.NewPartner()
	other := env.NewPartner()
	conn := insertConnection(t, env, p, "reveal-budget", strconv.FormatInt(time.Now().UnixNano(), 10))
	otherConn := insertConnection(t, env, other, "reveal-budget", strconv.FormatInt(time.Now().UnixNano()+1, 10))
	now := time.Now()
	env.Clock.Advance(now.Truncate(time.Hour).Add(90 * time.Minute).Sub(now)) // mid-hour: one window
	_, k2 := createKey(t, env, p.Key, "two")
	_, k3 := createKey(t, env, p.Key, "three")
	reveal := func(key, connID string) *apitest.Response {
		return env.Do(apitest.Request{Method: "POST", Path: "/api/v1/connections/" + connID + "/reveal-secrets", Key: key,
			Body: map[string]any{"secretTypes": []string{"access_token"}}})
	}

	for i := range 3 {
		res := reveal(p.Key, conn.ID)
		require.Equal(t, 200, res.Status, "%s", res.Body)
		assert.Equal(t, "3", res.Header.Get("X-RateLimit-Limit"), "the per-key budget is the closer one")
		assert.Equal(t, strconv.Itoa(2-i), res.Header.Get("X-RateLimit-Remaining"))
	}
	assert.Equal(t, 429, reveal(p.Key, conn.ID).Status, "per-key budget spent")

	res := reveal(k2.Key, conn.ID)
	require.Equal(t, 200, res.Status, "%s", res.Body)
	res = reveal(k2.Key, conn.ID)
	require.Equal(t, 200, res.Status, "%s", res.Body)
	assert.Equal(t, "5", res.Header.Get("X-RateLimit-Limit"), "the partner budget is the closer one now")
	assert.Equal(t, "0", res.Header.Get("X-RateLimit-Remaining"))

	for _, key := range []string{k2.Key, k3.Key} {
		res = reveal(key, conn.ID)
		assert.Equal(t, 429, res.Status, "%s", res.Body)
		assert.Equal(t, "rate_limited", res.ErrorCode())
		assert.Contains(t, res.Map(t)["error"].(map[string]any)["message"], "partner")
		assert.Equal(t, "5", res.Header.Get("X-RateLimit-Limit"))
		assert.NotEmpty(t, res.Header.Get("Retry-After"))
	}
	var audits int
	require.NoError(t, env.Store.Pool.QueryRow(t.Context(), "SELECT count(*) FROM secret_reveal_audit WHERE connection_id = $1", conn.ID).Scan(&audits))
	assert.Equal(t, 5, audits, "refused reveals read nothing")

	// Another partner's budget is its own; the next hour starts afresh.
	assert.Equal(t, 200, reveal(other.Key, otherConn.ID).Status)
	env.Clock.Advance(time.Hour)
	assert.Equal(t, 200, reveal(k3.Key, conn.ID).Status)
}
