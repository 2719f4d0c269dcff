package devstack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/dualhook/dualhook/internal/temporalclient"
	"github.com/dualhook/dualhook/internal/tools"
)

// TemporalServer is a dev server this process started.
type TemporalServer struct {
	Address string
	UIURL   string
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process exited; exitErr says how
	exitErr error
}

// TemporalOptions say how to run a dev server. UIPort 0 runs it headless; an empty DBFile keeps
// its state in memory (tests).
type TemporalOptions struct {
	Port          int
	UIPort        int
	DBFile        string
	CodecEndpoint string
	LogFile       string
	LogLevel      string
}

// StartTemporal runs `temporal server start-dev` from the pinned CLI and waits until it answers.
// The dev stack gives it a file database under .dev, so workflows survive restarts, and points
// its Web UI at our codec endpoint.
func StartTemporal(ctx context.Context, o TemporalOptions, progress func(string, ...any)) (*TemporalServer, error) {
	for _, p := range []int{o.Port, o.UIPort} {
		if p != 0 && inUse(p) {
			return nil, fmt.Errorf("port %d is already in use: is another dev stack running? (choose others with DUALHOOK_DEV_TEMPORAL_PORT / DUALHOOK_DEV_TEMPORAL_UI_PORT)", p)
		}
	}
	cli, err := tools.EnsureTemporalCLI(ctx, os.Stderr)
	if err != nil {
		return nil, err
	}
	logFile, err := os.OpenFile(o.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	if o.LogLevel == "" {
		o.LogLevel = "warn"
	}
	args := []string{"server", "start-dev", "--ip", "127.0.0.1", "--port", strconv.Itoa(o.Port), "--log-level", o.LogLevel}
	if o.UIPort == 0 {
		args = append(args, "--headless")
	} else {
		args = append(args, "--ui-ip", "127.0.0.1", "--ui-port", strconv.Itoa(o.UIPort))
	}
	if o.DBFile != "" {
		args = append(args, "--db-filename", o.DBFile)
	}
	if o.CodecEndpoint != "" {
		args = append(args, "--ui-codec-endpoint", o.CodecEndpoint)
	}
	args = append(args, temporalclient.DevServerArgs()...)
	cmd := exec.Command(cli, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group: Ctrl-C in the terminal reaches us, and we stop it in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	t := &TemporalServer{
		Address: net.JoinHostPort("127.0.0.1", strconv.Itoa(o.Port)),
		cmd:     cmd, done: make(chan struct{}),
	}
	if o.UIPort != 0 {
		t.UIURL = "http://127.0.0.1:" + strconv.Itoa(o.UIPort)
	}
	go func() { t.exitErr = cmd.Wait(); logFile.Close(); close(t.done) }()
	progress("starting Temporal dev server on %s (Web UI %s)", t.Address, t.UIURL)
	if err := t.waitReady(ctx, 90*time.Second); err != nil {
		t.Stop()
		return nil, fmt.Errorf("temporal dev server did not become ready (see %s): %w", o.LogFile, err)
	}
	return t, nil
}

// FreePort asks the kernel for an unused port (for test servers).
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func (t *TemporalServer) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-t.done:
			return fmt.Errorf("exited: %w", t.exitErr)
		default:
		}
		c, err := client.DialContext(ctx, client.Options{HostPort: t.Address, Logger: silent{}})
		if err == nil {
			_, err = c.CheckHealth(ctx, &client.CheckHealthRequest{})
			c.Close()
			if err == nil {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Stop interrupts the server and waits for it, killing it if it hangs.
func (t *TemporalServer) Stop() {
	_ = syscall.Kill(-t.cmd.Process.Pid, syscall.SIGINT)
	select {
	case <-t.done:
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(-t.cmd.Process.Pid, syscall.SIGKILL)
		<-t.done
	}
}

func inUse(port int) bool {
	conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 300*time.Millisecond)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// silent drops the SDK's logs while polling for readiness.
type silent struct{}

func (silent) Debug(string, ...any) {}
func (silent) Info(string, ...any)  {}
func (silent) Warn(string, ...any)  {}
func (silent) Error(string, ...any) {}
