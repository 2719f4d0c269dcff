// Package keyring encrypts the secrets the service must read back (Meta access tokens,
// registration PINs, OAuth codes, signing secrets, stored idempotent responses, Temporal
// payloads) with AES-256-GCM under a ring of named keys (SPEC §12). Every ciphertext names its
// key, so keys can rotate: new data uses the active key, old data stays readable while its key is
// in the ring.
package keyring

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// KeySize is the AES-256 key length in bytes.
const KeySize = 32

// textVersion prefixes the textual form so the format can evolve.
const textVersion = "v1"

var keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// ErrUnknownKey means a ciphertext names a key that is not in the ring (rotated out too early).
var ErrUnknownKey = errors.New("keyring: ciphertext names a key that is not in the ring")

// ErrDecrypt means a ciphertext is malformed or was tampered with.
var ErrDecrypt = errors.New("keyring: ciphertext cannot be decrypted")

// Ring holds the keys by id and the id of the key that encrypts new data.
type Ring struct {
	active string
	aeads  map[string]cipher.AEAD
}

// Parse reads a ring from its configuration form: comma-separated `id:base64key` entries
// (standard base64 of 32 bytes). The active key is activeID, or the first entry when empty.
func Parse(spec, activeID string) (*Ring, error) {
	r := &Ring{aeads: map[string]cipher.AEAD{}}
	for entry := range strings.SplitSeq(spec, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		id, encoded, ok := strings.Cut(entry, ":")
		if !ok || !keyIDPattern.MatchString(id) {
			return nil, fmt.Errorf("keyring: entry %d must be id:base64key with id of [A-Za-z0-9_-]{1,32}", len(r.aeads)+1)
		}
		raw, err := base64.StdEncoding.DecodeString(encoded)
		if err != nil || len(raw) != KeySize {
			return nil, fmt.Errorf("keyring: key %q must be standard base64 of %d bytes", id, KeySize)
		}
		if _, dup := r.aeads[id]; dup {
			return nil, fmt.Errorf("keyring: key %q appears twice", id)
		}
		aead, err := newAEAD(raw)
		if err != nil {
			return nil, err
		}
		r.aeads[id] = aead
		if r.active == "" {
			r.active = id
		}
	}
	if len(r.aeads) == 0 {
		return nil, errors.New("keyring: no keys configured")
	}
	if activeID != "" {
		if _, ok := r.aeads[activeID]; !ok {
			return nil, fmt.Errorf("keyring: active key %q is not in the ring", activeID)
		}
		r.active = activeID
	}
	return r, nil
}

// NewKeySpec returns a fresh `id:base64key` entry, used by dev mode and `dualhook keyring new`.
func NewKeySpec(id string) (string, error) {
	raw := make([]byte, KeySize)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	return id + ":" + base64.StdEncoding.EncodeToString(raw), nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// ActiveKeyID names the key that encrypts new data.
func (r *Ring) ActiveKeyID() string { return r.active }

// Seal encrypts plaintext with the active key. associated binds the ciphertext to its context
// (for example a table and column), so a ciphertext copied elsewhere does not decrypt.
func (r *Ring) Seal(plaintext, associated []byte) (keyID string, sealed []byte) {
	aead := r.aeads[r.active]
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic("keyring: crypto/rand failed: " + err.Error())
	}
	return r.active, aead.Seal(nonce, nonce, plaintext, associated)
}

// Open decrypts what Seal produced with the key keyID.
func (r *Ring) Open(keyID string, sealed, associated []byte) ([]byte, error) {
	aead, ok := r.aeads[keyID]
	if !ok {
		return nil, ErrUnknownKey
	}
	if len(sealed) < aead.NonceSize()+aead.Overhead() {
		return nil, ErrDecrypt
	}
	plain, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], associated)
	if err != nil {
		return nil, ErrDecrypt
	}
	return plain, nil
}

// EncryptString returns the textual form `v1.<keyID>.<base64url(nonce|ciphertext)>` stored in
// text columns.
func (r *Ring) EncryptString(plaintext, associated string) string {
	keyID, sealed := r.Seal([]byte(plaintext), []byte(associated))
	return textVersion + "." + keyID + "." + base64.RawURLEncoding.EncodeToString(sealed)
}

// DecryptString reverses EncryptString.
func (r *Ring) DecryptString(text, associated string) (string, error) {
	version, rest, ok := strings.Cut(text, ".")
	if !ok || version != textVersion {
		return "", ErrDecrypt
	}
	keyID, encoded, ok := strings.Cut(rest, ".")
	if !ok {
		return "", ErrDecrypt
	}
	sealed, err := base64.RawURLEncoding.DecodeString(encoded)
	if err != nil {
		return "", ErrDecrypt
	}
	plain, err := r.Open(keyID, sealed, []byte(associated))
	if err != nil {
		return "", err
	}
	return string(plain), nil
}
