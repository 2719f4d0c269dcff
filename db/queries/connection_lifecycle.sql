-- Connection lifecycle (SPEC §7.3–§7.6): update, reveal, health, mode, heartbeat.

-- name: GetPartnerConnectionForShare :one
-- The reveal reads the connection and its secrets under a share lock, so a concurrent disconnect
-- (which updates the row and erases the secrets) waits for the reveal's transaction or is seen
-- by it — never half of each.
SELECT * FROM connections WHERE partner_id = $1 AND id = $2 FOR SHARE;

-- name: InsertSecretRevealAudit :one
INSERT INTO secret_reveal_audit (id, partner_id, api_key_id, connection_id, secret_types, request_id, client_ip, user_agent)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
RETURNING *;

-- name: ListSecretRevealAudit :many
SELECT * FROM secret_reveal_audit
WHERE partner_id = sqlc.arg(partner_id)
  AND (sqlc.narg(connection_id)::text IS NULL OR connection_id = sqlc.narg(connection_id)::text)
  AND (sqlc.narg(api_key_id)::text IS NULL OR api_key_id = sqlc.narg(api_key_id)::text)
  AND (sqlc.narg(before_created_at)::timestamptz IS NULL
       OR (created_at, id) < (sqlc.narg(before_created_at)::timestamptz, sqlc.arg(before_id)::text))
ORDER BY created_at DESC, id DESC
LIMIT sqlc.arg(row_limit);

-- name: SetConnectionNameMetadata :one
-- PATCH without a webhook change (SPEC §7.3); set_name distinguishes "unchanged" from "null".
UPDATE connections
SET name = CASE WHEN sqlc.arg(set_name)::boolean THEN sqlc.narg(name)::text ELSE name END,
    metadata = COALESCE(sqlc.narg(metadata)::jsonb, metadata),
    updated_at = now()
WHERE id = sqlc.arg(id) AND status = 'active'
RETURNING *;

-- name: NextWabaWebhookUpdate :one
INSERT INTO waba_counters (waba_id, webhook_updates) VALUES ($1, 1)
ON CONFLICT (waba_id) DO UPDATE SET webhook_updates = waba_counters.webhook_updates + 1
RETURNING webhook_updates;

-- name: InsertWebhookUpdate :one
INSERT INTO webhook_updates (waba_id, n, partner_id, connection_id, webhook_url, webhook_verify_token_ciphertext,
    set_name, name, metadata)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
RETURNING *;

-- name: GetWebhookUpdate :one
SELECT * FROM webhook_updates WHERE waba_id = $1 AND n = $2;

-- name: SetWebhookUpdatePrevious :exec
-- The override in force before this update, to restore at Meta if the commit fails.
UPDATE webhook_updates SET previous_webhook_url = $3, previous_webhook_verify_token_ciphertext = $4
WHERE waba_id = $1 AND n = $2 AND status = 'pending';

-- name: FinishWebhookUpdate :one
-- Ends an update once; the verify-token ciphertexts go (the connections hold the live one).
UPDATE webhook_updates
SET status = $3, failure_reason = $4, failure_message = $5, affected_connection_ids = $6,
    webhook_verify_token_ciphertext = NULL, previous_webhook_verify_token_ciphertext = NULL,
    completed_at = now()
WHERE waba_id = $1 AND n = $2 AND status = 'pending'
RETURNING *;

-- name: ListActiveConnectionsAfter :many
-- The health-refresh schedule walks every active connection in id order, a page at a time.
SELECT * FROM connections WHERE status = 'active' AND id > $1 ORDER BY id LIMIT $2;

-- name: ResolveConnectionMode :one
-- SPEC §6 step 5: only an unknown mode resolves, once; coexistence starts the heartbeat's clock.
UPDATE connections
SET connection_mode = $2, coexistence_status = COALESCE($3, coexistence_status),
    heartbeat_applies = $4, heartbeat_status = $5, heartbeat_last_confirmed_at = $6, heartbeat_next_due_at = $7,
    updated_at = now()
WHERE id = $1 AND status = 'active' AND connection_mode = 'unknown'
RETURNING *;

-- name: SetConnectionRegistration :one
UPDATE connections
SET registration_pin_secret_id = $2, registered_at = COALESCE(registered_at, $3), updated_at = now()
WHERE id = $1 AND status = 'active'
RETURNING *;

-- name: SetConnectionSyncs :one
UPDATE connections
SET contact_sync_triggered_at = COALESCE(contact_sync_triggered_at, $2),
    history_sync_triggered_at = COALESCE(history_sync_triggered_at, $3), updated_at = now()
WHERE id = $1 AND status = 'active'
RETURNING *;

-- name: AlignHeartbeatDue :one
-- The heartbeat workflow owns the deadline: it is the last confirmation plus the configured
-- period, whatever an earlier writer assumed.
UPDATE connections SET heartbeat_next_due_at = $3, updated_at = now()
WHERE id = $1 AND status = 'active' AND heartbeat_applies AND heartbeat_last_confirmed_at = $2
  AND heartbeat_next_due_at IS DISTINCT FROM $3
RETURNING *;

-- name: SetHeartbeatStatus :one
-- A timer's transition (DUE_SOON, OVERDUE) applies only if nobody confirmed since the timer was
-- set (the last confirmation is unchanged) and the status really changes.
UPDATE connections SET heartbeat_status = $3, updated_at = now()
WHERE id = $1 AND status = 'active' AND heartbeat_applies AND heartbeat_last_confirmed_at = $2
  AND heartbeat_status <> $3
RETURNING *;

-- name: ConfirmHeartbeat :one
UPDATE connections
SET heartbeat_status = 'OK', heartbeat_last_confirmed_at = $2, heartbeat_next_due_at = $3, updated_at = now()
WHERE id = $1 AND status = 'active' AND heartbeat_applies
RETURNING *;
