-- name: CreateSecret :one
INSERT INTO secrets (id, partner_id, kind, ciphertext) VALUES ($1, $2, $3, $4)
RETURNING *;

-- name: GetSecret :one
SELECT * FROM secrets WHERE id = $1;

-- name: EraseSecret :exec
-- The row stays (audit trail); only the ciphertext goes.
UPDATE secrets SET ciphertext = NULL, erased_at = COALESCE(erased_at, now()) WHERE id = $1;
