package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/dualhook/dualhook/db/dbq"
	"github.com/dualhook/dualhook/internal/apierr"
	"github.com/dualhook/dualhook/internal/events"
	"github.com/dualhook/dualhook/internal/ids"
	"github.com/dualhook/dualhook/internal/store"
)

// The delivery log and replay of SPEC §8.5.

// EventResponse is SPEC §8.5's event object, an entry of GET /api/v1/events (the CLI prints it
// too).
type EventResponse struct {
	EventID       string          `json:"eventId"`
	Type          string          `json:"type"`
	Status        string          `json:"status"`
	TenantID      *string         `json:"tenantId"`
	SessionID     *string         `json:"sessionId"`
	ConnectionID  *string         `json:"connectionId"`
	WabaID        *string         `json:"wabaId"`
	AttemptCount  int32           `json:"attemptCount"`
	WorkflowID    *string         `json:"workflowId"`
	CreatedAt     string          `json:"createdAt"`
	LastAttemptAt *string         `json:"lastAttemptAt"`
	DeliveredAt   *string         `json:"deliveredAt"`
	Payload       json.RawMessage `json:"payload"`
}

// EventWithAttempts is GET /api/v1/events/{id}: the event and every delivery attempt.
type EventWithAttempts struct {
	EventResponse
	Attempts []AttemptResponse `json:"attempts"`
}

// AttemptResponse is one delivery attempt of an event.
type AttemptResponse struct {
	AttemptID       string  `json:"attemptId"`
	AttemptNumber   int32   `json:"attemptNumber"`
	Outcome         string  `json:"outcome"`
	StartedAt       string  `json:"startedAt"`
	LatencyMs       *int32  `json:"latencyMs"`
	StatusCode      *int32  `json:"statusCode"`
	ResponsePreview *string `json:"responsePreview"`
	Error           *string `json:"error"`
	URL             *string `json:"url"`
	WorkflowID      *string `json:"workflowId"`
}

// RenderEvent is the event object of a row.
func RenderEvent(e dbq.Event) EventResponse {
	return EventResponse{
		EventID: e.ID, Type: e.Type, Status: e.Status, TenantID: e.TenantID, SessionID: e.SessionID,
		ConnectionID: e.ConnectionID, WabaID: e.WabaID, AttemptCount: e.AttemptCount, WorkflowID: e.WorkflowID,
		CreatedAt: timestamp(e.CreatedAt), LastAttemptAt: optTimestamp(e.LastAttemptAt), DeliveredAt: optTimestamp(e.DeliveredAt),
		// The body is the exact JSON object every attempt sends.
		Payload: json.RawMessage(e.Body),
	}
}

// RenderEventWithAttempts is the event object of a row with its attempts, oldest first.
func RenderEventWithAttempts(e dbq.Event, attempts []dbq.DeliveryAttempt) EventWithAttempts {
	out := EventWithAttempts{EventResponse: RenderEvent(e), Attempts: make([]AttemptResponse, 0, len(attempts))}
	for _, a := range attempts {
		out.Attempts = append(out.Attempts, renderAttempt(a))
	}
	return out
}

func renderAttempt(a dbq.DeliveryAttempt) AttemptResponse {
	return AttemptResponse{
		AttemptID: a.ID, AttemptNumber: a.AttemptNumber, Outcome: a.Outcome, StartedAt: timestamp(a.StartedAt),
		LatencyMs: a.LatencyMs, StatusCode: a.StatusCode, ResponsePreview: a.ResponsePreview, Error: a.Error,
		URL: a.URL, WorkflowID: a.WorkflowID,
	}
}

var eventStatuses = map[string]bool{
	events.StatusPending: true, events.StatusDelivered: true, events.StatusFailed: true, events.StatusSkipped: true,
}

// listEvents is GET /api/v1/events?status=&type=&tenantId=&since= (newest first, paginated).
func (s *Server) listEvents(c echo.Context) error {
	p, err := parsePage(c)
	if err != nil {
		return err
	}
	partnerID := partnerOf(c).ID
	params := dbq.ListEventsParams{PartnerID: &partnerID, RowLimit: int32(p.limit + 1), BeforeCreatedAt: p.before, BeforeID: p.lastID}
	bad := problems{}
	if v := c.QueryParam("status"); v != "" {
		if !eventStatuses[v] {
			bad.add("status", "must be one of pending, delivered, failed, skipped")
		}
		params.Status = &v
	}
	if v := c.QueryParam("type"); v != "" {
		bad.checkText("type", v, 1, 100)
		params.Type = &v
	}
	if v := c.QueryParam("tenantId"); v != "" {
		bad.checkText("tenantId", v, 1, 128)
		params.TenantID = &v
	}
	if v := c.QueryParam("since"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			bad.add("since", "must be an RFC 3339 timestamp")
		}
		params.Since = &t
	}
	if err := bad.err(); err != nil {
		return err
	}
	rows, err := s.deps.Store.ListEvents(c.Request().Context(), params)
	if err != nil {
		return err
	}
	return respondPage(c, p, rows, func(e dbq.Event) (time.Time, string) { return e.CreatedAt, e.ID }, RenderEvent)
}

// eventOf loads the path's event; another partner's id is as absent as a made-up one.
func (s *Server) eventOf(c echo.Context) (dbq.Event, error) {
	id := c.Param("id")
	if !ids.HasPrefix(id, ids.Event) {
		return dbq.Event{}, apierr.NotFound("event")
	}
	ev, err := s.deps.Store.GetEvent(c.Request().Context(), dbq.GetEventParams{PartnerID: partnerOf(c).ID, ID: id})
	if store.IsNotFound(err) {
		return dbq.Event{}, apierr.NotFound("event")
	}
	return ev, err
}

// getEvent is GET /api/v1/events/{id}: the event with every attempt and the workflow that
// made the latest one.
func (s *Server) getEvent(c echo.Context) error {
	ev, err := s.eventOf(c)
	if err != nil {
		return err
	}
	attempts, err := s.deps.Store.ListDeliveryAttempts(c.Request().Context(), ev.ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, RenderEventWithAttempts(ev, attempts))
}

func (s *Server) replayer() (*events.Replayer, error) {
	if s.deps.Temporal == nil {
		return nil, unavailable("Temporal is not configured.")
	}
	return &events.Replayer{Store: s.deps.Store, Temporal: s.deps.Temporal, TaskQueue: s.deps.Config.TemporalTaskQueue,
		Limits: &events.Limits{DailyCap: s.deps.Config.ReplayDailyCap, Now: s.deps.Now}}, nil
}

// replayRefusal is the API error of a replay the partner's bounds refuse, if err is one.
func replayRefusal(err error, now time.Time) (*apierr.Error, bool) {
	if errors.Is(err, events.ErrReplayInProgress) {
		return apierr.New(apierr.CodeReplayInProgress,
			"Another bulk replay of your events is running; retry when it has answered."), true
	}
	var capErr *events.DailyCapError
	if errors.As(err, &capErr) {
		retry := max(int(capErr.Reset.Sub(now).Seconds()+0.999), 1)
		e := apierr.New(apierr.CodeRateLimited, "The daily limit of %d replayed events is used up; it resets at %s (in %d s).",
			capErr.Cap, timestamp(capErr.Reset), retry)
		e.Header = http.Header{"Retry-After": {strconv.Itoa(retry)}}
		return e, true
	}
	return nil, false
}

// RedeliverResponse is POST /api/v1/events/{id}/redeliver's answer.
type RedeliverResponse struct {
	EventID    string `json:"eventId"`
	WorkflowID string `json:"workflowId"`
}

// redeliverEvent is POST /api/v1/events/{id}/redeliver: a new delivery of the same event id and
// body, whatever the event's status.
func (s *Server) redeliverEvent(c echo.Context) error {
	ev, err := s.eventOf(c)
	if err != nil {
		return err
	}
	r, err := s.replayer()
	if err != nil {
		return err
	}
	wf, err := r.Redeliver(c.Request().Context(), ev)
	if e, ok := replayRefusal(err, s.deps.Now()); ok {
		return e
	}
	if err != nil {
		s.log(c).Error("starting a redelivery failed", "event_id", ev.ID, "error", err)
		return unavailable("The redelivery could not be scheduled; try again.")
	}
	return c.JSON(http.StatusAccepted, RedeliverResponse{EventID: ev.ID, WorkflowID: wf})
}

type bulkRedeliverRequest struct {
	Status *string `json:"status"`
	Since  *string `json:"since"`
	Until  *string `json:"until"`
	Cursor *string `json:"cursor"`
}

// BulkRedeliverResponse is POST /api/v1/events/redeliver's answer. NextCursor (an extension,
// set when HasMore) continues the replay strictly after the events this call scheduled.
type BulkRedeliverResponse struct {
	Count      int     `json:"count"`
	HasMore    bool    `json:"hasMore"`
	NextCursor *string `json:"nextCursor,omitempty"`
}

// redeliverEvents is POST /api/v1/events/redeliver {"status":"failed","since","until","cursor"}:
// replays the partner's events of that status created in [since, until), up to 1000 per call,
// oldest first, after the cursor of the previous call if given. One bulk replay runs at a time
// per partner (409 replay_in_progress), and replays draw on the partner's daily cap (429
// rate_limited).
func (s *Server) redeliverEvents(c echo.Context) error {
	var req bulkRedeliverRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	w := events.Window{PartnerID: partnerOf(c).ID, Status: events.StatusFailed, Until: s.deps.Now()}
	bad := problems{}
	if req.Status != nil {
		switch *req.Status {
		case events.StatusFailed, events.StatusSkipped, events.StatusDelivered:
			w.Status = *req.Status
		default:
			bad.add("status", "must be failed, skipped or delivered")
		}
	}
	parse := func(field string, v *string, dst *time.Time) {
		if v == nil {
			return
		}
		t, err := time.Parse(time.RFC3339Nano, *v)
		if err != nil {
			bad.add(field, "must be an RFC 3339 timestamp")
			return
		}
		*dst = t
	}
	if req.Since == nil {
		bad.add("since", "is required")
	}
	parse("since", req.Since, &w.Since)
	parse("until", req.Until, &w.Until)
	if len(bad) == 0 && !w.Since.Before(w.Until) {
		bad.add("until", "must be after since")
	}
	if req.Cursor != nil {
		t, id, ok := decodeCursor(*req.Cursor)
		if !ok {
			bad.add("cursor", "is not a cursor this API issued")
		}
		w.After = &events.Cursor{CreatedAt: t, ID: id}
	}
	if err := bad.err(); err != nil {
		return err
	}
	r, err := s.replayer()
	if err != nil {
		return err
	}
	res, err := r.RedeliverWindow(c.Request().Context(), w)
	if errors.Is(err, events.ErrNotReplayable) {
		return apierr.InvalidFields(map[string]string{"status": "must be failed, skipped or delivered"})
	}
	if e, ok := replayRefusal(err, s.deps.Now()); ok {
		return e
	}
	if err != nil {
		s.log(c).Error("bulk redelivery failed", "error", err)
		return unavailable("The redeliveries could not be scheduled; try again.")
	}
	out := BulkRedeliverResponse{Count: res.Scheduled, HasMore: res.More}
	if res.More && res.Next != nil {
		next := encodeCursor(res.Next.CreatedAt, res.Next.ID)
		out.NextCursor = &next
	}
	return c.JSON(http.StatusAccepted, out)
}
