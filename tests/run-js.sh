#!/usr/bin/env bash
# Runs the JavaScript suites: realm-web compatibility (tests/compat), the SDK package (tests/js, incl.
# TypeScript checks), confirmation and reset email through a real SMTP server (tests/email) and the browser test
# (tests/browser), the token verifiers (tests/tokens: jose and a discovery-driven middleware) and the documents'
# JavaScript blocks run as printed (tests/docs: README, npm README, migration guide), each with
# node:test. Exits non-zero on failure.
#   tests/run-js.sh                      # SQLite (default)
#   APPKEYS_TEST_BACKEND=postgres APPKEYS_TEST_PG_ADMIN_URL=... tests/run-js.sh
# Assumes node_modules (npm ci) and the built package (scripts/build-pkg.sh -> pkg/ + node_modules/appkeys).
# Builds the debug server binary if it is missing (APPKEYS_SERVER_BIN overrides the binary).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${APPKEYS_SERVER_BIN:-}" ] && [ ! -x target/debug/appkeys-server ]; then
  echo "run-js: building appkeys-server (debug)"
  cargo build -p appkeys-server
fi
if [ ! -e node_modules/appkeys/package.json ]; then
  echo "run-js: node_modules/appkeys is missing: build the package first (scripts/build-pkg.sh)" >&2
  exit 1
fi

status=0
for suite in compat js email browser tokens docs; do
  echo "===== node --test tests/$suite ====="
  # one file at a time per suite: every file starts its own server(s); the machine has few cores
  if ! node --test --test-concurrency=1 --test-reporter=spec "tests/$suite/"; then
    status=1
    echo "run-js: tests/$suite FAILED" >&2
  fi
done
exit $status
