package domain

// HealthRefreshPageSize is how many connections one activity refreshes.
const HealthRefreshPageSize = 25

// HealthRefreshInput continues a pass after a connection id ("" starts from the beginning).
type HealthRefreshInput struct {
	AfterID string `json:",omitempty"`
	// Totals of the pass so far (carried across continue-as-new).
	Refreshed int `json:",omitempty"`
	Failed    int `json:",omitempty"`
}

// HealthPage asks for one page of refreshes.
type HealthPage struct {
	AfterID string
	Limit   int
}

// HealthPageResult says what one page did; LastID is "" when there was nothing left.
type HealthPageResult struct {
	LastID    string
	Refreshed int
	Failed    int
}

// ReconcileResult counts what a pass repaired.
type ReconcileResult struct {
	// Started counts session workflows started.
	Started int
	// RescuedEvents counts stranded events replayed.
	RescuedEvents int
}

// RetentionPolicy says how many days each kind of record is kept (SPEC §8.6).
type RetentionPolicy struct {
	EventsDays      int
	IdempotencyDays int
	AuditDays       int
}

// PruneResult counts what one run deleted.
type PruneResult struct {
	Events            int64
	IdempotencyRecord int64
	AuditRows         int64
	RateLimitCounters int64
	// WebhookUpdates and MetaWebhookDeliveries follow the events' retention.
	WebhookUpdates        int64
	MetaWebhookDeliveries int64
	// OAuthCodes counts the OAuth code secrets deleted (unreferenced) or erased (stale).
	OAuthCodes int64
}
