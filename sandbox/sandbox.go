// Package sandbox is a faithful HTTP simulator of the parts of Meta that
// WhatsApp Embedded Signup onboarding touches: the Graph API endpoints
// (code exchange, debug_token, WABA, phone numbers, subscriptions and
// overrides, register, coexistence syncs), a stand-in for Meta's JS SDK and
// the Embedded Signup popup, the webhooks Meta sends to an app, and control
// endpoints for tests (headless sessions, fault injection, a call log and a
// movable clock).
//
// The package depends on nothing else in this module, so it can be used to
// test any Embedded Signup integration. Everything is served under Prefix;
// see docs/sandbox.md for the full description.
package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Prefix is the path under which the sandbox serves everything.
const Prefix = "/_sandbox/meta/"

// Config configures a Sandbox. Start from DefaultConfig.
type Config struct {
	// AppID, AppSecret and AppVerifyToken describe the simulated Meta app.
	// The secret signs emitted webhooks and authenticates code exchanges.
	AppID, AppSecret, AppVerifyToken string
	// AppName is shown in subscribed_apps and debug_token.
	AppName string
	// CloudAPIConfigID and CoexistenceConfigID are the Facebook Login for
	// Business configuration ids the popup understands (FB.login config_id).
	CloudAPIConfigID, CoexistenceConfigID string
	// PartnerBusinessID is the app owner's business portfolio: Meta puts it
	// in entry.id of partner account_update webhooks.
	PartnerBusinessID string
	// PublicURL is the absolute origin where the sandbox is served, e.g.
	// "http://127.0.0.1:8080". Used to build the SDK/popup URLs and as the
	// popup's origin. Empty: derived from each request's Host.
	PublicURL string
	// AppWebhookURL is the app's default callback URL, where the emitter
	// POSTs Meta app webhooks unless an emit call names another URL.
	AppWebhookURL string
	// SnapshotPath, when set, is a JSON file loaded by New and rewritten
	// (atomically) after every state change.
	SnapshotPath string
	// HTTPClient performs override verification GETs and webhook
	// deliveries. Default: 5 s timeout, redirects not followed (Meta does
	// not follow them either).
	HTTPClient *http.Client
	// Logger receives operational logs; secrets are never logged.
	Logger *slog.Logger
	// TokenLifetime is how long minted business tokens live. Zero means
	// "never" (Meta's system-user tokens report expires_at 0). Default 60
	// days, like Meta's stock "…With 60 Expiration Token" configuration.
	TokenLifetime time.Duration
	// WABAQuotaPerHour and RegisteredWABAQuotaPerHour are the per-WABA Graph
	// call quotas (rolling hour); over it Graph answers code 80008. Meta
	// quotes 200 by default and 5,000 once the WABA has a registered number.
	WABAQuotaPerHour, RegisteredWABAQuotaPerHour int
	// EmitInstalledOnFinish makes a finished Embedded Signup send
	// account_update PARTNER_APP_INSTALLED to AppWebhookURL, as Meta does.
	// Off by default so tests see only the webhooks they ask for.
	EmitInstalledOnFinish bool
	// RepeatedSyncCode is the error code a repeated smb_app_data sync
	// answers: SyncLimitCode (4, "(#4) Sync request limit exceeded", what
	// Meta has been reported to send; the default) or SyncLimitCodeDocumented
	// (2593107, what Meta's coexistence page documents).
	RepeatedSyncCode int
	// Clock is the clock to use; default a fresh real-time clock.
	Clock *Clock
}

// Answers to a repeated smb_app_data sync (Config.RepeatedSyncCode).
const (
	SyncLimitCode           = 4
	SyncLimitCodeDocumented = 2593107
)

// DefaultConfig returns a working configuration with fixed, documented
// credentials (they are fake: nothing here reaches Meta).
func DefaultConfig() Config {
	return Config{
		AppID:                      "1234567890123456",
		AppSecret:                  "sandbox-app-secret-0123456789abcdef",
		AppVerifyToken:             "sandbox-verify-token",
		AppName:                    "Dualhook Sandbox App",
		CloudAPIConfigID:           "100000000000001",
		CoexistenceConfigID:        "100000000000002",
		PartnerBusinessID:          "2949482758682047",
		TokenLifetime:              60 * 24 * time.Hour,
		WABAQuotaPerHour:           200,
		RegisteredWABAQuotaPerHour: 5000,
		RepeatedSyncCode:           SyncLimitCode,
	}
}

// Sandbox is the simulator. Create it with New and serve Handler.
type Sandbox struct {
	cfg   Config
	log   *slog.Logger
	clock *Clock
	http  *http.Client

	mu sync.Mutex // guards st and quota
	st *state

	quota  *quota
	faults *faultSet
	calls  *callLog

	saveMu       sync.Mutex
	savedVersion int64
	version      int64 // bumped under mu on every change

	ctx    context.Context // cancelled by Close: ends hanging "timeout" faults
	cancel context.CancelFunc
	wg     sync.WaitGroup // background webhook deliveries

	mux *http.ServeMux
}

// New validates cfg, loads the snapshot if one exists and returns a ready
// sandbox.
func New(cfg Config) (*Sandbox, error) {
	def := DefaultConfig()
	fill := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	fill(&cfg.AppID, def.AppID)
	fill(&cfg.AppSecret, def.AppSecret)
	fill(&cfg.AppVerifyToken, def.AppVerifyToken)
	fill(&cfg.AppName, def.AppName)
	fill(&cfg.CloudAPIConfigID, def.CloudAPIConfigID)
	fill(&cfg.CoexistenceConfigID, def.CoexistenceConfigID)
	fill(&cfg.PartnerBusinessID, def.PartnerBusinessID)
	if cfg.WABAQuotaPerHour <= 0 {
		cfg.WABAQuotaPerHour = def.WABAQuotaPerHour
	}
	if cfg.RegisteredWABAQuotaPerHour <= 0 {
		cfg.RegisteredWABAQuotaPerHour = def.RegisteredWABAQuotaPerHour
	}
	switch cfg.RepeatedSyncCode {
	case 0:
		cfg.RepeatedSyncCode = def.RepeatedSyncCode
	case SyncLimitCode, SyncLimitCodeDocumented:
	default:
		return nil, fmt.Errorf("sandbox: RepeatedSyncCode must be %d or %d", SyncLimitCode, SyncLimitCodeDocumented)
	}
	if cfg.TokenLifetime < 0 {
		return nil, errors.New("sandbox: TokenLifetime must not be negative")
	}
	if !numericIDPattern.MatchString(cfg.AppID) {
		return nil, fmt.Errorf("sandbox: AppID %q is not a numeric id", cfg.AppID)
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{
			Timeout: 5 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = NewClock()
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Sandbox{
		cfg:    cfg,
		log:    cfg.Logger.With("component", "meta-sandbox"),
		clock:  cfg.Clock,
		http:   cfg.HTTPClient,
		st:     newState(),
		quota:  newQuota(),
		faults: newFaultSet(),
		calls:  newCallLog(),
		ctx:    ctx,
		cancel: cancel,
	}
	if err := s.loadSnapshot(); err != nil {
		cancel()
		return nil, err
	}
	s.mux = s.routes()
	return s, nil
}

// Handler serves every path under Prefix; mount it at "/". Paths outside
// the prefix answer 404.
func (s *Sandbox) Handler() http.Handler { return s.mux }

// GraphBaseURL is where the Graph API is served, without a version:
// PublicURL + "/_sandbox/meta/graph". Append "/v21.0/...".
func (s *Sandbox) GraphBaseURL() string { return s.cfg.PublicURL + Prefix + "graph" }

// Config returns the effective configuration (defaults filled in).
func (s *Sandbox) Config() Config { return s.cfg }

// Clock returns the sandbox clock, for in-process tests.
func (s *Sandbox) Clock() *Clock { return s.clock }

// Close ends hanging fault responses and waits for background webhook
// deliveries. The handler must not be used afterwards.
func (s *Sandbox) Close() error {
	s.cancel()
	s.wg.Wait()
	return nil
}

// publicURL returns the configured origin, or one derived from the request
// when none was configured (handy behind `go run` on a random port).
func (s *Sandbox) publicURL(r *http.Request) string {
	if s.cfg.PublicURL != "" {
		return s.cfg.PublicURL
	}
	scheme := "http"
	if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// changed records that the state changed; callers hold s.mu. The snapshot
// is written by persist once the lock is released.
func (s *Sandbox) changed() { s.version++ }

// lock takes the state lock and returns the matching unlock, which also
// persists the snapshot when the holder called changed.
func (s *Sandbox) lock() (unlock func()) {
	s.mu.Lock()
	before := s.version
	return func() {
		dirty := s.version != before
		s.mu.Unlock()
		if dirty {
			s.persist()
		}
	}
}

// update runs fn under the state lock; a nil error means fn changed the
// state, which is then persisted.
func (s *Sandbox) update(fn func(st *state) error) error {
	unlock := s.lock()
	defer unlock()
	err := fn(s.st)
	if err == nil {
		s.changed()
	}
	return err
}

// writeJSON writes v as JSON with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// errNoChange makes update skip persisting: fn decided nothing changes.
var errNoChange = errors.New("no change")
