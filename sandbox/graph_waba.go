package sandbox

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// handleGetWABA serves GET /{waba}; Graph's default fields are id and name.
func (s *Sandbox) handleGetWABA(c *graphCall) (any, *GraphError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.st.WABAs[c.route.objectID]
	return selectFields(s.wabaNode(w), requestedFields(c.params["fields"], []string{"id", "name"}), "WhatsAppBusinessAccount")
}

// wabaNode is every field the sandbox knows for a WABA. Callers hold s.mu.
func (s *Sandbox) wabaNode(w *WABA) map[string]any {
	biz := s.st.Businesses[w.BusinessID]
	bizInfo := map[string]any{"id": w.BusinessID}
	if biz != nil {
		bizInfo["name"] = biz.Name
	}
	return map[string]any{
		"id":                           w.ID,
		"name":                         w.Name,
		"currency":                     w.Currency,
		"timezone_id":                  w.TimezoneID,
		"message_template_namespace":   w.TemplateNamespace,
		"account_review_status":        w.ReviewStatus,
		"business_verification_status": "verified",
		"country":                      w.Country,
		"ownership_type":               "CLIENT_OWNED",
		"primary_business_location":    w.Country,
		"status":                       w.Status,
		"creation_time":                graphTime(w.CreatedAt),
		"owner_business_info":          bizInfo,
		"on_behalf_of_business_info":   map[string]any{"id": w.BusinessID, "name": bizInfo["name"], "status": "APPROVED", "type": "SELF"},
		"health_status": map[string]any{"can_send_message": "AVAILABLE", "entities": []any{
			map[string]any{"entity_type": "WABA", "id": w.ID, "can_send_message": "AVAILABLE"},
			map[string]any{"entity_type": "BUSINESS", "id": w.BusinessID, "can_send_message": "AVAILABLE"},
			map[string]any{"entity_type": "APP", "id": s.cfg.AppID, "can_send_message": "AVAILABLE"},
		}},
		"primary_funding_id": nil,
	}
}

// phoneListDefaults are the fields Graph returns per number without ?fields=.
var phoneListDefaults = []string{
	"verified_name", "code_verification_status", "display_phone_number", "quality_rating",
	"platform_type", "throughput", "webhook_configuration", "id",
}

// handleListPhones serves GET /{waba}/phone_numbers with fields, filtering,
// sort and cursor paging. Without sort, numbers come newest first.
func (s *Sandbox) handleListPhones(c *graphCall) (any, *GraphError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	phones := s.st.phonesOf(c.route.objectID)
	if strings.Contains(c.params["sort"], "last_onboarded_time_ascending") {
		slices.Reverse(phones)
	}
	fields := requestedFields(c.params["fields"], phoneListDefaults)
	nodes := make([]map[string]any, 0, len(phones))
	for _, p := range phones {
		all := s.phoneNode(p)
		ok, gerr := matchFiltering(all, c.params["filtering"])
		if gerr != nil {
			return nil, gerr
		}
		if !ok {
			continue
		}
		n, gerr := selectFields(all, fields, "WhatsAppBusinessPhoneNumber")
		if gerr != nil {
			return nil, gerr
		}
		nodes = append(nodes, n)
	}
	return s.page(c, nodes, 25)
}

// page cuts nodes by Graph cursors (before/after, base64 ids) and limit.
func (s *Sandbox) page(c *graphCall, nodes []map[string]any, def int) (any, *GraphError) {
	limit := parseLimit(c.params["limit"], def, 100)
	start, end := 0, len(nodes)
	idx := func(cursor string) int {
		raw, err := base64.RawURLEncoding.DecodeString(cursor)
		if err != nil {
			return -2
		}
		return slices.IndexFunc(nodes, func(n map[string]any) bool { return n["id"] == string(raw) })
	}
	if a := c.params["after"]; a != "" {
		i := idx(a)
		if i == -2 {
			return nil, errParam("Invalid cursor")
		}
		start = i + 1
	} else if b := c.params["before"]; b != "" {
		i := idx(b)
		if i == -2 {
			return nil, errParam("Invalid cursor")
		}
		end = max(i, 0)
		start = max(end-limit, 0)
	}
	end = min(end, start+limit)
	data := nodes[start:end]
	body := map[string]any{"data": data}
	if len(data) > 0 {
		cur := func(n map[string]any) string { return base64.RawURLEncoding.EncodeToString([]byte(n["id"].(string))) }
		paging := map[string]any{"cursors": map[string]any{"before": cur(data[0]), "after": cur(data[len(data)-1])}}
		if end < len(nodes) {
			q := url.Values{}
			for k, v := range c.params {
				if !secretParams[k] && k != "before" {
					q.Set(k, v)
				}
			}
			q.Set("after", cur(data[len(data)-1]))
			q.Set("limit", fmt.Sprint(limit))
			paging["next"] = s.publicURL(c.r) + Prefix + "graph/" + c.version + c.path + "?" + q.Encode()
		}
		body["paging"] = paging
	}
	return body, nil
}

// matchFiltering applies Graph's filtering=[{"field","operator","value"}]
// with EQUAL / NOT_EQUAL / IN on scalar fields.
func matchFiltering(node map[string]any, raw string) (bool, *GraphError) {
	if strings.TrimSpace(raw) == "" {
		return true, nil
	}
	var rules []struct {
		Field    string `json:"field"`
		Operator string `json:"operator"`
		Value    any    `json:"value"`
	}
	if err := json.Unmarshal([]byte(raw), &rules); err != nil {
		return false, errParam("Param filtering must be a JSON array of filter objects")
	}
	for _, r := range rules {
		v, ok := node[r.Field]
		if !ok {
			return false, errParam(fmt.Sprintf("Filtering field %s is invalid", r.Field))
		}
		got := fmt.Sprint(v)
		switch strings.ToUpper(r.Operator) {
		case "EQUAL":
			if got != fmt.Sprint(r.Value) {
				return false, nil
			}
		case "NOT_EQUAL":
			if got == fmt.Sprint(r.Value) {
				return false, nil
			}
		case "IN":
			list, _ := r.Value.([]any)
			if !slices.ContainsFunc(list, func(x any) bool { return fmt.Sprint(x) == got }) {
				return false, nil
			}
		default:
			return false, errParam(fmt.Sprintf("Filtering operator %s is not supported", r.Operator))
		}
	}
	return true, nil
}

// handleListSubscribedApps serves GET /{waba}/subscribed_apps. Apps other
// than ours appear too (a WABA shared with several partners); the override
// is shown only where one is set, and verify tokens never.
func (s *Sandbox) handleListSubscribedApps(c *graphCall) (any, *GraphError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.st.WABAs[c.route.objectID]
	data := []map[string]any{}
	for _, a := range w.SubscribedApps {
		e := map[string]any{"whatsapp_business_api_data": map[string]any{
			"id": a.AppID, "name": a.AppName, "link": "https://www.facebook.com/games/?app_id=" + a.AppID,
		}}
		if a.OverrideURL != "" {
			e["override_callback_uri"] = a.OverrideURL
		}
		data = append(data, e)
	}
	return map[string]any{"data": data}, nil
}

// maxOverrideURL is Meta's documented limit for override_callback_uri.
const maxOverrideURL = 200

// handleSubscribeApp serves POST /{waba}/subscribed_apps. Without
// override_callback_uri it subscribes the app and clears its override (how
// Meta documents removing an override). With one, the app must already be
// subscribed, and Meta verifies the URL with a real hub.challenge GET
// before accepting it.
func (s *Sandbox) handleSubscribeApp(c *graphCall) (any, *GraphError) {
	wabaID := c.route.objectID
	uri, hasURI := c.params["override_callback_uri"]
	if !hasURI || uri == "" {
		_ = s.update(func(st *state) error {
			w := st.WABAs[wabaID]
			if sub := w.subscription(s.cfg.AppID); sub != nil {
				sub.OverrideURL, sub.VerifyToken = "", ""
				return nil
			}
			w.SubscribedApps = append(w.SubscribedApps, SubscribedApp{AppID: s.cfg.AppID, AppName: s.cfg.AppName})
			return nil
		})
		return map[string]any{"success": true}, nil
	}
	verifyToken := c.params["verify_token"]
	if gerr := validateOverride(uri, verifyToken); gerr != nil {
		return nil, gerr
	}
	notSubscribed := errParam("The app must be subscribed to this WhatsApp Business Account before an override_callback_uri can be set. Subscribe it first with POST /" + wabaID + "/subscribed_apps and no parameters.")
	s.mu.Lock()
	subscribed := s.st.WABAs[wabaID].subscription(s.cfg.AppID) != nil
	s.mu.Unlock()
	if !subscribed {
		return nil, notSubscribed
	}
	// Meta verifies synchronously while handling the POST; the state lock
	// is not held during the outbound GET.
	if gerr := s.verifyCallback(c.r.Context(), uri, verifyToken); gerr != nil {
		return nil, gerr
	}
	var gerr *GraphError
	_ = s.update(func(st *state) error {
		sub := st.WABAs[wabaID].subscription(s.cfg.AppID)
		if sub == nil { // unsubscribed while we were verifying
			gerr = notSubscribed
			return errNoChange
		}
		sub.OverrideURL, sub.VerifyToken = uri, verifyToken
		return nil
	})
	if gerr != nil {
		return nil, gerr
	}
	return map[string]any{"success": true}, nil
}

// validateOverride applies Meta's parameter checks to an override URL.
func validateOverride(uri, verifyToken string) *GraphError {
	if len(uri) > maxOverrideURL {
		return errParam(fmt.Sprintf("Param override_callback_uri must be at most %d characters long", maxOverrideURL))
	}
	u, err := url.Parse(uri)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return errParam("Invalid callback URI format")
	}
	if verifyToken == "" {
		return errParam("The parameter verify_token is required")
	}
	return nil
}

// handleUnsubscribeApp serves DELETE /{waba}/subscribed_apps. Meta answers
// success whether or not the app was subscribed.
func (s *Sandbox) handleUnsubscribeApp(c *graphCall) (any, *GraphError) {
	_ = s.update(func(st *state) error {
		w := st.WABAs[c.route.objectID]
		w.SubscribedApps = slices.DeleteFunc(w.SubscribedApps, func(a SubscribedApp) bool { return a.AppID == s.cfg.AppID })
		return nil
	})
	return map[string]any{"success": true}, nil
}

// handleGetBusiness serves GET /{business}.
func (s *Sandbox) handleGetBusiness(c *graphCall) (any, *GraphError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	all := map[string]any{"id": c.route.objectID, "name": "Partner business", "verification_status": "verified"}
	if b := s.st.Businesses[c.route.objectID]; b != nil {
		all["name"] = b.Name
		all["created_time"] = graphTime(b.CreatedAt)
	}
	return selectFields(all, requestedFields(c.params["fields"], []string{"id", "name"}), "Business")
}

// handleBusinessWABAs serves GET /{business}/owned_whatsapp_business_accounts
// (a customer's own WABAs) and /client_whatsapp_business_accounts (on the
// partner business: every WABA shared with the app through Embedded Signup).
func (s *Sandbox) handleBusinessWABAs(c *graphCall) (any, *GraphError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := c.route.objectID
	client := strings.HasSuffix(c.path, "client_whatsapp_business_accounts")
	var wabas []*WABA
	for _, w := range s.st.WABAs {
		if (client && id == s.cfg.PartnerBusinessID) || (!client && w.BusinessID == id) {
			wabas = append(wabas, w)
		}
	}
	asc := strings.Contains(c.params["sort"], "creation_time_ascending")
	slices.SortFunc(wabas, func(a, b *WABA) int {
		if asc {
			return int(a.Seq - b.Seq)
		}
		return int(b.Seq - a.Seq)
	})
	fields := requestedFields(c.params["fields"], []string{"id", "name", "currency", "timezone_id", "message_template_namespace"})
	nodes := []map[string]any{}
	for _, w := range wabas {
		all := s.wabaNode(w)
		if ok, gerr := matchCreationFilter(w.CreatedAt, c.params["filtering"]); gerr != nil {
			return nil, gerr
		} else if !ok {
			continue
		}
		n, gerr := selectFields(all, fields, "WhatsAppBusinessAccount")
		if gerr != nil {
			return nil, gerr
		}
		nodes = append(nodes, n)
	}
	return s.page(c, nodes, 25)
}

// matchCreationFilter supports the documented
// filtering=[{"field":"creation_time","operator":"GREATER_THAN"|"LESS_THAN","value":"<unix>"}].
func matchCreationFilter(created time.Time, raw string) (bool, *GraphError) {
	if strings.TrimSpace(raw) == "" {
		return true, nil
	}
	var rules []struct {
		Field, Operator string
		Value           json.Number
	}
	if err := json.Unmarshal([]byte(raw), &rules); err != nil {
		return false, errParam("Param filtering must be a JSON array of filter objects")
	}
	for _, r := range rules {
		v, err := r.Value.Int64()
		if r.Field != "creation_time" || err != nil {
			return false, errParam("Filtering is only supported on creation_time with a unix timestamp")
		}
		switch r.Operator {
		case "GREATER_THAN":
			if created.Unix() <= v {
				return false, nil
			}
		case "LESS_THAN":
			if created.Unix() >= v {
				return false, nil
			}
		default:
			return false, errParam(fmt.Sprintf("Filtering operator %s is not supported", r.Operator))
		}
	}
	return true, nil
}

// graphTime formats like Graph: "2023-08-22T19:05:53+0000".
func graphTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05-0700") }
