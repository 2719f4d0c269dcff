package signature_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/dualhook/dualhook/signature"
)

// dualhookWebhook is the receiver shown in docs/webhook-signatures.md.
func dualhookWebhook(secret string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "cannot read body", http.StatusBadRequest)
			return
		}
		if err := signature.Verify(secret, r.Header, body, 5*time.Minute, time.Now()); err != nil {
			log.Printf("rejected webhook: %v", err)
			http.Error(w, "invalid signature", http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

func ExampleVerify() {
	secret, err := signature.NewSecret()
	if err != nil {
		panic(err)
	}
	body := `{"event":"onboarding.started","id":"evt_1","createdAt":"2026-01-01T00:00:00Z","data":{}}`

	req := httptest.NewRequest(http.MethodPost, "/webhooks/dualhook", strings.NewReader(body))
	req.Header = signature.Sign(signature.Secrets{Current: secret}, "evt_1", "onboarding.started", time.Now(), []byte(body))
	rec := httptest.NewRecorder()
	dualhookWebhook(secret).ServeHTTP(rec, req)
	fmt.Println(rec.Code)
	// Output: 204
}
