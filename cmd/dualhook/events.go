package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/dualhook/dualhook/api"
	"github.com/dualhook/dualhook/db/dbq"
	"github.com/dualhook/dualhook/internal/events"
	"github.com/dualhook/dualhook/internal/opt"
	"github.com/dualhook/dualhook/internal/store"
	"github.com/dualhook/dualhook/internal/temporalclient"
)

// eventsCommand is the operator's view of the delivery log (SPEC §8.5, §13): list, show, and
// replay one event or every failed event of a time window, across partners.
func eventsCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "events", Short: "Inspect the event delivery log and replay events"}
	var asJSON bool
	cmd.PersistentFlags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(eventsList(&asJSON), eventsShow(&asJSON), eventsReplay(&asJSON))
	return cmd
}

type eventFilterFlags struct {
	partner, status, since string
	failed                 bool
}

func (f *eventFilterFlags) bind(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.partner, "partner", "", "only this partner's events (default: every partner)")
	cmd.Flags().StringVar(&f.status, "status", "", "pending, delivered, failed or skipped")
	cmd.Flags().BoolVar(&f.failed, "failed", false, "same as --status failed")
	cmd.Flags().StringVar(&f.since, "since", "", "created at or after: a duration back from now (24h, 7d) or an RFC 3339 time")
}

func (f *eventFilterFlags) statusValue() (string, error) {
	if f.failed {
		if f.status != "" && f.status != events.StatusFailed {
			return "", errors.New("--failed and --status disagree")
		}
		return events.StatusFailed, nil
	}
	switch f.status {
	case "", events.StatusPending, events.StatusDelivered, events.StatusFailed, events.StatusSkipped:
		return f.status, nil
	}
	return "", fmt.Errorf("--status must be pending, delivered, failed or skipped")
}

// parseSince reads "24h", "90m", "7d" (back from now) or an RFC 3339 time.
func parseSince(v string, now time.Time) (time.Time, error) {
	if days, ok := strings.CutSuffix(v, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n >= 0 {
			return now.Add(-time.Duration(n) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is neither a duration (24h, 7d) nor an RFC 3339 time", v)
}

func eventsList(asJSON *bool) *cobra.Command {
	var f eventFilterFlags
	var eventType, tenant string
	var limit int
	cmd := &cobra.Command{
		Use:   "list [--partner ID] [--failed | --status S] [--type T] [--tenant T] [--since 24h]",
		Short: "List events, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			status, err := f.statusValue()
			if err != nil {
				return err
			}
			if limit < 1 || limit > 10000 {
				return errors.New("--limit must be between 1 and 10000")
			}
			params := dbq.ListEventsParams{RowLimit: int32(limit), PartnerID: opt.String(f.partner), Status: opt.String(status),
				Type: opt.String(eventType), TenantID: opt.String(tenant)}
			if f.since != "" {
				t, err := parseSince(f.since, time.Now())
				if err != nil {
					return err
				}
				params.Since = &t
			}
			op, err := openOperator(cmd.Context())
			if err != nil {
				return err
			}
			defer op.close()
			rows, err := op.store.ListEvents(cmd.Context(), params)
			if err != nil {
				return err
			}
			views := make([]eventView, 0, len(rows))
			for _, r := range rows {
				views = append(views, eventView{PartnerID: r.PartnerID, EventResponse: api.RenderEvent(r)})
			}
			if *asJSON {
				return printJSON(cmd.OutOrStdout(), views)
			}
			tw := newTable(cmd.OutOrStdout())
			fmt.Fprintln(tw, "EVENT\tTYPE\tSTATUS\tATTEMPTS\tPARTNER\tTENANT\tCREATED\tWORKFLOW")
			for _, v := range views {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", v.EventID, v.Type, v.Status, v.AttemptCount, v.PartnerID,
					opt.Or(v.TenantID, "-"), stamp(v.CreatedAt, time.DateTime), opt.Or(v.WorkflowID, "-"))
			}
			return tw.Flush()
		},
	}
	f.bind(cmd)
	cmd.Flags().StringVar(&eventType, "type", "", "only this event type")
	cmd.Flags().StringVar(&tenant, "tenant", "", "only this tenant id")
	cmd.Flags().IntVar(&limit, "limit", 50, "at most this many events")
	return cmd
}

func eventsShow(asJSON *bool) *cobra.Command {
	return &cobra.Command{
		Use:   "show EVENT_ID",
		Short: "Show an event, its body and every delivery attempt",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			op, err := openOperator(cmd.Context())
			if err != nil {
				return err
			}
			defer op.close()
			ev, err := op.store.GetEventByID(cmd.Context(), args[0])
			if store.IsNotFound(err) {
				return fmt.Errorf("no event %s", args[0])
			}
			if err != nil {
				return err
			}
			attempts, err := op.store.ListDeliveryAttempts(cmd.Context(), ev.ID)
			if err != nil {
				return err
			}
			v := eventDetailView{PartnerID: ev.PartnerID, EventWithAttempts: api.RenderEventWithAttempts(ev, attempts)}
			if *asJSON {
				return printJSON(cmd.OutOrStdout(), v)
			}
			return printEvent(cmd.OutOrStdout(), v)
		},
	}
}

func eventsReplay(asJSON *bool) *cobra.Command {
	var f eventFilterFlags
	var until string
	cmd := &cobra.Command{
		Use:   "replay EVENT_ID... | replay --failed --since 24h [--partner ID] [--until T]",
		Short: "Deliver events again (same id and body, fresh signatures, a new retry schedule)",
		Example: "  dualhook events replay evt_4f1c2b8e9a7d6c5b3a2918\n" +
			"  dualhook events replay --failed --since 24h\n" +
			"  dualhook events replay --status skipped --since 7d --partner ptn_…",
		RunE: func(cmd *cobra.Command, args []string) error {
			status, err := f.statusValue()
			if err != nil {
				return err
			}
			bulk := status != "" || f.since != ""
			if bulk == (len(args) > 0) {
				return errors.New("give event ids, or a window (--failed --since 24h), not both")
			}
			var w events.Window
			if bulk {
				if f.since == "" {
					return errors.New("--since is required for a bulk replay")
				}
				now := time.Now()
				w = events.Window{PartnerID: f.partner, Status: status, Until: now}
				if w.Status == "" {
					w.Status = events.StatusFailed
				}
				if w.Since, err = parseSince(f.since, now); err != nil {
					return err
				}
				if until != "" {
					if w.Until, err = parseSince(until, now); err != nil {
						return err
					}
				}
			}
			op, err := openOperator(cmd.Context())
			if err != nil {
				return err
			}
			defer op.close()
			r, closeTemporal, err := op.replayer(cmd.Context())
			if err != nil {
				return err
			}
			defer closeTemporal()
			if bulk {
				return replayWindow(cmd, r, w, *asJSON)
			}
			return replayEvents(cmd, op, r, args, *asJSON)
		},
	}
	f.bind(cmd)
	cmd.Flags().StringVar(&until, "until", "", "created before (bulk): a duration back from now or an RFC 3339 time (default now)")
	return cmd
}

// replayer connects to Temporal: replays are workflows.
func (o *operator) replayer(ctx context.Context) (*events.Replayer, func(), error) {
	ring, err := o.cfg.Keyring()
	if err != nil {
		return nil, nil, err
	}
	c, err := temporalclient.Dial(ctx, temporalclient.Options{
		Address: o.cfg.TemporalAddress, Namespace: o.cfg.TemporalNamespace, Ring: ring,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return nil, nil, err
	}
	return &events.Replayer{Store: o.store, Temporal: c, TaskQueue: o.cfg.TemporalTaskQueue}, c.Close, nil
}

func replayEvents(cmd *cobra.Command, op *operator, r *events.Replayer, idList []string, asJSON bool) error {
	var out []api.RedeliverResponse
	for _, id := range idList {
		ev, err := op.store.GetEventByID(cmd.Context(), id)
		if store.IsNotFound(err) {
			return fmt.Errorf("no event %s", id)
		}
		if err != nil {
			return err
		}
		wf, err := r.Redeliver(cmd.Context(), ev)
		if err != nil {
			return err
		}
		out = append(out, api.RedeliverResponse{EventID: id, WorkflowID: wf})
	}
	if asJSON {
		return printJSON(cmd.OutOrStdout(), out)
	}
	for _, v := range out {
		fmt.Fprintf(cmd.OutOrStdout(), "%s: redelivery scheduled (workflow %s)\n", v.EventID, v.WorkflowID)
	}
	return nil
}

func replayWindow(cmd *cobra.Command, r *events.Replayer, w events.Window, asJSON bool) error {
	total := 0
	for {
		res, err := r.RedeliverWindow(cmd.Context(), w)
		total += res.Scheduled
		if err != nil {
			return fmt.Errorf("after %d scheduled: %w", total, err)
		}
		// Each call continues strictly after the events the previous one scheduled: replayed
		// delivered events stay delivered, so the status alone would pick them again forever.
		if !res.More || res.Scheduled == 0 {
			break
		}
		w.After = res.Next
	}
	if asJSON {
		// The loop above went on until nothing was left, so hasMore is false.
		return printJSON(cmd.OutOrStdout(), api.BulkRedeliverResponse{Count: total})
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%d %s event(s) created %s – %s scheduled for redelivery\n", total, w.Status,
		w.Since.UTC().Format(time.RFC3339), w.Until.UTC().Format(time.RFC3339))
	return nil
}

func printEvent(w io.Writer, v eventDetailView) error {
	fmt.Fprintf(w, "event:     %s\ntype:      %s\nstatus:    %s\npartner:   %s\n", v.EventID, v.Type, v.Status, v.PartnerID)
	for _, f := range []struct {
		name string
		v    *string
	}{{"tenant", v.TenantID}, {"session", v.SessionID}, {"connection", v.ConnectionID}, {"waba", v.WabaID}} {
		if f.v != nil {
			fmt.Fprintf(w, "%-10s %s\n", f.name+":", *f.v)
		}
	}
	fmt.Fprintf(w, "created:   %s\nworkflow:  %s\nbody:      %s\n", v.CreatedAt, opt.Or(v.WorkflowID, "-"), v.Payload)
	if len(v.Attempts) == 0 {
		fmt.Fprintln(w, "attempts:  none yet")
		return nil
	}
	fmt.Fprintln(w, "attempts:")
	tw := newTable(w)
	fmt.Fprintln(tw, "  #\tSTARTED\tOUTCOME\tSTATUS\tLATENCY\tERROR\tWORKFLOW")
	for _, a := range v.Attempts {
		code, latency := "-", "-"
		if a.StatusCode != nil {
			code = strconv.Itoa(int(*a.StatusCode))
		}
		if a.LatencyMs != nil {
			latency = strconv.Itoa(int(*a.LatencyMs)) + "ms"
		}
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\t%s\t%s\n", a.AttemptNumber, stamp(a.StartedAt, time.RFC3339), a.Outcome, code, latency,
			opt.Or(a.Error, "-"), opt.Or(a.WorkflowID, "-"))
	}
	return tw.Flush()
}
