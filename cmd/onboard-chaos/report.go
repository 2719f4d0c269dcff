package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// maxLostLines bounds the per-session lines of the table.
const maxLostLines = 20

const (
	typeStarted   = "onboarding.started"
	typeCompleted = "onboarding.completed"
	typeFailed    = "onboarding.failed"
)

// latencyStats summarises durations in milliseconds.
type latencyStats struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50Ms"`
	P90   float64 `json:"p90Ms"`
	P99   float64 `json:"p99Ms"`
	Max   float64 `json:"maxMs"`
}

func summarise(v []float64) latencyStats {
	if len(v) == 0 {
		return latencyStats{}
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	rank := func(p float64) float64 { return s[max(0, int(math.Ceil(p*float64(len(s))))-1)] }
	return latencyStats{Count: len(s), P50: rank(0.50), P90: rank(0.90), P99: rank(0.99), Max: s[len(s)-1]}
}

// killGroup is the latency of the onboardings the kill hit.
type killGroup struct {
	Count      int          `json:"count"`
	Unanswered int          `json:"unanswered"`
	SinceStart latencyStats `json:"restartToAnswer"`
	Callback   latencyStats `json:"callbackToAnswer"`
}

// duplicate is an event id the receiver got more than once.
type duplicate struct {
	EventID  string `json:"eventId"`
	Type     string `json:"type"`
	Received int    `json:"received"`
	Bodies   int    `json:"distinctBodies"`
	// Attempts is the number of attempts the product recorded (-1: not read).
	Attempts int `json:"attemptsRecorded"`
}

type runReport struct {
	Run           int     `json:"run"`
	Database      string  `json:"database"`
	LogDir        string  `json:"logDir"`
	N             int     `json:"n"`
	C             int     `json:"c"`
	Chaos         chaos   `json:"chaos"`
	KillAtS       float64 `json:"killAtSeconds,omitempty"`
	RestartAtS    float64 `json:"restartAtSeconds,omitempty"`
	ReadyAfterS   float64 `json:"readyAfterRestartSeconds,omitempty"`
	LoadSeconds   float64 `json:"loadSeconds"`
	SettleSeconds float64 `json:"settleSeconds"`
	Settled       bool    `json:"settled"`

	Completed     int            `json:"completed"`
	Failed        int            `json:"failed"`
	FailedReasons map[string]int `json:"failedReasons"`
	OtherStatuses map[string]int `json:"otherStatuses"`
	ClientErrors  map[string]int `json:"clientErrors"`
	FailedDetails []string       `json:"failedDetails,omitempty"`

	Checked             int                       `json:"sessionsChecked"`
	StartedRowMissing   int                       `json:"startedRowMissing"`
	StartedNotReceived  int                       `json:"startedNotReceived"`
	TerminalRowMissing  int                       `json:"terminalRowMissing"`
	TerminalNotReceived int                       `json:"terminalNotReceived"`
	LostSessions        int                       `json:"lostSessions"`
	NonTerminal         int                       `json:"nonTerminalSessions"`
	Rows                map[string]map[string]int `json:"rowsByTypeAndStatus"`
	DuplicateRows       int                       `json:"sessionTypesWithSeveralRows"`

	Receipts           int         `json:"deliveriesReceived"`
	DistinctIDs        int         `json:"distinctEventIds"`
	DistinctIDBodies   int         `json:"distinctIdBodyPairs"`
	IDsReceivedTwice   int         `json:"idsReceivedMoreThanOnce"`
	IDsDifferentBodies int         `json:"idsWithDifferingBodies"`
	SessionTypeMultiID int         `json:"sessionTypesWithSeveralIdsReceived"`
	SignatureFailures  int         `json:"signatureFailures"`
	SignatureSample    string      `json:"signatureFailureSample,omitempty"`
	UnknownIDs         int         `json:"receivedIdsWithoutRow"`
	Duplicates         []duplicate `json:"duplicates,omitempty"`

	HTTP           map[string]endpointStats `json:"http"`
	Total5xx       int                      `json:"http5xx"`
	TotalTransport int                      `json:"transportErrors"`
	SandboxErrors  int                      `json:"sandboxErrors"`

	Create         latencyStats `json:"createToCreated"`
	Callback       latencyStats `json:"callbackToAnswer"`
	FirstAnswer202 int          `json:"firstCallbackAnswered202"`
	FirstNoAnswer  int          `json:"firstCallbackNoAnswer"`
	Unanswered     int          `json:"callbacksNeverAnswered"`
	InFlight       killGroup    `json:"inFlightAtKill"`
	Outage         killGroup    `json:"sentDuringOutage"`

	Lost     []string      `json:"lostDetails,omitempty"`
	Sessions []*onboarding `json:"sessions"`
	Pass     bool          `json:"pass"`
}

func (r *runReport) finish() {
	r.Pass = r.LostSessions == 0 && r.NonTerminal == 0
}

// analyse joins what the clients saw, what the API reports and what the receiver got.
func analyse(ctx context.Context, o options, n int, c *client, obs []*onboarding, events []apiEvent, receipts []receipt,
	ch chaos, start, end time.Time) *runReport {
	r := &runReport{Run: n, N: o.N, C: o.C, Chaos: ch, LoadSeconds: end.Sub(start).Seconds(), Sessions: obs,
		FailedReasons: map[string]int{}, OtherStatuses: map[string]int{}, ClientErrors: map[string]int{},
		Rows: map[string]map[string]int{}}
	if !ch.KillAt.IsZero() {
		r.KillAtS = ch.KillAt.Sub(start).Seconds()
	}
	if !ch.RestartAt.IsZero() {
		r.RestartAtS = ch.RestartAt.Sub(start).Seconds()
		r.ReadyAfterS = ch.ReadyAt.Sub(ch.RestartAt).Seconds()
	}

	// Rows by session and type.
	rows := map[string]map[string][]apiEvent{}
	rowIDs := map[string]apiEvent{}
	for _, e := range events {
		rowIDs[e.EventID] = e
		if r.Rows[e.Type] == nil {
			r.Rows[e.Type] = map[string]int{}
		}
		r.Rows[e.Type][e.Status]++
		sid := e.sessionOf()
		if sid == "" {
			continue
		}
		if rows[sid] == nil {
			rows[sid] = map[string][]apiEvent{}
		}
		rows[sid][e.Type] = append(rows[sid][e.Type], e)
	}
	for _, byType := range rows {
		for _, list := range byType {
			if len(list) > 1 {
				r.DuplicateRows++
			}
		}
	}

	// Receipts: by id, and verified ones by session and type.
	perID := map[string]map[string]int{} // id → body hash → count
	typeOf := map[string]string{}
	received := map[string]map[string]map[string]bool{} // session → type → ids
	for _, rc := range receipts {
		r.Receipts++
		if !rc.SignatureOK {
			r.SignatureFailures++
			if r.SignatureSample == "" {
				r.SignatureSample = rc.SigError
			}
			continue
		}
		if perID[rc.EventID] == nil {
			perID[rc.EventID] = map[string]int{}
		}
		perID[rc.EventID][rc.BodyHash]++
		typeOf[rc.EventID] = rc.Type
		if rc.SessionID != "" {
			if received[rc.SessionID] == nil {
				received[rc.SessionID] = map[string]map[string]bool{}
			}
			if received[rc.SessionID][rc.Type] == nil {
				received[rc.SessionID][rc.Type] = map[string]bool{}
			}
			received[rc.SessionID][rc.Type][rc.EventID] = true
		}
	}
	r.DistinctIDs = len(perID)
	for _, id := range sortedKeys(perID) {
		bodies := perID[id]
		r.DistinctIDBodies += len(bodies)
		total := 0
		for _, k := range bodies {
			total += k
		}
		if len(bodies) > 1 {
			r.IDsDifferentBodies++
		}
		if _, ok := rowIDs[id]; !ok {
			r.UnknownIDs++
		}
		if total > 1 {
			r.IDsReceivedTwice++
			d := duplicate{EventID: id, Type: typeOf[id], Received: total, Bodies: len(bodies), Attempts: -1}
			if len(r.Duplicates) < 100 {
				if a, err := c.eventAttempts(ctx, id); err == nil {
					d.Attempts = a
				}
			}
			r.Duplicates = append(r.Duplicates, d)
		}
	}
	for _, byType := range received {
		for _, ids := range byType {
			if len(ids) > 1 {
				r.SessionTypeMultiID++
			}
		}
	}

	// Sessions.
	var lat, create []float64
	var terminalLost, startedLost []string
	for _, ob := range obs {
		if ob.CreateMs > 0 {
			create = append(create, ob.CreateMs)
		}
		if ob.ClientError != "" {
			r.ClientErrors[clip(ob.ClientError, 90)]++
		}
		if ob.LatencyMs > 0 {
			lat = append(lat, ob.LatencyMs)
		}
		if !ob.CallbackSentAt.IsZero() && ob.AnsweredAt.IsZero() {
			r.Unanswered++
		}
		if !ob.CallbackSentAt.IsZero() {
			switch ob.FirstCallbackStatus {
			case 202:
				r.FirstAnswer202++
			case 0:
				r.FirstNoAnswer++
			}
		}
		if ob.SessionID == "" {
			continue
		}
		switch ob.Status {
		case "completed":
			r.Completed++
		case "failed":
			r.Failed++
			r.FailedReasons[ob.FailureReason+"/"+ob.ErrorCategory]++
			if len(r.FailedDetails) < maxLostLines {
				r.FailedDetails = append(r.FailedDetails, fmt.Sprintf("%s %s: %s", ob.SessionID, ob.FailureReason, clip(ob.FailureMessage, 200)))
			}
		default:
			st := ob.Status
			if st == "" {
				st = "unknown"
			}
			r.OtherStatuses[st]++
		}
		if !terminalStatus(ob.Status) {
			r.NonTerminal++
		}
		ob.StartedRow = rowStatus(rows[ob.SessionID][typeStarted])
		ob.StartedReceived = len(received[ob.SessionID][typeStarted]) > 0
		switch ob.Status {
		case "completed":
			ob.TerminalType = typeCompleted
		case "failed", "cancelled", "expired":
			ob.TerminalType = typeFailed
		}
		if ob.TerminalType != "" {
			ob.TerminalRow = rowStatus(rows[ob.SessionID][ob.TerminalType])
			ob.TerminalReceived = len(received[ob.SessionID][ob.TerminalType]) > 0
		}
		if ob.Status != "completed" && ob.Status != "failed" {
			continue
		}
		r.Checked++
		if ob.StartedRow == "" {
			r.StartedRowMissing++
			ob.Lost = append(ob.Lost, "started row missing")
		}
		if !ob.StartedReceived {
			r.StartedNotReceived++
			ob.Lost = append(ob.Lost, "started not received")
		}
		if ob.TerminalRow == "" {
			r.TerminalRowMissing++
			ob.Lost = append(ob.Lost, ob.TerminalType+" row missing")
		}
		if !ob.TerminalReceived {
			r.TerminalNotReceived++
			ob.Lost = append(ob.Lost, ob.TerminalType+" not received")
		}
		if len(ob.Lost) > 0 {
			r.LostSessions++
			line := fmt.Sprintf("%s %-9s started: row=%s received=%s  %s: row=%s received=%s",
				ob.SessionID, ob.Status, orDash(ob.StartedRow), yesNo(ob.StartedReceived),
				strings.TrimPrefix(ob.TerminalType, "onboarding."), orDash(ob.TerminalRow), yesNo(ob.TerminalReceived))
			// A lost terminal event is the rarer and worse loss: list those first (the table
			// shows only the first lines).
			if ob.TerminalRow == "" || !ob.TerminalReceived {
				terminalLost = append(terminalLost, line)
			} else {
				startedLost = append(startedLost, line)
			}
		}
	}
	r.Lost = append(terminalLost, startedLost...)
	r.Callback = summarise(lat)
	r.Create = summarise(create)

	// The onboardings the kill hit.
	if !ch.KillAt.IsZero() && !ch.RestartAt.IsZero() {
		var inSince, inCb, outSince, outCb []float64
		for _, ob := range obs {
			if ob.CallbackSentAt.IsZero() {
				continue
			}
			var g *killGroup
			switch {
			case ob.CallbackSentAt.Before(ch.KillAt) && (ob.AnsweredAt.IsZero() || ob.AnsweredAt.After(ch.KillAt)):
				ob.KillGroup, g = "in-flight", &r.InFlight
			case !ob.CallbackSentAt.Before(ch.KillAt) && ob.CallbackSentAt.Before(ch.RestartAt):
				ob.KillGroup, g = "outage", &r.Outage
			default:
				continue
			}
			g.Count++
			if ob.AnsweredAt.IsZero() {
				g.Unanswered++
				continue
			}
			ob.SinceRestartMs = ms(ob.AnsweredAt.Sub(ch.RestartAt))
			if g == &r.InFlight {
				inSince, inCb = append(inSince, ob.SinceRestartMs), append(inCb, ob.LatencyMs)
			} else {
				outSince, outCb = append(outSince, ob.SinceRestartMs), append(outCb, ob.LatencyMs)
			}
		}
		r.InFlight.SinceStart, r.InFlight.Callback = summarise(inSince), summarise(inCb)
		r.Outage.SinceStart, r.Outage.Callback = summarise(outSince), summarise(outCb)
	}

	r.HTTP = c.snapshot()
	for _, s := range r.HTTP {
		r.Total5xx += s.Status5xx
		r.TotalTransport += s.TransportErrors
	}
	return r
}

// rowStatus is the delivery status of a session's rows of one type ("" when none; statuses
// joined when there are several).
func rowStatus(list []apiEvent) string {
	var parts []string
	for _, e := range list {
		parts = append(parts, e.Status)
	}
	return strings.Join(parts, "+")
}

func orDash(s string) string {
	if s == "" {
		return "MISSING"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "NO"
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func secs(msv float64) string { return fmt.Sprintf("%.2fs", msv/1000) }

func counts(m map[string]int) string {
	if len(m) == 0 {
		return ""
	}
	var parts []string
	for _, k := range sortedKeys(m) {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func sum(m map[string]int) int {
	t := 0
	for _, v := range m {
		t += v
	}
	return t
}

// printRun prints one run's tables.
func printRun(w io.Writer, o options, r *runReport) {
	fmt.Fprintf(w, "\n=== run %d/%d: n=%d c=%d kill=%s", r.Run, o.Runs, r.N, r.C, r.Chaos.Target)
	if r.Chaos.Target != "none" {
		if r.Chaos.KillAt.IsZero() {
			fmt.Fprintf(w, " (not killed: %s)", r.Chaos.Err)
		} else {
			fmt.Fprintf(w, " SIGKILL at +%.1fs, restarted at +%.1fs (ready %.2fs later)", r.KillAtS, r.RestartAtS, r.ReadyAfterS)
		}
	}
	settled := "settled"
	if !r.Settled {
		settled = "NOT settled at the deadline"
	}
	fmt.Fprintf(w, "; load %.1fs, then %.1fs until %s ===\n", r.LoadSeconds, r.SettleSeconds, settled)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ONBOARDINGS\t\t")
	fmt.Fprintf(tw, "  completed\t%d\t\n", r.Completed)
	fmt.Fprintf(tw, "  failed\t%d\t%s\n", r.Failed, counts(r.FailedReasons))
	fmt.Fprintf(tw, "  other statuses\t%d\t%s\n", sum(r.OtherStatuses), counts(r.OtherStatuses))
	fmt.Fprintf(tw, "  client errors\t%d\t%s\n", sum(r.ClientErrors), counts(r.ClientErrors))
	fmt.Fprintln(tw, "\t\t")
	fmt.Fprintf(tw, "EVENTS (completed + failed sessions checked: %d)\t\t\n", r.Checked)
	fmt.Fprintf(tw, "  onboarding.started row missing\t%d\t\n", r.StartedRowMissing)
	fmt.Fprintf(tw, "  onboarding.started not received\t%d\t\n", r.StartedNotReceived)
	fmt.Fprintf(tw, "  terminal event row missing\t%d\t(onboarding.completed / onboarding.failed)\n", r.TerminalRowMissing)
	fmt.Fprintf(tw, "  terminal event not received\t%d\t\n", r.TerminalNotReceived)
	mark := ""
	if r.LostSessions > 0 {
		mark = "<- LOST"
	}
	fmt.Fprintf(tw, "  sessions with a lost event\t%d\t%s\n", r.LostSessions, mark)
	mark = ""
	if r.NonTerminal > 0 {
		mark = "<- never terminal"
	}
	fmt.Fprintf(tw, "  sessions not terminal at the end\t%d\t%s\n", r.NonTerminal, mark)
	fmt.Fprintf(tw, "  (session, type) with several rows\t%d\t\n", r.DuplicateRows)
	for _, typ := range sortedKeys(r.Rows) {
		fmt.Fprintf(tw, "  rows %s\t%d\t%s\n", typ, sum(r.Rows[typ]), counts(r.Rows[typ]))
	}
	fmt.Fprintln(tw, "\t\t")
	fmt.Fprintln(tw, "RECEIVER (partner's event webhook)\t\t")
	fmt.Fprintf(tw, "  deliveries received\t%d\t\n", r.Receipts)
	fmt.Fprintf(tw, "  distinct event ids\t%d\t\n", r.DistinctIDs)
	fmt.Fprintf(tw, "  distinct (id, body)\t%d\t(more than distinct ids = an id sent with different bodies)\n", r.DistinctIDBodies)
	retries, unrecorded := 0, 0
	for _, d := range r.Duplicates {
		if d.Attempts >= d.Received {
			retries++
		} else if d.Attempts >= 0 {
			unrecorded++
		}
	}
	fmt.Fprintf(tw, "  ids received more than once\t%d\t%d with as many recorded attempts, %d re-sent beyond the recorded attempts\n", r.IDsReceivedTwice, retries, unrecorded)
	fmt.Fprintf(tw, "  ids with differing bodies\t%d\t\n", r.IDsDifferentBodies)
	fmt.Fprintf(tw, "  (session, type) received under 2+ ids\t%d\t(the same event emitted twice)\n", r.SessionTypeMultiID)
	fmt.Fprintf(tw, "  received ids without a row\t%d\t\n", r.UnknownIDs)
	fmt.Fprintf(tw, "  signature failures\t%d\t%s\n", r.SignatureFailures, r.SignatureSample)
	tw.Flush()

	fmt.Fprintf(w, "\nHTTP ANSWERS SEEN BY THE CLIENTS: %d × 5xx, %d transport errors (sandbox errors: %d)\n", r.Total5xx, r.TotalTransport, r.SandboxErrors)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "endpoint\trequests\t5xx\t429\ttransport errors\tother 4xx\t")
	for _, k := range sortedKeys(r.HTTP) {
		s := r.HTTP[k]
		other := counts(s.Other4xx)
		if other == "" {
			other = "-"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\t\n", k, s.Requests, s.Status5xx, s.Status429, s.TransportErrors, other)
	}
	tw.Flush()

	fmt.Fprintln(w, "\nLATENCY (callback rows: callback sent → decided answer, directly or through the page's polling)")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "group\tn\tp50\tp90\tp99\tmax\tunanswered\t")
	fmt.Fprintf(tw, "session create: first request → 201\t%d\t%s\t%s\t%s\t%s\t\t\n", r.Create.Count, secs(r.Create.P50),
		secs(r.Create.P90), secs(r.Create.P99), secs(r.Create.Max))
	fmt.Fprintf(tw, "all onboardings: callback → answer\t%d\t%s\t%s\t%s\t%s\t%d\t\n", r.Callback.Count, secs(r.Callback.P50),
		secs(r.Callback.P90), secs(r.Callback.P99), secs(r.Callback.Max), r.Unanswered)
	if r.Chaos.Target != "none" && !r.Chaos.RestartAt.IsZero() {
		for _, g := range []struct {
			name string
			k    killGroup
		}{{"in flight at the kill", r.InFlight}, {"sent during the outage", r.Outage}} {
			fmt.Fprintf(tw, "%s: restart → answer\t%d\t%s\t%s\t%s\t%s\t%d\t\n", g.name, g.k.SinceStart.Count, secs(g.k.SinceStart.P50),
				secs(g.k.SinceStart.P90), secs(g.k.SinceStart.P99), secs(g.k.SinceStart.Max), g.k.Unanswered)
			fmt.Fprintf(tw, "%s: callback → answer\t%d\t%s\t%s\t%s\t%s\t\t\n", g.name, g.k.Callback.Count, secs(g.k.Callback.P50),
				secs(g.k.Callback.P90), secs(g.k.Callback.P99), secs(g.k.Callback.Max))
		}
	}
	tw.Flush()
	fmt.Fprintf(w, "(first callback answered 202, then the page polled: %d; first callback got no HTTP answer: %d)\n",
		r.FirstAnswer202, r.FirstNoAnswer)

	if len(r.FailedDetails) > 0 {
		fmt.Fprintf(w, "\nFAILED SESSIONS (%d)\n", r.Failed)
		for _, l := range r.FailedDetails {
			fmt.Fprintln(w, "  "+l)
		}
	}
	if len(r.Lost) > 0 {
		fmt.Fprintf(w, "\nSESSIONS WITH A LOST EVENT (%d)\n", len(r.Lost))
		for i, l := range r.Lost {
			if i == maxLostLines {
				fmt.Fprintf(w, "  … and %d more (every session is in -json)\n", len(r.Lost)-maxLostLines)
				break
			}
			fmt.Fprintln(w, "  "+l)
		}
	}
	if r.Pass {
		fmt.Fprintf(w, "\nrun %d: PASS\n", r.Run)
	} else {
		fmt.Fprintf(w, "\nrun %d: FAIL (%d sessions lost an event, %d not terminal)\n", r.Run, r.LostSessions, r.NonTerminal)
	}
}

// printSummary prints one line per run.
func printSummary(w io.Writer, reports []*runReport) {
	fmt.Fprintln(w, "\n=== SUMMARY ===")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\tcompleted\tfailed\tother\tlost sessions\tstarted row/recv missing\tterminal row/recv missing\tnot terminal\tdup ids\t5xx\tcb p50\tcb max\tin-flight n\trestart→answer p50\tmax\tresult\t")
	for _, r := range reports {
		res := "PASS"
		if !r.Pass {
			res = "FAIL"
		}
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%d/%d\t%d/%d\t%d\t%d\t%d\t%s\t%s\t%d\t%s\t%s\t%s\t\n", r.Run, r.Completed, r.Failed, sum(r.OtherStatuses),
			r.LostSessions, r.StartedRowMissing, r.StartedNotReceived, r.TerminalRowMissing, r.TerminalNotReceived, r.NonTerminal,
			r.IDsReceivedTwice, r.Total5xx, secs(r.Callback.P50), secs(r.Callback.Max), r.InFlight.Count,
			secs(r.InFlight.SinceStart.P50), secs(r.InFlight.SinceStart.Max), res)
	}
	tw.Flush()
}

// printJSON prints the machine-readable report.
func printJSON(w io.Writer, o options, reports []*runReport) error {
	pass := len(reports) == o.Runs
	for _, r := range reports {
		pass = pass && r.Pass
	}
	out := map[string]any{
		"options": map[string]any{"runs": o.Runs, "n": o.N, "c": o.C, "kill": o.Kill, "killAfterSeconds": o.KillAfter.Seconds(),
			"restartAfterSeconds": o.RestartAfter.Seconds(), "deliverySchedule": o.DeliverySchedule, "settleSeconds": o.Settle.Seconds()},
		"runs": reports,
		"pass": pass,
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
