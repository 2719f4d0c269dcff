#!/usr/bin/env bash
# Runs every test against real services: the local PostgreSQL (each test package creates and
# drops its own database) and one Temporal dev server for the whole run (tests isolate themselves
# by task queue). Extra `go test` flags: GO_TEST_FLAGS; packages: TEST_PACKAGES (default ./...).
set -euo pipefail
cd "$(dirname "$0")/.."

pg_url="${DUALHOOK_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}"
if command -v pg_isready >/dev/null && ! pg_isready -q -d "$pg_url"; then
  echo "PostgreSQL does not answer at ${pg_url%%\?*}: start it, or set DUALHOOK_TEST_DATABASE_URL" >&2
  exit 1
fi

work=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill -INT "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/dualhook" ./cmd/dualhook
"$work/dualhook" tools temporal-cli >/dev/null   # builds the pinned CLI once per machine
"$work/dualhook" tools temporal-test-server --address-file "$work/temporal.addr" --log-file "$work/temporal.log" &
server_pid=$!
for _ in $(seq 1 600); do
  [ -s "$work/temporal.addr" ] && break
  kill -0 "$server_pid" 2>/dev/null || { echo "Temporal test server failed:" >&2; cat "$work/temporal.log" >&2; exit 1; }
  sleep 0.1
done
[ -s "$work/temporal.addr" ] || { echo "Temporal test server did not start" >&2; exit 1; }
export DUALHOOK_TEST_TEMPORAL_ADDRESS
DUALHOOK_TEST_TEMPORAL_ADDRESS=$(cat "$work/temporal.addr")
echo "Temporal test server: $DUALHOOK_TEST_TEMPORAL_ADDRESS"

# shellcheck disable=SC2086
go test -count=1 ${GO_TEST_FLAGS:-} ${TEST_PACKAGES:-./...}
