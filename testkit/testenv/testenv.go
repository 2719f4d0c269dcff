// Package testenv gives integration tests the real parts they need: a fresh PostgreSQL database
// per test package (dropped afterwards) and a real Temporal dev server (one per `make test` run,
// or one per package when tests run outside make), isolated per test by task queue.
//
// A package that uses it declares
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
package testenv

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"

	"github.com/dualhook/dualhook/internal/ids"
	"github.com/dualhook/dualhook/internal/keyring"
	"github.com/dualhook/dualhook/internal/store"
	"github.com/dualhook/dualhook/internal/temporalclient"
	"github.com/dualhook/dualhook/internal/tools"
)

// DefaultAdminURL is the machine's local PostgreSQL (trust auth), which creates the test
// databases. Override with DUALHOOK_TEST_DATABASE_URL.
const DefaultAdminURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

var (
	mu       sync.Mutex
	cleanups []func()

	dbOnce sync.Once
	dbURL  string
	dbErr  error

	temporalOnce sync.Once
	temporalAddr string
	temporalErr  error

	ringOnce sync.Once
	ring     *keyring.Ring
	ringSpec string
)

// Main runs the package's tests and then drops what they created.
func Main(m *testing.M) {
	code := m.Run()
	mu.Lock()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	mu.Unlock()
	os.Exit(code)
}

func addCleanup(f func()) {
	mu.Lock()
	defer mu.Unlock()
	cleanups = append(cleanups, f)
}

// DatabaseURL returns the package's migrated test database, creating it on first use.
func DatabaseURL(t testing.TB) string {
	t.Helper()
	dbOnce.Do(func() { dbURL, dbErr = createDatabase() })
	if dbErr != nil {
		t.Fatalf("testenv: PostgreSQL: %v (is it running? `make test` starts it; or set DUALHOOK_TEST_DATABASE_URL)", dbErr)
	}
	return dbURL
}

// Store returns a store on the package's test database, closed when the test ends.
func Store(t testing.TB) *store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := store.Open(ctx, DatabaseURL(t))
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// OwnStore returns a store on a fresh migrated database of the test's own (dropped with the
// package's), for a test whose subject reads a whole table — a reconciler — and must not see
// the rows of the package's other tests running in parallel.
func OwnStore(t testing.TB) *store.Store {
	t.Helper()
	_, s := OwnDatabase(t)
	return s
}

// OwnDatabase is OwnStore with the database's URL.
func OwnDatabase(t testing.TB) (string, *store.Store) {
	t.Helper()
	u, err := createDatabase()
	if err != nil {
		t.Fatalf("testenv: PostgreSQL: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := store.Open(ctx, u)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(s.Close)
	return u, s
}

func adminURL() string {
	if u := os.Getenv("DUALHOOK_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultAdminURL
}

func createDatabase() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin := adminURL()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	name := "dualhook_test_" + strings.ToLower(ids.RandomString(12))
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", err
	}
	u, err := url.Parse(admin)
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	testURL := u.String()
	addCleanup(func() { dropDatabase(admin, name) })
	if _, err := store.Migrate(ctx, testURL); err != nil {
		return "", err
	}
	return testURL, nil
}

func dropDatabase(admin, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		fmt.Fprintf(os.Stderr, "testenv: could not drop %s: %v\n", name, err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		fmt.Fprintf(os.Stderr, "testenv: could not drop %s: %v\n", name, err)
	}
}

// Pool opens a raw pool on the test database (for assertions on rows).
func Pool(t testing.TB) *pgxpool.Pool {
	return Store(t).Pool
}

// Keyring is one key ring shared by the package's tests.
func Keyring(t testing.TB) *keyring.Ring {
	t.Helper()
	ringOnce.Do(func() {
		spec, err := keyring.NewKeySpec("test")
		if err != nil {
			panic(err)
		}
		ringSpec = spec
		ring, err = keyring.Parse(spec, "")
		if err != nil {
			panic(err)
		}
	})
	return ring
}

// KeyringSpec is Keyring's DUALHOOK_ENCRYPTION_KEYS form, for a worker process a test starts.
func KeyringSpec(t testing.TB) string {
	Keyring(t)
	return ringSpec
}

// TemporalAddress returns a running dev server: DUALHOOK_TEST_TEMPORAL_ADDRESS when `make test`
// started one for the whole run, else one started for this package from the pinned CLI.
func TemporalAddress(t testing.TB) string {
	t.Helper()
	temporalOnce.Do(func() {
		if addr := os.Getenv("DUALHOOK_TEST_TEMPORAL_ADDRESS"); addr != "" {
			temporalAddr = addr
			return
		}
		temporalAddr, temporalErr = startDevServer()
	})
	if temporalErr != nil {
		t.Fatalf("testenv: Temporal dev server: %v", temporalErr)
	}
	return temporalAddr
}

func startDevServer() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	path, err := tools.EnsureTemporalCLI(ctx, os.Stderr)
	if err != nil {
		return "", err
	}
	server, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{
		ExistingPath: path,
		ClientOptions: &client.Options{
			Logger: quietLogger(),
		},
		LogLevel:  "error",
		ExtraArgs: temporalclient.DevServerArgs(),
	})
	if err != nil {
		return "", err
	}
	addCleanup(func() { _ = server.Stop() })
	return server.FrontendHostPort(), nil
}

// Temporal returns a client (with the encrypting converter) to the test server; closed at the
// end of the test.
func Temporal(t testing.TB) client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := temporalclient.Dial(ctx, temporalclient.Options{
		Address:   TemporalAddress(t),
		Namespace: "default",
		Ring:      Keyring(t),
		Logger:    quietSlog(),
	})
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// TaskQueue is a task queue unique to the test, so tests sharing one server never pick up each
// other's work.
func TaskQueue(t testing.TB) string {
	return "test-" + strings.ToLower(ids.RandomString(10))
}
