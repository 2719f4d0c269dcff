-- +goose Up
-- The whole data model of SPEC.md. Invariants the product relies on live here as constraints,
-- so no code path (API, worker, operator SQL) can break them.

-- Partners: the SaaS companies that use this install (SPEC §3).
CREATE TABLE partners (
    id                              text PRIMARY KEY CHECK (id LIKE 'ptn\_%'),
    display_name                    text NOT NULL CHECK (char_length(display_name) BETWEEN 1 AND 80),
    logo_url                        text,
    brand_color                     text CHECK (brand_color ~ '^#[0-9a-f]{6}$'),
    allowed_redirect_urls           text[] NOT NULL DEFAULT '{}',
    event_webhook_url               text,
    event_types                     text[] NOT NULL,
    -- Signing secrets are needed in clear to sign, so they are encrypted (key ring), not hashed.
    signing_secret_ciphertext       text NOT NULL,
    previous_signing_secret_ciphertext text,
    previous_signing_secret_expires_at timestamptz,
    signing_secret_rotated_at       timestamptz,
    -- Per-partner budgets (SPEC §9); NULL means the install default.
    rate_limit_read_per_minute      integer CHECK (rate_limit_read_per_minute > 0),
    rate_limit_write_per_minute     integer CHECK (rate_limit_write_per_minute > 0),
    rate_limit_reveal_per_hour      integer CHECK (rate_limit_reveal_per_hour > 0),
    rate_limit_health_refresh_per_minute integer CHECK (rate_limit_health_refresh_per_minute > 0),
    created_at                      timestamptz NOT NULL DEFAULT now(),
    updated_at                      timestamptz NOT NULL DEFAULT now(),
    CHECK ((previous_signing_secret_ciphertext IS NULL) = (previous_signing_secret_expires_at IS NULL))
);

-- API keys (SPEC §2): only a SHA-256 hash and a display prefix are kept.
CREATE TABLE api_keys (
    id            text PRIMARY KEY CHECK (id LIKE 'key\_%'),
    partner_id    text NOT NULL REFERENCES partners (id) ON DELETE CASCADE,
    name          text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    prefix        text NOT NULL,
    secret_hash   bytea NOT NULL UNIQUE CHECK (length(secret_hash) = 32),
    created_at    timestamptz NOT NULL DEFAULT now(),
    -- Set by rotation (end of the grace window) or at creation for expiring keys.
    expires_at    timestamptz,
    revoked_at    timestamptz,
    last_used_at  timestamptz,
    replaced_by   text REFERENCES api_keys (id)
);
CREATE INDEX api_keys_partner_created ON api_keys (partner_id, created_at DESC, id DESC);

-- Onboarding sessions (SPEC §4). The one-time URL token is stored hashed only.
CREATE TABLE onboarding_sessions (
    id                       text PRIMARY KEY CHECK (id LIKE 'sess\_%'),
    partner_id               text NOT NULL REFERENCES partners (id) ON DELETE CASCADE,
    tenant_id                text NOT NULL CHECK (char_length(tenant_id) BETWEEN 1 AND 128),
    tenant_name              text NOT NULL CHECK (char_length(tenant_name) BETWEEN 1 AND 200),
    token_hash               bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    status                   text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'started', 'processing', 'completed', 'failed', 'cancelled', 'expired')),
    success_redirect_url     text NOT NULL,
    failure_redirect_url     text NOT NULL,
    cancel_redirect_url      text NOT NULL,
    webhook_override_url     text NOT NULL CHECK (char_length(webhook_override_url) <= 200),
    webhook_verify_token_ciphertext text NOT NULL,
    metadata                 jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    coexistence              boolean NOT NULL DEFAULT false,
    skip_webhook_preflight   boolean NOT NULL DEFAULT false,
    expires_at               timestamptz NOT NULL,
    created_at               timestamptz NOT NULL DEFAULT now(),
    started_at               timestamptz,
    processing_at            timestamptz,
    completed_at             timestamptz,
    connection_id            text,
    failure_reason           text,
    failure_error_category   text CHECK (failure_error_category IN ('timeout', 'user', 'conflict', 'configuration', 'meta', 'internal')),
    failure_message          text,
    failure_details          jsonb,
    -- The answer the callback and status endpoints repeat once the session is decided (SPEC §5).
    result_redirect_url      text,
    workflow_id              text NOT NULL,
    -- NULL until the workflow start was confirmed; the reconciler starts workflows for old NULL rows.
    workflow_started_at      timestamptz,
    -- What the browser reported with the callback: hints only (SPEC §6 step 2).
    callback_event           text,
    callback_waba_id         text,
    callback_phone_number_id text,
    callback_business_id     text,
    -- References to the secrets this session obtained (SPEC §6: stored encrypted at once,
    -- passed by reference).
    oauth_code_secret_id     text,
    access_token_secret_id   text,
    access_token_expires_at  timestamptz,
    registration_pin_secret_id text,
    CHECK ((status IN ('failed', 'cancelled', 'expired')) = (failure_reason IS NOT NULL)),
    CHECK (status <> 'completed' OR connection_id IS NOT NULL)
);
CREATE INDEX onboarding_sessions_partner_created ON onboarding_sessions (partner_id, created_at DESC, id DESC);
CREATE INDEX onboarding_sessions_tenant ON onboarding_sessions (partner_id, tenant_id, created_at DESC, id DESC);
CREATE INDEX onboarding_sessions_unstarted_workflows ON onboarding_sessions (created_at) WHERE workflow_started_at IS NULL;

-- Secrets (access tokens, registration PINs, OAuth codes) live here encrypted; workflows and
-- activities pass only the id (SPEC §12: no secret in a Temporal payload, even encrypted).
-- Erasing a secret clears its ciphertext and keeps the row for the audit trail.
CREATE TABLE secrets (
    id          text PRIMARY KEY CHECK (id LIKE 'sec\_%'),
    partner_id  text NOT NULL REFERENCES partners (id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('access_token', 'registration_pin', 'oauth_code')),
    ciphertext  text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    erased_at   timestamptz,
    CHECK ((ciphertext IS NULL) = (erased_at IS NOT NULL))
);

-- Connections (SPEC §7.1): one connected (waba, phone number) pair owned by one tenant.
CREATE TABLE connections (
    id                         text PRIMARY KEY CHECK (id LIKE 'conn\_%'),
    partner_id                 text NOT NULL REFERENCES partners (id) ON DELETE CASCADE,
    tenant_id                  text NOT NULL,
    session_id                 text NOT NULL REFERENCES onboarding_sessions (id),
    name                       text,
    waba_id                    text NOT NULL,
    phone_number_id            text NOT NULL,
    business_id                text,
    display_phone_number       text,
    verified_name              text,
    status                     text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disconnected')),
    connection_mode            text NOT NULL DEFAULT 'unknown' CHECK (connection_mode IN ('unknown', 'coexistence', 'cloud_api')),
    webhook_url                text NOT NULL,
    webhook_verify_token_ciphertext text NOT NULL,
    metadata                   jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    coexistence_status         text,
    history_sync_triggered_at  timestamptz,
    contact_sync_triggered_at  timestamptz,
    heartbeat_applies          boolean NOT NULL DEFAULT false,
    heartbeat_status           text NOT NULL DEFAULT 'UNKNOWN' CHECK (heartbeat_status IN ('OK', 'DUE_SOON', 'OVERDUE', 'UNKNOWN')),
    heartbeat_last_confirmed_at timestamptz,
    heartbeat_next_due_at      timestamptz,
    health                     jsonb,
    access_token_secret_id     text REFERENCES secrets (id),
    registration_pin_secret_id text REFERENCES secrets (id),
    registered_at              timestamptz,
    token_issued_at            timestamptz NOT NULL,
    token_expires_at           timestamptz,
    token_status               text NOT NULL DEFAULT 'valid' CHECK (token_status IN ('valid', 'expired')),
    created_at                 timestamptz NOT NULL DEFAULT now(),
    updated_at                 timestamptz NOT NULL DEFAULT now(),
    disconnected_at            timestamptz,
    disconnect_reason          text CHECK (disconnect_reason IN ('api', 'meta_partner_removed', 'meta_app_uninstalled', 'meta_account_deleted')),
    CHECK ((status = 'disconnected') = (disconnected_at IS NOT NULL)),
    CHECK ((status = 'disconnected') = (disconnect_reason IS NOT NULL)),
    CHECK (heartbeat_applies OR heartbeat_status = 'UNKNOWN')
);
-- SPEC vocabulary: at most one active connection per (waba, phone number) in the whole install.
CREATE UNIQUE INDEX connections_one_active_number ON connections (waba_id, phone_number_id) WHERE status = 'active';
CREATE INDEX connections_waba_active ON connections (waba_id) WHERE status = 'active';
CREATE INDEX connections_partner_created ON connections (partner_id, created_at DESC, id DESC);
CREATE INDEX connections_tenant ON connections (partner_id, tenant_id, created_at DESC, id DESC);
ALTER TABLE onboarding_sessions ADD CONSTRAINT onboarding_sessions_connection_fk
    FOREIGN KEY (connection_id) REFERENCES connections (id) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE onboarding_sessions
    ADD FOREIGN KEY (oauth_code_secret_id) REFERENCES secrets (id),
    ADD FOREIGN KEY (access_token_secret_id) REFERENCES secrets (id),
    ADD FOREIGN KEY (registration_pin_secret_id) REFERENCES secrets (id);

-- Per-WABA claim (SPEC §6 "Per-WABA serialization"): a lease row held from the sibling check to
-- the final commit. The lease expires so a crashed holder cannot block a WABA forever.
CREATE TABLE waba_claims (
    waba_id      text PRIMARY KEY,
    holder       text NOT NULL,
    acquired_at  timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);

-- Events (SPEC §8): stored in the same transaction as the state change they report.
CREATE TABLE events (
    id              text PRIMARY KEY CHECK (id LIKE 'evt\_%'),
    partner_id      text NOT NULL REFERENCES partners (id) ON DELETE CASCADE,
    type            text NOT NULL,
    tenant_id       text,
    session_id      text,
    connection_id   text,
    waba_id         text,
    -- The exact bytes sent on every attempt ("the same event id and body on every attempt").
    body            bytea NOT NULL,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed', 'skipped')),
    attempt_count   integer NOT NULL DEFAULT 0,
    -- Numbers the replays, so each gets its own workflow id redelivery/<eventId>/<n> (SPEC §13).
    redelivery_count integer NOT NULL DEFAULT 0,
    -- The workflow that made the latest attempt, so an operator can jump to it in the Temporal UI.
    workflow_id     text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_attempt_at timestamptz,
    delivered_at    timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_partner_created ON events (partner_id, created_at DESC, id DESC);
CREATE INDEX events_partner_status ON events (partner_id, status, created_at DESC);
CREATE INDEX events_created ON events (created_at);
CREATE INDEX events_partner_tenant ON events (partner_id, tenant_id, created_at DESC, id DESC);

CREATE TABLE delivery_attempts (
    id                text PRIMARY KEY CHECK (id LIKE 'dlv\_%'),
    event_id          text NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    attempt_number    integer NOT NULL CHECK (attempt_number > 0),
    workflow_id       text,
    url               text,
    started_at        timestamptz NOT NULL,
    latency_ms        integer,
    status_code       integer,
    response_preview  text CHECK (octet_length(response_preview) <= 1024),
    error             text,
    outcome           text NOT NULL CHECK (outcome IN ('delivered', 'retry', 'failed', 'skipped'))
);
CREATE INDEX delivery_attempts_event ON delivery_attempts (event_id, attempt_number);

-- Idempotency records (SPEC §4.4): only 2xx responses are kept, encrypted.
CREATE TABLE idempotency_records (
    partner_id          text NOT NULL REFERENCES partners (id) ON DELETE CASCADE,
    method              text NOT NULL,
    path                text NOT NULL,
    idempotency_key     text NOT NULL CHECK (char_length(idempotency_key) BETWEEN 1 AND 255),
    request_hash        bytea NOT NULL,
    state               text NOT NULL CHECK (state IN ('in_progress', 'completed')),
    -- While in progress: until when the owner is presumed alive; a retry after it takes over.
    locked_until        timestamptz,
    -- Lets a handler record (encrypted) what it is creating before its side effects, so a retry
    -- after a crash finishes the same work instead of doing it twice.
    recovery_ciphertext text,
    response_status     integer,
    response_ciphertext text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    expires_at          timestamptz NOT NULL,
    PRIMARY KEY (partner_id, method, path, idempotency_key),
    CHECK ((state = 'completed') = (response_ciphertext IS NOT NULL))
);
CREATE INDEX idempotency_records_created ON idempotency_records (created_at);

-- Secret-reveal audit (SPEC §7.5): written in the transaction that reads the secret.
CREATE TABLE secret_reveal_audit (
    id             text PRIMARY KEY CHECK (id LIKE 'aud\_%'),
    partner_id     text NOT NULL REFERENCES partners (id) ON DELETE CASCADE,
    api_key_id     text NOT NULL,
    connection_id  text NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    secret_types   text[] NOT NULL CHECK (cardinality(secret_types) > 0),
    request_id     text NOT NULL,
    client_ip      text,
    user_agent     text,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX secret_reveal_audit_partner_created ON secret_reveal_audit (partner_id, created_at DESC, id DESC);

-- Fixed-window rate-limit counters (SPEC §9), shared by every API process.
CREATE TABLE rate_limit_counters (
    api_key_id    text NOT NULL,
    scope         text NOT NULL CHECK (scope IN ('read', 'write', 'reveal', 'health_refresh')),
    window_start  timestamptz NOT NULL,
    count         integer NOT NULL,
    PRIMARY KEY (api_key_id, scope, window_start)
);

-- Meta app webhook deliveries already handed to a workflow (SPEC §11), for dedupe and audit.
CREATE TABLE meta_webhook_deliveries (
    content_hash  text PRIMARY KEY,
    received_at   timestamptz NOT NULL DEFAULT now(),
    workflow_id   text NOT NULL
);

-- +goose Down
DROP TABLE IF EXISTS meta_webhook_deliveries, rate_limit_counters, secret_reveal_audit, idempotency_records,
    delivery_attempts, events, waba_claims, connections, secrets, onboarding_sessions, api_keys, partners CASCADE;
