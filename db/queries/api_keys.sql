-- name: CreateAPIKey :one
INSERT INTO api_keys (id, partner_id, name, prefix, secret_hash, expires_at)
VALUES ($1, $2, $3, $4, $5, $6)
RETURNING *;

-- name: GetAPIKeyByHash :one
-- Authentication looks a key up by the hash of the presented secret; the partner comes along so a
-- request needs one round trip.
SELECT sqlc.embed(api_keys), sqlc.embed(partners)
FROM api_keys JOIN partners ON partners.id = api_keys.partner_id
WHERE api_keys.secret_hash = $1;

-- name: GetAPIKey :one
SELECT * FROM api_keys WHERE partner_id = $1 AND id = $2;

-- name: ListAPIKeys :many
SELECT * FROM api_keys
WHERE partner_id = sqlc.arg(partner_id)
  AND (sqlc.narg(before_created_at)::timestamptz IS NULL
       OR (created_at, id) < (sqlc.narg(before_created_at)::timestamptz, sqlc.arg(before_id)::text))
ORDER BY created_at DESC, id DESC
LIMIT sqlc.arg(row_limit);

-- name: ExpireAPIKey :one
-- Rotation: the old key keeps working until the end of the grace window, never longer than it
-- already would have.
UPDATE api_keys
SET expires_at = LEAST(COALESCE(expires_at, sqlc.arg(expires_at)::timestamptz), sqlc.arg(expires_at)::timestamptz),
    replaced_by = sqlc.arg(replaced_by)
WHERE partner_id = sqlc.arg(partner_id) AND id = sqlc.arg(id)
RETURNING *;

-- name: RevokeAPIKey :one
UPDATE api_keys
SET revoked_at = COALESCE(revoked_at, now())
WHERE partner_id = $1 AND id = $2
RETURNING *;

-- name: TouchAPIKey :exec
-- last_used_at is advisory; writing it at most once a minute keeps authentication cheap.
UPDATE api_keys SET last_used_at = now()
WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute');

-- name: LockPartnerKeys :exec
-- Serialises key creation per partner, so two concurrent creations cannot both pass the
-- live-key cap. NO KEY UPDATE does not block rows that merely reference the partner.
SELECT id FROM partners WHERE id = $1 FOR NO KEY UPDATE;

-- name: CountLiveAPIKeys :one
-- Keys that still authenticate: neither revoked nor expired (a key in its rotation grace window
-- counts).
SELECT count(*) FROM api_keys
WHERE partner_id = sqlc.arg(partner_id) AND revoked_at IS NULL
  AND (expires_at IS NULL OR expires_at > sqlc.arg(now)::timestamptz);
