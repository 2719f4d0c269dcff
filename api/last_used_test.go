package api_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dualhook/dualhook/api"
	"github.com/dualhook/dualhook/testkit/apitest"
)

// "Last used" is written at most once a minute per key and process, and only after a
// successful authentication.
func TestLastUsedWritesAreDebounced(t *testing.T) {
	env := apitest.New(t, false)
	writes := api.CountLastUsedWrites(env.Server)
	p := env.NewPartner()
	for range 5 {
		res := env.Do(apitest.Request{Method: "GET", Path: "/api/v1/partner", Key: p.Key})
		require.Equal(t, 200, res.Status)
	}
	env.Do(apitest.Request{Method: "GET", Path: "/api/v1/partner", Key: "dh_live_not-a-real-key", NoCheck: true})
	assert.EqualValues(t, 1, writes.Load())

	env.Clock.Advance(59 * time.Second)
	env.Do(apitest.Request{Method: "GET", Path: "/api/v1/partner", Key: p.Key})
	assert.EqualValues(t, 1, writes.Load())
	env.Clock.Advance(2 * time.Second)
	env.Do(apitest.Request{Method: "GET", Path: "/api/v1/partner", Key: p.Key})
	assert.EqualValues(t, 2, writes.Load())

	other := env.NewPartner()
	env.Do(apitest.Request{Method: "GET", Path: "/api/v1/partner", Key: other.Key})
	assert.EqualValues(t, 3, writes.Load(), "each key has its own minute")
}
