-- name: CreateSession :one
-- ON CONFLICT: an idempotent retry after a crash inserts the same session again; the first row wins.
INSERT INTO onboarding_sessions (id, partner_id, tenant_id, tenant_name, token_hash, success_redirect_url,
    failure_redirect_url, cancel_redirect_url, webhook_override_url, webhook_verify_token_ciphertext, metadata,
    coexistence, skip_webhook_preflight, expires_at, workflow_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
ON CONFLICT (id) DO NOTHING
RETURNING *;

-- name: GetSession :one
SELECT * FROM onboarding_sessions WHERE id = $1;

-- name: GetPartnerSession :one
SELECT * FROM onboarding_sessions WHERE partner_id = $1 AND id = $2;

-- name: GetSessionByTokenHash :one
SELECT sqlc.embed(onboarding_sessions), sqlc.embed(partners)
FROM onboarding_sessions JOIN partners ON partners.id = onboarding_sessions.partner_id
WHERE onboarding_sessions.token_hash = $1;

-- name: ListSessions :many
SELECT * FROM onboarding_sessions
WHERE partner_id = sqlc.arg(partner_id)
  AND (sqlc.narg(tenant_id)::text IS NULL OR tenant_id = sqlc.narg(tenant_id)::text)
  AND (sqlc.narg(status)::text IS NULL OR status = sqlc.narg(status)::text)
  AND (sqlc.narg(before_created_at)::timestamptz IS NULL
       OR (created_at, id) < (sqlc.narg(before_created_at)::timestamptz, sqlc.arg(before_id)::text))
ORDER BY created_at DESC, id DESC
LIMIT sqlc.arg(row_limit);

-- name: MarkSessionWorkflowStarted :exec
UPDATE onboarding_sessions SET workflow_started_at = COALESCE(workflow_started_at, now()) WHERE id = $1;

-- name: ListSessionsWithoutWorkflow :many
-- The reconciler's work: sessions whose workflow start was never confirmed (a crash between the
-- insert and the start).
SELECT * FROM onboarding_sessions
WHERE workflow_started_at IS NULL AND created_at < $1
ORDER BY created_at
LIMIT $2;

-- name: MarkSessionStarted :one
-- First page open: pending → started. Returns no row when the session was not pending.
UPDATE onboarding_sessions SET status = 'started', started_at = now()
WHERE id = $1 AND status = 'pending'
RETURNING *;

-- name: MarkSessionProcessing :one
UPDATE onboarding_sessions
SET status = 'processing', processing_at = now(), oauth_code_secret_id = $2, callback_event = $3,
    callback_waba_id = $4, callback_phone_number_id = $5, callback_business_id = $6,
    retry_reason = NULL, retry_message = NULL
WHERE id = $1 AND status IN ('pending', 'started', 'processing')
RETURNING *;

-- name: ReopenSession :one
-- A failed attempt the user may repeat (docs/onboarding.md, "Try again"): processing → started,
-- the attempt's code and token dropped (the caller erases their secrets), why it failed kept for
-- the page. Returns no row when the session is not processing.
UPDATE onboarding_sessions
SET status = 'started', oauth_code_secret_id = NULL, access_token_secret_id = NULL, access_token_expires_at = NULL,
    callback_event = NULL, callback_waba_id = NULL, callback_phone_number_id = NULL, callback_business_id = NULL,
    retry_reason = sqlc.arg(retry_reason), retry_message = sqlc.arg(retry_message), retry_count = retry_count + 1
WHERE id = sqlc.arg(id) AND status = 'processing'
RETURNING *;

-- name: SetSessionAccessToken :exec
UPDATE onboarding_sessions SET access_token_secret_id = $2, access_token_expires_at = $3 WHERE id = $1;

-- name: SetSessionRegistrationPin :exec
UPDATE onboarding_sessions SET registration_pin_secret_id = $2 WHERE id = $1 AND registration_pin_secret_id IS NULL;

-- name: CompleteSession :one
UPDATE onboarding_sessions
SET status = 'completed', completed_at = now(), connection_id = $2, result_redirect_url = $3
WHERE id = $1 AND status = 'processing'
RETURNING *;

-- name: EndSession :one
-- failed, cancelled or expired. Terminal states never change: a session already ended is left
-- as it is (no row returned).
UPDATE onboarding_sessions
SET status = sqlc.arg(status), completed_at = now(), failure_reason = sqlc.arg(failure_reason),
    failure_error_category = sqlc.arg(failure_error_category), failure_message = sqlc.arg(failure_message),
    failure_details = sqlc.narg(failure_details), result_redirect_url = sqlc.narg(result_redirect_url)
WHERE id = sqlc.arg(id) AND status NOT IN ('completed', 'failed', 'cancelled', 'expired')
RETURNING *;

-- name: ListTenantSessions :many
SELECT * FROM onboarding_sessions WHERE partner_id = $1 AND tenant_id = $2
ORDER BY created_at DESC, id DESC LIMIT 20;
