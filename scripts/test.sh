#!/usr/bin/env bash
# The one test command: installs whatever is missing, then runs every test of the repository.
#   scripts/test.sh
# Steps: lint (fmt, the server's layering rule (parsed with syn), clippy native + wasm) -> native cargo tests (protocol, SDK core, server on SQLite)
#   -> server tests again on a throwaway PostgreSQL cluster -> wasm package build -> stack check -> wasm-bindgen tests
#   (Node + headless Chromium) -> JavaScript suites (realm-web compatibility, SDK package, email flows, browser, tokens,
#   the documents' JavaScript blocks run against a server) on SQLite,
#   schemathesis
#   against the OpenAPI document, and (realm-web compatibility, email flows) on PostgreSQL -> multi-instance tests -> packaging tests from the npm tarball.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
START=$(date +%s)
declare -a SUMMARY=()

step() {
  local name=$1
  shift
  local t0=$SECONDS
  printf '\n===== %s =====\n' "$name"
  "$@"
  SUMMARY+=("$(printf '%-48s %4ss' "$name" $((SECONDS - t0)))")
}

cleanup() { "$ROOT/scripts/pg.sh" stop || true; }
trap cleanup EXIT

step "install missing tools" scripts/install.sh
step "cargo fmt --check" cargo fmt --all -- --check
# The layer check parses the server with syn (tools/check-layers); its self-test runs with the cargo tests.
step "server layering rule (imports, cycles, sizes)" cargo run --locked -q -p appkeys-check-layers
step "clippy (native, all targets)" cargo clippy --locked --workspace --all-targets -- -D warnings
step "clippy (wasm32 SDK)" cargo clippy --locked -p appkeys --target wasm32-unknown-unknown --all-targets -- -D warnings
step "cargo test (protocol, SDK core, server on SQLite)" cargo test --locked --workspace

# PostgreSQL: a throwaway cluster on a free loopback port, stopped by the EXIT trap.
eval "$(scripts/pg.sh start)"
export APPKEYS_TEST_PG_ADMIN_URL
# The same package selection as above, so cargo reuses every artefact instead of rebuilding dependencies
# with another feature set; the protocol and SDK core tests simply run again (a second).
step "cargo test again with the server on PostgreSQL" env APPKEYS_TEST_BACKEND=postgres cargo test --locked --workspace

# `cargo test` built the server binary; every later suite starts that one.
export APPKEYS_SERVER_BIN=$ROOT/target/debug/appkeys-server
step "build npm package (release wasm)" scripts/build-pkg.sh
step "SDK stack check (cargo tree + built package)" node --test tests/stack/
step "SDK size budget (seed flow, min+gzip)" node --test tests/size/
step "wasm-bindgen tests (Node + Chromium)" scripts/test-wasm.sh
step "JavaScript suites on SQLite" env APPKEYS_TEST_BACKEND=sqlite tests/run-js.sh
step "OpenAPI document fuzzed by schemathesis (SQLite)" env APPKEYS_TEST_BACKEND=sqlite node --test --test-reporter=spec tests/openapi/
step "realm-web compatibility suite on PostgreSQL" env APPKEYS_TEST_BACKEND=postgres node --test --test-concurrency=1 tests/compat/
step "email flows (realm-web + SDK, SMTP) on PostgreSQL" env APPKEYS_TEST_BACKEND=postgres node --test tests/email/
step "multi-instance tests on SQLite" env APPKEYS_TEST_BACKEND=sqlite node --test tests/multi/
step "multi-instance tests on PostgreSQL" env APPKEYS_TEST_BACKEND=postgres node --test tests/multi/
step "packaging tests (npm tarball)" tests/packaging/run.sh

printf '\n===== summary =====\n'
printf '%s\n' "${SUMMARY[@]}"
printf 'all steps passed in %ss\n' $(($(date +%s) - START))
