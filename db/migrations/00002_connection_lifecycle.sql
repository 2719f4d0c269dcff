-- +goose Up
-- Connection lifecycle (SPEC §7.3–§7.6): webhook updates, secret-reveal audit lookups.

-- Per-WABA counters. webhook_updates numbers a WABA's webhook updates, so each gets its own
-- workflow id webhook-update/<wabaId>/<n> (SPEC §13) without a lookup table; the upsert that
-- increments it is atomic across API processes.
CREATE TABLE waba_counters (
    waba_id          text PRIMARY KEY,
    webhook_updates  bigint NOT NULL DEFAULT 0 CHECK (webhook_updates >= 0)
);

-- One row per webhook change requested through PATCH /api/v1/connections/{id} (SPEC §7.3). The
-- API writes it before starting the workflow, and the workflow reads it: the new verify token
-- (and the previous one, kept to restore Meta's override if the commit fails) travel by this
-- reference, never in a Temporal payload. The ciphertexts are cleared once the update ended.
CREATE TABLE webhook_updates (
    waba_id          text NOT NULL,
    n                bigint NOT NULL CHECK (n > 0),
    partner_id       text NOT NULL REFERENCES partners (id) ON DELETE CASCADE,
    connection_id    text NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    webhook_url      text NOT NULL CHECK (char_length(webhook_url) <= 200),
    webhook_verify_token_ciphertext text,
    -- name and metadata change with the webhook, in the same transaction (all or nothing).
    set_name         boolean NOT NULL DEFAULT false,
    name             text,
    metadata         jsonb CHECK (metadata IS NULL OR jsonb_typeof(metadata) = 'object'),
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'applied', 'rejected')),
    failure_reason   text,
    failure_message  text,
    affected_connection_ids text[] NOT NULL DEFAULT '{}',
    previous_webhook_url text,
    previous_webhook_verify_token_ciphertext text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    completed_at     timestamptz,
    PRIMARY KEY (waba_id, n),
    CHECK ((status = 'rejected') = (failure_reason IS NOT NULL)),
    CHECK ((status = 'pending') = (completed_at IS NULL))
);
CREATE INDEX webhook_updates_connection ON webhook_updates (connection_id, created_at DESC);

-- GET /api/v1/audit/secret-reveals?connectionId=&keyId= (SPEC §7.5), newest first.
CREATE INDEX secret_reveal_audit_connection ON secret_reveal_audit (partner_id, connection_id, created_at DESC, id DESC);
CREATE INDEX secret_reveal_audit_key ON secret_reveal_audit (partner_id, api_key_id, created_at DESC, id DESC);

-- +goose Down
DROP INDEX IF EXISTS secret_reveal_audit_key;
DROP INDEX IF EXISTS secret_reveal_audit_connection;
DROP TABLE IF EXISTS webhook_updates, waba_counters;
