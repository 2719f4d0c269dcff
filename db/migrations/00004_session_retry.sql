-- +goose Up
-- A failed attempt the user may repeat within the same session (the failure was ours, or Meta's
-- availability): the session goes back from processing to started and keeps why the attempt
-- failed, so the page can say so and offer "Try again". Cleared by the next accepted callback.
ALTER TABLE onboarding_sessions
    ADD COLUMN retry_reason  text,
    ADD COLUMN retry_message text,
    ADD COLUMN retry_count   integer NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE onboarding_sessions
    DROP COLUMN IF EXISTS retry_reason,
    DROP COLUMN IF EXISTS retry_message,
    DROP COLUMN IF EXISTS retry_count;
