-- name: GetConnection :one
SELECT * FROM connections WHERE id = $1;

-- name: GetPartnerConnection :one
SELECT * FROM connections WHERE partner_id = $1 AND id = $2;

-- name: ListConnections :many
SELECT * FROM connections
WHERE partner_id = sqlc.arg(partner_id)
  AND (sqlc.narg(tenant_id)::text IS NULL OR tenant_id = sqlc.narg(tenant_id)::text)
  AND (sqlc.narg(status)::text IS NULL OR status = sqlc.narg(status)::text)
  AND (sqlc.narg(waba_id)::text IS NULL OR waba_id = sqlc.narg(waba_id)::text)
  AND (sqlc.narg(before_created_at)::timestamptz IS NULL
       OR (created_at, id) < (sqlc.narg(before_created_at)::timestamptz, sqlc.arg(before_id)::text))
ORDER BY created_at DESC, id DESC
LIMIT sqlc.arg(row_limit);

-- name: ListTenantConnections :many
SELECT * FROM connections WHERE partner_id = $1 AND tenant_id = $2
ORDER BY created_at DESC, id DESC LIMIT 100;

-- name: ListActiveWabaConnections :many
-- Siblings: every active connection on a WABA, across partners (the install has one Meta app).
SELECT * FROM connections WHERE waba_id = $1 AND status = 'active' ORDER BY created_at, id;

-- name: ListActiveWabaConnectionsForUpdate :many
SELECT * FROM connections WHERE waba_id = $1 AND status = 'active' ORDER BY created_at, id FOR UPDATE;

-- name: InsertConnection :one
INSERT INTO connections (id, partner_id, tenant_id, session_id, waba_id, phone_number_id, business_id,
    display_phone_number, verified_name, connection_mode, webhook_url, webhook_verify_token_ciphertext, metadata,
    coexistence_status, history_sync_triggered_at, contact_sync_triggered_at, heartbeat_applies, heartbeat_status,
    heartbeat_last_confirmed_at, heartbeat_next_due_at, access_token_secret_id, registration_pin_secret_id,
    registered_at, token_issued_at, token_expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25)
RETURNING *;

-- name: ReonboardConnection :one
-- The same number onboarded again by the same tenant: same connection, new token (SPEC §6 step 3).
UPDATE connections
SET session_id = $2, business_id = $3, display_phone_number = $4, verified_name = $5, connection_mode = $6,
    webhook_url = $7, webhook_verify_token_ciphertext = $8, metadata = $9, coexistence_status = $10,
    history_sync_triggered_at = COALESCE($11, history_sync_triggered_at),
    contact_sync_triggered_at = COALESCE($12, contact_sync_triggered_at),
    heartbeat_applies = $13, heartbeat_status = $14, heartbeat_last_confirmed_at = $15, heartbeat_next_due_at = $16,
    access_token_secret_id = $17, registration_pin_secret_id = COALESCE($18, registration_pin_secret_id),
    registered_at = COALESCE($19, registered_at), token_issued_at = $20, token_expires_at = $21,
    token_status = 'valid', updated_at = now()
WHERE id = $1 AND status = 'active'
RETURNING *;

-- name: SetWabaWebhook :many
-- New values win for every sibling of the same tenant (SPEC §6 step 3; §7.3).
UPDATE connections SET webhook_url = $2, webhook_verify_token_ciphertext = $3, updated_at = now()
WHERE waba_id = $1 AND status = 'active'
RETURNING id;

-- name: MarkConnectionTokenExpired :exec
-- A Graph 190 on any call with the connection's token (SPEC §7.1); re-onboarding sets it valid.
UPDATE connections SET token_status = 'expired', updated_at = now() WHERE id = $1 AND token_status <> 'expired';

-- name: SetConnectionHealth :one
-- The health snapshot of SPEC §7.6 (internal/connhealth.Snapshot as JSON).
UPDATE connections SET health = $2, updated_at = now() WHERE id = $1
RETURNING *;
