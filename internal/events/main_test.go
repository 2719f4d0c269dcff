package events_test

import (
	"os"
	"testing"

	"github.com/dualhook/dualhook/testkit/testenv"
)

func TestMain(m *testing.M) {
	// The kill test re-runs this binary as a worker process it can SIGKILL.
	if os.Getenv(childWorkerEnv) != "" {
		runChildWorker()
		return
	}
	testenv.Main(m)
}
