#!/usr/bin/env bash
# npm_ci.sh DIR PACKAGE...: installs the npm packages pinned in DIR/package-lock.json into
# DIR/node_modules with `npm ci` (no install scripts, no browser downloads), only when
# node_modules misses one of PACKAGE... or was installed from another lock file (a stamp holds
# the lock's sha256). Safe to run concurrently (flock). Exit 0 when the packages are ready.
# tests/npm, tests/deploy and tests/ui call it from their install.sh.
set -euo pipefail
dir="$1"
shift
cd "$dir"
command -v node >/dev/null || { echo "npm_ci.sh: node is not installed" >&2; exit 2; }
command -v npm >/dev/null || { echo "npm_ci.sh: npm is not installed" >&2; exit 2; }
exec 9>"${TMPDIR:-/tmp}/mlos-npm-install-$(pwd | sha256sum | cut -c1-16).lock"
flock 9
want="$(sha256sum package-lock.json | cut -d' ' -f1)"
stamp=node_modules/.mlos-lock-sha256
ready=1
for p in "$@"; do [[ -d "node_modules/$p" ]] || ready=0; done
if [[ $ready == 1 && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi
PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
echo "$want" > "$stamp"
