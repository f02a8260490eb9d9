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

# Custom JWTs (HS256) for the Credentials.jwt / linkCredentials flow: one token per test binary (each links its
# subject to a user of its own), made here with the secret the server is given.
JWT_SECRET="wasm-test-custom-jwt-secret-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
(umask 077 && printf '%s\n' "$JWT_SECRET" >"$TMP/custom-jwt-secrets")
make_jwt() {
  node -e '
    const [secret, sub] = process.argv.slice(1);
    const part = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
    const now = Math.floor(Date.now() / 1000);
    const body = `${part({ alg: "HS256", typ: "JWT" })}.${part({ sub, aud: "appkeys-demo", iat: now, exp: now + 3600, name: "wasm test" })}`;
    const mac = require("node:crypto").createHmac("sha256", secret).update(body).digest("base64url");
    console.log(`${body}.${mac}`);
  ' "$JWT_SECRET" "$1"
}
APPKEYS_TEST_JWT_NODE=$(make_jwt "wasm-node|$$-$RANDOM")
APPKEYS_TEST_JWT_WEB=$(make_jwt "wasm-web|$$-$RANDOM")
export APPKEYS_TEST_JWT_NODE APPKEYS_TEST_JWT_WEB

# Email to files, so that the confirmation and reset calls reach the server's logic.
"$SERVER_BIN" --listen 127.0.0.1:0 --database-url "sqlite://$TMP/appkeys.db" \
  --mail-dir "$TMP/mail" --confirm-url http://keys.example.test/confirm --reset-url http://keys.example.test/reset \
  --custom-jwt-secret-file "$TMP/custom-jwt-secrets" --custom-jwt-metadata name=name \
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
