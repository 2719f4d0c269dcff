-- name: InsertEvent :execrows
-- Runs inside the transaction of the state change the event reports. The id comes from the
-- workflow, so a retried activity inserts nothing the second time. workflow_id is the emitting
-- workflow, which delivers the event (or hands it to a child).
INSERT INTO events (id, partner_id, type, tenant_id, session_id, connection_id, waba_id, body, created_at, workflow_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (id) DO NOTHING;

-- name: GetEventForDelivery :one
-- Everything one delivery attempt needs, in one round trip. The partner is read afresh on every
-- attempt: a changed URL, subscription or secret applies from the next attempt on. run_attempts
-- is the position in the retry schedule: the HTTP attempts this workflow already recorded (a
-- crashed attempt records none, so it does not use up the schedule); run_delivered says an
-- attempt of this workflow already succeeded, so it is not repeated.
SELECT sqlc.embed(events), sqlc.embed(partners),
       (SELECT count(*) FROM delivery_attempts d
        WHERE d.event_id = events.id AND d.workflow_id = sqlc.arg(workflow_id)::text
          AND d.outcome IN ('retry', 'failed', 'delivered'))::integer AS run_attempts,
       EXISTS (SELECT 1 FROM delivery_attempts d
               WHERE d.event_id = events.id AND d.workflow_id = sqlc.arg(workflow_id)::text
                 AND d.outcome = 'delivered') AS run_delivered
FROM events JOIN partners ON partners.id = events.partner_id
WHERE events.id = sqlc.arg(id)::text;

-- name: GetEvent :one
SELECT * FROM events WHERE partner_id = $1 AND id = $2;

-- name: GetEventByID :one
-- Operator access (CLI): any partner's event.
SELECT * FROM events WHERE id = $1;

-- name: ListEvents :many
-- partner_id is always set by the API; only the operator CLI lists across partners.
SELECT * FROM events
WHERE (sqlc.narg(partner_id)::text IS NULL OR partner_id = sqlc.narg(partner_id)::text)
  AND (sqlc.narg(status)::text IS NULL OR status = sqlc.narg(status)::text)
  AND (sqlc.narg(type)::text IS NULL OR type = sqlc.narg(type)::text)
  AND (sqlc.narg(tenant_id)::text IS NULL OR tenant_id = sqlc.narg(tenant_id)::text)
  AND (sqlc.narg(since)::timestamptz IS NULL OR created_at >= sqlc.narg(since)::timestamptz)
  AND (sqlc.narg(before_created_at)::timestamptz IS NULL
       OR (created_at, id) < (sqlc.narg(before_created_at)::timestamptz, sqlc.arg(before_id)::text))
ORDER BY created_at DESC, id DESC
LIMIT sqlc.arg(row_limit);

-- name: ListDeliveryAttempts :many
SELECT * FROM delivery_attempts WHERE event_id = $1 ORDER BY attempt_number;

-- name: RecordDeliveryAttempt :one
-- One statement records the attempt and moves the event's status, so the two never disagree.
-- A delivered event stays delivered: a later replay that fails does not undo the receipt.
WITH ev AS (
    UPDATE events
    SET attempt_count   = attempt_count + 1,
        last_attempt_at = sqlc.arg(started_at)::timestamptz,
        workflow_id     = sqlc.arg(workflow_id)::text,
        status          = CASE WHEN status = 'delivered' THEN 'delivered' ELSE sqlc.arg(status)::text END,
        delivered_at    = CASE WHEN sqlc.arg(status)::text = 'delivered' THEN sqlc.arg(started_at)::timestamptz ELSE delivered_at END,
        updated_at      = now()
    WHERE id = sqlc.arg(event_id)::text
    RETURNING attempt_count
)
INSERT INTO delivery_attempts (id, event_id, attempt_number, workflow_id, url, started_at, latency_ms,
                               status_code, response_preview, error, outcome)
SELECT sqlc.arg(id)::text, sqlc.arg(event_id)::text, ev.attempt_count, sqlc.arg(workflow_id)::text,
       sqlc.narg(url)::text, sqlc.arg(started_at)::timestamptz, sqlc.narg(latency_ms)::integer,
       sqlc.narg(status_code)::integer, sqlc.narg(response_preview)::text, sqlc.narg(error)::text,
       sqlc.arg(outcome)::text
FROM ev
RETURNING *;

-- name: ScheduleRedelivery :one
-- Numbers a replay and puts the event back to pending (a delivered event stays delivered), so a
-- second bulk replay does not pick the same events again. previous_status lets the caller undo
-- the status change when the workflow could not be started.
WITH old AS (
    SELECT events.id, events.status FROM events WHERE events.id = $1 FOR UPDATE
)
UPDATE events
SET redelivery_count = events.redelivery_count + 1,
    status = CASE WHEN events.status = 'delivered' THEN events.status ELSE 'pending' END,
    updated_at = now()
FROM old
WHERE events.id = old.id
RETURNING events.redelivery_count, old.status AS previous_status;

-- name: RestoreEventStatus :exec
UPDATE events SET status = $2, updated_at = now() WHERE id = $1 AND status = 'pending';

-- name: ListEventsForRedelivery :many
-- Oldest first; after_created_at/after_id is the cursor of the previous page, so repeated bulk
-- calls work through a large window in order and never pick the same events again (a replayed
-- delivered event stays delivered, so the status alone would not move on).
SELECT * FROM events
WHERE (sqlc.narg(partner_id)::text IS NULL OR partner_id = sqlc.narg(partner_id)::text)
  AND status = sqlc.arg(status)::text
  AND created_at >= sqlc.arg(since)::timestamptz
  AND created_at < sqlc.arg(until)::timestamptz
  AND (sqlc.narg(after_created_at)::timestamptz IS NULL
       OR (created_at, id) > (sqlc.narg(after_created_at)::timestamptz, sqlc.arg(after_id)::text))
ORDER BY created_at, id
LIMIT sqlc.arg(row_limit);

-- name: AcquireReplayLease :execrows
-- One bulk replay at a time per partner: takes the partner's lease unless another holder's has
-- not expired yet (0 rows). The database's clock dates the lease, so API hosts' clocks do not matter.
INSERT INTO replay_leases (partner_id, holder, expires_at)
VALUES (sqlc.arg(partner_id)::text, sqlc.arg(holder)::text, now() + make_interval(secs => sqlc.arg(ttl_seconds)::float8))
ON CONFLICT (partner_id) DO UPDATE
SET holder = excluded.holder, acquired_at = now(), expires_at = excluded.expires_at
WHERE replay_leases.expires_at <= now();

-- name: ReleaseReplayLease :exec
DELETE FROM replay_leases WHERE partner_id = $1 AND holder = $2;

-- name: ReserveReplayBudget :one
-- Adds n to the partner's replays of the day and returns the new total; the caller gives back
-- what is over its cap, or what it did not use, with ReturnReplayBudget.
INSERT INTO replay_budgets (partner_id, day, count)
VALUES (sqlc.arg(partner_id)::text, sqlc.arg(day)::date, sqlc.arg(n)::integer)
ON CONFLICT (partner_id, day) DO UPDATE SET count = replay_budgets.count + excluded.count
RETURNING count;

-- name: ReturnReplayBudget :exec
UPDATE replay_budgets SET count = GREATEST(count - sqlc.arg(n)::integer, 0)
WHERE partner_id = sqlc.arg(partner_id)::text AND day = sqlc.arg(day)::date;

-- name: ListRescueCandidates :many
-- Pending events untouched since before updated_before (no attempt, no replay), least recently
-- checked first, so every one is looked at in turn however many wait for a slow retry.
SELECT * FROM events
WHERE status = 'pending'
  AND updated_at < sqlc.arg(updated_before)::timestamptz
  AND (rescue_checked_at IS NULL OR rescue_checked_at < sqlc.arg(checked_before)::timestamptz)
ORDER BY rescue_checked_at NULLS FIRST, updated_at
LIMIT sqlc.arg(row_limit);

-- name: MarkRescueChecked :exec
UPDATE events SET rescue_checked_at = now() WHERE id = $1;
