// Command onboard-chaos is a rerunnable crash experiment on the whole product: it starts a
// Temporal dev server, `dualhook sandbox`, `dualhook serve` and `dualhook worker` as separate
// processes on a fresh PostgreSQL database, drives N onboardings (C at a time) the way a partner
// and a browser would — create the session through the API, open the onboarding page, run the
// sandbox's headless Embedded Signup, post the page's callback and follow its answer like the
// page does (202 → poll /status) — and, K seconds in, kills one process (the worker by default)
// with SIGKILL and restarts it D seconds later. It then waits (bounded) until every session is
// terminal and every event row has finished delivering, and reports what a partner saw.
//
// It talks to the product only over HTTP and by running the `dualhook` binary; the partner's
// event receiver is an HTTP server of its own on 127.0.0.1 that verifies every delivery's
// signatures (package signature) with the partner's signing secret.
//
// How to read the report (one table per run, a summary table when -runs > 1):
//
//   - onboardings: final status of every session as the API reports it (completed, failed with
//     reason/errorCategory, anything else), and client-side failures (a session never created,
//     a callback never answered).
//   - events: for every completed or failed session, whether the onboarding.started row and the
//     terminal row (onboarding.completed / onboarding.failed) exist in GET /api/v1/events, and
//     whether each reached the receiver with a valid signature. A session missing any of the four
//     is LOST; the failing sessions are listed one per line. Rows are also counted by type and
//     delivery status ("pending" after the settle deadline means never delivered).
//   - receiver: deliveries received, distinct event ids, distinct (id, body) pairs. At-least-once
//     delivery makes "received > distinct ids" normal (a retry re-sends the same id and body);
//     "ids with differing bodies" or "sessions with two ids for one event type" are not.
//   - HTTP 5xx: every 5xx answer the clients got from the product, by endpoint; transport errors
//     (connection refused or reset while a process is down) are counted apart.
//   - latency: callback → decided answer (the 200 with the redirect URL, directly or through the
//     page's polling) for every onboarding; and for the onboardings whose callback was in flight
//     at the kill, or sent while the process was down, the time from the restart to their answer.
//
// The exit status is 1 when any run lost an event (or left a session non-terminal), 2 when the
// experiment itself could not run, 0 otherwise, so `make chaos-worker-kill` works as a check.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// seconds is a duration flag that also takes a bare number of seconds ("3" or "3s").
type seconds struct{ d *time.Duration }

func (s seconds) String() string {
	if s.d == nil {
		return ""
	}
	return s.d.String()
}

func (s seconds) Set(v string) error {
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		*s.d = time.Duration(f * float64(time.Second))
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return err
	}
	*s.d = d
	return nil
}

// envList collects repeated -env KEY=VALUE flags.
type envList []string

func (e *envList) String() string { return strings.Join(*e, ",") }

func (e *envList) Set(v string) error {
	if k, _, ok := strings.Cut(v, "="); !ok || k == "" {
		return fmt.Errorf("want KEY=VALUE, got %q", v)
	}
	*e = append(*e, v)
	return nil
}

// options are the command line.
type options struct {
	Runs             int
	N, C             int
	Kill             string
	KillAfter        time.Duration
	RestartAfter     time.Duration
	JSON             bool
	Bin              string
	AdminURL         string
	DeliverySchedule string
	Settle           time.Duration
	LogDir           string
	Keep             bool
	Env              envList
}

func parseFlags() options {
	o := options{KillAfter: 3 * time.Second, RestartAfter: 5 * time.Second, Settle: 3 * time.Minute}
	admin := os.Getenv("DUALHOOK_TEST_DATABASE_URL")
	if admin == "" {
		admin = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	flag.IntVar(&o.Runs, "runs", 1, "number of runs (each on fresh processes and a fresh database)")
	flag.IntVar(&o.N, "n", 100, "onboardings per run")
	flag.IntVar(&o.C, "c", 10, "onboardings at a time")
	flag.StringVar(&o.Kill, "kill", "worker", "process to SIGKILL and restart: worker, api or none")
	flag.Var(seconds{&o.KillAfter}, "kill-after", "kill this long after the first onboarding starts (seconds or a Go duration)")
	flag.Var(seconds{&o.RestartAfter}, "restart-after", "restart the killed process this long after the kill")
	flag.BoolVar(&o.JSON, "json", false, "print the report as JSON on stdout (progress stays on stderr)")
	flag.StringVar(&o.Bin, "bin", "bin/dualhook", "the dualhook binary (make build)")
	flag.StringVar(&o.AdminURL, "pg", admin, "PostgreSQL URL used to create and drop each run's database (loopback only)")
	flag.StringVar(&o.DeliverySchedule, "delivery-schedule", "1s,2s,5s,10s", "DUALHOOK_DELIVERY_SCHEDULE of serve and worker")
	flag.Var(seconds{&o.Settle}, "settle", "after the load, how long to wait at most for terminal sessions and settled deliveries")
	flag.StringVar(&o.LogDir, "logs", "", "folder for the processes' logs (default a new folder under the temp dir; kept)")
	flag.BoolVar(&o.Keep, "keep-db", false, "keep each run's database instead of dropping it (to investigate a loss)")
	flag.Var(&o.Env, "env", "extra KEY=VALUE for serve and worker, repeatable (e.g. -env DUALHOOK_EVENT_RESCUE_AFTER=30s)")
	flag.Parse()
	return o
}

func (o options) validate() error {
	switch {
	case o.Runs < 1 || o.N < 1 || o.C < 1:
		return errors.New("-runs, -n and -c must be at least 1")
	case o.Kill != "worker" && o.Kill != "api" && o.Kill != "none":
		return fmt.Errorf("-kill must be worker, api or none (got %q)", o.Kill)
	case o.KillAfter < 0 || o.RestartAfter < 0:
		return errors.New("-kill-after and -restart-after must not be negative")
	case o.Settle <= 0:
		return errors.New("-settle must be positive")
	case o.N > 10000:
		return errors.New("-n is capped at 10000")
	}
	return nil
}

func main() {
	o := parseFlags()
	if err := o.validate(); err != nil {
		fmt.Fprintln(os.Stderr, "onboard-chaos:", err)
		os.Exit(2)
	}
	ctx, cancel := context.WithCancel(context.Background())
	// The children run in their own process groups, so Ctrl-C reaches only us: the first one
	// cancels the run (which stops every child group), later ones are ignored while we clean up.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		progressf("interrupted: stopping every process")
		cancel()
	}()
	defer cancel()

	if o.LogDir == "" {
		dir, err := os.MkdirTemp("", "onboard-chaos-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "onboard-chaos:", err)
			os.Exit(2)
		}
		o.LogDir = dir
	}
	var reports []*runReport
	code := 0
	for i := 1; i <= o.Runs; i++ {
		rep, err := runOnce(ctx, o, i)
		if err != nil {
			fmt.Fprintf(os.Stderr, "onboard-chaos: run %d: %v\n", i, err)
			code = 2
			break
		}
		reports = append(reports, rep)
		if !o.JSON {
			printRun(os.Stdout, o, rep)
		}
		if !rep.Pass {
			code = max(code, 1)
		}
		if ctx.Err() != nil {
			code = 2
			break
		}
	}
	if o.JSON {
		if err := printJSON(os.Stdout, o, reports); err != nil {
			fmt.Fprintln(os.Stderr, "onboard-chaos:", err)
			code = 2
		}
	} else if len(reports) > 1 {
		printSummary(os.Stdout, reports)
	}
	if !o.JSON && len(reports) > 0 {
		verdict := "PASS: no event lost"
		if code == 1 {
			verdict = "FAIL: events lost (or sessions left non-terminal) — see the tables above"
		}
		fmt.Fprintf(os.Stdout, "\n%s (process logs: %s)\n", verdict, o.LogDir)
	}
	os.Exit(code)
}

// progressf writes a progress line on stderr.
func progressf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s ==> %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}
