// Package partners holds the partner and API-key operations shared by the REST API (SPEC §2–§3)
// and the operator CLI (SPEC §13): creating partners with their first key and signing secret,
// validating settings, rotating and revoking keys, rotating the signing secret.
package partners

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/dualhook/dualhook/db/dbq"
	"github.com/dualhook/dualhook/egress"
	"github.com/dualhook/dualhook/internal/apierr"
	"github.com/dualhook/dualhook/internal/apikey"
	"github.com/dualhook/dualhook/internal/eventtypes"
	"github.com/dualhook/dualhook/internal/ids"
	"github.com/dualhook/dualhook/internal/keyring"
	"github.com/dualhook/dualhook/internal/redirecturl"
	"github.com/dualhook/dualhook/internal/store"
	"github.com/dualhook/dualhook/signature"
)

const (
	// DefaultKeyGrace is how long a rotated key keeps working (SPEC §2).
	DefaultKeyGrace = 24 * time.Hour
	// MaxKeyGrace bounds gracePeriodSeconds (SPEC §2: 0–604800).
	MaxKeyGrace = 7 * 24 * time.Hour
	// SigningSecretOverlap is how long the previous signing secret still signs (SPEC §8.4).
	SigningSecretOverlap = 24 * time.Hour
)

// AD strings bind ciphertexts to their column (see keyring.Ring.EncryptString).
const signingSecretAD = "partners.signing_secret"

// Service performs partner operations.
type Service struct {
	Store  *store.Store
	Ring   *keyring.Ring
	Egress egress.Policy
	Now    func() time.Time
	// MaxKeys caps a partner's live keys (those that still authenticate, rotated keys in their
	// grace window included) for CreateKey and RotateKey; 0 means no cap (the operator CLI).
	MaxKeys int
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Settings are a partner's editable settings (SPEC §3). Nil pointers mean "none".
type Settings struct {
	DisplayName         string
	LogoURL             *string
	BrandColor          *string
	AllowedRedirectURLs []string
	EventWebhookURL     *string
	EventTypes          []string
}

// Created is a new partner with its one-time secrets.
type Created struct {
	Partner       dbq.Partner
	Key           dbq.APIKey
	KeyPlaintext  string
	SigningSecret string
}

// Create makes a partner, its first API key and its signing secret in one transaction.
func (s *Service) Create(ctx context.Context, in Settings, keyName string) (Created, error) {
	if in.EventTypes == nil {
		in.EventTypes = eventtypes.Default()
	}
	if err := s.Validate(ctx, in); err != nil {
		return Created{}, err
	}
	secret, err := signature.NewSecret()
	if err != nil {
		return Created{}, err
	}
	var out Created
	err = s.Store.InTx(ctx, func(q *dbq.Queries) error {
		id := ids.New(ids.Partner)
		p, err := q.CreatePartner(ctx, dbq.CreatePartnerParams{
			ID: id, DisplayName: in.DisplayName, LogoURL: in.LogoURL, BrandColor: in.BrandColor,
			AllowedRedirectURLs: in.AllowedRedirectURLs, EventWebhookURL: in.EventWebhookURL, EventTypes: in.EventTypes,
			SigningSecretCiphertext: s.Ring.EncryptString(secret, signingSecretAD+"/"+id),
		})
		if err != nil {
			return err
		}
		key, row, err := createKey(ctx, q, p.ID, keyName, nil)
		if err != nil {
			return err
		}
		out = Created{Partner: p, Key: row, KeyPlaintext: key.Plaintext, SigningSecret: secret}
		return nil
	})
	return out, err
}

// Update replaces a partner's settings after validating them.
func (s *Service) Update(ctx context.Context, partnerID string, in Settings) (dbq.Partner, error) {
	if err := s.Validate(ctx, in); err != nil {
		return dbq.Partner{}, err
	}
	p, err := s.Store.UpdatePartnerSettings(ctx, dbq.UpdatePartnerSettingsParams{
		ID: partnerID, DisplayName: in.DisplayName, LogoURL: in.LogoURL, BrandColor: in.BrandColor,
		AllowedRedirectURLs: in.AllowedRedirectURLs, EventWebhookURL: in.EventWebhookURL, EventTypes: in.EventTypes,
	})
	if store.IsNotFound(err) {
		return dbq.Partner{}, apierr.NotFound("partner")
	}
	return p, err
}

// SettingsOf returns a partner's current settings, the base of a PATCH.
func SettingsOf(p dbq.Partner) Settings {
	return Settings{
		DisplayName: p.DisplayName, LogoURL: p.LogoURL, BrandColor: p.BrandColor,
		AllowedRedirectURLs: p.AllowedRedirectURLs, EventWebhookURL: p.EventWebhookURL, EventTypes: p.EventTypes,
	}
}

var brandColor = regexp.MustCompile(`^#[0-9a-f]{6}$`)

// Validate checks settings against SPEC §3, §4.2 and §12. URL problems of eventWebhookUrl answer
// invalid_webhook_url, of the allow-list invalid_redirect_url, each naming the field.
func (s *Service) Validate(ctx context.Context, in Settings) error {
	fields := map[string]string{}
	if n := len([]rune(in.DisplayName)); n < 1 || n > 80 {
		fields["displayName"] = "must be 1 to 80 characters"
	}
	if in.BrandColor != nil && !brandColor.MatchString(*in.BrandColor) {
		fields["brandColor"] = "must be a colour in the form #rrggbb"
	}
	if in.LogoURL != nil {
		// The logo is loaded by the end user's browser from the onboarding page, so it follows
		// the partner-URL rules without the dev-mode relaxation for http.
		if err := (egress.Policy{AllowCIDRs: s.Egress.AllowCIDRs}).ValidateURL(*in.LogoURL); err != nil {
			fields["logoUrl"] = "must be an https URL on a public host"
		}
	}
	for i, t := range in.EventTypes {
		if !eventtypes.Valid(t) {
			fields["eventTypes["+strconv.Itoa(i)+"]"] = "is not an event type this service sends"
		}
	}
	if len(fields) > 0 {
		return apierr.InvalidFields(fields)
	}
	if len(in.AllowedRedirectURLs) > redirecturl.MaxPatterns {
		return apierr.New(apierr.CodeInvalidRedirectURL, "allowedRedirectUrls may hold at most %d patterns.", redirecturl.MaxPatterns).
			WithDetails(map[string]any{"field": "allowedRedirectUrls"})
	}
	for i, pattern := range in.AllowedRedirectURLs {
		if err := redirecturl.ValidatePattern(pattern, s.Egress.DevMode); err != nil {
			field := "allowedRedirectUrls[" + strconv.Itoa(i) + "]"
			return apierr.New(apierr.CodeInvalidRedirectURL, "%s %s.", field, err.Error()).WithDetails(map[string]any{"field": field})
		}
	}
	if in.EventWebhookURL != nil {
		if err := s.checkWebhookURL(ctx, *in.EventWebhookURL); err != nil {
			return apierr.New(apierr.CodeInvalidWebhookURL, "eventWebhookUrl %s.", err.Error()).
				WithDetails(map[string]any{"field": "eventWebhookUrl"})
		}
	}
	return nil
}

// checkWebhookURL applies SPEC §12 at save time. A host that does not resolve now is accepted
// (DNS can be fixed later; every delivery checks again at dial time); one that resolves to a
// denied address is not.
func (s *Service) checkWebhookURL(ctx context.Context, raw string) error {
	if err := s.Egress.ValidateURL(raw); err != nil {
		return describeURLError(err)
	}
	if err := s.Egress.CheckResolves(ctx, raw); err != nil && !egress.IsResolveError(err) {
		return describeURLError(err)
	}
	return nil
}

func describeURLError(err error) error {
	var ue *egress.URLError
	if errors.As(err, &ue) {
		return errors.New(strings.TrimSuffix(ue.Message, "."))
	}
	if egress.IsDenied(err) {
		return errors.New("resolves to an address that is not allowed (only public addresses are)")
	}
	return errors.New("is not a valid URL")
}

// CreateKey makes a new key for a partner.
func (s *Service) CreateKey(ctx context.Context, partnerID, name string) (apikey.Key, dbq.APIKey, error) {
	var key apikey.Key
	var row dbq.APIKey
	err := s.Store.InTx(ctx, func(q *dbq.Queries) error {
		if err := s.checkKeyCap(ctx, q, partnerID); err != nil {
			return err
		}
		var err error
		key, row, err = createKey(ctx, q, partnerID, name, nil)
		return err
	})
	return key, row, err
}

// checkKeyCap refuses one more live key when the partner already has MaxKeys. The partner row
// is locked first, so concurrent creations are counted one after the other.
func (s *Service) checkKeyCap(ctx context.Context, q *dbq.Queries, partnerID string) error {
	if s.MaxKeys <= 0 {
		return nil
	}
	if err := q.LockPartnerKeys(ctx, partnerID); err != nil {
		return err
	}
	n, err := q.CountLiveAPIKeys(ctx, dbq.CountLiveAPIKeysParams{PartnerID: partnerID, Now: s.now()})
	if err != nil {
		return err
	}
	if n >= int64(s.MaxKeys) {
		return apierr.New(apierr.CodeAPIKeyLimitReached,
			"This partner already has %d live API keys, the most allowed (keys in a rotation grace window count); revoke a key you no longer use, or rotate with gracePeriodSeconds 0.", n)
	}
	return nil
}

func createKey(ctx context.Context, q *dbq.Queries, partnerID, name string, expires *time.Time) (apikey.Key, dbq.APIKey, error) {
	if n := len([]rune(name)); n < 1 || n > 100 {
		return apikey.Key{}, dbq.APIKey{}, apierr.InvalidFields(map[string]string{"name": "must be 1 to 100 characters"})
	}
	key := apikey.Generate()
	row, err := q.CreateAPIKey(ctx, dbq.CreateAPIKeyParams{
		ID: ids.New(ids.APIKey), PartnerID: partnerID, Name: name, Prefix: key.Display, SecretHash: key.Hash, ExpiresAt: expires,
	})
	return key, row, err
}

// RotateKey issues a replacement for keyID; the old key keeps working for grace, then stops.
func (s *Service) RotateKey(ctx context.Context, partnerID, keyID string, grace time.Duration) (apikey.Key, dbq.APIKey, dbq.APIKey, error) {
	var key apikey.Key
	var fresh, old dbq.APIKey
	err := s.Store.InTx(ctx, func(q *dbq.Queries) error {
		current, err := q.GetAPIKey(ctx, dbq.GetAPIKeyParams{PartnerID: partnerID, ID: keyID})
		if store.IsNotFound(err) {
			return apierr.NotFound("API key")
		}
		if err != nil {
			return err
		}
		if current.RevokedAt != nil || (current.ExpiresAt != nil && !s.now().Before(*current.ExpiresAt)) {
			return apierr.New(apierr.CodeInvalidRequest, "This API key is revoked or expired and cannot be rotated; create a new key instead.")
		}
		// With a grace window the rotated key lives on beside its replacement: one more live
		// key. Without one it stops now, so the count does not grow.
		if grace > 0 {
			if err := s.checkKeyCap(ctx, q, partnerID); err != nil {
				return err
			}
		}
		key, fresh, err = createKey(ctx, q, partnerID, current.Name, nil)
		if err != nil {
			return err
		}
		old, err = q.ExpireAPIKey(ctx, dbq.ExpireAPIKeyParams{
			PartnerID: partnerID, ID: keyID, ExpiresAt: s.now().Add(grace), ReplacedBy: &fresh.ID,
		})
		return err
	})
	return key, fresh, old, err
}

// RevokeKey stops a key at once. Revoking again answers the same row.
func (s *Service) RevokeKey(ctx context.Context, partnerID, keyID string) (dbq.APIKey, error) {
	row, err := s.Store.RevokeAPIKey(ctx, dbq.RevokeAPIKeyParams{PartnerID: partnerID, ID: keyID})
	if store.IsNotFound(err) {
		return dbq.APIKey{}, apierr.NotFound("API key")
	}
	return row, err
}

// RotateSigningSecret makes a new signing secret; the previous one keeps signing for 24 h.
func (s *Service) RotateSigningSecret(ctx context.Context, partnerID string) (dbq.Partner, string, error) {
	secret, err := signature.NewSecret()
	if err != nil {
		return dbq.Partner{}, "", err
	}
	p, err := s.Store.RotatePartnerSigningSecret(ctx, dbq.RotatePartnerSigningSecretParams{
		ID: partnerID, PreviousExpiresAt: s.now().Add(SigningSecretOverlap),
		NewCiphertext: s.Ring.EncryptString(secret, signingSecretAD+"/"+partnerID),
	})
	if store.IsNotFound(err) {
		return dbq.Partner{}, "", apierr.NotFound("partner")
	}
	return p, secret, err
}

// SigningSecrets returns the secrets that sign a partner's events now: the current one, and the
// previous one while its overlap window lasts.
func (s *Service) SigningSecrets(p dbq.Partner) (current, previous string, err error) {
	current, err = s.Ring.DecryptString(p.SigningSecretCiphertext, signingSecretAD+"/"+p.ID)
	if err != nil {
		return "", "", err
	}
	if p.PreviousSigningSecretCiphertext != nil && p.PreviousSigningSecretExpiresAt != nil && s.now().Before(*p.PreviousSigningSecretExpiresAt) {
		previous, err = s.Ring.DecryptString(*p.PreviousSigningSecretCiphertext, signingSecretAD+"/"+p.ID)
		if err != nil {
			return "", "", err
		}
	}
	return current, previous, nil
}
