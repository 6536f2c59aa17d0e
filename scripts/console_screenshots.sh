#!/usr/bin/env bash
# Refreshes the web console's screenshots in docs/ (docs/console.md): runs the browser tests
# (tests/ui/console_test.mjs: Debian's chromium, puppeteer-core, the real mlosd of $BUILD) with
# MLOS_CONSOLE_SCREENSHOTS set, and copies docs/console-{models,charts,login}.png only when
# every test passed. A normal `make test` never rewrites docs/.
#   BUILD=build scripts/console_screenshots.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$(cd "${BUILD:-$root/build}" && pwd)"
"$root/tests/ui/install.sh"
shots="$(mktemp -d)"
trap 'rm -rf "$shots"' EXIT
MLOS_SOURCE_DIR="$root" MLOS_BUILD_DIR="$build" MLOS_CONSOLE_SCREENSHOTS="$shots" \
  node --test --test-reporter=spec "$root/tests/ui/console_test.mjs"
for f in console-models.png console-charts.png console-login.png; do
  [ -s "$shots/$f" ] || { echo "console_screenshots: $f was not written" >&2; exit 1; }
  cp "$shots/$f" "$root/docs/$f"
done
ls -l "$root"/docs/console-*.png
