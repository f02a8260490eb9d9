#!/usr/bin/env bash
# Installs whatever this machine is missing to build and test appkeys. Idempotent: a second run only checks.
#   Debian: chromium, chromium-driver, postgresql (apt, needs root or sudo)
#   Rust:   wasm32-unknown-unknown target, rustfmt, clippy, wasm-bindgen-cli at the version in Cargo.lock
#   PyPI:   schemathesis (OpenAPI fuzzing)
#   npm:    the dev tooling of package.json (binaryen's wasm-opt, esbuild, playwright-core, realm-web, typescript, vite)
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '\n==> %s\n' "$*"; }

# --sdk-only: skip the browser and PostgreSQL (what the demo needs is Rust, wasm-bindgen and npm tooling).
SDK_ONLY=0
[ "${1:-}" = "--sdk-only" ] && SDK_ONLY=1
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
need_apt=()
if [ "$SDK_ONLY" = 0 ]; then
  command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || need_apt+=(chromium-driver)
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
  command -v psql >/dev/null 2>&1 || need_apt+=(postgresql-client)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  say "apt-get install ${need_apt[*]} (about a minute)"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${need_apt[@]}"
fi

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi
for c in rustfmt clippy; do
  rustup component list --installed | grep -q "^$c" || { say "rustup component add $c"; rustup component add "$c"; }
done

WB_VER=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"$/\1/p' || true)
if [ -n "$WB_VER" ] && [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WB_VER" ]; then
  say "cargo install wasm-bindgen-cli $WB_VER (first time: several minutes on 2 cores)"
  # --locked fails against this registry (its lockfile pins a crate version the index lacks), so try it first
  # and fall back to a normal resolve.
  cargo install wasm-bindgen-cli --version "=$WB_VER" --locked 2>/dev/null ||
    cargo install wasm-bindgen-cli --version "=$WB_VER"
fi

# schemathesis (PyPI) fuzzes the server's OpenAPI document in the test command.
ST_VER=4.32.5
if [ "$SDK_ONLY" = 0 ] && [ "$(python3 -m schemathesis.cli --version 2>/dev/null | awk '{print $NF}')" != "$ST_VER" ]; then
  say "pip install schemathesis==$ST_VER"
  python3 -m pip install --quiet --disable-pip-version-check "schemathesis==$ST_VER"
fi

# npm ci again only when package-lock.json changed since the last install.
STAMP=node_modules/.appkeys-lock-sha
LOCK_SHA=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat "$STAMP" 2>/dev/null)" != "$LOCK_SHA" ]; then
  say "npm ci (dev tooling)"
  npm ci --no-audit --no-fund
  echo "$LOCK_SHA" >"$STAMP"
fi
say "toolchain ready"
