#!/usr/bin/env bash
# Makes the npm tarball of the SDK from this clone — what `npm install appkeys` would download once it is published:
#   scripts/pack.sh          # prints the tarball's absolute path: <clone>/dist/appkeys-<version>.tgz
# Builds the package first (scripts/build-pkg.sh: the wasm toolchain from scripts/install.sh --sdk-only, a few
# minutes the first time), then packs pkg/ into dist/. Install it into your project with
#   npm install <clone>/dist/appkeys-<version>.tgz
# Progress goes to standard error; standard output is the path alone.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
{
  scripts/install.sh --sdk-only
  scripts/build-pkg.sh
} >&2
mkdir -p dist
TGZ=$(cd pkg && npm pack --silent --pack-destination "$ROOT/dist" | tail -n 1)
[ -f "dist/$TGZ" ] || { echo "pack: npm pack did not write dist/$TGZ" >&2; exit 1; }
echo "$ROOT/dist/$TGZ"
