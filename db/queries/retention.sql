-- name: PruneEvents :execrows
-- Attempts go with their event (ON DELETE CASCADE). Events still being delivered are kept.
DELETE FROM events WHERE created_at < $1 AND status <> 'pending';

-- name: PruneIdempotencyRecords :execrows
DELETE FROM idempotency_records WHERE created_at < $1 AND (state = 'completed' OR locked_until < now());

-- name: PruneSecretRevealAudit :execrows
DELETE FROM secret_reveal_audit WHERE created_at < $1;
