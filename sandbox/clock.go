package sandbox

import (
	"sync"
	"time"
)

// Clock is the sandbox's notion of "now". Every rule that depends on time
// (30 s code lifetime, the 72 h register window, per-hour quotas, the 24 h
// smb_app_data window, token expiry) reads this clock and never time.Now, so
// tests can jump over those windows instead of sleeping through them.
//
// The clock follows real time plus an offset; it can also be frozen at an
// instant, in which case it only moves when told to.
type Clock struct {
	mu     sync.Mutex
	real   func() time.Time
	offset time.Duration
	frozen bool
	at     time.Time // the frozen instant, when frozen
}

// NewClock returns a clock that follows real time.
func NewClock() *Clock { return &Clock{real: time.Now} }

// Now returns the current sandbox time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nowLocked()
}

func (c *Clock) nowLocked() time.Time {
	if c.frozen {
		return c.at
	}
	return c.real().Add(c.offset)
}

// Advance moves the clock forward by d (backwards when d is negative) and
// returns the new time.
func (c *Clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.frozen {
		c.at = c.at.Add(d)
	} else {
		c.offset += d
	}
	return c.nowLocked()
}

// Set moves the clock to t, keeping it running (or frozen) as it was.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.frozen {
		c.at = t
		return
	}
	c.offset = t.Sub(c.real())
}

// Freeze stops the clock at its current instant (true) or lets it run again
// from that instant (false).
func (c *Clock) Freeze(freeze bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if freeze == c.frozen {
		return
	}
	now := c.nowLocked()
	c.frozen = freeze
	if freeze {
		c.at = now
	} else {
		c.offset = now.Sub(c.real())
	}
}

// Frozen reports whether the clock is frozen.
func (c *Clock) Frozen() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.frozen
}

// Offset is the distance between sandbox time and real time.
func (c *Clock) Offset() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nowLocked().Sub(c.real())
}
