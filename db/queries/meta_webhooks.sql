-- name: ClaimMetaWebhookDelivery :one
-- Read before any workflow starts: the delivery's row, created if absent. A row with started_at
-- is a delivery already handed to a workflow (a retry, a duplicate or a replay): nothing starts.
INSERT INTO meta_webhook_deliveries (content_hash, workflow_id) VALUES ($1, $2)
ON CONFLICT (content_hash) DO UPDATE SET workflow_id = meta_webhook_deliveries.workflow_id
RETURNING started_at;

-- name: MarkMetaWebhookDeliveryStarted :exec
UPDATE meta_webhook_deliveries SET started_at = now() WHERE content_hash = $1 AND started_at IS NULL;

-- name: SetWabaCoexistenceStatus :many
-- ACCOUNT_OFFBOARDED / ACCOUNT_RECONNECTED (meta.md §4.3) for the WABA's active coexistence
-- connections; with a phone number (digits only), just that number's. Meta writes numbers without
-- formatting in webhooks, Graph may format display_phone_number: compare digits.
UPDATE connections SET coexistence_status = sqlc.arg(coexistence_status)::text, updated_at = now()
WHERE waba_id = sqlc.arg(waba_id)::text AND status = 'active' AND connection_mode = 'coexistence'
  AND coexistence_status IS DISTINCT FROM sqlc.arg(coexistence_status)::text
  AND (sqlc.narg(phone_digits)::text IS NULL
       OR regexp_replace(coalesce(display_phone_number, ''), '[^0-9]', '', 'g') = sqlc.narg(phone_digits)::text)
RETURNING id;

-- name: ListActiveWabaConnectionsForHealth :many
-- Quality updates merge into the snapshot under a row lock, so a concurrent refresh and a webhook
-- cannot both read the old snapshot and the older one win.
SELECT * FROM connections WHERE waba_id = $1 AND status = 'active' ORDER BY created_at, id FOR UPDATE;
