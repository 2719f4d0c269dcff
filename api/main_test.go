package api_test

import (
	"testing"

	"github.com/dualhook/dualhook/testkit/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }
