-- name: ClaimWaba :one
-- Takes the WABA's claim when it is free, expired, or already ours (a retried activity).
INSERT INTO waba_claims (waba_id, holder, acquired_at, expires_at) VALUES ($1, $2, now(), $3)
ON CONFLICT (waba_id) DO UPDATE SET holder = EXCLUDED.holder, acquired_at = now(), expires_at = EXCLUDED.expires_at
WHERE waba_claims.holder = EXCLUDED.holder OR waba_claims.expires_at < now()
RETURNING *;

-- name: GetWabaClaim :one
SELECT * FROM waba_claims WHERE waba_id = $1;

-- name: ReleaseWaba :exec
DELETE FROM waba_claims WHERE waba_id = $1 AND holder = $2;

-- name: LockHeldWabaClaim :one
-- Checked inside commits: a holder whose lease expired (and was taken over) must not commit. The
-- row lock keeps the claim from being taken over until the commit ends.
SELECT * FROM waba_claims WHERE waba_id = $1 AND holder = $2 AND expires_at > now() FOR UPDATE;
