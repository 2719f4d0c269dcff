package activities

import (
	"context"
	"errors"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"

	"github.com/dualhook/dualhook/db/dbq"
	"github.com/dualhook/dualhook/internal/domain"
	"github.com/dualhook/dualhook/internal/events"
	"github.com/dualhook/dualhook/internal/eventtypes"
	"github.com/dualhook/dualhook/internal/opt"
	"github.com/dualhook/dualhook/internal/secretstore"
	"github.com/dualhook/dualhook/internal/store"
	"github.com/dualhook/dualhook/metagraph"
)

// Activities of a connection's own workflows: mode resolution (SPEC §6 step 5) and the start of
// mode/<id> and heartbeat/<id> after a commit.

// temporalClient is the configured client, else the worker's own (tests build Activities
// without one).
func (a *Activities) temporalClient(ctx context.Context) client.Client {
	if a.Temporal != nil {
		return a.Temporal
	}
	return activity.GetClient(ctx)
}

// heartbeatPeriods are the configured heartbeat periods, SPEC §7.6's by default.
func (a *Activities) heartbeatPeriods() (period, dueSoonBefore time.Duration) {
	period, dueSoonBefore = a.Config.HeartbeatPeriod, a.Config.HeartbeatDueSoonBefore
	if period <= 0 {
		period = domain.DefaultHeartbeatPeriod
	}
	if dueSoonBefore <= 0 || dueSoonBefore >= period {
		dueSoonBefore = min(domain.DefaultHeartbeatDueSoonBefore, period/2)
	}
	return period, dueSoonBefore
}

// connectionToken reads an active connection and its access token. A connection whose token
// Meta already refused is not asked again: the answer would be 190 once more.
func (a *Activities) connectionToken(ctx context.Context, connectionID string) (dbq.Connection, string, error) {
	conn, err := a.Store.GetConnection(ctx, connectionID)
	if err != nil {
		return conn, "", err
	}
	switch {
	case conn.Status != "active":
		return conn, "", permanent(domain.ReasonConnectionDisconnected, "The connection is disconnected.")
	case conn.TokenStatus == "expired" || conn.AccessTokenSecretID == nil:
		return conn, "", permanent(domain.ReasonMetaTokenExpired, "Meta no longer accepts the connection's access token; onboard the number again.")
	}
	token, err := secretstore.Read(ctx, a.Store, a.Ring, *conn.AccessTokenSecretID)
	if errors.Is(err, secretstore.ErrErased) {
		return conn, "", permanent(domain.ReasonConnectionDisconnected, "The connection's access token was erased.")
	}
	return conn, token, err
}

// connectionGraphFailure notes a 190 on the connection's token (tokenStatus expired) and
// classifies the error like graphFailure.
func (a *Activities) connectionGraphFailure(ctx context.Context, connectionID string, err error, reason, what string) error {
	if metagraph.IsTokenInvalid(a.noteTokenError(ctx, connectionID, err)) {
		return permanent(domain.ReasonMetaTokenExpired, "Meta no longer accepts the connection's access token; onboard the number again.")
	}
	return graphFailure(err, reason, what)
}

// StartConnectionWorkflows starts what a committed connection needs: mode/<id> while its mode is
// unknown, heartbeat/<id> when the heartbeat applies. The heartbeat is signalled-with-start with
// `reset`, so a re-onboarded connection's running heartbeat restarts its clock from the new
// confirmation instead of keeping the old deadline.
func (a *Activities) StartConnectionWorkflows(ctx context.Context, in domain.ConnectionStep) error {
	defer heartbeatUntilDone(ctx)()
	conn, err := a.Store.GetConnection(ctx, in.ConnectionID)
	if err != nil || conn.Status != "active" {
		return err
	}
	tc, queue := a.temporalClient(ctx), a.Config.TemporalTaskQueue
	if conn.ConnectionMode == domain.ModeUnknown {
		mode := domain.ModeInput{ConnectionID: conn.ID, PartnerID: conn.PartnerID, TenantID: conn.TenantID}
		if _, err := tc.ExecuteWorkflow(ctx, domain.ModeStartOptions(mode, queue), domain.ModeWorkflowName, mode); err != nil {
			return err
		}
	}
	if conn.HeartbeatApplies {
		hb := domain.HeartbeatInput{ConnectionID: conn.ID, PartnerID: conn.PartnerID, TenantID: conn.TenantID}
		if _, err := tc.SignalWithStartWorkflow(ctx, domain.HeartbeatID(conn.ID), domain.SignalHeartbeatReset, nil,
			domain.HeartbeatStartOptions(hb, queue), domain.HeartbeatWorkflowName, hb); err != nil {
			return err
		}
	}
	return nil
}

// CheckConnectionMode asks Meta whether the connection's number is on the WhatsApp Business app.
func (a *Activities) CheckConnectionMode(ctx context.Context, in domain.ConnectionStep) (domain.ModeCheck, error) {
	defer heartbeatUntilDone(ctx)()
	conn, token, err := a.connectionToken(ctx, in.ConnectionID)
	if store.IsNotFound(err) || (err == nil && conn.ConnectionMode != domain.ModeUnknown) || isReason(err, domain.ReasonConnectionDisconnected) {
		return domain.ModeCheck{}, nil // nothing left to resolve
	}
	if err != nil {
		return domain.ModeCheck{}, err
	}
	phone, err := a.Graph.PhoneNumber(ctx, token, conn.PhoneNumberID)
	if err != nil {
		return domain.ModeCheck{}, a.connectionGraphFailure(ctx, conn.ID, err, domain.ReasonMetaUnavailable, "Meta could not describe the phone number")
	}
	out := domain.ModeCheck{Pending: true, Mode: domain.ModeUnknown}
	if phone.IsOnBizApp != nil {
		out.Mode = domain.ModeCloudAPI
		if *phone.IsOnBizApp {
			out.Mode = domain.ModeCoexistence
		}
	}
	return out, nil
}

// ResolveConnectionMode commits the mode with connection.mode_resolved, once; a coexistence
// connection's heartbeat clock starts now. False when there was nothing to resolve.
func (a *Activities) ResolveConnectionMode(ctx context.Context, in domain.ModeResolveInput) (bool, error) {
	resolved := false
	err := a.Store.InTx(ctx, func(q *dbq.Queries) error {
		stored, err := eventStored(ctx, q, in.EventID)
		if err != nil || stored {
			resolved = stored // an earlier attempt committed
			return err
		}
		params := dbq.ResolveConnectionModeParams{ID: in.ConnectionID, ConnectionMode: in.Mode, HeartbeatStatus: domain.HeartbeatUnknown}
		if in.Mode == domain.ModeCoexistence {
			period, _ := a.heartbeatPeriods()
			now := a.now().UTC()
			next := now.Add(period)
			onboarded := "ONBOARDED"
			params.CoexistenceStatus, params.HeartbeatApplies, params.HeartbeatStatus = &onboarded, true, domain.HeartbeatOK
			params.HeartbeatLastConfirmedAt, params.HeartbeatNextDueAt = &now, &next
		}
		conn, err := q.ResolveConnectionMode(ctx, params)
		if store.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		resolved = true
		return events.Emit(ctx, q, events.New{
			ID: in.EventID, PartnerID: conn.PartnerID, Type: eventtypes.ConnectionModeResolved, TenantID: conn.TenantID,
			ConnectionID: conn.ID, WabaID: conn.WabaID,
			Data: map[string]any{
				"connectionId": conn.ID, "tenantId": conn.TenantID, "connectionMode": conn.ConnectionMode, "previousMode": domain.ModeUnknown,
			},
		})
	})
	return resolved, err
}

// connectionMetaStep turns a connection into the input of onboarding's Meta steps, so mode
// resolution reuses RegisterNumber and TriggerSyncs rather than copying them: the connection's
// session holds the PIN reference, the connection the token.
func (a *Activities) connectionMetaStep(ctx context.Context, connectionID string) (dbq.Connection, domain.MetaStepInput, error) {
	conn, _, err := a.connectionToken(ctx, connectionID)
	if err != nil {
		return conn, domain.MetaStepInput{}, err
	}
	return conn, domain.MetaStepInput{
		SessionID: conn.SessionID, TokenSecretID: *conn.AccessTokenSecretID,
		Discovery: domain.Discovery{WabaID: conn.WabaID, PhoneNumberID: conn.PhoneNumberID, BusinessID: opt.Deref(conn.BusinessID), Mode: conn.ConnectionMode},
	}, nil
}

// RegisterConnectionNumber registers a Cloud API number whose mode resolved late, with
// onboarding's RegisterNumber (its PIN rules included), and records the PIN on the connection.
func (a *Activities) RegisterConnectionNumber(ctx context.Context, in domain.ConnectionStep) error {
	defer heartbeatUntilDone(ctx)()
	conn, step, err := a.connectionMetaStep(ctx, in.ConnectionID)
	if err != nil {
		return err
	}
	if conn.RegisteredAt != nil {
		return nil
	}
	// CheckConnectionMode has just used the same token, so a 190 here is unlikely; RegisterNumber
	// reports Graph errors by reason (registration_failed), as onboarding records them.
	reg, err := a.RegisterNumber(ctx, step)
	if err != nil {
		return err
	}
	now := a.now().UTC()
	_, err = a.Store.SetConnectionRegistration(ctx, dbq.SetConnectionRegistrationParams{ID: conn.ID, RegistrationPinSecretID: &reg.PinSecretID, RegisteredAt: &now})
	if store.IsNotFound(err) {
		return nil // disconnected meanwhile
	}
	return err
}

// TriggerConnectionSyncs triggers the coexistence syncs of a connection whose mode resolved
// late, with onboarding's TriggerSyncs, and records when.
func (a *Activities) TriggerConnectionSyncs(ctx context.Context, in domain.ConnectionStep) error {
	defer heartbeatUntilDone(ctx)()
	conn, step, err := a.connectionMetaStep(ctx, in.ConnectionID)
	if err != nil {
		return err
	}
	syncs, syncErr := a.TriggerSyncs(ctx, step)
	if syncErr != nil {
		syncs = StartedSyncs(syncErr) // the one that started is recorded; the failure is returned
	}
	_, err = a.Store.SetConnectionSyncs(ctx, dbq.SetConnectionSyncsParams{
		ID: conn.ID, ContactSyncTriggeredAt: syncs.ContactSyncTriggeredAt, HistorySyncTriggeredAt: syncs.HistorySyncTriggeredAt,
	})
	if store.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	return syncErr
}

func isReason(err error, reason string) bool {
	var appErr interface{ Type() string }
	return err != nil && errors.As(err, &appErr) && appErr.Type() == reason
}
