-- name: ClaimIdempotencyKey :one
-- Inserts an in-progress record, or returns nothing when one exists (the caller then reads it).
INSERT INTO idempotency_records (partner_id, method, path, idempotency_key, request_hash, state,
                                 locked_until, expires_at)
VALUES ($1, $2, $3, $4, $5, 'in_progress', $6, $7)
ON CONFLICT DO NOTHING
RETURNING *;

-- name: GetIdempotencyRecordForUpdate :one
SELECT * FROM idempotency_records
WHERE partner_id = $1 AND method = $2 AND path = $3 AND idempotency_key = $4
FOR UPDATE;

-- name: TakeOverIdempotencyRecord :exec
-- A request whose owner died (lock expired) is taken over by the retry, which finishes the work.
UPDATE idempotency_records SET locked_until = $5
WHERE partner_id = $1 AND method = $2 AND path = $3 AND idempotency_key = $4;

-- name: RestartIdempotencyRecord :exec
-- An expired record is as good as absent: the key starts over.
UPDATE idempotency_records
SET request_hash = $5, state = 'in_progress', locked_until = $6, expires_at = $7, created_at = now(),
    recovery_ciphertext = NULL, response_status = NULL, response_ciphertext = NULL
WHERE partner_id = $1 AND method = $2 AND path = $3 AND idempotency_key = $4;

-- name: SetIdempotencyRecovery :exec
UPDATE idempotency_records SET recovery_ciphertext = $5
WHERE partner_id = $1 AND method = $2 AND path = $3 AND idempotency_key = $4;

-- name: CompleteIdempotencyRecord :exec
UPDATE idempotency_records
SET state = 'completed', locked_until = NULL, response_status = $5, response_ciphertext = $6
WHERE partner_id = $1 AND method = $2 AND path = $3 AND idempotency_key = $4;

-- name: ReleaseIdempotencyRecord :exec
-- A 4xx/5xx leaves the key free for a corrected retry.
DELETE FROM idempotency_records
WHERE partner_id = $1 AND method = $2 AND path = $3 AND idempotency_key = $4 AND state = 'in_progress';
