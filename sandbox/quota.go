package sandbox

import (
	"encoding/json"
	"math"
	"net/http"
	"time"
)

// quota counts Graph calls per WABA over a rolling hour. Meta reports usage
// as percentages of the quota in X-Business-Use-Case-Usage, keyed by the
// business object id, and answers 80008 once a WABA is at 100 %.
type quota struct {
	calls map[string][]time.Time // per WABA, oldest first
	// perHour, when positive, overrides the configured quotas (a fault knob).
	perHour int
}

func newQuota() *quota { return &quota{calls: map[string][]time.Time{}} }

func (s *Sandbox) quotaLimitLocked(wabaID string) int {
	if s.quota.perHour > 0 {
		return s.quota.perHour
	}
	if s.st.wabaHasRegisteredNumber(wabaID) {
		return s.cfg.RegisteredWABAQuotaPerHour
	}
	return s.cfg.WABAQuotaPerHour
}

// countQuota counts one call for the WABA, sets the usage header, and
// returns 80008 when the WABA is over its quota.
func (s *Sandbox) countQuota(w http.ResponseWriter, wabaID string) *GraphError {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	window := now.Add(-time.Hour)
	calls := s.quota.calls[wabaID]
	i := 0
	for i < len(calls) && !calls[i].After(window) {
		i++
	}
	calls = calls[i:]
	limit := s.quotaLimitLocked(wabaID)
	if len(calls) >= limit {
		s.quota.calls[wabaID] = calls
		regain := int(math.Ceil(calls[len(calls)-limit].Sub(window).Minutes()))
		setUsageHeader(w, wabaID, 100, max(regain, 1))
		return errWABARateLimit()
	}
	calls = append(calls, now)
	s.quota.calls[wabaID] = calls
	setUsageHeader(w, wabaID, len(calls)*100/limit, 0)
	return nil
}

// setUsageHeader writes X-Business-Use-Case-Usage; estimated_time_to_regain_access
// is in minutes.
func setUsageHeader(w http.ResponseWriter, wabaID string, pct, regainMinutes int) {
	entry := func(typ string) map[string]any {
		return map[string]any{
			"type": typ, "call_count": pct, "total_cputime": pct / 4, "total_time": pct / 4,
			"estimated_time_to_regain_access": regainMinutes,
		}
	}
	b, _ := json.Marshal(map[string]any{wabaID: []any{entry("whatsapp_business_management")}})
	w.Header().Set("X-Business-Use-Case-Usage", string(b))
}
