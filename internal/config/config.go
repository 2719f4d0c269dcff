// Package config reads the service's configuration from environment variables into one struct.
// Every variable, its default and its meaning is listed in the README's configuration table;
// TestREADMEListsEveryVariable keeps the two in step.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/dualhook/dualhook/egress"
	"github.com/dualhook/dualhook/internal/keyring"
)

// Config is the whole configuration of every subcommand.
type Config struct {
	// DevMode relaxes exactly what SPEC §12 lists (http and loopback for localhost URLs) and lets
	// `dualhook dev` generate its own secrets.
	DevMode bool `env:"DUALHOOK_DEV_MODE" envDefault:"false"`

	DatabaseURL string `env:"DATABASE_URL"`

	ListenAddr string `env:"DUALHOOK_LISTEN_ADDR" envDefault:"127.0.0.1:8080"`
	// MetricsAddr is the operator-only listener of /metrics (Prometheus), kept off the public API
	// listener; "off" disables it.
	MetricsAddr string `env:"DUALHOOK_METRICS_ADDR" envDefault:"127.0.0.1:9464"`
	// PublicURL is the origin users reach the API and onboarding page at (onboarding URLs are
	// built from it).
	PublicURL       string        `env:"DUALHOOK_PUBLIC_URL" envDefault:"http://127.0.0.1:8080"`
	ShutdownTimeout time.Duration `env:"DUALHOOK_SHUTDOWN_TIMEOUT" envDefault:"20s"`
	LogLevel        string        `env:"DUALHOOK_LOG_LEVEL" envDefault:"info"`
	// TrustedProxies are CIDRs whose X-Forwarded-For is believed when recording client IPs.
	TrustedProxies string `env:"DUALHOOK_TRUSTED_PROXIES"`

	TemporalAddress   string `env:"TEMPORAL_ADDRESS" envDefault:"127.0.0.1:7233"`
	TemporalNamespace string `env:"TEMPORAL_NAMESPACE" envDefault:"default"`
	TemporalTaskQueue string `env:"TEMPORAL_TASK_QUEUE" envDefault:"dualhook"`

	// EncryptionKeys is the key ring (`id:base64key,…`); the first entry, or
	// EncryptionActiveKey, encrypts new data.
	EncryptionKeys      string `env:"DUALHOOK_ENCRYPTION_KEYS"`
	EncryptionActiveKey string `env:"DUALHOOK_ENCRYPTION_ACTIVE_KEY"`
	// OperatorToken guards operator-only HTTP endpoints (the Temporal payload codec).
	OperatorToken string `env:"DUALHOOK_OPERATOR_TOKEN"`
	// CodecCORSOrigins are the Temporal Web UI origins allowed to call the codec endpoint.
	CodecCORSOrigins []string `env:"DUALHOOK_CODEC_CORS_ORIGINS" envSeparator:","`

	EgressAllowCIDRs string `env:"DUALHOOK_EGRESS_ALLOW_CIDRS"`

	RetentionEventsDays      int           `env:"DUALHOOK_RETENTION_EVENTS_DAYS" envDefault:"30"`
	RetentionIdempotencyDays int           `env:"DUALHOOK_RETENTION_IDEMPOTENCY_DAYS" envDefault:"1"`
	RetentionAuditDays       int           `env:"DUALHOOK_RETENTION_AUDIT_DAYS" envDefault:"365"`
	RetentionInterval        time.Duration `env:"DUALHOOK_RETENTION_INTERVAL" envDefault:"1h"`

	RateLimitReadPerMinute          int `env:"DUALHOOK_RATE_LIMIT_READ_PER_MINUTE" envDefault:"100"`
	RateLimitWritePerMinute         int `env:"DUALHOOK_RATE_LIMIT_WRITE_PER_MINUTE" envDefault:"30"`
	RateLimitRevealPerHour          int `env:"DUALHOOK_RATE_LIMIT_REVEAL_PER_HOUR" envDefault:"60"`
	RateLimitHealthRefreshPerMinute int `env:"DUALHOOK_RATE_LIMIT_HEALTH_REFRESH_PER_MINUTE" envDefault:"10"`
	// The onboarding page's endpoints (page, callback, status) per token and per client IP;
	// 0 means the default (60 and 300 per minute, see docs/security.md).
	RateLimitPagePerTokenPerMinute int `env:"DUALHOOK_RATE_LIMIT_PAGE_PER_TOKEN_PER_MINUTE" envDefault:"60"`
	RateLimitPagePerIPPerMinute    int `env:"DUALHOOK_RATE_LIMIT_PAGE_PER_IP_PER_MINUTE" envDefault:"300"`
	// RateLimitPartnerRevealPerHour is the secret-reveal budget a partner's keys share, on top of
	// each key's own: more keys do not mean more reveals. A partner whose per-key reveal budget
	// is set higher gets that as its shared budget instead.
	RateLimitPartnerRevealPerHour int `env:"DUALHOOK_RATE_LIMIT_PARTNER_REVEAL_PER_HOUR" envDefault:"120"`
	// MaxAPIKeysPerPartner caps a partner's live API keys (keys in a rotation grace window
	// included) created through the API; the operator CLI is not bound by it.
	MaxAPIKeysPerPartner int `env:"DUALHOOK_MAX_API_KEYS_PER_PARTNER" envDefault:"20"`
	// ReplayDailyCap is how many events a partner may replay per UTC day through the API, single
	// and bulk replays together (docs/events.md); 0 means the default.
	ReplayDailyCap int `env:"DUALHOOK_REPLAY_DAILY_CAP" envDefault:"10000"`

	// DeliverySchedule is the wait after each failed event delivery attempt (SPEC §8.3); its
	// length + 1 is the number of attempts. Unset means the SPEC's 1m,5m,15m,1h,6h,24h, or a
	// compressed schedule in dev mode (see DeliveryRetrySchedule).
	DeliverySchedule []time.Duration `env:"DUALHOOK_DELIVERY_SCHEDULE" envSeparator:","`
	// DeliveryTimeout bounds one attempt: a 2xx must arrive within it (SPEC §8.3: 10 s).
	DeliveryTimeout time.Duration `env:"DUALHOOK_DELIVERY_TIMEOUT" envDefault:"10s"`
	// EventRescueAfter is how long a pending event may go without an attempt before the
	// reconciler asks Temporal whether any workflow still delivers it (docs/events.md); unset
	// means DefaultEventRescueAfter (see EventRescueWait).
	EventRescueAfter time.Duration `env:"DUALHOOK_EVENT_RESCUE_AFTER"`

	// HealthRefreshInterval is how often the health-refresh schedule reads every active
	// connection's number from Meta (SPEC §7.6 [ext]).
	HealthRefreshInterval time.Duration `env:"DUALHOOK_HEALTH_REFRESH_INTERVAL" envDefault:"6h"`
	// HeartbeatPeriod is a coexistence number's deadline after a confirmation, and
	// HeartbeatDueSoonBefore how long before it the status becomes DUE_SOON (SPEC §7.6: 13 d and
	// 3 d). Changing them is for tests and demos; a running heartbeat picks them up at its next
	// cycle.
	HeartbeatPeriod        time.Duration `env:"DUALHOOK_HEARTBEAT_PERIOD" envDefault:"312h"`
	HeartbeatDueSoonBefore time.Duration `env:"DUALHOOK_HEARTBEAT_DUE_SOON_BEFORE" envDefault:"72h"`

	// Meta app (SPEC §5–§6). Required outside dev mode; `dualhook dev` points them at its sandbox.
	MetaAppID          string `env:"DUALHOOK_META_APP_ID"`
	MetaAppSecret      string `env:"DUALHOOK_META_APP_SECRET"`
	MetaConfigID       string `env:"DUALHOOK_META_CONFIG_ID"`
	MetaAppVerifyToken string `env:"DUALHOOK_META_APP_VERIFY_TOKEN"`
	MetaGraphURL       string `env:"DUALHOOK_META_GRAPH_URL" envDefault:"https://graph.facebook.com"`
	MetaGraphVersion   string `env:"DUALHOOK_META_GRAPH_VERSION" envDefault:"v23.0"`
	MetaSDKURL         string `env:"DUALHOOK_META_SDK_URL" envDefault:"https://connect.facebook.net/en_US/sdk.js"`
	// MetaSandboxURL, when set, runs onboarding against the Meta sandbox served at that origin:
	// the page loads the sandbox's SDK and the Graph client calls the sandbox's Graph API.
	MetaSandboxURL string `env:"DUALHOOK_META_SANDBOX_URL"`
}

// DefaultDeliverySchedule is SPEC §8.3's schedule: 7 attempts over ~31 h.
var DefaultDeliverySchedule = []time.Duration{
	time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour, 6 * time.Hour, 24 * time.Hour,
}

// DevDeliverySchedule is the same shape compressed, so `dualhook dev` users see retries and a
// final failure within minutes.
var DevDeliverySchedule = []time.Duration{
	2 * time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute,
}

// Bounds on the delivery settings. The delivery activity's Temporal timeouts are fixed in the
// workflow code (workflows/delivery.go) and assume them.
const (
	MaxDeliveryTimeout       = 30 * time.Second
	MaxDeliveryDelay         = 24 * time.Hour
	MaxDeliveryScheduleSteps = 12
)

// DeliveryRetrySchedule is the schedule in force: the configured one, else the default of the
// mode.
func (c Config) DeliveryRetrySchedule() []time.Duration {
	switch {
	case len(c.DeliverySchedule) > 0:
		return c.DeliverySchedule
	case c.DevMode:
		return DevDeliverySchedule
	default:
		return DefaultDeliverySchedule
	}
}

// DefaultEventRescueAfter is EventRescueAfter when unset.
const DefaultEventRescueAfter = 10 * time.Minute

// EventRescueWait is the EventRescueAfter in force: the configured one, else the default.
func (c Config) EventRescueWait() time.Duration {
	if c.EventRescueAfter > 0 {
		return c.EventRescueAfter
	}
	return DefaultEventRescueAfter
}

// ValidateDelivery checks the delivery settings (the worker refuses to start otherwise).
func (c Config) ValidateDelivery() error {
	if len(c.DeliverySchedule) > MaxDeliveryScheduleSteps {
		return fmt.Errorf("config: DUALHOOK_DELIVERY_SCHEDULE may list at most %d delays", MaxDeliveryScheduleSteps)
	}
	for _, d := range c.DeliverySchedule {
		if d <= 0 || d > MaxDeliveryDelay {
			return fmt.Errorf("config: DUALHOOK_DELIVERY_SCHEDULE delays must be between 0 and %s (got %s)", MaxDeliveryDelay, d)
		}
	}
	if c.DeliveryTimeout <= 0 || c.DeliveryTimeout > MaxDeliveryTimeout {
		return fmt.Errorf("config: DUALHOOK_DELIVERY_TIMEOUT must be between 0 and %s", MaxDeliveryTimeout)
	}
	if c.EventRescueAfter < 0 {
		return fmt.Errorf("config: DUALHOOK_EVENT_RESCUE_AFTER must not be negative")
	}
	return nil
}

// Load reads the environment. It does not validate: each subcommand validates what it uses.
func Load() (Config, error) {
	var c Config
	if err := env.Parse(&c); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return c, nil
}

// Keyring parses the configured key ring. Outside dev mode there is no default: the service
// refuses to start without keys rather than encrypting with a guessable one.
func (c Config) Keyring() (*keyring.Ring, error) {
	if strings.TrimSpace(c.EncryptionKeys) == "" {
		return nil, errors.New("config: DUALHOOK_ENCRYPTION_KEYS is required (generate one with `dualhook keyring new`)")
	}
	return keyring.Parse(c.EncryptionKeys, c.EncryptionActiveKey)
}

// EgressPolicy is the outbound-request policy of SPEC §12 every part of the service applies:
// dev mode's relaxations and the ranges of DUALHOOK_EGRESS_ALLOW_CIDRS. A value that does not
// parse is an error naming the variable, so serve, worker and the operator commands refuse to
// start rather than run with a policy other than the one configured.
func (c Config) EgressPolicy() (egress.Policy, error) {
	allow, err := egress.ParseCIDRs(c.EgressAllowCIDRs)
	if err != nil {
		return egress.Policy{}, fmt.Errorf("config: DUALHOOK_EGRESS_ALLOW_CIDRS: %w", err)
	}
	return egress.Policy{DevMode: c.DevMode, AllowCIDRs: allow}, nil
}

// RequireDatabase returns an error naming the variable when it is missing.
func (c Config) RequireDatabase() error {
	if c.DatabaseURL == "" {
		return errors.New("config: DATABASE_URL is required (for example postgres://user@127.0.0.1:5432/dualhook?sslmode=disable)")
	}
	return nil
}

// ValidateServe checks what `dualhook serve` needs beyond the database and key ring.
func (c Config) ValidateServe() error {
	u, err := url.Parse(c.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return errors.New("config: DUALHOOK_PUBLIC_URL must be an origin such as https://onboard.example.com")
	}
	if !c.DevMode && u.Scheme != "https" {
		return errors.New("config: DUALHOOK_PUBLIC_URL must use https outside dev mode")
	}
	if !c.DevMode && c.OperatorToken == "" {
		return errors.New("config: DUALHOOK_OPERATOR_TOKEN is required outside dev mode")
	}
	if c.OperatorToken != "" && len(c.OperatorToken) < 24 {
		return errors.New("config: DUALHOOK_OPERATOR_TOKEN must be at least 24 characters")
	}
	if c.MaxAPIKeysPerPartner < 0 {
		return errors.New("config: DUALHOOK_MAX_API_KEYS_PER_PARTNER must not be negative (0 turns the cap off)")
	}
	if c.RateLimitPartnerRevealPerHour < 0 {
		return errors.New("config: DUALHOOK_RATE_LIMIT_PARTNER_REVEAL_PER_HOUR must not be negative")
	}
	return nil
}

// PublicOrigin is PublicURL without a trailing slash.
func (c Config) PublicOrigin() string { return strings.TrimRight(c.PublicURL, "/") }

// SandboxPrefix is where the Meta sandbox serves everything (sandbox.Prefix; repeated here so
// configuration does not import the simulator).
const SandboxPrefix = "/_sandbox/meta/"

// GraphBaseURL is the Graph API origin the service calls: Meta's, or the sandbox's.
func (c Config) GraphBaseURL() string {
	if c.MetaSandboxURL != "" {
		return strings.TrimRight(c.MetaSandboxURL, "/") + strings.TrimSuffix(SandboxPrefix, "/") + "/graph"
	}
	return strings.TrimRight(c.MetaGraphURL, "/")
}

// SDKURL is the JS SDK the onboarding page loads: Meta's, or the sandbox's stand-in.
func (c Config) SDKURL() string {
	if c.MetaSandboxURL != "" {
		return strings.TrimRight(c.MetaSandboxURL, "/") + SandboxPrefix + "sdk.js"
	}
	return c.MetaSDKURL
}

// ValidateMeta checks the Meta app settings onboarding needs.
func (c Config) ValidateMeta() error {
	var missing []string
	for name, v := range map[string]string{
		"DUALHOOK_META_APP_ID": c.MetaAppID, "DUALHOOK_META_APP_SECRET": c.MetaAppSecret, "DUALHOOK_META_CONFIG_ID": c.MetaConfigID,
	} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return errors.New("config: " + strings.Join(missing, ", ") + " required (or DUALHOOK_META_SANDBOX_URL in dev mode)")
	}
	if c.MetaSandboxURL != "" && !c.DevMode {
		return errors.New("config: DUALHOOK_META_SANDBOX_URL is only allowed in dev mode")
	}
	return nil
}
