-- +goose Up
-- Meta app webhooks (SPEC §11): the dedupe row is claimed before the workflow starts and read on
-- every delivery, so a delivery seen once is never started again, even after Temporal's
-- retention dropped its workflow. started_at is set once the workflow start succeeded; a row
-- without it (the start failed, Meta retries) may still be started.
ALTER TABLE meta_webhook_deliveries ADD COLUMN started_at timestamptz;
UPDATE meta_webhook_deliveries SET started_at = received_at;

-- The onboarding page's endpoints are throttled per token and per client IP (SPEC §5, §9) in the
-- same fixed-window counters as the API; api_key_id holds the page key ("token:<hash>",
-- "ip:<address>") for these scopes.
ALTER TABLE rate_limit_counters DROP CONSTRAINT rate_limit_counters_scope_check;
ALTER TABLE rate_limit_counters ADD CONSTRAINT rate_limit_counters_scope_check
    CHECK (scope IN ('read', 'write', 'reveal', 'health_refresh', 'page_token', 'page_ip'));

-- Retention erases OAuth codes nothing references (refused callbacks) and deletes them.
CREATE INDEX onboarding_sessions_oauth_code ON onboarding_sessions (oauth_code_secret_id)
    WHERE oauth_code_secret_id IS NOT NULL;

-- +goose Down
DROP INDEX IF EXISTS onboarding_sessions_oauth_code;
DELETE FROM rate_limit_counters WHERE scope IN ('page_token', 'page_ip');
ALTER TABLE rate_limit_counters DROP CONSTRAINT rate_limit_counters_scope_check;
ALTER TABLE rate_limit_counters ADD CONSTRAINT rate_limit_counters_scope_check
    CHECK (scope IN ('read', 'write', 'reveal', 'health_refresh'));
ALTER TABLE meta_webhook_deliveries DROP COLUMN IF EXISTS started_at;
