package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// runOnce is one run on fresh processes and a fresh database; the processes are stopped and the
// database dropped whatever happens.
func runOnce(ctx context.Context, o options, n int) (*runReport, error) {
	dir := filepath.Join(o.LogDir, fmt.Sprintf("run%d", n))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	progressf("run %d/%d: logs in %s", n, o.Runs, dir)
	st := &stack{o: o, dir: dir, procs: map[string]*proc{}, starts: map[string]int{}}
	recv, err := startReceiver()
	if err != nil {
		return nil, err
	}
	defer recv.close()
	if err := st.createDatabase(ctx); err != nil {
		return nil, err
	}
	defer st.dropDatabase()
	defer st.stopAll()
	if err := st.up(ctx, recv.URL); err != nil {
		return nil, err
	}
	recv.setSecret(st.signingSecret)

	c := newClient(st.apiURL, st.apiKey, 2*o.C+4)
	runTag := "chaos" + randomHex(3)
	l := &loader{c: c, meta: st.meta, receiver: recv.URL, runTag: runTag}
	obs := make([]*onboarding, o.N)
	for i := range obs {
		obs[i] = &onboarding{Index: i, TenantID: fmt.Sprintf("%s-%03d", runTag, i)}
	}
	progressf("run %d: %d onboardings, %d at a time, kill %s at +%s, restart %s later", n, o.N, o.C, o.Kill, o.KillAfter, o.RestartAfter)
	start, end, ch := runLoad(ctx, st, l, o, obs)
	if ch.Err != "" && ctx.Err() == nil {
		// The experiment broke (the process would not come back): no numbers worth reading.
		return nil, fmt.Errorf("chaos: %s", ch.Err)
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	progressf("load done in %.1fs; waiting (at most %s) for terminal sessions and settled deliveries", end.Sub(start).Seconds(), o.Settle)

	settleStart := time.Now()
	events, settled := settle(ctx, c, obs, settleStart.Add(o.Settle))
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	rep := analyse(ctx, o, n, c, obs, events, recv.snapshot(), ch, start, end)
	rep.SettleSeconds = time.Since(settleStart).Seconds()
	rep.Settled = settled
	rep.LogDir = dir
	rep.Database = st.dbName
	rep.SandboxErrors = l.sandboxEr
	rep.finish()
	return rep, nil
}

// settle waits until every created session is terminal and no event row is pending, or the
// deadline passes; it returns the last event list read.
func settle(ctx context.Context, c *client, obs []*onboarding, deadline time.Time) ([]apiEvent, bool) {
	var events []apiEvent
	lastNote := time.Now()
	maxPages := len(obs)/10 + 50
	for {
		nonTerminal := 0
		for _, ob := range obs {
			if ob.SessionID == "" || terminalStatus(ob.Status) {
				continue
			}
			s, err := c.session(ctx, ob.SessionID)
			if err == nil {
				ob.Status = s.Status
				if s.Failure != nil {
					ob.FailureReason, ob.ErrorCategory, ob.FailureMessage = s.Failure.Reason, s.Failure.ErrorCategory, s.Failure.Message
				}
			}
			if !terminalStatus(ob.Status) {
				nonTerminal++
			}
		}
		pending := -1
		if evs, err := c.events(ctx, maxPages); err == nil {
			events = evs
			pending = 0
			for _, e := range evs {
				if e.Status == "pending" {
					pending++
				}
			}
		}
		if nonTerminal == 0 && pending == 0 {
			return events, true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return events, false
		}
		if time.Since(lastNote) >= 10*time.Second {
			lastNote = time.Now()
			progressf("waiting: %d sessions not terminal, %d event rows pending", nonTerminal, pending)
		}
		select {
		case <-ctx.Done():
			return events, false
		case <-time.After(time.Second):
		}
	}
}
