package api_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dualhook/dualhook/internal/apikey"
	"github.com/dualhook/dualhook/testkit/apitest"
)

type keyJSON struct {
	KeyID, Name, Prefix, Status, Key string
	ExpiresAt                        *string
	RotatedKey                       *keyJSON
}

func TestAPIKeyLifecycle(t *testing.T) {
	env := apitest.New(t, false)
	p := env.NewPartner()

	res := env.Do(apitest.Request{Method: "POST", Path: "/api/v1/api-keys", Key: p.Key, Body: map[string]any{"name": "billing"}})
	require.Equal(t, 201, res.Status, "%s", res.Body)
	assert.Equal(t, "no-store", res.Header.Get("Cache-Control"))
	var k keyJSON
	res.JSON(t, &k)
	assert.True(t, apikey.WellFormed(k.Key))
	assert.Equal(t, k.Key[:12], k.Prefix)
	assert.Equal(t, 200, env.Do(apitest.Request{Method: "GET", Path: "/api/v1/partner", Key: k.Key}).Status)

	// Listings never show secrets.
	res = env.Do(apitest.Request{Method: "GET", Path: "/api/v1/api-keys", Key: p.Key})
	require.Equal(t, 200, res.Status)
	assert.NotContains(t, string(res.Body), k.Key)
	assert.NotContains(t, string(res.Body), p.Key)

	// Rotation with the default grace: the old key keeps working, and says when it stops.
	res = env.Do(apitest.Request{Method: "POST", Path: "/api/v1/api-keys/" + k.KeyID + "/rotate", Key: p.Key})
	require.Equal(t, 201, res.Status, "%s", res.Body)
	var rotated keyJSON
	res.JSON(t, &rotated)
	require.NotNil(t, rotated.RotatedKey)
	assert.Equal(t, k.KeyID, rotated.RotatedKey.KeyID)
	require.NotNil(t, rotated.RotatedKey.ExpiresAt)
	assert.Equal(t, "billing", rotated.Name)
	assert.Equal(t, 200, env.Do(apitest.Request{Method: "GET", Path: "/api/v1/partner", Key: k.Key}).Status)
	assert.Equal(t, 200, env.Do(apitest.Request{Method: "GET", Path: "/api/v1/partner", Key: rotated.Key}).Status)

	// Zero grace stops the old key at once.
	res = env.Do(apitest.Request{Method: "POST", Path: "/api/v1/api-keys/" + rotated.KeyID + "/rotate", Key: p.Key, Body: map[string]any{"gracePeriodSeconds": 0}})
	require.Equal(t, 201, res.Status)
	assert.Equal(t, 401, env.Do(apitest.Request{Method: "GET", Path: "/api/v1/partner", Key: rotated.Key}).Status)

	for _, grace := range []string{`{"gracePeriodSeconds":-1}`, `{"gracePeriodSeconds":604801}`, `{"gracePeriodSeconds":"1h"}`} {
		res = env.Do(apitest.Request{Method: "POST", Path: "/api/v1/api-keys/" + p.KeyID + "/rotate", Key: p.Key, Body: grace})
		assert.Equal(t, "invalid_request", res.ErrorCode(), grace)
	}
	res = env.Do(apitest.Request{Method: "POST", Path: "/api/v1/api-keys/" + rotated.KeyID + "/rotate", Key: p.Key})
	assert.Equal(t, "invalid_request", res.ErrorCode(), "an expired key cannot be rotated")

	// A key cannot revoke itself; revoking another is immediate and repeatable.
	res = env.Do(apitest.Request{Method: "DELETE", Path: "/api/v1/api-keys/" + p.KeyID, Key: p.Key})
	assert.Equal(t, 403, res.Status)
	assert.Equal(t, "forbidden", res.ErrorCode())
	for range 2 {
		res = env.Do(apitest.Request{Method: "DELETE", Path: "/api/v1/api-keys/" + k.KeyID, Key: p.Key})
		require.Equal(t, 200, res.Status)
		var revoked keyJSON
		res.JSON(t, &revoked)
		assert.Equal(t, "revoked", revoked.Status)
	}
	assert.Equal(t, 401, env.Do(apitest.Request{Method: "GET", Path: "/api/v1/partner", Key: k.Key}).Status)

	for _, body := range []string{`{}`, `{"name":""}`, `{"name":"` + string(make([]byte, 0)) + `a\u0000b"}`} {
		res = env.Do(apitest.Request{Method: "POST", Path: "/api/v1/api-keys", Key: p.Key, Body: body})
		assert.Equal(t, "invalid_request", res.ErrorCode(), body)
	}
}

// Another partner's key id is indistinguishable from an absent one (SPEC §1).
func TestOtherPartnersKeysAreNotFound(t *testing.T) {
	env := apitest.New(t, false)
	a, b := env.NewPartner(), env.NewPartner()
	for _, req := range []apitest.Request{
		{Method: "DELETE", Path: "/api/v1/api-keys/" + b.KeyID, Key: a.Key},
		{Method: "POST", Path: "/api/v1/api-keys/" + b.KeyID + "/rotate", Key: a.Key},
	} {
		res := env.Do(req)
		assert.Equal(t, 404, res.Status)
		assert.Equal(t, "not_found", res.ErrorCode())
	}
	assert.Equal(t, 200, env.Do(apitest.Request{Method: "GET", Path: "/api/v1/partner", Key: b.Key}).Status, "b's key is untouched")
}

func TestKeyListPaginatesNewestFirstWithoutGapsOrRepeats(t *testing.T) {
	env := apitest.New(t, false, func(c *configT) { c.RateLimitWritePerMinute = 1000; c.RateLimitReadPerMinute = 1000 })
	p := env.NewPartner()
	want := []string{p.KeyID}
	for i := range 7 {
		res := env.Do(apitest.Request{Method: "POST", Path: "/api/v1/api-keys", Key: p.Key, Body: map[string]any{"name": fmt.Sprintf("k%d", i)}})
		require.Equal(t, 201, res.Status)
		var k keyJSON
		res.JSON(t, &k)
		want = append([]string{k.KeyID}, want...)
	}
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 10)
		path := "/api/v1/api-keys?limit=3"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		res := env.Do(apitest.Request{Method: "GET", Path: path, Key: p.Key})
		require.Equal(t, 200, res.Status)
		var page struct {
			Data       []keyJSON
			NextCursor *string
		}
		res.JSON(t, &page)
		assert.LessOrEqual(t, len(page.Data), 3)
		for _, k := range page.Data {
			got = append(got, k.KeyID)
		}
		if page.NextCursor == nil {
			break
		}
		cursor = *page.NextCursor
		// A key created mid-listing is newer than the cursor and must not appear in later pages.
		if pages == 0 {
			env.Do(apitest.Request{Method: "POST", Path: "/api/v1/api-keys", Key: p.Key, Body: map[string]any{"name": "late"}})
		}
	}
	assert.Equal(t, want, got)
}

// gracePeriodSeconds is bounded before it becomes a duration: a value whose nanoseconds overflow
// int64 must not wrap to a negative (accepted) grace.
func TestRotateGracePeriodOutOfRangeIsRefused(t *testing.T) {
	env := apitest.New(t, false)
	p := env.NewPartner()
	for _, g := range []string{"9223372037", "604801", "-1", "9223372036854775807", "18446744073709551615"} {
		res := env.Do(apitest.Request{Method: "POST", Path: "/api/v1/api-keys/" + p.KeyID + "/rotate", Key: p.Key,
			Body: `{"gracePeriodSeconds":` + g + `}`})
		assert.Contains(t, fieldsOf(t, res), "gracePeriodSeconds", g)
	}
	// The key was never rotated: it has no expiry.
	res := env.Do(apitest.Request{Method: "GET", Path: "/api/v1/api-keys", Key: p.Key})
	require.Equal(t, http.StatusOK, res.Status)
	for _, k := range res.Map(t)["data"].([]any) {
		assert.Nil(t, k.(map[string]any)["expiresAt"], "%v", k)
	}
}
