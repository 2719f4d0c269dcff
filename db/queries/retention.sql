-- name: PruneEvents :execrows
-- Attempts go with their event (ON DELETE CASCADE). Events still being delivered are kept.
DELETE FROM events WHERE created_at < $1 AND status <> 'pending';

-- name: PruneIdempotencyRecords :execrows
DELETE FROM idempotency_records WHERE created_at < $1 AND (state = 'completed' OR locked_until < now());

-- name: PruneSecretRevealAudit :execrows
DELETE FROM secret_reveal_audit WHERE created_at < $1;

-- name: PruneWebhookUpdates :execrows
-- Finished webhook updates; the counter that numbers them lives in waba_counters and is kept.
DELETE FROM webhook_updates WHERE completed_at < $1;

-- name: PruneMetaWebhookDeliveries :execrows
-- Dedupe records of Meta's deliveries; Meta retries for 36 h, far inside any retention.
DELETE FROM meta_webhook_deliveries WHERE received_at < $1;
