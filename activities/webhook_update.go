package activities

import (
	"context"
	"slices"

	"github.com/dualhook/dualhook/db/dbq"
	"github.com/dualhook/dualhook/internal/domain"
	"github.com/dualhook/dualhook/internal/events"
	"github.com/dualhook/dualhook/internal/eventtypes"
	"github.com/dualhook/dualhook/internal/opt"
	"github.com/dualhook/dualhook/internal/secretstore"
	"github.com/dualhook/dualhook/internal/store"
	"github.com/dualhook/dualhook/metagraph"
)

// The webhook update's activities (SPEC §7.3), in the order the workflow runs them, all under
// the WABA's claim. The update itself (URL, encrypted verify token, name, metadata) is the
// webhook_updates row the API stored; only its key travels through Temporal.

func (a *Activities) webhookUpdate(ctx context.Context, q dbq.Querier, wabaID string, n int64) (dbq.WebhookUpdate, error) {
	return q.GetWebhookUpdate(ctx, dbq.GetWebhookUpdateParams{WabaID: wabaID, N: n})
}

// PrepareWebhookUpdate checks, under the claim, that the update may go to Meta: the connection
// is active with a valid token and no other tenant has an active sibling on the WABA (siblings
// share one override, and a PATCH must not move another tenant's traffic). It records the
// override in force, to restore it if the commit fails after Meta accepted.
func (a *Activities) PrepareWebhookUpdate(ctx context.Context, in domain.WebhookUpdateStep) error {
	u, err := a.webhookUpdate(ctx, a.Store, in.WabaID, in.N)
	if err != nil {
		return err
	}
	conn, err := a.Store.GetConnection(ctx, u.ConnectionID)
	if err != nil {
		return err
	}
	switch {
	case conn.Status != "active":
		return permanent(domain.ReasonConnectionDisconnected, "The connection is disconnected.")
	case conn.TokenStatus == "expired":
		return permanent(domain.ReasonMetaTokenExpired, "Meta no longer accepts the connection's access token; onboard the number again.")
	}
	siblings, err := a.Store.ListActiveWabaConnections(ctx, in.WabaID)
	if err != nil {
		return err
	}
	for _, s := range siblings {
		if s.PartnerID != conn.PartnerID || s.TenantID != conn.TenantID {
			return permanent(domain.ReasonWabaWebhookConflict,
				"Another tenant has an active connection on this WhatsApp Business Account; numbers of one account share one webhook, so it cannot be changed for one tenant alone.")
		}
	}
	return a.Store.SetWebhookUpdatePrevious(ctx, dbq.SetWebhookUpdatePreviousParams{
		WabaID: in.WabaID, N: in.N, PreviousWebhookUrl: &conn.WebhookURL, PreviousWebhookVerifyTokenCiphertext: &conn.WebhookVerifyTokenCiphertext,
	})
}

// SetWebhookOverride sets the new override at Meta with the connection's token. Meta verifies
// the URL itself (hub.challenge); a refusal (2200) changes nothing there.
func (a *Activities) SetWebhookOverride(ctx context.Context, in domain.WebhookUpdateStep) error {
	defer heartbeatUntilDone(ctx)()
	u, err := a.webhookUpdate(ctx, a.Store, in.WabaID, in.N)
	if err != nil {
		return err
	}
	if u.WebhookVerifyTokenCiphertext == nil {
		return permanent(domain.ReasonInternalError, "The webhook update already ended.")
	}
	verifyToken, err := a.Ring.DecryptString(*u.WebhookVerifyTokenCiphertext, secretstore.VerifyTokenAD)
	if err != nil {
		return err
	}
	conn, token, err := a.connectionToken(ctx, u.ConnectionID)
	if err != nil {
		return err
	}
	if err := a.Graph.SetOverride(ctx, token, conn.WabaID, u.WebhookURL, verifyToken); err != nil {
		if metagraph.IsOverrideVerificationFailed(err) {
			return permanent(domain.ReasonWebhookSubscribeFailed, "Meta could not verify the webhook URL (it must answer Meta's hub.challenge): "+err.Error())
		}
		return a.connectionGraphFailure(ctx, conn.ID, err, domain.ReasonWebhookSubscribeFailed, "Meta refused the webhook override")
	}
	return nil
}

// RestoreWebhookOverride puts back the override recorded by PrepareWebhookUpdate.
func (a *Activities) RestoreWebhookOverride(ctx context.Context, in domain.WebhookUpdateStep) error {
	defer heartbeatUntilDone(ctx)()
	u, err := a.webhookUpdate(ctx, a.Store, in.WabaID, in.N)
	if err != nil {
		return err
	}
	if u.PreviousWebhookUrl == nil || u.PreviousWebhookVerifyTokenCiphertext == nil {
		return nil // nothing was recorded, so nothing was sent to Meta
	}
	verifyToken, err := a.Ring.DecryptString(*u.PreviousWebhookVerifyTokenCiphertext, secretstore.VerifyTokenAD)
	if err != nil {
		return err
	}
	conn, token, err := a.connectionToken(ctx, u.ConnectionID)
	if err != nil {
		return err
	}
	if err := a.Graph.SetOverride(ctx, token, conn.WabaID, *u.PreviousWebhookUrl, verifyToken); err != nil {
		return a.connectionGraphFailure(ctx, conn.ID, err, domain.ReasonInternalError, "Meta refused to restore the previous override")
	}
	return nil
}

// CommitWebhookUpdate writes the accepted update in one transaction: every active sibling's
// webhook, the connection's name and metadata, the row `applied`, and connection.webhook_updated.
// A retried attempt whose first one committed answers the stored outcome.
func (a *Activities) CommitWebhookUpdate(ctx context.Context, in domain.WebhookUpdateStep) (domain.WebhookUpdateOutcome, error) {
	var out domain.WebhookUpdateOutcome
	err := a.Store.InTx(ctx, func(q *dbq.Queries) error {
		u, err := a.webhookUpdate(ctx, q, in.WabaID, in.N)
		if err != nil {
			return err
		}
		if u.Status != "pending" {
			out = webhookUpdateOutcome(u)
			return nil
		}
		if _, err := q.LockHeldWabaClaim(ctx, dbq.LockHeldWabaClaimParams{WabaID: in.WabaID, Holder: in.Holder}); err != nil {
			if store.IsNotFound(err) {
				return permanent(domain.ReasonInternalError, "The claim on the WhatsApp Business Account expired before the commit.")
			}
			return err
		}
		// The siblings' rows are locked too: a disconnect committing now waits or is seen.
		siblings, err := q.ListActiveWabaConnectionsForUpdate(ctx, in.WabaID)
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(siblings, func(c dbq.Connection) bool { return c.ID == u.ConnectionID }) {
			return permanent(domain.ReasonConnectionDisconnected, "The connection was disconnected while its webhook was being updated.")
		}
		affected, err := q.SetWabaWebhook(ctx, dbq.SetWabaWebhookParams{
			WabaID: in.WabaID, WebhookURL: u.WebhookURL, WebhookVerifyTokenCiphertext: *u.WebhookVerifyTokenCiphertext,
		})
		if err != nil {
			return err
		}
		conn, err := q.SetConnectionNameMetadata(ctx, dbq.SetConnectionNameMetadataParams{
			ID: u.ConnectionID, SetName: u.SetName, Name: u.Name, Metadata: u.Metadata,
		})
		if err != nil {
			return err
		}
		done, err := q.FinishWebhookUpdate(ctx, dbq.FinishWebhookUpdateParams{
			WabaID: in.WabaID, N: in.N, Status: "applied", AffectedConnectionIds: affected,
		})
		if err != nil {
			return err
		}
		out = webhookUpdateOutcome(done)
		return events.Emit(ctx, q, events.New{
			ID: in.EventID, PartnerID: conn.PartnerID, Type: eventtypes.ConnectionWebhookUpdate, TenantID: conn.TenantID,
			ConnectionID: conn.ID, WabaID: conn.WabaID,
			Data: map[string]any{
				"connectionId": conn.ID, "tenantId": conn.TenantID, "wabaId": conn.WabaID, "webhookUrl": conn.WebhookURL,
				"affectedConnectionIds": affected,
			},
		})
	})
	return out, err
}

// RejectWebhookUpdate records why the update was refused; an update that already ended keeps
// its outcome.
func (a *Activities) RejectWebhookUpdate(ctx context.Context, in domain.WebhookUpdateEnd) (domain.WebhookUpdateOutcome, error) {
	done, err := a.Store.FinishWebhookUpdate(ctx, dbq.FinishWebhookUpdateParams{
		WabaID: in.WabaID, N: in.N, Status: "rejected", FailureReason: &in.Reason, FailureMessage: &in.Message, AffectedConnectionIds: []string{},
	})
	if store.IsNotFound(err) {
		u, err := a.webhookUpdate(ctx, a.Store, in.WabaID, in.N)
		if err != nil {
			return domain.WebhookUpdateOutcome{}, err
		}
		return webhookUpdateOutcome(u), nil
	}
	if err != nil {
		return domain.WebhookUpdateOutcome{}, err
	}
	return webhookUpdateOutcome(done), nil
}

// webhookUpdateOutcome is a finished row as the workflow reports it.
func webhookUpdateOutcome(u dbq.WebhookUpdate) domain.WebhookUpdateOutcome {
	return domain.WebhookUpdateOutcome{
		Applied: u.Status == "applied", Reason: opt.Deref(u.FailureReason), Message: opt.Deref(u.FailureMessage),
		AffectedConnectionIDs: u.AffectedConnectionIds,
	}
}
