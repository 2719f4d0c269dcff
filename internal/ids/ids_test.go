package ids

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestNewIsPrefixedRandomAndUnique(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := New(Session)
		assert.True(t, strings.HasPrefix(id, "sess_"))
		assert.Len(t, id, len("sess_")+randomLength)
		assert.True(t, HasPrefix(id, Session))
		assert.False(t, seen[id], "duplicate id %s", id)
		seen[id] = true
	}
}

func TestHasPrefixRejectsForeignShapes(t *testing.T) {
	for _, id := range []string{"", "sess_", "conn_abc", "sess_a/b", "sess_" + strings.Repeat("a", 80), "SESS_abc"} {
		assert.False(t, HasPrefix(id, Session), id)
	}
}

func TestDerivedIsStableDistinctAndWellFormed(t *testing.T) {
	a := Derived(Event, "run-1", "1")
	assert.Equal(t, a, Derived(Event, "run-1", "1"), "same parts, same id")
	assert.NotEqual(t, a, Derived(Event, "run-1", "2"))
	assert.NotEqual(t, a, Derived(Event, "run-2", "1"))
	assert.NotEqual(t, Derived(Event, "ab", "c"), Derived(Event, "a", "bc"), "parts are delimited")
	assert.True(t, HasPrefix(a, Event))
	assert.Len(t, a, len(Event)+randomLength)
}
