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
-- Dedupe records of Meta's deliveries. The caller keeps them longer than the age past which a
-- delivery is refused anyway (metawebhook.MaxAge), so a replay is always caught by one or the other.
DELETE FROM meta_webhook_deliveries WHERE received_at < $1;

-- name: PruneUnreferencedOAuthCodes :execrows
-- OAuth codes no session references (refused or repeated callbacks): deleted outright. Meta's
-- codes expire 30 s after issue, so the caller's cutoff leaves ample time for a callback in
-- flight to be recorded by its session.
DELETE FROM secrets s WHERE s.kind = 'oauth_code' AND s.created_at < $1
  AND NOT EXISTS (SELECT 1 FROM onboarding_sessions o WHERE o.oauth_code_secret_id = s.id);

-- name: EraseStaleOAuthCodes :execrows
-- OAuth codes a session references but never spent (the session ended otherwise): the
-- ciphertext goes, the row stays for the session's reference.
UPDATE secrets SET ciphertext = NULL, erased_at = now()
WHERE kind = 'oauth_code' AND ciphertext IS NOT NULL AND created_at < $1;
