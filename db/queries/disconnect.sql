-- name: GetConnectionForUpdate :one
-- The disconnect's commit locks the row, so two disconnects (an API call and a Meta webhook) that
-- slipped past the workflow id's dedupe still record one reason and one event.
SELECT * FROM connections WHERE id = $1 FOR UPDATE;

-- name: MarkConnectionDisconnected :one
-- SPEC §7.4: only an active connection is disconnected; the first reason wins.
UPDATE connections
SET status = 'disconnected', disconnected_at = now(), disconnect_reason = $2, updated_at = now()
WHERE id = $1 AND status = 'active'
RETURNING *;

-- name: SecretReferencedByOtherActiveConnection :one
-- A secret may be shared: re-onboarding a number reuses the number's PIN (Meta holds it as the
-- two-step PIN), so a disconnect erases only what no other active connection still uses.
SELECT EXISTS (
    SELECT 1 FROM connections
    WHERE status = 'active' AND id <> sqlc.arg(connection_id)::text
      AND (access_token_secret_id = sqlc.arg(secret_id)::text OR registration_pin_secret_id = sqlc.arg(secret_id)::text)
) AS referenced;
