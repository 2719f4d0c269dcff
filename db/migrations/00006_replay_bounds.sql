-- +goose Up
-- Bounds on partners' replays (docs/events.md, SPEC §8.5): one bulk replay at a time per partner
-- (a lease, so a crashed API process cannot block a partner for longer than its expiry) and a
-- daily budget of replayed events per partner (UTC days; single and bulk replays draw on it).
CREATE TABLE replay_leases (
    partner_id   text PRIMARY KEY REFERENCES partners (id) ON DELETE CASCADE,
    holder       text NOT NULL,
    acquired_at  timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);

CREATE TABLE replay_budgets (
    partner_id  text NOT NULL REFERENCES partners (id) ON DELETE CASCADE,
    day         date NOT NULL,
    count       integer NOT NULL CHECK (count >= 0),
    PRIMARY KEY (partner_id, day)
);

-- +goose Down
DROP TABLE IF EXISTS replay_budgets, replay_leases;
