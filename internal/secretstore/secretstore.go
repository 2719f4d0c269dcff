// Package secretstore keeps the secrets the service obtains — OAuth codes, Meta access tokens,
// registration PINs — encrypted in PostgreSQL. Workflows and activities pass only the id
// (SPEC §12: no secret in a Temporal payload, even encrypted).
package secretstore

import (
	"context"
	"errors"

	"github.com/dualhook/dualhook/db/dbq"
	"github.com/dualhook/dualhook/internal/ids"
	"github.com/dualhook/dualhook/internal/keyring"
)

// Kinds of secret.
const (
	KindOAuthCode       = "oauth_code"
	KindAccessToken     = "access_token"
	KindRegistrationPIN = "registration_pin"
)

// ErrErased means the secret existed but was erased (a disconnect, a spent code).
var ErrErased = errors.New("secretstore: secret was erased")

// VerifyTokenAD binds webhook verify-token ciphertexts (sessions and connections share them, so
// siblings can be updated with one value).
const VerifyTokenAD = "webhook_verify_token"

// associated binds a ciphertext to its row: a ciphertext copied to another row does not decrypt.
func associated(id string) string { return "secrets/" + id }

// Create stores plaintext encrypted, within the caller's transaction, and returns its id.
func Create(ctx context.Context, q *dbq.Queries, ring *keyring.Ring, partnerID, kind, plaintext string) (string, error) {
	id := ids.New(ids.Secret)
	ct := ring.EncryptString(plaintext, associated(id))
	_, err := q.CreateSecret(ctx, dbq.CreateSecretParams{ID: id, PartnerID: partnerID, Kind: kind, Ciphertext: &ct})
	return id, err
}

// Read decrypts a secret.
func Read(ctx context.Context, q dbq.Querier, ring *keyring.Ring, id string) (string, error) {
	row, err := q.GetSecret(ctx, id)
	if err != nil {
		return "", err
	}
	if row.Ciphertext == nil {
		return "", ErrErased
	}
	return ring.DecryptString(*row.Ciphertext, associated(id))
}

// Erase forgets a secret's value; its row stays for the audit trail.
func Erase(ctx context.Context, q dbq.Querier, id *string) error {
	if id == nil {
		return nil
	}
	return q.EraseSecret(ctx, *id)
}
