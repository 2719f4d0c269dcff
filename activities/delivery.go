package activities

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/dualhook/dualhook/db/dbq"
	"github.com/dualhook/dualhook/egress"
	"github.com/dualhook/dualhook/internal/config"
	"github.com/dualhook/dualhook/internal/domain"
	"github.com/dualhook/dualhook/internal/events"
	"github.com/dualhook/dualhook/internal/eventtypes"
	"github.com/dualhook/dualhook/internal/ids"
	"github.com/dualhook/dualhook/internal/opt"
	"github.com/dualhook/dualhook/internal/partners"
	"github.com/dualhook/dualhook/internal/store"
	"github.com/dualhook/dualhook/signature"
)

// Delivery constants of SPEC §8.3.
const (
	// MaxRetryAfter caps a receiver's Retry-After.
	MaxRetryAfter = 24 * time.Hour
	// PreviewBytes bounds the response preview kept with each attempt.
	PreviewBytes = 1024
	// heartbeatEvery keeps a slow attempt alive in Temporal's eyes (the heartbeat timeout is
	// 10 s): without it a killed worker would hold the attempt for the whole start-to-close.
	heartbeatEvery = 2 * time.Second
)

// Error types of the DeliverEvent activity, as seen in the Temporal UI.
const (
	errTypeAttemptFailed  = "DeliveryAttemptFailed"
	errTypeDeliveryFailed = "DeliveryFailed"
	errTypeEventMissing   = "EventMissing"
)

// DeliverEvent makes one attempt to deliver an event (SPEC §8.1, §8.3) and tells Temporal when
// to make the next: the error of a failed attempt carries the schedule's next delay (or the
// receiver's longer Retry-After) as NextRetryDelay, and is non-retryable after the last attempt
// or a 410. Every attempt is recorded with the event's new status in one statement.
//
// The position in the schedule is the number of attempts this workflow already recorded, not
// Temporal's attempt counter: a worker killed mid-request records nothing, so its attempt is
// simply made again (the receiver may see the event twice — delivery is at-least-once — but the
// schedule is not shortened), and an attempt that succeeded is never repeated.
func (a *Activities) DeliverEvent(ctx context.Context, in domain.DeliverEventInput) (domain.DeliveryResult, error) {
	res, err := a.deliverOnce(ctx, in)
	if err != nil || res.Status != domain.DeliveryRetry && res.Status != domain.DeliveryFailed {
		return res, err
	}
	// A partner's receiver failing is not our error: benign errors are logged by the SDK at
	// debug level instead of one ERROR line per attempt (deliverOnce logs the attempt).
	if res.Status == domain.DeliveryFailed {
		return res, temporal.NewApplicationErrorWithOptions(res.Error, errTypeDeliveryFailed, temporal.ApplicationErrorOptions{
			NonRetryable: true, Details: []any{res}, Category: temporal.ApplicationErrorCategoryBenign,
		})
	}
	return res, temporal.NewApplicationErrorWithOptions(res.Error, errTypeAttemptFailed, temporal.ApplicationErrorOptions{
		NextRetryDelay: res.NextDelay, Category: temporal.ApplicationErrorCategoryBenign,
	})
}

// DeliverEventFirst is the first attempt of workflows.StartDeliveriesInWorker, run as a local
// activity in the worker that runs the workflow: no task queue round trip and no extra workflow
// task, which is most of the cost of a delivery on a small Temporal server. It never returns a
// failed attempt as an error: the workflow reads Status (DeliveryRetry with NextDelay) and
// hands the rest of the schedule to DeliverEvent.
func (a *Activities) DeliverEventFirst(ctx context.Context, in domain.DeliverEventInput) (domain.DeliveryResult, error) {
	return a.deliverOnce(ctx, in)
}

// deliverOnce makes one attempt and returns its result: delivered, skipped, missing, failed
// (the last attempt or a 410) or retry (with the delay before the next). An error means the
// attempt could not be made or recorded (database, worker stopping) and should be made again.
func (a *Activities) deliverOnce(ctx context.Context, in domain.DeliverEventInput) (domain.DeliveryResult, error) {
	res := domain.DeliveryResult{EventID: in.EventID}
	workflowID := activity.GetInfo(ctx).WorkflowExecution.ID
	row, err := a.Store.GetEventForDelivery(ctx, dbq.GetEventForDeliveryParams{ID: in.EventID, WorkflowID: workflowID})
	if store.IsNotFound(err) {
		// Pruned, or the partner was deleted: nothing to deliver, and nothing to retry.
		res.Status = domain.DeliveryMissing
		return res, nil
	}
	if err != nil {
		return res, err
	}
	ev, partner := row.Event, row.Partner
	res.Attempts = int(row.RunAttempts)
	if row.RunDelivered {
		res.Status = domain.DeliveryDelivered
		return res, nil
	}

	// Decided now, not at emit time, so a partner who configures a URL later can replay.
	if reason := skipReason(partner, ev.Type); reason != "" {
		if _, err := a.record(ctx, ev.ID, workflowID, attemptRecord{outcome: domain.DeliverySkipped, errText: reason}); err != nil {
			return res, err
		}
		res.Status = domain.DeliverySkipped
		return res, nil
	}

	schedule := a.Config.DeliveryRetrySchedule()
	attempt := res.Attempts + 1
	final := attempt > len(schedule)
	rec := a.attempt(ctx, ev, partner)
	if ctx.Err() != nil {
		// The worker is stopping or Temporal gave up on this attempt (heartbeat timeout): not an
		// outcome to record; the retry makes the attempt again.
		return res, ctx.Err()
	}
	switch {
	case rec.delivered():
		rec.outcome = domain.DeliveryDelivered
	case rec.statusCode == http.StatusGone:
		rec.outcome, final = domain.DeliveryFailed, true
		rec.errText = "410 Gone: the receiver asked to stop retrying"
	case final:
		rec.outcome = domain.DeliveryFailed
	default:
		rec.outcome = domain.DeliveryRetry
	}
	if _, err := a.record(ctx, ev.ID, workflowID, rec); err != nil {
		return res, err
	}
	res.Attempts = attempt
	res.Status = rec.outcome
	if rec.outcome == domain.DeliveryDelivered {
		return res, nil
	}
	res.Error = fmt.Sprintf("attempt %d of %d: %s", attempt, len(schedule)+1, rec.errText)
	if !final {
		res.NextDelay = NextDelay(schedule, attempt, rec.retryAfter)
	}
	a.logger().Warn("event delivery attempt failed", "event_id", ev.ID, "partner_id", ev.PartnerID,
		"event_type", ev.Type, "attempt", attempt, "status_code", rec.statusCode, "error", rec.errText, "final", final)
	return res, nil
}

// DescribeEvent labels the workflow that delivers an event (search attributes).
func (a *Activities) DescribeEvent(ctx context.Context, eventID string) (domain.EventSummary, error) {
	ev, err := a.Store.GetEventByID(ctx, eventID)
	if store.IsNotFound(err) {
		return domain.EventSummary{}, temporal.NewNonRetryableApplicationError("no event "+eventID, errTypeEventMissing, nil)
	}
	if err != nil {
		return domain.EventSummary{}, err
	}
	s := domain.EventSummary{EventID: ev.ID, Type: ev.Type, PartnerID: ev.PartnerID}
	if ev.TenantID != nil {
		s.TenantID = *ev.TenantID
	}
	return s, nil
}

// skipReason says why the partner cannot receive the event now (SPEC §3, §8.2), or "".
func skipReason(p dbq.Partner, eventType string) string {
	if p.EventWebhookURL == nil || *p.EventWebhookURL == "" {
		return "skipped: the partner has no eventWebhookUrl"
	}
	if !eventtypes.Subscribed(p.EventTypes, eventType) {
		return "skipped: the partner's eventTypes do not include " + eventType
	}
	return ""
}

// NextDelay is the wait after failed attempt n (1-based): the schedule's, or the receiver's
// Retry-After when longer, capped at MaxRetryAfter (SPEC §8.3).
func NextDelay(schedule []time.Duration, attempt int, retryAfter time.Duration) time.Duration {
	d := schedule[min(max(attempt, 1), len(schedule))-1]
	if retryAfter > d {
		d = min(retryAfter, MaxRetryAfter)
	}
	return d
}

// ParseRetryAfter reads a Retry-After value: delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		if n > int64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter, true
		}
		return time.Duration(n) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

// attemptRecord is what one attempt produced.
type attemptRecord struct {
	url        string
	startedAt  time.Time
	latency    time.Duration
	statusCode int
	preview    string
	errText    string
	retryAfter time.Duration
	outcome    string
}

func (r attemptRecord) delivered() bool {
	return r.errText == "" && r.statusCode >= 200 && r.statusCode < 300
}

// attempt signs and POSTs the stored body through the egress gate (SPEC §12). It never returns
// an error: every failure is an outcome to record.
func (a *Activities) attempt(ctx context.Context, ev dbq.Event, p dbq.Partner) attemptRecord {
	rec := attemptRecord{url: *p.EventWebhookURL, startedAt: a.now()}
	current, previous, err := (&partners.Service{Ring: a.Ring, Now: a.Now}).SigningSecrets(p)
	if err == nil {
		err = signature.ValidateSecret(current)
	}
	if err == nil && previous != "" && signature.ValidateSecret(previous) != nil {
		previous = ""
	}
	if err != nil {
		// Never the secret or the decryption detail: a key-ring problem for the operator.
		rec.errText = "the partner's signing secret cannot be read (check DUALHOOK_ENCRYPTION_KEYS)"
		return rec
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rec.url, bytes.NewReader(ev.Body))
	if err != nil {
		rec.errText = "the eventWebhookUrl is not a valid URL"
		return rec
	}
	req.Header = signature.Sign(signature.Secrets{Current: current, Previous: previous}, ev.ID, ev.Type, rec.startedAt, ev.Body)
	req.Header.Set("User-Agent", "Dualhook-Webhooks/1")

	stop := a.heartbeatWhile(ctx)
	resp, err := a.deliveryClient().Do(req)
	if err == nil {
		rec.statusCode = resp.StatusCode
		body, _, _ := egress.ReadLimited(resp.Body, PreviewBytes)
		_ = resp.Body.Close() // ReadLimited closed it already; said again for readers and linters
		rec.preview = Preview(body)
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
			rec.retryAfter, _ = ParseRetryAfter(resp.Header.Get("Retry-After"), a.now())
		}
	}
	stop()
	rec.latency = a.now().Sub(rec.startedAt)
	switch {
	case err != nil:
		rec.errText = describeSendError(err, a.deliveryTimeout(), rec.url)
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		rec.errText = fmt.Sprintf("HTTP %d: redirects are not followed", resp.StatusCode)
	case resp.StatusCode < 200 || resp.StatusCode >= 300:
		rec.errText = fmt.Sprintf("HTTP %d", resp.StatusCode)
	}
	return rec
}

// heartbeatWhile heartbeats until stop is called, so Temporal notices a lost worker within the
// heartbeat timeout rather than the start-to-close timeout.
func (a *Activities) heartbeatWhile(ctx context.Context) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(heartbeatEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				activity.RecordHeartbeat(ctx)
			case <-done:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return func() { close(done) }
}

// describeSendError turns a transport error into text for the delivery log. It never includes
// the URL (partners put credentials in paths and queries) nor a refused internal address.
func describeSendError(err error, timeout time.Duration, rawURL string) string {
	var denied *egress.DeniedError
	var urlErr *egress.URLError
	var netErr net.Error
	switch {
	case errors.As(err, &urlErr):
		return "refused: " + strings.TrimPrefix(urlErr.Error(), "egress: ")
	case errors.As(err, &denied):
		return "refused: " + strings.TrimPrefix(denied.Error(), "egress: ")
	case errors.As(err, &netErr) && netErr.Timeout():
		return fmt.Sprintf("no response within %s", timeout)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	text := err.Error()
	if rawURL != "" {
		text = strings.ReplaceAll(text, rawURL, "<eventWebhookUrl>")
	}
	return text
}

// Preview makes a response body storable: valid UTF-8 without NUL bytes, at most PreviewBytes
// bytes, cut on a character boundary.
func Preview(body []byte) string {
	s := strings.ToValidUTF8(string(body), "\uFFFD")
	s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	if len(s) <= PreviewBytes {
		return s
	}
	cut := PreviewBytes
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// record stores an attempt and the event's new status.
func (a *Activities) record(ctx context.Context, eventID, workflowID string, r attemptRecord) (dbq.DeliveryAttempt, error) {
	status := r.outcome
	if r.outcome == domain.DeliveryRetry {
		status = events.StatusPending
	}
	p := dbq.RecordDeliveryAttemptParams{
		ID: ids.New(ids.Delivery), EventID: eventID, WorkflowID: workflowID, StartedAt: r.startedAt,
		Outcome: r.outcome, Status: status, Error: opt.String(r.errText),
	}
	if p.StartedAt.IsZero() {
		p.StartedAt = a.now()
	}
	if r.url != "" {
		p.URL = &r.url
		ms := int32(r.latency / time.Millisecond)
		p.LatencyMs = &ms
	}
	if r.statusCode != 0 {
		code := int32(r.statusCode)
		p.StatusCode = &code
		p.ResponsePreview = &r.preview
	}
	row, err := a.Store.RecordDeliveryAttempt(ctx, p)
	if err != nil {
		return row, fmt.Errorf("record delivery attempt of %s: %w", eventID, err)
	}
	if a.Metrics != nil {
		a.Metrics.Deliveries.WithLabelValues(r.outcome).Inc()
	}
	return row, nil
}

func (a *Activities) logger() *slog.Logger {
	if a.Logger != nil {
		return a.Logger
	}
	return slog.Default()
}

func (a *Activities) deliveryTimeout() time.Duration {
	d := a.Config.DeliveryTimeout
	if d <= 0 {
		return 10 * time.Second
	}
	return min(d, config.MaxDeliveryTimeout)
}

// deliveryClient is built once: connections to a partner's receiver are reused across events.
func (a *Activities) deliveryClient() *http.Client {
	a.clientOnce.Do(func() {
		if a.DeliveryClient == nil {
			a.DeliveryClient = a.Egress.NewClient(a.deliveryTimeout())
		}
	})
	return a.DeliveryClient
}
