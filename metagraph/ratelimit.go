package metagraph

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// retryAfter reads how long Meta asks to wait. Graph rarely sends
// Retry-After; its rate limits speak through X-Business-Use-Case-Usage,
// {"<business object id>":[{"type","call_count","total_cputime",
// "total_time","estimated_time_to_regain_access"}]}, where the counters
// are percentages of the quota and estimated_time_to_regain_access is in
// minutes (meta.md §6.3). The larger of the two wins.
func retryAfter(h http.Header, now time.Time) time.Duration {
	var d time.Duration
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
			if secs > 0 && secs < 1<<31 {
				d = time.Duration(secs) * time.Second
			}
		} else if t, err := http.ParseTime(v); err == nil && t.After(now) {
			d = t.Sub(now)
		}
	}
	if m := maxRegainMinutes(h.Get("X-Business-Use-Case-Usage")); m > 0 {
		d = max(d, time.Duration(m)*time.Minute)
	}
	return d
}

// maxRegainMinutes is the largest estimated_time_to_regain_access of a
// X-Business-Use-Case-Usage header; 0 when absent or unparsable.
func maxRegainMinutes(header string) int64 {
	if header == "" {
		return 0
	}
	var usage map[string][]struct {
		Regain flexInt `json:"estimated_time_to_regain_access"`
	}
	if json.Unmarshal([]byte(header), &usage) != nil {
		return 0
	}
	var m int64
	for _, entries := range usage {
		for _, e := range entries {
			// Bound it: a garbled header must not turn into a
			// multi-year wait.
			if v := int64(e.Regain); v > m && v <= 7*24*60 {
				m = v
			}
		}
	}
	return m
}
