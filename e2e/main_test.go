// Package e2e holds the end-to-end tests: the whole product (API, worker, PostgreSQL, Temporal,
// the Meta sandbox, tenants' and partners' endpoints) driven over HTTP.
package e2e

import (
	"testing"

	"github.com/dualhook/dualhook/testkit/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }
