#!/usr/bin/env bash
# Installs puppeteer-core (pinned in package-lock.json) into tests/ui/node_modules
# (scripts/npm_ci.sh: a no-op when it is there). No browser is downloaded: the tests drive
# Debian's chromium (scripts/setup.sh).
exec "$(dirname "${BASH_SOURCE[0]}")/../../scripts/npm_ci.sh" "$(dirname "${BASH_SOURCE[0]}")" puppeteer-core
