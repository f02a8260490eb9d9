#!/usr/bin/env bash
# wasm-bindgen tests of the SDK in Node and in headless Chromium against a real appkeys-server:
#   builds target/debug/appkeys-server (unless APPKEYS_SERVER_BIN names one), starts it on a free port
#   with a throwaway SQLite database,
#   compiles the tests with its URL (APPKEYS_TEST_URL, read by option_env!), runs
#   `cargo test --target wasm32-unknown-unknown -p appkeys --test node --test web` (runner from
#   .cargo/config.toml; Chromium through $CHROMEDRIVER, default /usr/bin/chromedriver), stops the server.
# Env: CHROMEDRIVER, WASM_BINDGEN_TEST_TIMEOUT (default 60), WASM_BINDGEN_TEST_ONLY_NODE=1 / _ONLY_WEB=1.
set -euo pipefail
cd "$(dirname "$0")/.."

# APPKEYS_SERVER_BIN: a server binary built elsewhere (scripts/test.sh passes the one `cargo test` built).
SERVER_BIN=${APPKEYS_SERVER_BIN:-}
if [ -z "$SERVER_BIN" ]; then
  cargo build --locked -p appkeys-server
  SERVER_BIN=target/debug/appkeys-server
fi
TMP=$(mktemp -d)
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT

# Email to files, so that the confirmation and reset calls reach the server's logic.
"$SERVER_BIN" --listen 127.0.0.1:0 --database-url "sqlite://$TMP/appkeys.db" \
  --mail-dir "$TMP/mail" --confirm-url http://keys.example.test/confirm --reset-url http://keys.example.test/reset \
  >"$TMP/stdout" 2>"$TMP/stderr" &
SERVER_PID=$!
URL=
for _ in $(seq 200); do
  URL=$(sed -n 's/^listening on \(http:\/\/[^ ]*\).*/\1/p' "$TMP/stdout" | head -n1)
  [ -n "$URL" ] && break
  kill -0 "$SERVER_PID" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$URL" ]; then
  echo "test-wasm: appkeys-server did not start; its stderr:" >&2
  cat "$TMP/stderr" >&2
  exit 1
fi
echo "test-wasm: appkeys-server at $URL"

export APPKEYS_TEST_URL=$URL
export CHROMEDRIVER=${CHROMEDRIVER:-/usr/bin/chromedriver}
export WASM_BINDGEN_TEST_TIMEOUT=${WASM_BINDGEN_TEST_TIMEOUT:-60}
cargo test --locked --target wasm32-unknown-unknown -p appkeys --test node --test web
