package testenv

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/dualhook/dualhook/internal/keyring"
	"github.com/dualhook/dualhook/internal/store"
	"github.com/dualhook/dualhook/internal/temporalclient"
)

// A test that must kill a worker for real (SIGKILL, no graceful stop) runs its own test binary
// as a child worker process: StartChild in the test, and in the package's TestMain, before
// testenv.Main, a branch that calls ChildParts and starts the worker when the test's variable is
// set.

// childLifetime bounds a child that lost its parent without noticing.
const childLifetime = 3 * time.Minute

// StartChild runs this test binary as a child process with env added to the test's own
// environment, plus what ChildParts reads (database, Temporal, key ring). It returns the function
// that kills it (SIGKILL); the child is killed when the test ends in any case.
func StartChild(t *testing.T, env ...string) (kill func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(),
		"DATABASE_URL="+DatabaseURL(t),
		"DUALHOOK_TEST_TEMPORAL_ADDRESS="+TemporalAddress(t),
		"DUALHOOK_ENCRYPTION_KEYS="+KeyringSpec(t),
	), env...)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	require.NoError(t, cmd.Start())
	killed := false
	kill = func() {
		if !killed {
			killed = true
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}
	t.Cleanup(func() {
		stdin.Close()
		kill()
	})
	return kill
}

// ChildParts, in the child process, makes it exit with its parent (when the parent closes its
// stdin, or after childLifetime) and opens what StartChild passed: the key ring, the store and a
// Temporal client. It exits the process on an error.
func ChildParts(ctx context.Context) (*keyring.Ring, *store.Store, client.Client) {
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	time.AfterFunc(childLifetime, func() { os.Exit(0) })
	ring, err := keyring.Parse(os.Getenv("DUALHOOK_ENCRYPTION_KEYS"), "")
	if err != nil {
		ChildFail(err)
	}
	st, err := store.Open(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		ChildFail(err)
	}
	c, err := temporalclient.Dial(ctx, temporalclient.Options{
		Address: os.Getenv("DUALHOOK_TEST_TEMPORAL_ADDRESS"), Namespace: "default", Ring: ring, Logger: Logger(),
	})
	if err != nil {
		ChildFail(err)
	}
	return ring, st, c
}

// ChildFail ends a child process that could not start its worker.
func ChildFail(err error) {
	slog.Error("child worker", "error", err)
	os.Exit(2)
}
