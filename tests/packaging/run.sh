#!/usr/bin/env bash
# Packaging tests: the npm tarball as a user gets it, installed into fresh projects, each making real calls.
#   tests/packaging/run.sh
# 1. the tarball scripts/pack.sh makes (the README's way to install from a clone: it builds pkg/ and packs it into
#    dist/), copied into a temp dir
# 2. one appkeys-server for the whole run (tests/support/server.mjs: SQLite by default; honours
#    APPKEYS_TEST_BACKEND / APPKEYS_TEST_PG_ADMIN_URL / APPKEYS_SERVER_BIN)
# 3. node:test over tests/packaging/*.test.mjs: Node CJS + ESM, TypeScript (node16, bundler), Vite and esbuild
#    bundles and a module worker in headless Chromium, the examples' quickstarts, the key manager page driven
#    by Playwright (screenshot: artifacts/key-manager.png).
# Env: APPKEYS_PACK_TGZ=/path/x.tgz tests that tarball instead of packing pkg/; APPKEYS_PACK_KEEP=1 keeps the scratch dir; APPKEYS_PACK_CONCURRENCY (default 2) test files at once.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

if [ -z "${APPKEYS_SERVER_BIN:-}" ] && [ ! -x target/debug/appkeys-server ]; then
  echo "packaging: building appkeys-server"
  cargo build --locked -p appkeys-server
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/appkeys-packaging.XXXXXX")
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [ "${APPKEYS_PACK_KEEP:-}" = 1 ]; then echo "packaging: scratch dir kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

if [ -n "${APPKEYS_PACK_TGZ:-}" ]; then
  cp "$APPKEYS_PACK_TGZ" "$WORK/" && TGZ_NAME=$(basename "$APPKEYS_PACK_TGZ")
else
  # The README's command for installing from a clone: it builds the package and prints the tarball's path.
  PACKED=$(scripts/pack.sh)
  cp "$PACKED" "$WORK/" && TGZ_NAME=$(basename "$PACKED")
fi
TGZ=$WORK/$TGZ_NAME
[ -f "$TGZ" ] || { echo "packaging: npm pack did not produce $TGZ" >&2; exit 1; }
echo "packaging: $TGZ_NAME ($(wc -c <"$TGZ") bytes)"

node tests/packaging/start-server.mjs "$WORK/server.url" &
SERVER_PID=$!
for _ in $(seq 300); do
  [ -s "$WORK/server.url" ] && break
  kill -0 "$SERVER_PID" 2>/dev/null || { echo "packaging: appkeys-server did not start" >&2; exit 1; }
  sleep 0.1
done
[ -s "$WORK/server.url" ] || { echo "packaging: appkeys-server did not start within 30 s" >&2; exit 1; }
APPKEYS_URL=$(cat "$WORK/server.url")
echo "packaging: appkeys-server at $APPKEYS_URL"

mkdir -p "$ROOT/artifacts"
export APPKEYS_URL APPKEYS_TGZ=$TGZ APPKEYS_PACK_WORK=$WORK APPKEYS_ARTIFACTS=$ROOT/artifacts
export npm_config_update_notifier=false
node --test --test-concurrency="${APPKEYS_PACK_CONCURRENCY:-2}" --test-reporter=spec tests/packaging/*.test.mjs
