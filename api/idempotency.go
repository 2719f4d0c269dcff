package api

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"time"
	"unicode"

	"github.com/labstack/echo/v4"

	"github.com/dualhook/dualhook/db/dbq"
	"github.com/dualhook/dualhook/internal/apierr"
	"github.com/dualhook/dualhook/internal/opt"
	"github.com/dualhook/dualhook/internal/store"
)

const (
	idempotencyHeader = "Idempotency-Key"
	replayedHeader    = "Idempotent-Replayed"
	// IdempotencyLifetime is how long a key is remembered (SPEC §4.4).
	IdempotencyLifetime = time.Hour
	// idempotencyLock is how long a request in progress owns its key. A retry after it takes
	// over: the first process is presumed dead (SPEC §4.4 "across a crash").
	idempotencyLock = time.Minute
)

type idempotencyOutcome int

const (
	idemProceed idempotencyOutcome = iota
	idemReplay
	idemCollision
	idemInUse
)

// idempotencyState is what a handler behind the middleware can use: recovery is what a crashed
// earlier attempt with the same key recorded (still encrypted), so the retry finishes that work
// instead of starting anew.
type idempotencyState struct {
	params   dbq.SetIdempotencyRecoveryParams
	recovery *string
	// recorded: this request recorded a recovery point, so it has side effects to finish.
	recorded bool
}

type storedResponse struct {
	Status      int    `json:"status"`
	ContentType string `json:"contentType"`
	Body        []byte `json:"body"`
}

// idempotency implements SPEC §4.4 for every POST/PATCH/DELETE carrying an Idempotency-Key. State
// is in PostgreSQL, so it holds across API processes; only 2xx responses are stored, encrypted.
func (s *Server) idempotency(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if r.Method != http.MethodPost && r.Method != http.MethodPatch && r.Method != http.MethodDelete {
			return next(c)
		}
		key, present := r.Header[http.CanonicalHeaderKey(idempotencyHeader)]
		if !present {
			return next(c)
		}
		if len(key) != 1 || !validIdempotencyKey(key[0]) {
			return apierr.InvalidFields(map[string]string{idempotencyHeader: "must be one header of 1 to 255 printable characters"})
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return err // the body limit's 413, or a broken connection
		}
		r.Body = io.NopCloser(bytes.NewReader(body))

		ctx := r.Context()
		id := dbq.GetIdempotencyRecordForUpdateParams{
			PartnerID: partnerOf(c).ID, Method: r.Method, Path: r.URL.EscapedPath(), IdempotencyKey: key[0],
		}
		outcome, rec, err := s.claimIdempotencyKey(ctx, id, canonicalHash(body))
		if err != nil {
			return err
		}
		switch outcome {
		case idemCollision:
			return apierr.New(apierr.CodeIdempotencyKeyCollision, "This Idempotency-Key was used with a different request body.")
		case idemInUse:
			return apierr.New(apierr.CodeIdempotencyKeyInUse, "A request with this Idempotency-Key is still being processed; retry shortly.")
		case idemReplay:
			return s.replay(c, rec, id)
		}

		state := &idempotencyState{params: dbq.SetIdempotencyRecoveryParams{
			PartnerID: id.PartnerID, Method: id.Method, Path: id.Path, IdempotencyKey: id.IdempotencyKey,
		}, recovery: rec.RecoveryCiphertext}
		c.Set(ctxIdemKey, state)
		recorder := &responseRecorder{ResponseWriter: c.Response().Writer}
		c.Response().Writer = recorder
		if err := next(c); err != nil {
			c.Error(err)
		}
		status := c.Response().Status
		// The response is sent; what follows must not depend on the client's context.
		bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		switch {
		case status >= 200 && status < 300:
			plain, _ := json.Marshal(storedResponse{Status: status, ContentType: c.Response().Header().Get(echo.HeaderContentType), Body: recorder.body.Bytes()})
			err = s.deps.Store.CompleteIdempotencyRecord(bg, dbq.CompleteIdempotencyRecordParams{
				PartnerID: id.PartnerID, Method: id.Method, Path: id.Path, IdempotencyKey: id.IdempotencyKey,
				ResponseStatus:     opt.Ptr(int32(status)),
				ResponseCiphertext: opt.Ptr(s.deps.Ring.EncryptString(string(plain), idempotencyAD(id))),
			})
		case status >= 500 && (state.recorded || state.recovery != nil):
			// Work was started (a session row exists) but not finished: keep the record and its
			// recovery point, unlocked, so the retry takes over and finishes the same work.
			err = s.deps.Store.TakeOverIdempotencyRecord(bg, dbq.TakeOverIdempotencyRecordParams{
				PartnerID: id.PartnerID, Method: id.Method, Path: id.Path, IdempotencyKey: id.IdempotencyKey, LockedUntil: opt.Ptr(s.deps.Now()),
			})
		default:
			err = s.deps.Store.ReleaseIdempotencyRecord(bg, dbq.ReleaseIdempotencyRecordParams(id))
		}
		if err != nil {
			// The lock expires on its own; a retry then takes over.
			s.log(c).Error("idempotency record not finalised", "error", err)
		}
		return nil
	}
}

func (s *Server) claimIdempotencyKey(ctx context.Context, id dbq.GetIdempotencyRecordForUpdateParams, hash []byte) (idempotencyOutcome, dbq.IdempotencyRecord, error) {
	now := s.deps.Now()
	var outcome idempotencyOutcome
	var rec dbq.IdempotencyRecord
	err := s.deps.Store.InTx(ctx, func(q *dbq.Queries) error {
		var err error
		rec, err = q.ClaimIdempotencyKey(ctx, dbq.ClaimIdempotencyKeyParams{
			PartnerID: id.PartnerID, Method: id.Method, Path: id.Path, IdempotencyKey: id.IdempotencyKey,
			RequestHash: hash, LockedUntil: opt.Ptr(now.Add(idempotencyLock)), ExpiresAt: now.Add(IdempotencyLifetime),
		})
		if err == nil {
			outcome = idemProceed
			return nil
		}
		if !store.IsNotFound(err) {
			return err
		}
		rec, err = q.GetIdempotencyRecordForUpdate(ctx, id)
		if err != nil {
			return err
		}
		switch {
		case !now.Before(rec.ExpiresAt):
			outcome = idemProceed
			rec.RecoveryCiphertext = nil
			return q.RestartIdempotencyRecord(ctx, dbq.RestartIdempotencyRecordParams{
				PartnerID: id.PartnerID, Method: id.Method, Path: id.Path, IdempotencyKey: id.IdempotencyKey,
				RequestHash: hash, LockedUntil: opt.Ptr(now.Add(idempotencyLock)), ExpiresAt: now.Add(IdempotencyLifetime),
			})
		case !bytes.Equal(rec.RequestHash, hash):
			outcome = idemCollision
		case rec.State == "completed":
			outcome = idemReplay
		case rec.LockedUntil != nil && now.Before(*rec.LockedUntil):
			outcome = idemInUse
		default:
			outcome = idemProceed
			return q.TakeOverIdempotencyRecord(ctx, dbq.TakeOverIdempotencyRecordParams{
				PartnerID: id.PartnerID, Method: id.Method, Path: id.Path, IdempotencyKey: id.IdempotencyKey,
				LockedUntil: opt.Ptr(now.Add(idempotencyLock)),
			})
		}
		return nil
	})
	return outcome, rec, err
}

func (s *Server) replay(c echo.Context, rec dbq.IdempotencyRecord, id dbq.GetIdempotencyRecordForUpdateParams) error {
	if rec.ResponseCiphertext == nil {
		return errors.New("idempotency: completed record without a response")
	}
	plain, err := s.deps.Ring.DecryptString(*rec.ResponseCiphertext, idempotencyAD(id))
	if err != nil {
		return err
	}
	var stored storedResponse
	if err := json.Unmarshal([]byte(plain), &stored); err != nil {
		return err
	}
	if hook := replayHooks[c.Request().Method+" "+c.Path()]; hook != nil {
		if err := hook(s, c); err != nil {
			return err
		}
	}
	c.Response().Header().Set(replayedHeader, "true")
	return c.Blob(stored.Status, stored.ContentType, stored.Body)
}

// rememberRecovery records, encrypted and before any side effect, what the request is creating
// (ids, one-time tokens), so a retry after a crash can find and finish the same work
// (SPEC §4.4). Without an Idempotency-Key there is nothing to record.
func (s *Server) rememberRecovery(c echo.Context, v any) error {
	state, ok := c.Get(ctxIdemKey).(*idempotencyState)
	if !ok {
		return nil
	}
	plain, err := json.Marshal(v)
	if err != nil {
		return err
	}
	p := state.params
	p.RecoveryCiphertext = opt.Ptr(s.deps.Ring.EncryptString(string(plain), recoveryAD(p)))
	state.recorded = true
	return s.deps.Store.SetIdempotencyRecovery(c.Request().Context(), p)
}

// resumeRecovery fills v with what a crashed earlier attempt recorded; false when there is none.
func (s *Server) resumeRecovery(c echo.Context, v any) (bool, error) {
	state, ok := c.Get(ctxIdemKey).(*idempotencyState)
	if !ok || state.recovery == nil {
		return false, nil
	}
	plain, err := s.deps.Ring.DecryptString(*state.recovery, recoveryAD(state.params))
	if err != nil {
		return false, err
	}
	return true, json.Unmarshal([]byte(plain), v)
}

func recoveryAD(p dbq.SetIdempotencyRecoveryParams) string {
	return "idempotency-recovery/" + p.PartnerID + "/" + p.Method + "/" + p.Path + "/" + p.IdempotencyKey
}

func idempotencyAD(id dbq.GetIdempotencyRecordForUpdateParams) string {
	return "idempotency/" + id.PartnerID + "/" + id.Method + "/" + id.Path + "/" + id.IdempotencyKey
}

func validIdempotencyKey(k string) bool {
	if len(k) == 0 || len(k) > 255 {
		return false
	}
	for _, r := range k {
		if !unicode.IsPrint(r) || r > unicode.MaxASCII {
			return false
		}
	}
	return true
}

// canonicalHash makes "the same body" mean the same JSON value: key order and white space do not
// matter. A body that is not JSON is hashed as raw bytes (the handler will reject it anyway).
func canonicalHash(body []byte) []byte {
	var v any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	canonical := body
	if err := dec.Decode(&v); err == nil && !dec.More() {
		if b, err := json.Marshal(v); err == nil {
			canonical = b
		}
	}
	sum := sha256.Sum256(canonical)
	return sum[:]
}

// responseRecorder keeps a copy of what the handler writes, to store it for replays.
type responseRecorder struct {
	http.ResponseWriter
	body bytes.Buffer
}

func (r *responseRecorder) Write(b []byte) (int, error) {
	if r.body.Len() < MaxStoredResponse {
		r.body.Write(b)
	}
	return r.ResponseWriter.Write(b)
}

func (r *responseRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *responseRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(r.ResponseWriter).Hijack()
}

// MaxStoredResponse bounds what an idempotency record keeps; API responses are far smaller.
const MaxStoredResponse = 1 << 20

// replayHooks run before a replay of a route's stored response: a replayed reveal is still a
// reveal, so it writes its own audit row (SPEC §4.4, §7.5).
var replayHooks = map[string]func(*Server, echo.Context) error{
	"POST /api/v1/connections/:id/reveal-secrets": (*Server).replayReveal,
}
