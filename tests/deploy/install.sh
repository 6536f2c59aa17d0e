#!/usr/bin/env bash
# Installs the pinned validators (package-lock.json: kubernetes-models, ajv, yaml,
# dockerfile-utils) into tests/deploy/node_modules with `npm ci`, only when node_modules is
# missing or was installed from another lock file (a stamp holds the lock's sha256). Safe to run
# concurrently (flock). Called by scripts/setup.sh and again by the tests (a no-op when ready).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
command -v node >/dev/null || { echo "install.sh: node is not installed" >&2; exit 2; }
command -v npm >/dev/null || { echo "install.sh: npm is not installed" >&2; exit 2; }
exec 9>"${TMPDIR:-/tmp}/mlos-npm-install-$(pwd | sha256sum | cut -c1-16).lock"
flock 9
want="$(sha256sum package-lock.json | cut -d' ' -f1)"
stamp=node_modules/.mlos-lock-sha256
if [[ -d node_modules/kubernetes-models && -d node_modules/ajv && -f "$stamp" &&
      "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi
npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
echo "$want" > "$stamp"
