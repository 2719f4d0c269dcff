package activities

import (
	"context"
	"time"

	"github.com/dualhook/dualhook/internal/domain"
)

const day = 24 * time.Hour

// PruneRetention deletes events (with their attempts), idempotency records, secret-reveal audit
// rows and spent rate-limit counters older than the policy allows (SPEC §8.6), and, with the
// events' retention, finished webhook updates and Meta delivery dedupe records.
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
	if r.MetaWebhookDeliveries, err = a.Store.PruneMetaWebhookDeliveries(ctx, eventsCutoff); err != nil {
		return r, err
	}
	if r.IdempotencyRecord, err = a.Store.PruneIdempotencyRecords(ctx, now.Add(-time.Duration(policy.IdempotencyDays)*day)); err != nil {
		return r, err
	}
	if r.AuditRows, err = a.Store.PruneSecretRevealAudit(ctx, now.Add(-time.Duration(policy.AuditDays)*day)); err != nil {
		return r, err
	}
	// Counters are only read for the current window; the longest window is an hour.
	if r.RateLimitCounters, err = a.Store.PruneRateLimitCounters(ctx, now.Add(-2*time.Hour)); err != nil {
		return r, err
	}
	return r, nil
}
