package activities

import (
	"context"
	"time"

	"github.com/dualhook/dualhook/internal/domain"
	"github.com/dualhook/dualhook/internal/metawebhook"
)

const day = 24 * time.Hour

// OAuth codes (SPEC §5): Meta's expire 30 s after issue, so a stored one has no use after
// minutes. A code no session references (a refused or repeated callback whose erasure failed)
// is deleted after unreferencedCodeAge, leaving a callback in flight ample time to be recorded;
// any code still holding its ciphertext after staleCodeAge is erased.
const (
	unreferencedCodeAge = time.Hour
	staleCodeAge        = day
)

// PruneRetention deletes events (with their attempts), idempotency records, secret-reveal audit
// rows and spent rate-limit counters older than the policy allows (SPEC §8.6), and, with the
// events' retention, finished webhook updates and Meta delivery dedupe records (never younger
// than metawebhook.MaxAge plus a day: a replay is refused by age or caught by its record), and
// OAuth codes that are unreferenced or stale.
func (a *Activities) PruneRetention(ctx context.Context, policy domain.RetentionPolicy) (domain.PruneResult, error) {
	now := a.now()
	var r domain.PruneResult
	var err error
	eventsCutoff := now.Add(-time.Duration(policy.EventsDays) * day)
	if r.Events, err = a.Store.PruneEvents(ctx, eventsCutoff); err != nil {
		return r, err
	}
	if r.WebhookUpdates, err = a.Store.PruneWebhookUpdates(ctx, &eventsCutoff); err != nil {
		return r, err
	}
	dedupeCutoff := eventsCutoff
	if floor := now.Add(-metawebhook.MaxAge - day); floor.Before(dedupeCutoff) {
		dedupeCutoff = floor
	}
	if r.MetaWebhookDeliveries, err = a.Store.PruneMetaWebhookDeliveries(ctx, dedupeCutoff); err != nil {
		return r, err
	}
	if r.IdempotencyRecord, err = a.Store.PruneIdempotencyRecords(ctx, now.Add(-time.Duration(policy.IdempotencyDays)*day)); err != nil {
		return r, err
	}
	if r.AuditRows, err = a.Store.PruneSecretRevealAudit(ctx, now.Add(-time.Duration(policy.AuditDays)*day)); err != nil {
		return r, err
	}
	if r.OAuthCodes, err = a.Store.PruneUnreferencedOAuthCodes(ctx, now.Add(-unreferencedCodeAge)); err != nil {
		return r, err
	}
	erased, err := a.Store.EraseStaleOAuthCodes(ctx, now.Add(-staleCodeAge))
	if err != nil {
		return r, err
	}
	r.OAuthCodes += erased
	// Counters are only read for the current window; the longest window is an hour.
	if r.RateLimitCounters, err = a.Store.PruneRateLimitCounters(ctx, now.Add(-2*time.Hour)); err != nil {
		return r, err
	}
	return r, nil
}
