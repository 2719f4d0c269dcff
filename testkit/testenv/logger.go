package testenv

import (
	"go.temporal.io/sdk/log"
)

func quietLogger() log.Logger {
	return log.NewStructuredLogger(quietSlog())
}

// Logger is a slog logger that prints warnings and errors only, so test output stays readable.
var Logger = quietSlog
