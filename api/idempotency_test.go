package api_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dualhook/dualhook/testkit/apitest"
)

func idem(key string) map[string]string { return map[string]string{"Idempotency-Key": key} }

func countKeys(t *testing.T, env *apitest.Env, partnerID string) int {
	var n int
	require.NoError(t, env.Store.Pool.QueryRow(context.Background(), "SELECT count(*) FROM api_keys WHERE partner_id = $1", partnerID).Scan(&n))
	return n
}

// The same key and body replays the stored response from either API process, and does the
// work once.
func TestIdempotentReplayAcrossProcesses(t *testing.T) {
	a, b := apitest.New(t, false), apitest.New(t, false)
	p := a.NewPartner()
	first := a.Do(apitest.Request{Method: "POST", Path: "/api/v1/api-keys", Key: p.Key, Body: `{"name":"ci","extra":1}`, Header: idem("create-ci-key")})
	require.Equal(t, 201, first.Status)
	assert.Empty(t, first.Header.Get("Idempotent-Replayed"))

	// Same JSON value, other key order and spacing, other process.
	again := b.Do(apitest.Request{Method: "POST", Path: "/api/v1/api-keys", Key: p.Key, Body: "{ \"extra\": 1, \"name\": \"ci\" }", Header: idem("create-ci-key")})
	require.Equal(t, 201, again.Status)
	assert.Equal(t, "true", again.Header.Get("Idempotent-Replayed"))
	assert.JSONEq(t, string(first.Body), string(again.Body))
	assert.Equal(t, 2, countKeys(t, a, p.Row.ID), "the partner's first key plus exactly one created")

	// The stored response is encrypted.
	var ciphertext string
	require.NoError(t, a.Store.Pool.QueryRow(context.Background(),
		"SELECT response_ciphertext FROM idempotency_records WHERE partner_id = $1", p.Row.ID).Scan(&ciphertext))
	var created keyJSON
	first.JSON(t, &created)
	assert.NotContains(t, ciphertext, created.Key)

	// Same key, different body → 422; the key is scoped by path too.
	res := b.Do(apitest.Request{Method: "POST", Path: "/api/v1/api-keys", Key: p.Key, Body: `{"name":"other"}`, Header: idem("create-ci-key")})
	assert.Equal(t, 422, res.Status)
	assert.Equal(t, "idempotency_key_collision", res.ErrorCode())
	res = b.Do(apitest.Request{Method: "PATCH", Path: "/api/v1/partner", Key: p.Key, Body: `{"displayName":"Renamed"}`, Header: idem("create-ci-key")})
	assert.Equal(t, 200, res.Status, "same key on another path is another scope")
}

// A 4xx is not stored: the key stays free for a corrected retry.
func TestFailedRequestLeavesTheKeyFree(t *testing.T) {
	env := apitest.New(t, false)
	p := env.NewPartner()
	res := env.Do(apitest.Request{Method: "POST", Path: "/api/v1/api-keys", Key: p.Key, Body: `{"name":""}`, Header: idem("k1")})
	require.Equal(t, 400, res.Status)
	res = env.Do(apitest.Request{Method: "POST", Path: "/api/v1/api-keys", Key: p.Key, Body: `{"name":"fixed"}`, Header: idem("k1")})
	assert.Equal(t, 201, res.Status)
	assert.Empty(t, res.Header.Get("Idempotent-Replayed"))
}

func TestIdempotencyKeyValidation(t *testing.T) {
	env := apitest.New(t, false)
	p := env.NewPartner()
	for _, k := range []string{strings.Repeat("k", 256), "caf\u00e9"} {
		res := env.Do(apitest.Request{Method: "POST", Path: "/api/v1/api-keys", Key: p.Key, Body: `{"name":"x"}`, Header: idem(k)})
		assert.Equal(t, "invalid_request", res.ErrorCode(), k)
	}
	assert.Equal(t, 1, countKeys(t, env, p.Row.ID))
}

// While the first request runs, a second one with the key gets 409; once its owner is presumed
// dead (the lock expired), a retry takes over and finishes the work.
func TestInProgressKeyAnswers409UntilItsLockExpires(t *testing.T) {
	env := apitest.New(t, false)
	p := env.NewPartner()
	body := `{"name":"slow"}`
	// Simulate a process that claimed the key and is still working (or crashed).
	first := env.Do(apitest.Request{Method: "POST", Path: "/api/v1/api-keys", Key: p.Key, Body: body, Header: idem("inflight")})
	require.Equal(t, 201, first.Status)
	_, err := env.Store.Pool.Exec(context.Background(), `UPDATE idempotency_records SET state = 'in_progress', response_ciphertext = NULL,
		locked_until = now() + interval '1 minute', recovery_ciphertext = NULL WHERE partner_id = $1`, p.Row.ID)
	require.NoError(t, err)

	res := env.Do(apitest.Request{Method: "POST", Path: "/api/v1/api-keys", Key: p.Key, Body: body, Header: idem("inflight")})
	assert.Equal(t, 409, res.Status)
	assert.Equal(t, "idempotency_key_in_use", res.ErrorCode())

	env.Clock.Advance(2 * time.Minute)
	res = env.Do(apitest.Request{Method: "POST", Path: "/api/v1/api-keys", Key: p.Key, Body: body, Header: idem("inflight")})
	assert.Equal(t, 201, res.Status, "the retry takes over an abandoned key")
}

// Concurrent requests with one key: exactly one does the work, the others replay or get 409.
func TestConcurrentRequestsWithOneKeyDoTheWorkOnce(t *testing.T) {
	a, b := apitest.New(t, false), apitest.New(t, false)
	p := a.NewPartner()
	var wg sync.WaitGroup
	statuses := make([]int, 8)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			env := a
			if i%2 == 0 {
				env = b
			}
			statuses[i] = env.Do(apitest.Request{Method: "POST", Path: "/api/v1/api-keys", Key: p.Key, Body: `{"name":"race"}`, Header: idem("race")}).Status
		}()
	}
	wg.Wait()
	for _, s := range statuses {
		assert.Contains(t, []int{201, 409}, s)
	}
	assert.Equal(t, 2, countKeys(t, a, p.Row.ID), "exactly one key created")
}

func TestExpiredIdempotencyKeyStartsOver(t *testing.T) {
	env := apitest.New(t, false)
	p := env.NewPartner()
	require.Equal(t, 201, env.Do(apitest.Request{Method: "POST", Path: "/api/v1/api-keys", Key: p.Key, Body: `{"name":"a"}`, Header: idem("old")}).Status)
	env.Clock.Advance(61 * time.Minute)
	res := env.Do(apitest.Request{Method: "POST", Path: "/api/v1/api-keys", Key: p.Key, Body: `{"name":"b"}`, Header: idem("old")})
	assert.Equal(t, 201, res.Status, "after its lifetime the key is free, even with another body")
	assert.Empty(t, res.Header.Get("Idempotent-Replayed"))
}
