// Package devstack runs the whole product on one machine for `make dev`: PostgreSQL (found or
// started), a Temporal dev server with its Web UI, the API with the onboarding page and the Meta
// sandbox on one listener, and the worker — and stops them in order on Ctrl-C. State lives under
// .dev/ (git-ignored), so a second run reuses it.
package devstack

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/dualhook/dualhook/app"
	"github.com/dualhook/dualhook/internal/apikey"
	"github.com/dualhook/dualhook/internal/config"
	"github.com/dualhook/dualhook/internal/ids"
	"github.com/dualhook/dualhook/internal/keyring"
	"github.com/dualhook/dualhook/internal/partners"
	"github.com/dualhook/dualhook/internal/store"
	"github.com/dualhook/dualhook/sandbox"
)

// Options of the dev stack; zero values take the documented defaults.
type Options struct {
	Dir string // state folder, default .dev
	Out io.Writer
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// Run starts everything and blocks until ctx ends, then stops it all.
func Run(ctx context.Context, o Options) error {
	if o.Dir == "" {
		o.Dir = ".dev"
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
	progress := func(format string, args ...any) { fmt.Fprintf(o.Out, "==> "+format+"\n", args...) }
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return err
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return err
	}

	secrets, err := loadOrCreateSecrets(filepath.Join(dir, "secrets.env"))
	if err != nil {
		return err
	}
	for k, v := range secrets {
		if os.Getenv(k) == "" {
			os.Setenv(k, v)
		}
	}
	os.Setenv("DUALHOOK_DEV_MODE", "true")
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	// Without a real Meta app, onboarding runs against the sandbox mounted on our own listener.
	sandboxDefaults := sandbox.DefaultConfig()
	if cfg.MetaAppID == "" && cfg.MetaSandboxURL == "" {
		cfg.MetaSandboxURL = cfg.PublicOrigin()
		cfg.MetaAppID, cfg.MetaAppSecret = sandboxDefaults.AppID, sandboxDefaults.AppSecret
		cfg.MetaConfigID, cfg.MetaAppVerifyToken = sandboxDefaults.CloudAPIConfigID, sandboxDefaults.AppVerifyToken
	}
	if len(cfg.CodecCORSOrigins) == 0 {
		uiPort := envInt("DUALHOOK_DEV_TEMPORAL_UI_PORT", 8233)
		cfg.CodecCORSOrigins = []string{fmt.Sprintf("http://127.0.0.1:%d", uiPort), fmt.Sprintf("http://localhost:%d", uiPort)}
	}

	pg, err := findPostgres(ctx, dir, envInt("DUALHOOK_DEV_PG_PORT", 55432), progress)
	if err != nil {
		return err
	}
	if pg.stop != nil {
		defer func() { progress("stopping PostgreSQL"); pg.stop() }()
	}
	cfg.DatabaseURL = pg.URL
	progress("PostgreSQL: %s (%s)", app.RedactURL(pg.URL), pg.Note)
	applied, err := store.Migrate(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	progress("migrations: %d applied", len(applied))

	temporalUI := "(external: " + cfg.TemporalAddress + ")"
	// The Web UI can only be given the codec's URL, not the operator token (a header), and the
	// token never goes in a path: dev mode serves a tokenless codec on its own loopback listener
	// (api.Server.DevCodecHandler), never on the API's.
	var codecLn net.Listener
	if os.Getenv("TEMPORAL_ADDRESS") == "" {
		codecLn, err = net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("dev codec: %w", err)
		}
		defer codecLn.Close()
		t, err := StartTemporal(ctx, TemporalOptions{
			Port: envInt("DUALHOOK_DEV_TEMPORAL_PORT", 7233), UIPort: envInt("DUALHOOK_DEV_TEMPORAL_UI_PORT", 8233),
			DBFile: filepath.Join(dir, "temporal.db"), CodecEndpoint: "http://" + codecLn.Addr().String(),
			LogFile: filepath.Join(dir, "temporal.log"),
		}, progress)
		if err != nil {
			return err
		}
		defer func() { progress("stopping Temporal"); t.Stop() }()
		cfg.TemporalAddress, temporalUI = t.Address, t.UIURL
	}

	logger := app.NewLogger(cfg.LogLevel)
	a, err := app.Open(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer a.Close()

	sb, err := newSandbox(cfg, dir)
	if err != nil {
		return err
	}
	defer sb.Close()
	creds, err := ensureDemoPartner(ctx, a, filepath.Join(dir, "credentials.env"), cfg)
	if err != nil {
		return err
	}
	tools := &devTools{origin: cfg.PublicOrigin(), apiKey: creds["DUALHOOK_API_KEY"], signingSecret: creds["DUALHOOK_SIGNING_SECRET"]}
	srv, err := a.APIServer(map[string]http.Handler{sandbox.Prefix: sb.Handler(), "/_dev/": tools})
	if err != nil {
		return err
	}
	devCodec, err := srv.DevCodecHandler()
	if err != nil {
		return err
	}
	ln, err := a.Listen()
	if err != nil {
		return err
	}
	metricsLn, err := a.ListenMetrics()
	if err != nil {
		ln.Close()
		return err
	}
	metricsURL := "(off)"
	if metricsLn != nil {
		metricsURL = "http://" + metricsLn.Addr().String() + "/metrics"
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return a.Serve(gctx, srv.Handler(), ln) })
	if metricsLn != nil {
		g.Go(func() error { return a.Serve(gctx, a.MetricsHandler(), metricsLn) })
	}
	if codecLn != nil {
		g.Go(func() error { return a.Serve(gctx, devCodec, codecLn) })
	}
	g.Go(func() error { return a.RunWorker(gctx) })

	api := cfg.PublicOrigin()
	fmt.Fprintf(o.Out, `
Dualhook dev stack is ready.
  API             %s/api/v1   (OpenAPI: %s/api/v1/openapi.yaml)
  Temporal Web UI %s
  Temporal gRPC   %s
  Metrics         %s
  PostgreSQL      %s
  Meta sandbox    %s%s
  Try onboarding  %s/_dev/   (creates a session and opens its page; events at /_dev/events)
  Credentials     %s   (load them: set -a; . %s; set +a)
  Demo partner    %s
  API key         %s
Try: curl -H "Authorization: Bearer $DUALHOOK_API_KEY" %s/api/v1/partner
Press Ctrl-C to stop.
`, api, api, temporalUI, cfg.TemporalAddress, metricsURL, app.RedactURL(pg.URL), api, sandbox.Prefix, api,
		filepath.Join(o.Dir, "credentials.env"), filepath.Join(o.Dir, "credentials.env"), creds["DUALHOOK_PARTNER_ID"],
		creds["DUALHOOK_API_KEY"], api)

	err = g.Wait()
	progress("stopped API and worker")
	// After Ctrl-C, whatever was in flight fails with "canceled" (gRPC's own error type
	// included): that is a clean stop, not an error.
	if err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}

func newSandbox(cfg config.Config, dir string) (*sandbox.Sandbox, error) {
	sc := sandbox.DefaultConfig()
	sc.PublicURL = cfg.PublicOrigin()
	sc.AppWebhookURL = cfg.PublicOrigin() + "/meta/webhooks"
	sc.SnapshotPath = filepath.Join(dir, "sandbox.json")
	return sandbox.New(sc)
}

// loadOrCreateSecrets keeps dev mode's generated secrets (key ring, operator token) in a file,
// so data encrypted in one run is readable in the next.
func loadOrCreateSecrets(path string) (map[string]string, error) {
	if vals, err := readEnvFile(path); err == nil {
		return vals, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	spec, err := keyring.NewKeySpec("dev1")
	if err != nil {
		return nil, err
	}
	vals := map[string]string{
		"DUALHOOK_ENCRYPTION_KEYS": spec,
		"DUALHOOK_OPERATOR_TOKEN":  "op_" + ids.RandomString(32),
	}
	return vals, writeEnvFile(path, "Generated by `dualhook dev`; dev mode only. Delete to start over.", vals)
}

// ensureDemoPartner reuses the partner of .dev/credentials.env when its key still works, else
// creates a demo partner and writes the file.
func ensureDemoPartner(ctx context.Context, a *app.App, path string, cfg config.Config) (map[string]string, error) {
	if creds, err := readEnvFile(path); err == nil {
		if row, err := a.Store.GetAPIKeyByHash(ctx, apikey.Hash(creds["DUALHOOK_API_KEY"])); err == nil && row.APIKey.RevokedAt == nil && row.APIKey.ExpiresAt == nil {
			return creds, nil
		}
	}
	svc := &partners.Service{Store: a.Store, Ring: a.Ring}
	svc.Egress.DevMode = true
	origin := cfg.PublicOrigin()
	events := origin + "/_dev/events"
	created, err := svc.Create(ctx, partners.Settings{
		DisplayName: "Demo SaaS", EventWebhookURL: &events,
		AllowedRedirectURLs: []string{
			origin + "/", "http://localhost:3000/", "http://127.0.0.1:3000/",
		},
	}, "dev")
	if err != nil {
		return nil, fmt.Errorf("creating the demo partner: %w", err)
	}
	creds := map[string]string{
		"DUALHOOK_API_URL":        origin,
		"DUALHOOK_API_KEY":        created.KeyPlaintext,
		"DUALHOOK_PARTNER_ID":     created.Partner.ID,
		"DUALHOOK_SIGNING_SECRET": created.SigningSecret,
	}
	return creds, writeEnvFile(path, "Demo partner made by `dualhook dev`. Source it: set -a; . .dev/credentials.env; set +a", creds)
}

func readEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	vals := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if ok {
			vals[k] = strings.Trim(v, `'"`)
		}
	}
	return vals, sc.Err()
}

func writeEnvFile(path, comment string, vals map[string]string) error {
	// Stable order makes the file diffable between runs.
	keys := slices.Sorted(maps.Keys(vals))
	var b strings.Builder
	b.WriteString("# " + comment + "\n")
	for _, k := range keys {
		b.WriteString(k + "='" + vals[k] + "'\n")
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
