// Package e2e holds the end-to-end tests: the whole product (API, worker, PostgreSQL, Temporal,
// the Meta sandbox, tenants' and partners' endpoints) driven over HTTP.
package e2e

import (
	"os"
	"testing"

	"github.com/dualhook/dualhook/testkit/testenv"
)

func TestMain(m *testing.M) {
	if queue := os.Getenv(childWorkerEnv); queue != "" {
		runChildWorker(queue) // this process is a worker a test will kill (worker_kill_test.go)
		return
	}
	testenv.Main(m)
}
