package sandbox

import (
	"embed"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// The front end is plain HTML/CSS/JS embedded in the binary: no CDN, no
// external resource, so it works offline and in CI.
//
//go:embed assets/sdk.js assets/popup.html assets/demo.html
var assets embed.FS

func asset(name string) string {
	b, err := assets.ReadFile("assets/" + name)
	if err != nil {
		panic(err) // embedded at build time
	}
	return string(b)
}

// jsonForScript encodes v for a <script> element: encoding/json escapes
// <, > and & so the data cannot close the element.
func jsonForScript(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func noStore(w http.ResponseWriter, contentType string) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
}

// handleSDK serves the stand-in for connect.facebook.net/en_US/sdk.js.
func (s *Sandbox) handleSDK(w http.ResponseWriter, r *http.Request) {
	cfg := map[string]any{
		"origin":     s.publicURL(r),
		"dialogPath": Prefix + "dialog/es",
		"appId":      s.cfg.AppID,
	}
	noStore(w, "application/javascript; charset=utf-8")
	// The SDK is loaded cross-origin by integrations under test.
	w.Header().Set("Access-Control-Allow-Origin", "*")
	_, _ = w.Write([]byte(strings.Replace(asset("sdk.js"), "__SANDBOX_CONFIG__", jsonForScript(cfg), 1)))
}

// popupConfig is what the popup page needs, embedded as JSON.
type popupConfig struct {
	AppID        string          `json:"appId"`
	AppName      string          `json:"appName"`
	ConfigID     string          `json:"configId"`
	Variant      string          `json:"variant"` // cloud, coex, only_waba, app_only
	TargetOrigin string          `json:"targetOrigin"`
	CallbackID   string          `json:"callbackId"`
	CompleteURL  string          `json:"completeUrl"`
	ConfigErrors []string        `json:"configErrors"`
	Businesses   []popupBusiness `json:"businesses"`
	CancelSteps  []string        `json:"cancelSteps"`
	Prefill      map[string]any  `json:"prefill"`
	DefaultError string          `json:"defaultError"`
}

type popupBusiness struct {
	ID    string      `json:"id"`
	Name  string      `json:"name"`
	WABAs []popupWABA `json:"wabas"`
}

type popupWABA struct {
	ID     string       `json:"id"`
	Name   string       `json:"name"`
	Phones []popupPhone `json:"phones"`
}

type popupPhone struct {
	ID           string `json:"id"`
	Display      string `json:"display"`
	VerifiedName string `json:"verifiedName"`
	IsOnBizApp   bool   `json:"isOnBizApp"`
}

// handlePopup serves the Embedded Signup dialog (Meta's
// www.facebook.com/…/dialog/oauth popup). The opener's origin arrives in
// the URL and becomes the postMessage targetOrigin.
func (s *Sandbox) handlePopup(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	target := q.Get("origin")
	if !isOrigin(target) {
		http.Error(w, "origin must be the opener's origin (scheme://host[:port])", http.StatusBadRequest)
		return
	}
	var extras struct {
		FeatureType string           `json:"featureType"`
		Features    []map[string]any `json:"features"`
		Setup       map[string]any   `json:"setup"`
	}
	var problems []string
	if raw := q.Get("extras"); raw != "" {
		if err := json.Unmarshal([]byte(raw), &extras); err != nil {
			problems = append(problems, "extras is not valid JSON")
		}
	}
	if q.Get("app_id") != s.cfg.AppID {
		problems = append(problems, "Invalid App ID: the app_id given to FB.init is not the sandbox app ("+s.cfg.AppID+").")
	}
	configID := q.Get("config_id")
	if configID != s.cfg.CloudAPIConfigID && configID != s.cfg.CoexistenceConfigID {
		problems = append(problems, "Invalid configuration: config_id "+configID+" is not a Facebook Login for Business configuration of this app.")
	}
	if q.Get("response_type") != "code" || q.Get("override_default_response_type") != "true" {
		problems = append(problems, "Embedded Signup needs response_type: 'code' and override_default_response_type: true.")
	}
	variant := "cloud"
	switch {
	case configID == s.cfg.CoexistenceConfigID || extras.FeatureType == "whatsapp_business_app_onboarding":
		variant = "coex"
	case extras.FeatureType == "only_waba_sharing":
		variant = "only_waba"
	case slices.ContainsFunc(extras.Features, func(f map[string]any) bool { return f["name"] == "app_only_install" }):
		variant = "app_only"
	}
	cfg := popupConfig{
		AppID: s.cfg.AppID, AppName: s.cfg.AppName, ConfigID: configID, Variant: variant,
		TargetOrigin: target, CallbackID: q.Get("cbid"),
		CompleteURL:  Prefix + "dialog/es/complete",
		ConfigErrors: problems, CancelSteps: CancelSteps, Prefill: extras.Setup,
		DefaultError: defaultErrorMessage, Businesses: s.popupBusinesses(),
	}
	if cfg.ConfigErrors == nil {
		cfg.ConfigErrors = []string{}
	}
	noStore(w, "text/html; charset=utf-8")
	w.Header().Set("Referrer-Policy", "no-referrer")
	page := strings.Replace(asset("popup.html"), "__POPUP_CONFIG__", jsonForScript(cfg), 1)
	_, _ = w.Write([]byte(page))
}

func (s *Sandbox) popupBusinesses() []popupBusiness {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []popupBusiness{}
	for _, b := range s.st.Businesses {
		pb := popupBusiness{ID: b.ID, Name: b.Name, WABAs: []popupWABA{}}
		for _, w := range s.st.WABAs {
			if w.BusinessID != b.ID {
				continue
			}
			pw := popupWABA{ID: w.ID, Name: w.Name, Phones: []popupPhone{}}
			for _, p := range s.st.phonesOf(w.ID) {
				pw.Phones = append(pw.Phones, popupPhone{ID: p.ID, Display: p.DisplayPhoneNumber, VerifiedName: p.VerifiedName, IsOnBizApp: p.IsOnBizApp})
			}
			pb.WABAs = append(pb.WABAs, pw)
		}
		slices.SortFunc(pb.WABAs, func(a, b popupWABA) int { return strings.Compare(a.Name, b.Name) })
		out = append(out, pb)
	}
	slices.SortFunc(out, func(a, b popupBusiness) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// handlePopupComplete is called by the popup's own script when the person
// finishes, cancels or reports an error; it runs the same signup as the
// headless API, so both produce identical codes, state and events.
func (s *Sandbox) handlePopupComplete(w http.ResponseWriter, r *http.Request) {
	var req ESSessionRequest
	if !decodeBody(w, r, &req) {
		return
	}
	sess, err := s.runSignup(req)
	if err != nil {
		controlError(w, err)
		return
	}
	noStore(w, "application/json; charset=utf-8")
	writeJSON(w, http.StatusOK, sess)
}

// handleDemo serves an opener page that loads the SDK like an integration
// would and shows what it receives (used by the browser tests).
func (s *Sandbox) handleDemo(w http.ResponseWriter, r *http.Request) {
	cfg := map[string]any{
		"appId": s.cfg.AppID, "cloudConfigId": s.cfg.CloudAPIConfigID,
		"coexConfigId": s.cfg.CoexistenceConfigID, "sdkUrl": s.publicURL(r) + Prefix + "sdk.js",
	}
	noStore(w, "text/html; charset=utf-8")
	_, _ = w.Write([]byte(strings.Replace(asset("demo.html"), "__DEMO_CONFIG__", jsonForScript(cfg), 1)))
}

// isOrigin accepts "scheme://host[:port]" with nothing after it.
func isOrigin(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" &&
		u.Path == "" && u.RawQuery == "" && u.Fragment == "" && u.User == nil
}
