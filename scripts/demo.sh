#!/usr/bin/env bash
# The demo: builds what it needs, starts appkeys-server on the embedded SQLite default, runs the Node quickstart
# (the documented user API key flow, narrated), then stops the server and prints how to start it by hand.
#   scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
say() { printf '\n==> %s\n' "$*"; }

say "checking tools (the first run installs the wasm toolchain and npm tooling: several minutes on 2 cores)"
scripts/install.sh --sdk-only
say "building appkeys-server (release; the first build takes several minutes on 2 cores)"
cargo build --locked --release -p appkeys-server
say "building the npm package (Rust -> wasm)"
scripts/build-pkg.sh
say "installing the package tarball into examples-js/node-esm"
examples-js/setup.sh node-esm

SERVER=(target/release/appkeys-server --database-url "sqlite://$ROOT/appkeys-data/appkeys.db")
# Port 9090 is the default; if something else holds it, take a free port for this run.
LISTEN=127.0.0.1:9090
if (exec 3<>/dev/tcp/127.0.0.1/9090) 2>/dev/null; then
  echo "port 9090 is busy; using a free port for this run"
  LISTEN=127.0.0.1:0
fi
say "starting ${SERVER[*]} --listen $LISTEN"
OUT=$(mktemp)
"${SERVER[@]}" --listen "$LISTEN" >"$OUT" 2>"$OUT.log" &
PID=$!
stop() { kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; rm -f "$OUT" "$OUT.log"; }
trap stop EXIT
for _ in $(seq 1 100); do
  grep -q '^listening on ' "$OUT" && break
  kill -0 "$PID" 2>/dev/null || { cat "$OUT.log" >&2; exit 1; }
  sleep 0.1
done
URL=$(sed -n 's/^listening on //p' "$OUT" | head -n 1)
[ -n "$URL" ] || { echo "server did not start" >&2; cat "$OUT.log" >&2; exit 1; }
echo "server is up at $URL (data in appkeys-data/)"

say "running examples-js/node-esm/quickstart.mjs"
APPKEYS_URL=$URL node examples-js/node-esm/quickstart.mjs

say "stopping the server"
stop
trap - EXIT
cat <<MSG

Done. Your data is kept in appkeys-data/. Run the server by hand with:

  ${SERVER[*]}

then, in another terminal:  node examples-js/node-esm/quickstart.mjs
or the browser key manager:  examples-js/setup.sh key-manager && (cd examples-js/key-manager && npm run dev)
  then open http://localhost:5173/?server=http://127.0.0.1:9090
MSG
