package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dualhook/dualhook/api"
	"github.com/dualhook/dualhook/db/dbq"
	"github.com/dualhook/dualhook/internal/apikey"
	"github.com/dualhook/dualhook/internal/ids"
	"github.com/dualhook/dualhook/internal/keyring"
	"github.com/dualhook/dualhook/signature"
	"github.com/dualhook/dualhook/testkit/testenv"
)

// run executes the CLI in-process, as an operator would in a shell.
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := rootCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

func operatorEnv(t *testing.T) {
	spec, err := keyring.NewKeySpec("cli")
	require.NoError(t, err)
	t.Setenv("DATABASE_URL", testenv.DatabaseURL(t))
	t.Setenv("DUALHOOK_ENCRYPTION_KEYS", spec)
}

func TestOperatorCommands(t *testing.T) {
	operatorEnv(t)
	out, err := run(t, "migrate")
	require.NoError(t, err)
	assert.Contains(t, out, "up to date", "the test database is already migrated")

	out, err = run(t, "partners", "create", "--name", "Acme SaaS", "--event-webhook-url", "https://hooks.acme.test/dualhook",
		"--allowed-redirect-url", "https://app.acme.test/onboarding", "--json")
	require.NoError(t, err, out)
	var created struct {
		Partner struct {
			PartnerID           string   `json:"partnerId"`
			AllowedRedirectURLs []string `json:"allowedRedirectUrls"`
			EventTypes          []string `json:"eventTypes"`
		}
		APIKey, KeyID, SigningSecret string
	}
	require.NoError(t, json.Unmarshal([]byte(out), &created), out)
	var createdRaw struct{ Partner json.RawMessage }
	require.NoError(t, json.Unmarshal([]byte(out), &createdRaw))
	assertAPIShape[api.PartnerResponse](t, createdRaw.Partner)
	assert.True(t, apikey.WellFormed(created.APIKey))
	assert.NoError(t, signature.ValidateSecret(created.SigningSecret))
	assert.Equal(t, []string{"https://app.acme.test/onboarding"}, created.Partner.AllowedRedirectURLs)
	assert.Len(t, created.Partner.EventTypes, 8)
	partner := created.Partner.PartnerID

	out, err = run(t, "partners", "list")
	require.NoError(t, err)
	assert.Contains(t, out, partner)
	assert.NotContains(t, out, created.APIKey, "listings never show secrets")
	out, err = run(t, "partners", "list", "--json")
	require.NoError(t, err)
	var listed []json.RawMessage
	require.NoError(t, json.Unmarshal([]byte(out), &listed))
	require.NotEmpty(t, listed)
	for _, p := range listed {
		assertAPIShape[api.PartnerResponse](t, p)
	}

	out, err = run(t, "partners", "update", partner, "--brand-color", "#AA3300", "--rate-limit-reveals-per-hour", "5")
	require.NoError(t, err, out)
	assert.Contains(t, out, `"brandColor": "#aa3300"`)
	assert.Contains(t, out, `"revealsPerHour": 5`)
	assertAPIShape[api.PartnerResponse](t, json.RawMessage(out))
	out, err = run(t, "partners", "show", partner)
	require.NoError(t, err)
	assertAPIShape[api.PartnerResponse](t, json.RawMessage(out))

	_, err = run(t, "partners", "update", partner, "--event-webhook-url", "http://10.0.0.1/x")
	assert.ErrorContains(t, err, "invalid_webhook_url")
	_, err = run(t, "partners", "create", "--name", "x", "--allowed-redirect-url", "http://insecure.test/")
	assert.ErrorContains(t, err, "invalid_redirect_url")
	_, err = run(t, "partners", "create")
	assert.ErrorContains(t, err, "--name is required")

	out, err = run(t, "keys", "create", "--partner", partner, "--name", "ci", "--json")
	require.NoError(t, err, out)
	var key struct{ KeyID, Key string }
	require.NoError(t, json.Unmarshal([]byte(out), &key))
	assert.True(t, apikey.WellFormed(key.Key))
	assertAPIShape[api.APIKeyResponse](t, json.RawMessage(out), "key")

	out, err = run(t, "keys", "rotate", "--partner", partner, key.KeyID, "--grace", "1h")
	require.NoError(t, err, out)
	assert.Contains(t, out, "api key: dh_live_")

	out, err = run(t, "keys", "revoke", "--partner", partner, created.KeyID)
	require.NoError(t, err, out)
	assert.Contains(t, out, "revoked:")
	out, err = run(t, "keys", "list", "--partner", partner)
	require.NoError(t, err)
	assert.Equal(t, 3, strings.Count(out, "key_"), "the first key, the ci key and its replacement")
	out, err = run(t, "keys", "list", "--partner", partner, "--json")
	require.NoError(t, err)
	var keys []struct {
		KeyID     string  `json:"keyId"`
		RevokedAt *string `json:"revokedAt"`
		ExpiresAt *string `json:"expiresAt"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &keys))
	var keysRaw []json.RawMessage
	require.NoError(t, json.Unmarshal([]byte(out), &keysRaw))
	states := map[string]string{}
	for i, k := range keys {
		assertAPIShape[api.APIKeyResponse](t, keysRaw[i])
		switch {
		case k.RevokedAt != nil:
			states[k.KeyID] = "revoked"
		case k.ExpiresAt != nil:
			states[k.KeyID] = "rotated"
		default:
			states[k.KeyID] = "active"
		}
	}
	assert.Equal(t, "revoked", states[created.KeyID])
	assert.Equal(t, "rotated", states[key.KeyID])

	// Rotating with --json prints what POST /api/v1/api-keys/{id}/rotate answers.
	var active string
	for id, state := range states {
		if state == "active" {
			active = id
		}
	}
	out, err = run(t, "keys", "rotate", "--partner", partner, active, "--grace", "0s", "--json")
	require.NoError(t, err, out)
	assertAPIShape[api.RotateKeyResponse](t, json.RawMessage(out), "key")
	var rotated struct{ RotatedKey json.RawMessage }
	require.NoError(t, json.Unmarshal([]byte(out), &rotated))
	assertAPIShape[api.APIKeyResponse](t, rotated.RotatedKey)
	out, err = run(t, "keys", "revoke", "--partner", partner, active, "--json")
	require.NoError(t, err, out)
	assertAPIShape[api.APIKeyResponse](t, json.RawMessage(out))
	assert.Contains(t, out, `"status": "revoked"`)

	_, err = run(t, "keys", "revoke", "--partner", partner, "key_missing0000000000000")
	assert.ErrorContains(t, err, "not_found")

	// sessions show prints the API's session object and the partner.
	st := testenv.Store(t)
	tokenHash := sha256.Sum256([]byte(ids.RandomString(44)))
	session, err := st.CreateSession(context.Background(), dbq.CreateSessionParams{
		ID: ids.New(ids.Session), PartnerID: partner, TenantID: "tenant-1", TenantName: "Tenant One", TokenHash: tokenHash[:],
		SuccessRedirectURL: "https://app.acme.test/onboarding/done", FailureRedirectURL: "https://app.acme.test/onboarding/failed",
		CancelRedirectURL: "https://app.acme.test/onboarding/cancelled", WebhookOverrideURL: "https://hooks.acme.test/meta",
		WebhookVerifyTokenCiphertext: "x", Metadata: json.RawMessage(`{"plan":"pro"}`), ExpiresAt: time.Now().Add(time.Hour),
		WorkflowID: "onboarding/test",
	})
	require.NoError(t, err)
	out, err = run(t, "sessions", "show", session.ID)
	require.NoError(t, err, out)
	assertAPIShape[api.SessionResponse](t, json.RawMessage(out), "partnerId")
	var shown struct {
		SessionID, PartnerID, Status string
		Metadata                     map[string]string
	}
	require.NoError(t, json.Unmarshal([]byte(out), &shown))
	assert.Equal(t, session.ID, shown.SessionID)
	assert.Equal(t, partner, shown.PartnerID)
	assert.Equal(t, map[string]string{"plan": "pro"}, shown.Metadata)
}

func TestKeyringNewPrintsAUsableEntry(t *testing.T) {
	out, err := run(t, "keyring", "new", "--id", "k2026")
	require.NoError(t, err)
	_, err = keyring.Parse(strings.TrimSpace(out), "")
	assert.NoError(t, err)
	assert.True(t, strings.HasPrefix(out, "k2026:"))
}

func TestCommandsRefuseToRunWithoutSecrets(t *testing.T) {
	t.Setenv("DATABASE_URL", testenv.DatabaseURL(t))
	t.Setenv("DUALHOOK_ENCRYPTION_KEYS", "")
	_, err := run(t, "partners", "list")
	assert.ErrorContains(t, err, "DUALHOOK_ENCRYPTION_KEYS")
	t.Setenv("DATABASE_URL", "")
	_, err = run(t, "migrate")
	assert.ErrorContains(t, err, "DATABASE_URL")
}

// A bad DUALHOOK_EGRESS_ALLOW_CIDRS stops serve, worker and the operator commands before they
// connect to anything, naming the variable.
func TestBadEgressAllowCIDRsStopsEveryCommand(t *testing.T) {
	spec, err := keyring.NewKeySpec("cli")
	require.NoError(t, err)
	t.Setenv("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none?sslmode=disable")
	t.Setenv("DUALHOOK_ENCRYPTION_KEYS", spec)
	t.Setenv("DUALHOOK_DEV_MODE", "true")
	t.Setenv("DUALHOOK_META_APP_ID", "1")
	t.Setenv("DUALHOOK_META_APP_SECRET", "secret")
	t.Setenv("DUALHOOK_META_CONFIG_ID", "2")
	t.Setenv("DUALHOOK_EGRESS_ALLOW_CIDRS", "10.0.0.1/8")
	for _, args := range [][]string{{"serve"}, {"worker"}, {"partners", "list"}, {"events", "list"}} {
		_, err := run(t, args...)
		assert.ErrorContains(t, err, "DUALHOOK_EGRESS_ALLOW_CIDRS", "dualhook %v", args)
	}
}
