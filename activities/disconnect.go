package activities

import (
	"context"
	"errors"

	"github.com/dualhook/dualhook/db/dbq"
	"github.com/dualhook/dualhook/internal/domain"
	"github.com/dualhook/dualhook/internal/events"
	"github.com/dualhook/dualhook/internal/eventtypes"
	"github.com/dualhook/dualhook/internal/secretstore"
	"github.com/dualhook/dualhook/internal/store"
	"github.com/dualhook/dualhook/metagraph"
)

// The disconnect's activities (SPEC §7.4), in the order DisconnectWorkflow runs them.

// Error types of the disconnect's activities, as seen in the Temporal UI.
const (
	errTypeUnsubscribeFailed = "meta_unsubscribe_failed"
	errTypeClaimLost         = "waba_claim_lost"
)

const connectionActive = "active"

// GetDisconnectTarget reads what the disconnect needs to know about the connection.
func (a *Activities) GetDisconnectTarget(ctx context.Context, connectionID string) (domain.DisconnectTarget, error) {
	c, err := a.Store.GetConnection(ctx, connectionID)
	if store.IsNotFound(err) {
		return domain.DisconnectTarget{ConnectionID: connectionID}, nil
	}
	if err != nil {
		return domain.DisconnectTarget{}, err
	}
	return domain.DisconnectTarget{
		ConnectionID: c.ID, PartnerID: c.PartnerID, TenantID: c.TenantID, WabaID: c.WabaID, Status: c.Status, Found: true,
	}, nil
}

// UnsubscribeIfLastSibling removes the app's subscription (and with it the override) from the
// WABA when no other active connection remains on it. It runs while the workflow holds the
// WABA's claim, so the sibling count cannot change before the commit.
func (a *Activities) UnsubscribeIfLastSibling(ctx context.Context, in domain.DisconnectStep) (domain.UnsubscribeResult, error) {
	defer heartbeatUntilDone(ctx)()
	var out domain.UnsubscribeResult
	conn, err := a.Store.GetConnection(ctx, in.ConnectionID)
	if err != nil {
		return out, err
	}
	if conn.Status != connectionActive {
		return out, nil // disconnected meanwhile: the commit finds it so and stores nothing
	}
	active, err := a.Store.ListActiveWabaConnections(ctx, in.WabaID)
	if err != nil {
		return out, err
	}
	for _, c := range active {
		if c.ID != in.ConnectionID {
			out.Siblings++
		}
	}
	if out.Siblings > 0 {
		return out, nil // the override is the siblings' webhook too
	}
	token, err := a.disconnectToken(ctx, conn)
	if errors.Is(err, secretstore.ErrErased) {
		// No token, no way to talk to Meta about this WABA: nothing this service can remove.
		a.Logger.Warn("the connection's token is gone; the subscription at Meta is left as it is",
			"connection_id", conn.ID, "waba_id", in.WabaID)
		return out, nil
	}
	if err != nil {
		return out, err
	}
	err = a.noteTokenError(ctx, conn.ID, a.Graph.UnsubscribeApp(ctx, token, in.WabaID))
	switch {
	case err == nil, metagraph.IsTokenInvalid(err), metagraph.IsNotSubscribed(err):
		// 190: the token was revoked or expired — Meta removed the app (SPEC §7.4 counts it as
		// already removed), as it does when the business uninstalls it.
		out.Unsubscribed = true
		return out, nil
	case domain.MetaRemoved(in.Reason):
		// Meta told us it removed the app: whatever it answers now, there is nothing to undo.
		a.Logger.Info("Meta refused the DELETE after removing the app itself", "waba_id", in.WabaID, "error", err)
		return out, nil
	case metagraph.IsTransient(err):
		return out, transient(domain.ReasonMetaUnavailable, "Meta is temporarily unavailable (removing the subscription): "+err.Error())
	}
	return out, permanent(errTypeUnsubscribeFailed, "Meta refused to remove the subscription: "+err.Error())
}

// disconnectToken reads the connection's access token; ErrErased when there is none.
func (a *Activities) disconnectToken(ctx context.Context, c dbq.Connection) (string, error) {
	if c.AccessTokenSecretID == nil {
		return "", secretstore.ErrErased
	}
	return secretstore.Read(ctx, a.Store, a.Ring, *c.AccessTokenSecretID)
}

// CommitDisconnect records the disconnect in one transaction (SPEC §7.4): the connection
// disconnected with its reason, its secrets erased (those no other active connection uses), and
// connection.disconnected. A connection that is already disconnected is left as it is (the first
// reason wins) and nothing is stored.
func (a *Activities) CommitDisconnect(ctx context.Context, in domain.DisconnectStep) (domain.DisconnectCommit, error) {
	var out domain.DisconnectCommit
	err := a.Store.InTx(ctx, func(q *dbq.Queries) error {
		conn, err := q.GetConnectionForUpdate(ctx, in.ConnectionID)
		if store.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if conn.Status != connectionActive {
			return nil
		}
		// The sibling check and the Meta call were made under the claim; if the lease expired
		// and someone else took the WABA meanwhile, they are stale.
		if _, err := q.LockHeldWabaClaim(ctx, dbq.LockHeldWabaClaimParams{WabaID: in.WabaID, Holder: in.Holder}); err != nil {
			if store.IsNotFound(err) {
				return permanent(errTypeClaimLost, "The claim on the WhatsApp Business Account expired before the disconnect could commit.")
			}
			return err
		}
		reason := in.Reason
		done, err := q.MarkConnectionDisconnected(ctx, dbq.MarkConnectionDisconnectedParams{ID: conn.ID, DisconnectReason: &reason})
		if err != nil {
			return err
		}
		for _, secretID := range []*string{conn.AccessTokenSecretID, conn.RegistrationPinSecretID} {
			if err := eraseUnshared(ctx, q, conn.ID, secretID); err != nil {
				return err
			}
		}
		out.Disconnected = true
		return events.Emit(ctx, q, events.New{
			ID: in.EventID, PartnerID: done.PartnerID, Type: eventtypes.ConnectionDisconnected, TenantID: done.TenantID,
			ConnectionID: done.ID, WabaID: done.WabaID,
			Data: map[string]any{
				"connectionId": done.ID, "tenantId": done.TenantID, "wabaId": done.WabaID,
				"phoneNumberId": done.PhoneNumberID, "reason": reason,
			},
		})
	})
	return out, err
}

// eraseUnshared erases a connection's secret unless another active connection still uses it
// (a re-onboarded number shares its PIN: Meta holds it as the two-step PIN).
func eraseUnshared(ctx context.Context, q *dbq.Queries, connectionID string, secretID *string) error {
	if secretID == nil {
		return nil
	}
	shared, err := q.SecretReferencedByOtherActiveConnection(ctx, dbq.SecretReferencedByOtherActiveConnectionParams{
		ConnectionID: connectionID, SecretID: *secretID,
	})
	if err != nil || shared {
		return err
	}
	return secretstore.Erase(ctx, q, secretID)
}
