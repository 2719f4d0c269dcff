package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dualhook/dualhook/sandbox"
)

// proc is one child process in its own process group, so a SIGKILL reaches exactly it (and
// whatever it started), and Ctrl-C in the terminal reaches only this tool.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	err     error
}

func startProc(name, bin string, args, env []string, logPath string) (*proc, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(f, "==== %s: %s %s\n", time.Now().Format(time.RFC3339Nano), bin, strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); f.Close(); close(p.done) }()
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL to the process group and waits for the process.
func (p *proc) kill() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// stop interrupts the process group, and kills it when it has not exited within grace.
func (p *proc) stop(grace time.Duration) {
	if p.exited() {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGINT)
	select {
	case <-p.done:
	case <-time.After(grace):
		progressf("%s did not stop within %s: killing it", p.name, grace)
		p.kill()
	}
}

// stack is one run's processes and settings.
type stack struct {
	o      options
	dir    string // this run's log folder
	dbName string
	dbURL  string
	env    []string // environment of serve, worker, migrate and partners

	temporalAddr string
	apiURL       string
	apiAddr      string
	sandboxURL   string
	meta         *sandbox.Client

	partnerID, apiKey, signingSecret string

	mu     sync.Mutex
	procs  map[string]*proc // current process per role
	starts map[string]int

	// temporalChild is the pid of the Temporal CLI that `dualhook tools temporal-test-server`
	// runs in a process group of its own: stopped with it normally, killed by id if the wrapper
	// had to be killed.
	temporalChild int
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// checkLoopback refuses a PostgreSQL URL that is not on this machine: the tool creates and drops
// databases.
func checkLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("-pg: %w", err)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("-pg must point at a loopback address, not %q", host)
}

// createDatabase makes dualhook_chaos_<random> and returns its URL.
func (s *stack) createDatabase(ctx context.Context) error {
	if err := checkLoopback(s.o.AdminURL); err != nil {
		return err
	}
	s.dbName = "dualhook_chaos_" + randomHex(5)
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	conn, err := pgx.Connect(cctx, s.o.AdminURL)
	if err != nil {
		return fmt.Errorf("PostgreSQL at %s: %w", s.o.AdminURL, err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(cctx, "CREATE DATABASE "+pgx.Identifier{s.dbName}.Sanitize()); err != nil {
		return fmt.Errorf("creating the database: %w", err)
	}
	u, _ := url.Parse(s.o.AdminURL)
	u.Path = "/" + s.dbName
	q := u.Query()
	if q.Get("sslmode") == "" {
		q.Set("sslmode", "disable")
	}
	u.RawQuery = q.Encode()
	s.dbURL = u.String()
	return nil
}

func (s *stack) dropDatabase() {
	if s.dbName == "" {
		return
	}
	if s.o.Keep {
		progressf("kept the database: %s", s.dbURL)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.o.AdminURL)
	if err != nil {
		progressf("could not drop %s: %v", s.dbName, err)
		return
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{s.dbName}.Sanitize()+" WITH (FORCE)"); err != nil {
		progressf("could not drop %s: %v", s.dbName, err)
	}
}

// run runs a short dualhook command with env and returns its stdout.
func (s *stack) run(ctx context.Context, env []string, args ...string) ([]byte, error) {
	cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(cctx, s.o.Bin, args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("dualhook %s: %w: %s", args[0], err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// start starts (or restarts) a role's process; its log file is <role>.log in the run folder.
func (s *stack) start(role string, args []string, env []string) (*proc, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.starts[role]++
	p, err := startProc(role, s.o.Bin, args, env, filepath.Join(s.dir, role+".log"))
	if err != nil {
		return nil, err
	}
	s.procs[role] = p
	return p, nil
}

func (s *stack) proc(role string) *proc {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.procs[role]
}

// stopAll stops the processes in dependency order: API, worker, sandbox, Temporal.
func (s *stack) stopAll() {
	for _, role := range []string{"api", "worker", "sandbox", "temporal"} {
		if p := s.proc(role); p != nil {
			p.stop(25 * time.Second)
		}
	}
	if s.temporalChild > 0 && syscall.Kill(s.temporalChild, 0) == nil {
		progressf("the Temporal server (pid %d) outlived its wrapper: killing it", s.temporalChild)
		_ = syscall.Kill(-s.temporalChild, syscall.SIGKILL)
		_ = syscall.Kill(s.temporalChild, syscall.SIGKILL)
	}
}

// childOf returns the pid of a child process of pid (Linux /proc), or 0.
func childOf(pid int) int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may hold spaces, so read after the last ')'.
		rest := string(b[bytes.LastIndexByte(b, ')')+1:])
		var state string
		var ppid int
		if _, err := fmt.Sscan(rest, &state, &ppid); err == nil && ppid == pid {
			return child
		}
	}
	return 0
}

// up starts everything; the caller calls stopAll and dropDatabase in every case.
func (s *stack) up(ctx context.Context, receiverURL string) error {
	progressf("database %s", s.dbName)
	spec, err := s.run(ctx, os.Environ(), "keyring", "new")
	if err != nil {
		return err
	}

	// Temporal: the project's own headless dev server (the pinned CLI, the project's dynamic
	// config and search attributes), on a free port it writes to a file once it answers. The
	// first use on a machine builds the CLI (a few minutes; `make tools` does it ahead).
	addrFile := filepath.Join(s.dir, "temporal.addr")
	t, err := s.start("temporal", []string{"tools", "temporal-test-server", "--address-file", addrFile,
		"--log-file", filepath.Join(s.dir, "temporal-server.log")}, os.Environ())
	if err != nil {
		return err
	}
	if err := waitFor(ctx, 10*time.Minute, 100*time.Millisecond, func() (bool, error) {
		if t.exited() {
			return false, fmt.Errorf("the Temporal dev server exited (see %s)", t.logPath)
		}
		b, err := os.ReadFile(addrFile)
		if err == nil && len(b) > 0 {
			s.temporalAddr = strings.TrimSpace(string(b))
			return true, nil
		}
		return false, nil
	}); err != nil {
		return fmt.Errorf("temporal: %w", err)
	}
	s.temporalChild = childOf(t.cmd.Process.Pid)
	progressf("Temporal dev server on %s", s.temporalAddr)

	sbAddr, err := freeAddr()
	if err != nil {
		return err
	}
	s.sandboxURL = "http://" + sbAddr
	sb, err := s.start("sandbox", []string{"sandbox", "--addr", sbAddr}, os.Environ())
	if err != nil {
		return err
	}
	s.meta = sandbox.NewClient(s.sandboxURL, &http.Client{Timeout: 30 * time.Second})
	if err := waitFor(ctx, 30*time.Second, 100*time.Millisecond, func() (bool, error) {
		if sb.exited() {
			return false, fmt.Errorf("the sandbox exited (see %s)", sb.logPath)
		}
		_, err := s.meta.Now(ctx)
		return err == nil, nil
	}); err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	progressf("Meta sandbox on %s", s.sandboxURL)

	s.apiAddr, err = freeAddr()
	if err != nil {
		return err
	}
	s.apiURL = "http://" + s.apiAddr
	sc := sandbox.DefaultConfig()
	// What `dualhook dev` wires inside one process (internal/devstack), as environment for
	// separate ones.
	vars := map[string]string{
		"DUALHOOK_DEV_MODE":                             "true",
		"DATABASE_URL":                                  s.dbURL,
		"DUALHOOK_ENCRYPTION_KEYS":                      strings.TrimSpace(string(spec)),
		"DUALHOOK_OPERATOR_TOKEN":                       "op_" + randomHex(16),
		"DUALHOOK_LISTEN_ADDR":                          s.apiAddr,
		"DUALHOOK_PUBLIC_URL":                           s.apiURL,
		"TEMPORAL_ADDRESS":                              s.temporalAddr,
		"DUALHOOK_META_SANDBOX_URL":                     s.sandboxURL,
		"DUALHOOK_META_APP_ID":                          sc.AppID,
		"DUALHOOK_META_APP_SECRET":                      sc.AppSecret,
		"DUALHOOK_META_CONFIG_ID":                       sc.CloudAPIConfigID,
		"DUALHOOK_META_APP_VERIFY_TOKEN":                sc.AppVerifyToken,
		"DUALHOOK_DELIVERY_SCHEDULE":                    s.o.DeliverySchedule,
		"DUALHOOK_RATE_LIMIT_READ_PER_MINUTE":           "1000000",
		"DUALHOOK_RATE_LIMIT_WRITE_PER_MINUTE":          "1000000",
		"DUALHOOK_RATE_LIMIT_HEALTH_REFRESH_PER_MINUTE": "1000",
	}
	for _, kv := range s.o.Env {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	s.env = mergeEnv(os.Environ(), vars)

	out, err := s.run(ctx, s.env, "migrate")
	if err != nil {
		return err
	}
	_ = os.WriteFile(filepath.Join(s.dir, "migrate.log"), out, 0o600)

	out, err = s.run(ctx, s.env, "partners", "create", "--name", "Chaos SaaS", "--event-webhook-url", receiverURL+"/events",
		"--allowed-redirect-url", receiverURL+"/return", "--json")
	if err != nil {
		return err
	}
	var created struct {
		Partner struct {
			PartnerID string `json:"partnerId"`
		} `json:"partner"`
		APIKey        string `json:"apiKey"`
		SigningSecret string `json:"signingSecret"`
	}
	if err := json.Unmarshal(out, &created); err != nil {
		return fmt.Errorf("partners create --json: %w", err)
	}
	if created.APIKey == "" || created.SigningSecret == "" {
		return errors.New("partners create --json printed no apiKey or signingSecret")
	}
	s.partnerID, s.apiKey, s.signingSecret = created.Partner.PartnerID, created.APIKey, created.SigningSecret
	progressf("partner %s, events to %s/events", s.partnerID, receiverURL)

	if _, err := s.startAPI(ctx); err != nil {
		return err
	}
	if _, err := s.startWorker(ctx); err != nil {
		return err
	}
	return nil
}

func mergeEnv(base []string, vars map[string]string) []string {
	out := make([]string, 0, len(base)+len(vars))
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := vars[k]; !ok {
			out = append(out, kv)
		}
	}
	for k, v := range vars {
		out = append(out, k+"="+v)
	}
	return out
}

// startAPI starts `dualhook serve` and returns when /readyz answers 200 (PostgreSQL and
// Temporal reachable).
func (s *stack) startAPI(ctx context.Context) (time.Time, error) {
	p, err := s.start("api", []string{"serve"}, s.env)
	if err != nil {
		return time.Time{}, err
	}
	c := &http.Client{Timeout: 2 * time.Second}
	var ready time.Time
	err = waitFor(ctx, 60*time.Second, 50*time.Millisecond, func() (bool, error) {
		if p.exited() {
			return false, fmt.Errorf("dualhook serve exited (see %s)", p.logPath)
		}
		// Connection refused until it listens: keep polling.
		res, getErr := c.Get(s.apiURL + "/readyz")
		if getErr != nil {
			return false, nil //nolint:nilerr // not up yet
		}
		res.Body.Close()
		ready = time.Now()
		return res.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("api: %w", err)
	}
	return ready, nil
}

// startWorker starts `dualhook worker` and returns when it logged that it polls its task queue.
// The line is the worker's own "worker started" log (internal/app); if a refactoring renames it,
// the wait ends after 30 s without failing the run.
func (s *stack) startWorker(ctx context.Context) (time.Time, error) {
	p, err := s.start("worker", []string{"worker"}, s.env)
	if err != nil {
		return time.Time{}, err
	}
	starts := s.starts["worker"]
	var ready time.Time
	err = waitFor(ctx, 30*time.Second, 50*time.Millisecond, func() (bool, error) {
		if p.exited() {
			return false, fmt.Errorf("dualhook worker exited (see %s)", p.logPath)
		}
		if workerStartedLines(p.logPath) >= starts {
			ready = time.Now()
			return true, nil
		}
		return false, nil
	})
	if errors.Is(err, errTimeout) {
		progressf("the worker never logged \"worker started\"; going on")
		return time.Now(), nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("worker: %w", err)
	}
	return ready, nil
}

// workerStartedLines counts the worker's "worker started" log lines (one per start, the log file
// is appended to across restarts).
func workerStartedLines(path string) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		if bytes.Contains(sc.Bytes(), []byte(`"msg":"worker started"`)) {
			n++
		}
	}
	return n
}

var errTimeout = errors.New("timed out")

// waitFor polls cond every interval until it is true, fails, the timeout passes or ctx ends.
func waitFor(ctx context.Context, timeout, interval time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return errTimeout
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}
