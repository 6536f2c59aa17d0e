#!/usr/bin/env bash
# Installs puppeteer-core (pinned in package-lock.json) into tests/ui/node_modules with `npm ci`,
# only when node_modules is missing or was installed from another lock file (a stamp holds the
# lock's sha256). No browser is downloaded: the tests drive Debian's chromium (scripts/setup.sh).
# Safe to run concurrently (flock). Exit 0 when the package is ready.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
command -v node >/dev/null || { echo "install.sh: node is not installed" >&2; exit 2; }
command -v npm >/dev/null || { echo "install.sh: npm is not installed" >&2; exit 2; }
exec 9>"${TMPDIR:-/tmp}/mlos-npm-install-$(pwd | sha256sum | cut -c1-16).lock"
flock 9
want="$(sha256sum package-lock.json | cut -d' ' -f1)"
stamp=node_modules/.mlos-lock-sha256
if [[ -d node_modules/puppeteer-core && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi
PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
echo "$want" > "$stamp"
