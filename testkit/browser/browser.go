// Package browser starts headless Chromium for the browser tests of sandbox, onboardpage and
// e2e, and holds the few steps they share. It is a test harness: production code never imports
// it. It imports nothing of this module, so the tests of a library package (sandbox) can use it
// without that package depending on anything.
package browser

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// ChromiumPath is where the tests expect Chromium: Debian's package (CI installs it).
const ChromiumPath = "/usr/bin/chromium"

// options are the allocator options of every browser test: headless, no sandbox (tests run as
// root in containers), no GPU, and nothing that talks to the network on its own (QUIC,
// background networking, component updates, sync), so a test sees only its own traffic.
func options(userDataDir string) []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(ChromiumPath),
		chromedp.UserDataDir(userDataDir),
		chromedp.Headless,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.DisableGPU,
		chromedp.NoSandbox,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
	}
}

// Start starts headless Chromium with a fresh profile for the test and returns the browser's
// context (open tabs with chromedp.NewContext of it); the browser stops when the test ends. It
// skips the test when Chromium is not installed. extra adds allocator options, such as a flag
// one test needs.
func Start(t testing.TB, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	if _, err := os.Stat(ChromiumPath); err != nil {
		t.Skip("chromium is not installed at " + ChromiumPath + " (apt-get install chromium)")
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(options(t.TempDir()), extra...)...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// Start the browser with a context that has no deadline: the first action launches it, and
	// a deadline on that action would stop the browser with it (see chromedp.Run).
	_, err := chromedp.Run(ctx, chromedp.Location())
	require.NoError(t, err)
	return ctx
}

// WithTimeout bounds ctx (one browser step, usually a tab's) by d, until the test ends.
func WithTimeout(t testing.TB, ctx context.Context, d time.Duration) context.Context {
	c, cancel := context.WithTimeout(ctx, d)
	t.Cleanup(cancel)
	return c
}

// Popup runs trigger on step (a bounded context of tab) and returns the context of the window
// it opens, the first new target of tab whose URL contains urlPart. It fails the test when no
// such window opens before step ends. The popup's context ends with the test.
func Popup(t testing.TB, tab, step context.Context, urlPart string, trigger ...chromedp.Action[chromedp.Void]) context.Context {
	t.Helper()
	opened := chromedp.WaitNewTarget(tab, func(info *target.Info) bool { return strings.Contains(info.URL, urlPart) })
	require.NoError(t, chromedp.Do(step, trigger...))
	var id target.ID
	select {
	case id = <-opened:
	case <-step.Done():
		t.Fatalf("no window with %q in its URL opened", urlPart)
	}
	popup, cancel := chromedp.NewContext(tab, chromedp.WithTargetID(id))
	t.Cleanup(cancel)
	return popup
}
