#!/usr/bin/env bash
# Packs the SDK package (pkg/, built by scripts/build-pkg.sh) into dist/appkeys-<version>.tgz — the tarball
# every example depends on — and installs it into the examples, like a user installing from npm.
#   examples-js/setup.sh                      # all examples
#   examples-js/setup.sh node-esm key-manager # some
# Builds pkg/ first when it does not exist yet. Run it again after rebuilding the package.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
[ -f pkg/package.json ] || scripts/build-pkg.sh
mkdir -p dist
TGZ=$(cd pkg && npm pack --silent --pack-destination "$ROOT/dist" | tail -n 1)
echo "packed dist/$TGZ"
[ $# -gt 0 ] || set -- node-esm node-cjs key-manager api-server identity-provider
for ex in "$@"; do
  dir=examples-js/$ex
  [ -f "$dir/package.json" ] || { echo "setup.sh: no example $ex" >&2; exit 2; }
  if [ "$ex" = identity-provider ]; then
    # The demo identity provider stands for Auth0/Firebase/Clerk: it needs jose, not the SDK.
    echo "installing $dir"
    (cd "$dir" && npm install --no-package-lock --no-audit --no-fund --loglevel=error)
    continue
  fi
  grep -q "\"file:../../dist/$TGZ\"" "$dir/package.json" ||
    { echo "setup.sh: $dir/package.json does not depend on file:../../dist/$TGZ (update its version)" >&2; exit 1; }
  echo "installing $dir"
  # No lockfile: the tarball is rebuilt locally, so its integrity hash changes; always re-extract it.
  rm -rf "$dir/node_modules/appkeys"
  (cd "$dir" && npm install --no-package-lock --no-audit --no-fund --loglevel=error)
done
