package sandbox

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// graphCall is one Graph request being served.
type graphCall struct {
	r       *http.Request
	version string
	path    string // after the version, e.g. "/123/subscribed_apps"
	params  map[string]string
	route   route
	token   *Token // the caller's business token, nil for app tokens
	// appToken is true when the caller used "APP_ID|APP_SECRET".
	appToken bool
	auth     string // "bearer", "query" or "" — for the call log
}

// route is what a Graph path resolved to.
type route struct {
	// name identifies the endpoint in fault rules and the call log:
	// "oauth/access_token", "debug_token", "waba", "waba/phone_numbers",
	// "waba/subscribed_apps", "phone", "phone/register", "phone/deregister",
	// "phone/smb_app_data", "business", "business/owned_whatsapp_business_accounts",
	// "business/client_whatsapp_business_accounts", "object" (unknown id) or "unknown".
	name     string
	objectID string
	wabaID   string // set when the call targets a WABA or one of its numbers
	noAuth   bool
	handler  func(*graphCall) (any, *GraphError)
}

const maxGraphBody = 1 << 20

// serveGraph is the single entry point of the Graph API: it resolves the
// route, applies faults, authentication and quota, runs the handler, and
// records the call. Every response carries Meta's tracing and usage headers.
func (s *Sandbox) serveGraph(w http.ResponseWriter, r *http.Request) {
	traceID := newTraceID()
	h := w.Header()
	h.Set("x-fb-trace-id", traceID)
	h.Set("x-fb-request-id", newTraceID())
	h.Set("x-fb-rev", "1020304050")
	h.Set("X-App-Usage", `{"call_count":0,"total_cputime":0,"total_time":0}`)

	rest := strings.TrimPrefix(r.URL.Path, Prefix+"graph")
	version, path, _ := strings.Cut(strings.TrimPrefix(rest, "/"), "/")
	path = "/" + path
	c := &graphCall{r: r, version: version, path: path}
	rec := Call{Method: r.Method, Path: "/" + version + strings.TrimSuffix(path, "/"), Version: version}
	defer func() { s.calls.add(s.clock.Now(), rec) }()

	var params map[string]string
	var perr *GraphError
	if !versionPattern.MatchString(version) {
		// Meta's OpenAPI constrains the version; anything else is treated as
		// an unknown path (a simulator choice).
		perr = errUnknownPath(rest)
		c.route = route{name: "unknown"}
	} else {
		h.Set("facebook-api-version", version)
		params, perr = parseGraphParams(r)
		c.params = params
		c.route = s.resolve(r.Method, path)
	}
	rec.Endpoint = c.route.name
	rec.WABAID = c.route.wabaID
	rec.Params = redactParams(params)

	if perr == nil {
		if f := s.faults.match(c.route.name, r.Method, phaseBefore); f != nil {
			rec.Fault = f.Kind
			if s.applyFault(w, r, c, f, traceID, &rec) {
				return
			}
		}
	}

	var body any
	gerr := perr
	if gerr == nil && !c.route.noAuth {
		gerr = s.authenticate(c)
	}
	rec.Auth = c.auth
	if gerr == nil && c.route.wabaID != "" {
		gerr = s.checkAccess(c)
	}
	if gerr == nil && c.route.wabaID != "" {
		gerr = s.countQuota(w, c.route.wabaID)
	}
	if gerr == nil {
		body, gerr = c.route.handler(c)
	}

	if f := s.faults.match(c.route.name, r.Method, phaseAfter); f != nil && perr == nil {
		// The handler already ran (a code may be spent, a number registered):
		// this is how tests reproduce "the timeout burned the code".
		rec.Fault = f.Kind
		if s.applyFault(w, r, c, f, traceID, &rec) {
			return
		}
	}

	if gerr != nil {
		s.writeGraphError(w, gerr, traceID)
		rec.Status, rec.ErrorCode, rec.ErrorSubcode = gerr.Status(), gerr.Code, gerr.Subcode
		return
	}
	rec.Status = http.StatusOK
	writeJSON(w, http.StatusOK, body)
}

func (s *Sandbox) writeGraphError(w http.ResponseWriter, e *GraphError, traceID string) {
	e.FBTraceID = traceID
	if e.wwwAuthError != "" {
		w.Header().Set("WWW-Authenticate",
			`OAuth "Facebook Platform" "`+e.wwwAuthError+`" "`+strings.ReplaceAll(e.Message, `"`, `'`)+`"`)
	}
	writeJSON(w, e.Status(), map[string]any{"error": e})
}

// resolve maps a path (after the version) to its endpoint. Object ids are
// looked up to know whether they are a WABA, a number or a business, as
// Graph decides the node type from the id alone.
func (s *Sandbox) resolve(method, path string) route {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case len(segs) == 2 && segs[0] == "oauth" && segs[1] == "access_token":
		return route{name: "oauth/access_token", noAuth: true, handler: s.handleAccessToken}
	case len(segs) == 1 && segs[0] == "debug_token":
		return route{name: "debug_token", handler: s.handleDebugToken}
	case len(segs) == 0 || len(segs) > 2 || segs[0] == "":
		return route{name: "unknown", handler: unknownPath(path)}
	}
	id := segs[0]
	edge := ""
	if len(segs) == 2 {
		edge = segs[1]
	}

	s.mu.Lock()
	_, isBusiness := s.st.Businesses[id]
	isBusiness = isBusiness || id == s.cfg.PartnerBusinessID // the app owner's portfolio
	_, isWABA := s.st.WABAs[id]
	phone, isPhone := s.st.Phones[id]
	var phoneWABA string
	if isPhone {
		phoneWABA = phone.WABAID
	}
	s.mu.Unlock()

	verb := strings.ToLower(method)
	unsupported := func(name string) route {
		return route{name: name, objectID: id, handler: func(*graphCall) (any, *GraphError) {
			return nil, errUnsupported(verb, id)
		}}
	}
	type key struct{ edge, method string }
	var table map[key]func(*graphCall) (any, *GraphError)
	var prefix, wabaID string
	switch {
	case isWABA:
		prefix, wabaID = "waba", id
		table = map[key]func(*graphCall) (any, *GraphError){
			{"", "GET"}:                   s.handleGetWABA,
			{"phone_numbers", "GET"}:      s.handleListPhones,
			{"subscribed_apps", "GET"}:    s.handleListSubscribedApps,
			{"subscribed_apps", "POST"}:   s.handleSubscribeApp,
			{"subscribed_apps", "DELETE"}: s.handleUnsubscribeApp,
		}
	case isPhone:
		prefix, wabaID = "phone", phoneWABA
		table = map[key]func(*graphCall) (any, *GraphError){
			{"", "GET"}:              s.handleGetPhone,
			{"", "POST"}:             s.handleUpdatePhone,
			{"register", "POST"}:     s.handleRegister,
			{"deregister", "POST"}:   s.handleDeregister,
			{"smb_app_data", "POST"}: s.handleSMBAppData,
		}
	case isBusiness:
		prefix = "business"
		table = map[key]func(*graphCall) (any, *GraphError){
			{"", "GET"}: s.handleGetBusiness,
			{"owned_whatsapp_business_accounts", "GET"}:  s.handleBusinessWABAs,
			{"client_whatsapp_business_accounts", "GET"}: s.handleBusinessWABAs,
		}
	default:
		if edge != "" && !numericIDPattern.MatchString(id) {
			return route{name: "unknown", handler: unknownPath(path)}
		}
		return unsupported("object")
	}
	name := prefix
	if edge != "" {
		name += "/" + edge
	}
	if fn, ok := table[key{edge, method}]; ok {
		return route{name: name, objectID: id, wabaID: wabaID, handler: fn}
	}
	for k := range table {
		if k.edge == edge { // known edge, unsupported method
			r := unsupported(name)
			r.wabaID = wabaID
			return r
		}
	}
	return route{name: "unknown", objectID: id, handler: unknownPath("/" + edge)}
}

func unknownPath(p string) func(*graphCall) (any, *GraphError) {
	return func(*graphCall) (any, *GraphError) { return nil, errUnknownPath(p) }
}

// authenticate reads the access token the way Graph does: the Authorization
// header ("Bearer" or "OAuth") or the access_token parameter.
func (s *Sandbox) authenticate(c *graphCall) *GraphError {
	raw := ""
	if a := c.r.Header.Get("Authorization"); a != "" {
		scheme, v, _ := strings.Cut(a, " ")
		if strings.EqualFold(scheme, "Bearer") || strings.EqualFold(scheme, "OAuth") {
			raw = strings.TrimSpace(v)
		}
		c.auth = "bearer"
	} else if v := c.params["access_token"]; v != "" {
		raw = v
		c.auth = "query"
	}
	if raw == "" {
		if c.auth != "" {
			return errBadToken()
		}
		return errNoToken()
	}
	if s.isAppToken(raw) {
		c.appToken = true
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.st.Tokens[raw]
	if !ok {
		return errBadToken()
	}
	if err := s.tokenProblem(t); err != nil {
		return err
	}
	cp := *t
	c.token = &cp
	return nil
}

// isAppToken accepts "APP_ID|APP_SECRET", Graph's app access token form.
func (s *Sandbox) isAppToken(raw string) bool {
	id, secret, ok := strings.Cut(raw, "|")
	return ok && id == s.cfg.AppID && constantTimeEqual(secret, s.cfg.AppSecret)
}

// tokenProblem returns the 190 error a token answers with, if any. Callers
// hold s.mu.
func (s *Sandbox) tokenProblem(t *Token) *GraphError {
	if t.Revoked {
		sc := t.RevokedSubcode
		if sc == 0 {
			sc = 458
		}
		return errRevokedToken(s.cfg.AppID, sc)
	}
	if !t.ExpiresAt.IsZero() && !s.clock.Now().Before(t.ExpiresAt) {
		return errExpiredToken(t.ExpiresAt.UTC().Format("Monday, 02-Jan-06 15:04:05 MST"))
	}
	return nil
}

// checkAccess refuses calls on WABAs (and their numbers) the token was not
// granted. App tokens cannot act on customer assets either.
func (s *Sandbox) checkAccess(c *graphCall) *GraphError {
	if c.appToken || c.token == nil || !c.token.grants(c.route.wabaID) {
		return errPermission()
	}
	return nil
}

// parseGraphParams merges the query string with a form or JSON body, as
// Graph accepts parameters in any of them. JSON values that are not strings
// are kept as their JSON text (Graph does the same with form values holding
// JSON, e.g. webhook_configuration).
func parseGraphParams(r *http.Request) (map[string]string, *GraphError) {
	params := map[string]string{}
	for k, v := range r.URL.Query() {
		if len(v) > 0 {
			params[k] = v[0]
		}
	}
	if r.Body == nil || r.Method == http.MethodGet {
		return params, nil
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, maxGraphBody))
	if err != nil {
		return nil, errParam("Could not read the request body")
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return params, nil
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(data, &obj); err != nil {
			return nil, errParam("Invalid JSON in the request body")
		}
		for k, raw := range obj {
			var str string
			if json.Unmarshal(raw, &str) == nil {
				params[k] = str
			} else {
				params[k] = string(raw)
			}
		}
	default: // Graph treats anything else as a form
		form, err := url.ParseQuery(string(data))
		if err != nil {
			return nil, errParam("Could not parse the request body")
		}
		for k, v := range form {
			if len(v) > 0 {
				params[k] = v[0]
			}
		}
	}
	return params, nil
}

// secretParams never reach the call log.
var secretParams = map[string]bool{
	"client_secret": true, "code": true, "access_token": true, "input_token": true,
	"pin": true, "verify_token": true, "password": true,
}

func redactParams(p map[string]string) map[string]string {
	if len(p) == 0 {
		return nil
	}
	out := make(map[string]string, len(p))
	for k, v := range p {
		switch {
		case secretParams[k]:
			out[k] = "[redacted]"
		case k == "webhook_configuration" || k == "backup":
			var obj map[string]any
			if json.Unmarshal([]byte(v), &obj) == nil {
				for ik := range obj {
					if secretParams[ik] {
						obj[ik] = "[redacted]"
					}
				}
				b, _ := json.Marshal(obj)
				v = string(b)
			}
			out[k] = v
		default:
			out[k] = v
		}
	}
	return out
}

// requestedFields parses Graph's fields parameter ("id,name,owner_business_info{id,name}")
// into top-level field names.
func requestedFields(raw string, defaults []string) []string {
	if strings.TrimSpace(raw) == "" {
		return defaults
	}
	var out []string
	depth, start := 0, 0
	flush := func(end int) {
		f := strings.TrimSpace(raw[start:end])
		if i := strings.IndexAny(f, "{."); i >= 0 {
			f = f[:i]
		}
		if f != "" {
			out = append(out, f)
		}
	}
	for i, ch := range raw {
		switch ch {
		case '{':
			depth++
		case '}':
			depth--
		case ',':
			if depth == 0 {
				flush(i)
				start = i + 1
			}
		}
	}
	flush(len(raw))
	return out
}

// selectFields builds a node from the requested fields; "id" is always
// present, like Graph. Unknown fields answer Meta's nonexisting-field error.
func selectFields(all map[string]any, fields []string, nodeType string) (map[string]any, *GraphError) {
	out := map[string]any{}
	for _, f := range fields {
		v, ok := all[f]
		if !ok {
			return nil, errNonexistingField(f, nodeType)
		}
		if v != nil {
			out[f] = v
		}
	}
	out["id"] = all["id"]
	return out, nil
}

func parseLimit(raw string, def, max int) int {
	n, err := strconv.Atoi(raw)
	if err != nil || n <= 0 {
		return def
	}
	return min(n, max)
}

// waitOrDone blocks for d, or until the client goes away or the sandbox
// closes. It reports whether the full duration passed.
func (s *Sandbox) waitOrDone(r *http.Request, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
	case <-s.ctx.Done():
	}
	return false
}
