package testenv

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"go.temporal.io/sdk/log"
)

func quietLogger() log.Logger {
	return log.NewStructuredLogger(quietSlog())
}

// Logger is a slog logger that prints warnings and errors only, so test output stays readable.
// While a test captures logs (CaptureLogs), every record, debug included, is also written to
// the capture.
var Logger = quietSlog

// sharedHandler is the one handler every logger of the process writes through, so a capture
// registered after the loggers were made still sees their records.
var sharedHandler = &captureHandler{
	stderr:  slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}),
	capture: slog.NewTextHandler(captures, &slog.HandlerOptions{Level: slog.LevelDebug}),
}

func quietSlog() *slog.Logger { return slog.New(sharedHandler) }

// captureSet is the writer of the capturing handler: every registered capture gets each line.
type captureSet struct {
	mu     sync.Mutex
	active atomic.Int32
	all    map[*Captured]struct{}
}

var captures = &captureSet{all: map[*Captured]struct{}{}}

func (c *captureSet) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.all {
		k.write(p)
	}
	return len(p), nil
}

// Captured holds the text of every log record written, by any logger of the process (other
// tests running in parallel included), while it was registered.
type Captured struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *Captured) write(p []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf.Write(p)
}

// String returns what was captured so far.
func (c *Captured) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// CaptureLogs captures every log record, at every level, from now until the end of the test.
func CaptureLogs(t testing.TB) *Captured {
	c := &Captured{}
	captures.mu.Lock()
	captures.all[c] = struct{}{}
	captures.active.Add(1)
	captures.mu.Unlock()
	t.Cleanup(func() {
		captures.mu.Lock()
		delete(captures.all, c)
		captures.active.Add(-1)
		captures.mu.Unlock()
	})
	return c
}

// captureHandler prints warnings and errors to stderr and, while a capture is registered,
// formats every record into the captures.
type captureHandler struct {
	stderr  slog.Handler
	capture slog.Handler
}

func (h *captureHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return captures.active.Load() > 0 || h.stderr.Enabled(ctx, l)
}

func (h *captureHandler) Handle(ctx context.Context, r slog.Record) error {
	var err error
	if h.stderr.Enabled(ctx, r.Level) {
		err = h.stderr.Handle(ctx, r.Clone())
	}
	if captures.active.Load() > 0 {
		_ = h.capture.Handle(ctx, r)
	}
	return err
}

func (h *captureHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &captureHandler{stderr: h.stderr.WithAttrs(attrs), capture: h.capture.WithAttrs(attrs)}
}

func (h *captureHandler) WithGroup(name string) slog.Handler {
	return &captureHandler{stderr: h.stderr.WithGroup(name), capture: h.capture.WithGroup(name)}
}
