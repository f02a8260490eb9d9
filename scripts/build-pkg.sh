#!/usr/bin/env bash
# Builds the npm package `appkeys` into pkg/ (idempotent):
#   release wasm (opt-level z, LTO, 1 CGU) -> wasm-bindgen for Node (CommonJS) and the web (ESM)
#   -> wasm-opt -Oz once (both targets emit the same .wasm; import/export names minified, glue patched to
#   match) -> package assembled from pkg-template/
#   -> tsc --noEmit on the package's types -> sizes -> node_modules/appkeys -> ../pkg (for the tests).
# Needs: rust target wasm32-unknown-unknown, the wasm-bindgen CLI at Cargo.lock's version, and
# node_modules/.bin/{wasm-opt,tsc,esbuild} from the root package.json (scripts/install.sh does all of it).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
die() { echo "build-pkg: error: $*" >&2; exit 1; }

WB_LOCK=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"$/\1/p')
[ -n "$WB_LOCK" ] || die "wasm-bindgen not found in Cargo.lock"
WB_CLI=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
[ "$WB_CLI" = "$WB_LOCK" ] ||
  die "wasm-bindgen CLI is '${WB_CLI:-missing}' but Cargo.lock pins $WB_LOCK (run scripts/install.sh)"
# npm binaryen, not Debian's (v108 rewrites the externref table and breaks the module; toolchain.md).
WASM_OPT=${WASM_OPT:-$ROOT/node_modules/.bin/wasm-opt}
[ -x "$WASM_OPT" ] || die "$WASM_OPT missing (npm ci)"

# Panic locations of dependencies name their source files: shorten the registry paths in the wasm.
# (RUSTFLAGS only reaches the wasm32 artifacts here, and only this build makes release wasm32 ones.)
REMAP=
for d in "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/; do REMAP+=" --remap-path-prefix=$d="; done
RUSTFLAGS="${RUSTFLAGS:-}$REMAP" \
  cargo build --locked --release --target wasm32-unknown-unknown -p appkeys --no-default-features
WASM=target/wasm32-unknown-unknown/release/appkeys.wasm
VERSION=$(cargo pkgid -p appkeys | sed 's/.*[#@]//')

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# --encode-into always: every supported engine has TextEncoder#encodeInto (no fallback code in the glue);
# --omit-default-module-path: web/index.js always passes the wasm's URL.
BINDGEN_FLAGS=(--out-name appkeys --no-typescript --remove-name-section --remove-producers-section
  --encode-into always --omit-default-module-path)
wasm-bindgen "$WASM" --target nodejs --out-dir "$TMP/node" "${BINDGEN_FLAGS[@]}"
wasm-bindgen "$WASM" --target web --out-dir "$TMP/web" "${BINDGEN_FLAGS[@]}"
cmp -s "$TMP/node/appkeys_bg.wasm" "$TMP/web/appkeys_bg.wasm" || die "wasm-bindgen targets emitted different wasm"
# First merge identical and near-identical functions (wasm-bindgen's per-export wrappers), before -Oz
# inlines them; --converge: repeat -Oz while it still shrinks; --low-memory-unused: rustc's data and
# stack start at 1 MiB, so addresses below 1 KiB are never used (lets wasm-opt fold offsets); the
# target_features section is only build metadata. Last, imports, exports and the import module get
# one-letter names (wasm-bindgen's import names carry 16-hex-digit hashes); wasm-opt prints the renames
# as JSON and scripts/minify-wasm-names.mjs applies them to both glue files, checking each one.
"$WASM_OPT" --duplicate-function-elimination --merge-similar-functions -Oz --converge --low-memory-unused \
  "$TMP/web/appkeys_bg.wasm" -o "$TMP/optimized.wasm"
"$WASM_OPT" --minify-imports-and-exports-and-modules --strip-target-features \
  "$TMP/optimized.wasm" -o "$TMP/appkeys_bg.wasm" >"$TMP/names.json"
node scripts/minify-wasm-names.mjs "$TMP/names.json" "$TMP/appkeys_bg.wasm" "$TMP/node/appkeys.js" "$TMP/web/appkeys.js"

rm -rf pkg
mkdir -p pkg
cp -R pkg-template/. pkg/
cp "$TMP/node/appkeys.js" pkg/node/appkeys.js
cp "$TMP/web/appkeys.js" pkg/web/appkeys.js
cp "$TMP/appkeys_bg.wasm" pkg/node/appkeys_bg.wasm
cp "$TMP/appkeys_bg.wasm" pkg/web/appkeys_bg.wasm
cp pkg/index.d.ts pkg/index.d.mts
# The AppError class has one source (web/app-error.js); Node gets a CommonJS copy.
{
  echo '"use strict";'
  sed 's/^export class AppError/class AppError/' pkg-template/web/app-error.js
  echo 'module.exports = { AppError };'
} >pkg/node/app-error.cjs
node -e '
  const fs = require("fs");
  const p = JSON.parse(fs.readFileSync("pkg/package.json", "utf8"));
  p.version = process.argv[1];
  fs.writeFileSync("pkg/package.json", JSON.stringify(p, null, 2) + "\n");
' "$VERSION"

# Types: strict, without DOM or esnext libs, as a consumer without skipLibCheck would see them.
cat >"$TMP/check.ts" <<'TS'
import { App, AppError, Credentials, Realm, User, init } from "appkeys";
import type { ApiKey, NewApiKey, Auth } from "appkeys";
declare function use(...values: unknown[]): void;
async function check(): Promise<void> {
  await init();
  const app = new App({ id: "x", baseUrl: "http://127.0.0.1:1", skipLocationRequest: true });
  const user: Realm.User = await app.logIn(Credentials.emailPassword("a@b.c", "pw"));
  const created: NewApiKey = await user.apiKeys.create("k");
  const key: Realm.Auth.ApiKey = await user.apiKeys.fetch(created._id);
  const keys: Auth.ApiKey[] = await user.apiKey.fetchAll();
  const nothing: void = await user.apiKeys.enable(key._id);
  const u: User | null = app.currentUser;
  const all: ApiKey[] = keys;
  try { await user.logOut(); } catch (e) { if (e instanceof AppError) use(e.statusCode, e.errorCode, e.link); }
  use(nothing, u, all, created.key.length, new Realm.App("y").id);
}
void check;
TS
mkdir -p "$TMP/tsc/node_modules"
ln -s "$ROOT/pkg" "$TMP/tsc/node_modules/appkeys"
cp "$TMP/check.ts" "$TMP/tsc/check.ts"
for res in node16 bundler; do
  mod=$([ "$res" = node16 ] && echo node16 || echo esnext)
  "$ROOT/node_modules/.bin/tsc" --noEmit --strict --lib es2020 --module "$mod" --moduleResolution "$res" \
    "$TMP/tsc/check.ts" || die "tsc ($res) failed on the package types"
done

# node_modules/appkeys -> ../pkg so the repository's tests can require("appkeys") / import "appkeys".
if [ -e node_modules/appkeys ] && [ ! -L node_modules/appkeys ]; then rm -rf node_modules/appkeys; fi
ln -sfn ../pkg node_modules/appkeys
node -e 'const a = require("appkeys"); if (typeof a.App !== "function" || typeof a.init !== "function") process.exit(1)' ||
  die "require(\"appkeys\") does not load"

gz() { gzip -9c "$1" | wc -c; }
min_gz() { "$ROOT/node_modules/.bin/esbuild" --minify --log-level=error "$1" | gzip -9c | wc -c; }
echo
echo "appkeys $VERSION built in pkg/ (node_modules/appkeys -> ../pkg)"
printf '%-28s %9s %9s %12s\n' file raw gzip "min+gzip"
for f in web/appkeys_bg.wasm web/appkeys.js web/index.js web/app-error.js node/appkeys.js; do
  if [ "${f##*.}" = js ]; then m=$(min_gz "pkg/$f"); else m=-; fi
  printf '%-28s %9d %9d %12s\n' "$f" "$(wc -c <"pkg/$f")" "$(gz "pkg/$f")" "$m"
done
