-- name: IncrementRateLimit :one
-- One statement per request: the counter row of the current window is created or bumped
-- atomically, so every API process shares the same budget.
INSERT INTO rate_limit_counters (api_key_id, scope, window_start, count)
VALUES ($1, $2, $3, 1)
ON CONFLICT (api_key_id, scope, window_start) DO UPDATE SET count = rate_limit_counters.count + 1
RETURNING count;

-- name: PruneRateLimitCounters :execrows
DELETE FROM rate_limit_counters WHERE window_start < $1;
