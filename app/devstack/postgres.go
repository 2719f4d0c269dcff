package devstack

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// errNoPostgres is the one line a user without PostgreSQL sees.
var errNoPostgres = errors.New("no PostgreSQL found: set DATABASE_URL to a server you have, or install one (Debian/Ubuntu: apt-get install postgresql) and run make dev again")

// postgres is the database the dev stack uses, and how to stop it if we started it.
type postgres struct {
	URL  string
	Note string
	stop func()
}

// findPostgres follows the order the README promises: DATABASE_URL; else the local server on
// 127.0.0.1:5432; else a private cluster started from installed server binaries under dir;
// else errNoPostgres.
func findPostgres(ctx context.Context, dir string, privatePort int, progress func(string, ...any)) (*postgres, error) {
	if u := os.Getenv("DATABASE_URL"); u != "" {
		if err := ping(ctx, u); err != nil {
			return nil, fmt.Errorf("DATABASE_URL is set but PostgreSQL does not answer there: %w", err)
		}
		return &postgres{URL: u, Note: "from DATABASE_URL"}, nil
	}
	candidates := []string{"postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"}
	if u, err := user.Current(); err == nil && u.Username != "postgres" {
		candidates = append(candidates, "postgres://"+url.PathEscape(u.Username)+"@127.0.0.1:5432/postgres?sslmode=disable")
	}
	for _, admin := range candidates {
		if ping(ctx, admin) == nil {
			dbURL, err := ensureDatabase(ctx, admin, "dualhook")
			if err != nil {
				return nil, err
			}
			return &postgres{URL: dbURL, Note: "local server"}, nil
		}
	}
	return startPrivateCluster(ctx, filepath.Join(dir, "postgres"), privatePort, progress)
}

func ping(ctx context.Context, u string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		return errors.New("connection refused or rejected")
	}
	defer conn.Close(ctx)
	return conn.Ping(ctx)
}

// ensureDatabase creates the named database on the server if it is missing and returns its URL.
func ensureDatabase(ctx context.Context, admin, name string) (string, error) {
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return "", err
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
			return "", fmt.Errorf("create database %s: %w", name, err)
		}
	}
	u, err := url.Parse(admin)
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	return u.String(), nil
}

// serverBinDir finds initdb and pg_ctl: on PATH, else Debian's versioned folders (newest first).
func serverBinDir() (string, bool) {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if _, err := exec.LookPath("initdb"); err == nil {
			return filepath.Dir(p), true
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if isFile(filepath.Join(d, "pg_ctl")) && isFile(filepath.Join(d, "initdb")) {
			return d, true
		}
	}
	return "", false
}

func versionOf(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// startPrivateCluster runs a cluster owned by this checkout. PostgreSQL refuses to run as root,
// so as root it runs as the `postgres` system user when there is one.
func startPrivateCluster(ctx context.Context, dir string, port int, progress func(string, ...any)) (*postgres, error) {
	bin, ok := serverBinDir()
	if !ok {
		return nil, errNoPostgres
	}
	var runAs []string
	if os.Geteuid() == 0 {
		pgUser, err := user.Lookup("postgres")
		if err != nil {
			return nil, errors.New("PostgreSQL server binaries are installed but refuse to run as root and there is no postgres user: set DATABASE_URL")
		}
		runAs = []string{"runuser", "-u", "postgres", "--"}
		// The postgres user may not be able to reach a folder under root's home, so the cluster
		// lives in the postgres user's home, one per checkout.
		sum := sha256.Sum256([]byte(dir))
		dir = filepath.Join(pgUser.HomeDir, "dualhook-dev-"+hex.EncodeToString(sum[:6]))
	}
	data := filepath.Join(dir, "data")
	run := func(args ...string) error {
		full := append(append([]string{}, runAs...), args...)
		cmd := exec.CommandContext(ctx, full[0], full[1:]...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %w: %s", filepath.Base(args[0]), err, out)
		}
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if runAs != nil {
		if err := exec.CommandContext(ctx, "chown", "-R", "postgres", dir).Run(); err != nil {
			return nil, fmt.Errorf("chown %s: %w", dir, err)
		}
	}
	if !isFile(filepath.Join(data, "PG_VERSION")) {
		progress("initialising a private PostgreSQL cluster in %s", data)
		if err := run(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8"); err != nil {
			return nil, err
		}
	}
	progress("starting the private PostgreSQL on 127.0.0.1:%d", port)
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1", port, dir)
	if err := run(filepath.Join(bin, "pg_ctl"), "-D", data, "-o", opts, "-l", filepath.Join(dir, "server.log"), "-w", "start"); err != nil {
		return nil, err
	}
	stop := func() {
		full := append(append([]string{}, runAs...), filepath.Join(bin, "pg_ctl"), "-D", data, "-m", "fast", "-w", "stop")
		_ = exec.Command(full[0], full[1:]...).Run()
	}
	admin := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	dbURL, err := ensureDatabase(ctx, admin, "dualhook")
	if err != nil {
		stop()
		return nil, err
	}
	return &postgres{URL: dbURL, Note: "private cluster in " + dir, stop: stop}, nil
}
