-- +goose Up
-- Stranded events (docs/events.md): an event stays pending while a workflow delivers it. If an
-- operator terminates that workflow, nothing would ever deliver it; the reconciler finds such
-- events and replays them. events.workflow_id now names the emitting workflow from the start
-- (it already named the workflow of the latest attempt), and rescue_checked_at lets the
-- reconciler work through every pending event in turn instead of re-checking the same ones.
ALTER TABLE events ADD COLUMN rescue_checked_at timestamptz;
CREATE INDEX events_pending_rescue ON events (rescue_checked_at NULLS FIRST, updated_at)
    WHERE status = 'pending';

-- +goose Down
DROP INDEX IF EXISTS events_pending_rescue;
ALTER TABLE events DROP COLUMN IF EXISTS rescue_checked_at;
