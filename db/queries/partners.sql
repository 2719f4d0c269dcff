-- name: CreatePartner :one
INSERT INTO partners (id, display_name, logo_url, brand_color, allowed_redirect_urls, event_webhook_url,
                      event_types, signing_secret_ciphertext)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
RETURNING *;

-- name: GetPartner :one
SELECT * FROM partners WHERE id = $1;

-- name: ListPartners :many
SELECT * FROM partners ORDER BY created_at DESC, id DESC;

-- name: UpdatePartnerSettings :one
UPDATE partners
SET display_name = $2, logo_url = $3, brand_color = $4, allowed_redirect_urls = $5,
    event_webhook_url = $6, event_types = $7, updated_at = now()
WHERE id = $1
RETURNING *;

-- name: UpdatePartnerRateLimits :one
UPDATE partners
SET rate_limit_read_per_minute = $2, rate_limit_write_per_minute = $3,
    rate_limit_reveal_per_hour = $4, rate_limit_health_refresh_per_minute = $5, updated_at = now()
WHERE id = $1
RETURNING *;

-- name: RotatePartnerSigningSecret :one
UPDATE partners
SET previous_signing_secret_ciphertext = signing_secret_ciphertext,
    previous_signing_secret_expires_at = sqlc.arg(previous_expires_at)::timestamptz,
    signing_secret_ciphertext = sqlc.arg(new_ciphertext),
    signing_secret_rotated_at = now(), updated_at = now()
WHERE id = sqlc.arg(id)
RETURNING *;
