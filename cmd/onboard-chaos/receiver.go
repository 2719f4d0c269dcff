package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/dualhook/dualhook/signature"
)

// receipt is one delivery the partner's receiver got.
type receipt struct {
	At        time.Time
	EventID   string
	Type      string
	SessionID string
	BodyHash  string
	// SignatureOK: both the Standard Webhooks signature and X-Dualhook-Signature verified.
	SignatureOK bool
	SigError    string
}

// receiver is the partner's side on 127.0.0.1: POST /events is the event webhook (verifies the
// signatures with the signing secret), GET /hooks/<tenant> is every tenant's WhatsApp webhook
// (answers the preflight's and Meta's hub.challenge), GET /return is the redirect target.
type receiver struct {
	srv *http.Server
	URL string

	mu       sync.Mutex
	secret   string
	receipts []receipt
}

func startReceiver() (*receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &receiver{URL: "http://" + ln.Addr().String()}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /events", r.event)
	mux.HandleFunc("GET /hooks/", func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.WriteString(w, req.URL.Query().Get("hub.challenge"))
	})
	mux.HandleFunc("GET /return", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	r.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

func (r *receiver) setSecret(s string) {
	r.mu.Lock()
	r.secret = s
	r.mu.Unlock()
}

func (r *receiver) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = r.srv.Shutdown(ctx)
}

func (r *receiver) event(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		http.Error(w, "cannot read body", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	secret := r.secret
	r.mu.Unlock()
	rc := receipt{At: time.Now(), EventID: req.Header.Get("webhook-id"), Type: req.Header.Get("X-Dualhook-Event")}
	sum := sha256.Sum256(body)
	rc.BodyHash = hex.EncodeToString(sum[:])
	var env struct {
		Event string `json:"event"`
		ID    string `json:"id"`
		Data  struct {
			SessionID string `json:"sessionId"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err == nil {
		rc.SessionID = env.Data.SessionID
		if env.ID != "" {
			rc.EventID = env.ID
		}
		if env.Event != "" {
			rc.Type = env.Event
		}
	}
	var problems []string
	if err := signature.Verify(secret, req.Header, body, 5*time.Minute, time.Now()); err != nil {
		problems = append(problems, "webhook-signature: "+err.Error())
	}
	if err := signature.VerifyLegacy(secret, req.Header, body); err != nil {
		problems = append(problems, "X-Dualhook-Signature: "+err.Error())
	}
	if h := req.Header.Get("webhook-id"); h != "" && h != rc.EventID {
		problems = append(problems, fmt.Sprintf("webhook-id %s differs from the body's id", h))
	}
	rc.SignatureOK = len(problems) == 0
	rc.SigError = strings.Join(problems, "; ")
	r.mu.Lock()
	r.receipts = append(r.receipts, rc)
	r.mu.Unlock()
	if !rc.SignatureOK {
		http.Error(w, "invalid signature", http.StatusUnauthorized)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) snapshot() []receipt {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]receipt(nil), r.receipts...)
}
